"""The one place where configuration becomes models.

Every command and library entry point asks here for its detector, landmarker, embedder and quality
scorer, so adding a model is one module under ``models/`` (or ``quality/``) plus one record in
:mod:`vidfiqa.models.records`; nothing else changes. A record names the config facts its builder
takes (``takes``); :func:`stage_options` supplies them, here and nowhere else. This module sits
above ``models/`` and ``quality/`` and below the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vidfiqa.config import Config
from vidfiqa.device import set_cpu_threads
from vidfiqa.models import registry
from vidfiqa.models.base import Detector, Embedder, Landmarker, QualityScorer
from vidfiqa.models.records import CATALOGUE, Kind, aliases, record


@dataclass(slots=True)
class Stages:
    """The models one run uses; built once and reused across videos."""

    detector: Detector
    landmarker: Landmarker
    scorer: QualityScorer


def stage_options(config: Config, name: str, kind: Kind | None = None) -> dict[str, Any]:
    """The options model ``name`` takes from the config besides its record's fixed ones: those
    its record names in ``takes`` (see :data:`vidfiqa.models.records.TAKES`), e.g. the
    insightface pack for the insightface stages and the device (``quality.device``) for the
    stages that can run on a GPU. ``kind``: check that ``name`` is of that kind."""
    takes = (CATALOGUE[name] if kind is None else record(kind, name)).takes
    q, det = config.quality, config.detector
    values: dict[str, Any] = {
        "device": lambda: {"device": _device(config)},
        "insightface": lambda: {"pack": config.insightface.pack, "model_root": config.insightface.model_root},
        "max_side": lambda: {"max_side": det.max_side},
        "upsample": lambda: {"upsample": det.upsample},
        "model_root": lambda: {"model_root": q.model_root},
        "weights": lambda: {"weights": q.weights},
        "checkpoint": lambda: {"checkpoint": q.checkpoint},
        "flip_tta": lambda: {"flip_tta": q.flip_tta},
        "embedder_name": lambda: {"embedder": config.embedder.name},
        "embedder": lambda: {"embedder": build_embedder(config)},
        "eye_process": lambda: {"process": config.landmarks.eye_process},
    }
    options: dict[str, Any] = {}
    for word in takes:
        options |= values[word]()
    return options


def _device(config: Config) -> str | None:
    # None: each model's own choice (torch's and onnxruntime's "cuda when available").
    return None if config.quality.device == "auto" else config.quality.device


def build_detector(config: Config, *, still: bool = False) -> Detector:
    """The configured detector. ``still``: for single photographs (YTF frames, LFW, IJB images),
    where dlib's HOG needs one upsampling to find the smaller faces and speed matters less."""
    det = config.detector
    options = stage_options(config, det.name, "detector")  # SCRFD sizes its input itself
    if still and "upsample" in options:
        options["upsample"] = max(det.upsample, 1)
    return registry.create("detector", det.name, **options)


def build_landmarker(config: Config) -> Landmarker:
    name = config.landmarks.name
    return registry.create("landmarker", name, **stage_options(config, name, "landmarker"))


def build_embedder(config: Config) -> Embedder:
    name = config.embedder.name
    return registry.create("embedder", name, **stage_options(config, name, "embedder"))


#: Scorer names that name the same model as another: evaluated once, under the first name given.
SCORER_ALIASES: dict[str, str] = aliases()


def check_scorer_name(name: str) -> str:
    """``name`` when it names a quality scorer: one of the config's scorers or
    ``factors:<component>``.

    Raises:
        ValueError: no such scorer (the message lists the valid forms).
    """
    from vidfiqa.config import QUALITY_SCORERS
    from vidfiqa.quality.factors import COMPONENTS

    base, colon, component = name.partition(":")
    if (not colon and name in QUALITY_SCORERS) or (base == "factors" and component in COMPONENTS):
        return name
    if base == "factors" and colon:
        raise ValueError(f"unknown quality component {component!r}; known: {', '.join(COMPONENTS)}")
    raise ValueError(f"unknown scorer {name!r}; known: {', '.join(QUALITY_SCORERS)}, factors:<component>")


def unique_scorers(names: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``names`` checked (see :func:`check_scorer_name`) with repeats of one model dropped (an
    alias and its canonical name, see :data:`SCORER_ALIASES`, or one name twice), and a note for
    each name dropped.

    >>> unique_scorers(["lightqnet", "factors", "lightqnet-dm100"])
    (['lightqnet', 'factors'], ['lightqnet-dm100 is lightqnet: evaluated once'])

    Raises:
        ValueError: a name that is no scorer.
    """
    kept: dict[str, str] = {}
    notes = []
    for name in names:
        canonical = SCORER_ALIASES.get(check_scorer_name(name), name)
        if canonical in kept:
            if name != kept[canonical]:
                notes.append(f"{name} is {kept[canonical]}: evaluated once")
            continue
        kept[canonical] = name
    return list(kept.values()), notes


def build_scorer(name: str, config: Config | None = None) -> QualityScorer:
    """A quality scorer by name: a catalogued one, with the config facts its record takes (e.g.
    ``factors``: the config's weights; ``distilled``: the packaged weights or the config's
    checkpoint; ``stability``: the config's embedder, built), or ``factors:<component>`` (one
    component alone).

    Raises:
        ModelFileError: a model file is missing or unusable.
        KeyError: no such scorer.
    """
    config = config or Config()
    if name.startswith("factors:"):  # one component of the factors record, by name
        from vidfiqa.quality.factors import FactorQuality

        return FactorQuality.from_name(name)
    return registry.create("quality", name, **stage_options(config, name, "quality"))


def build_stages(config: Config) -> Stages:
    """Detector, landmarker and the configured scorer of a run, after setting the CPU threads
    their runtimes use (``quality.cpu_threads``; :func:`vidfiqa.device.set_cpu_threads`)."""
    set_cpu_threads(config.quality.cpu_threads, stages=2 if config.detector.thread else 1)
    return Stages(
        detector=build_detector(config),
        landmarker=build_landmarker(config),
        scorer=build_scorer(config.quality.scorer, config),
    )


def verify_model(name: str, config: Config) -> None:
    """Load model ``name`` (a catalogue name, not an alias) as the stage that uses it would,
    with the config's model folder and device; an embedded model's file is first checked against
    the sha256 its package recorded.

    Raises:
        ModelFileError: the file is missing, altered or unreadable.
        RuntimeError: (torch) the file's state dict does not fit the network.
    """
    from vidfiqa.models.files import EMBEDDED, MODEL_FILES, check_embedded

    if name not in EMBEDDED:
        build_scorer(MODEL_FILES[name].scorer or name, config)
        return
    model = EMBEDDED[name]
    check_embedded(model)
    if model.kind == "quality":
        build_scorer(name, config)
    else:
        registry.create(model.kind, name)
