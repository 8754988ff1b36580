"""The one place where configuration becomes models.

Every command and library entry point asks here for its detector, landmarker, embedder and quality
scorer, so adding a model is one module under ``models/`` (or ``quality/``) plus one registration
in :mod:`vidfiqa.models.registry` and one name in the config's ``Literal``; nothing else changes.
This module sits above ``models/`` and ``quality/`` (it knows both) and below the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vidfiqa.config import Config
from vidfiqa.device import set_cpu_threads
from vidfiqa.models import registry
from vidfiqa.models.base import Detector, Embedder, Landmarker, QualityScorer

#: Stages that read an insightface model pack.
_INSIGHTFACE = ("scrfd", "scrfd5", "arcface")
#: Stages besides the scorer that can run on a GPU: they run on the configured device too.
_DEVICE_STAGES = ("dlib-cnn", "dlib-resnet", "retinaface", "sface")


@dataclass(slots=True)
class Stages:
    """The models one run uses; built once and reused across videos."""

    detector: Detector
    landmarker: Landmarker
    scorer: QualityScorer


def stage_options(config: Config, name: str) -> dict[str, Any]:
    """Options a detector, landmarker or embedder ``name`` takes from the config besides its own
    section: the insightface pack for the insightface stages, the device (``quality.device``)
    for the stages that can run on a GPU, nothing for the others."""
    if name in _INSIGHTFACE:
        return {"pack": config.insightface.pack, "model_root": config.insightface.model_root}
    if name in _DEVICE_STAGES:
        return {"device": _device(config)}
    return {}


def _device(config: Config) -> str | None:
    # None: each model's own choice (torch's and onnxruntime's "cuda when available").
    return None if config.quality.device == "auto" else config.quality.device


def build_detector(config: Config, *, still: bool = False) -> Detector:
    """The configured detector. ``still``: for single photographs (YTF frames, LFW, IJB images),
    where dlib's HOG needs one upsampling to find the smaller faces and speed matters less."""
    det = config.detector
    options: dict[str, Any] = stage_options(config, det.name)
    if det.name != "scrfd":  # SCRFD sizes its input itself (the pack's det_size)
        options["max_side"] = det.max_side
    if det.name.startswith("dlib"):
        options["upsample"] = max(det.upsample, 1) if still else det.upsample
    return registry.create("detector", det.name, **options)


def build_landmarker(config: Config) -> Landmarker:
    name = config.landmarks.name
    return registry.create("landmarker", name, **stage_options(config, name))


def build_embedder(config: Config) -> Embedder:
    name = config.embedder.name
    return registry.create("embedder", name, **stage_options(config, name))


#: Scorer names that name the same model as another: evaluated once, under the first name given.
SCORER_ALIASES: dict[str, str] = {"lightqnet": "lightqnet-dm100"}


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
    """A quality scorer by name: a registered model, ``factors`` (with the config's weights),
    ``factors:<component>`` (one component alone), ``distilled`` (the packaged weights or the
    config's checkpoint) or ``stability`` (with the config's embedder).

    Raises:
        ModelFileError: a model file is missing or unusable.
        KeyError: no such scorer.
    """
    config = config or Config()
    if name == "factors" or name.startswith("factors:"):
        from vidfiqa.quality.factors import FactorQuality

        if name == "factors":
            return FactorQuality(weights=config.quality.weights)
        return FactorQuality.from_name(name)
    if name == "distilled":
        from vidfiqa.quality.distilled import DistilledScorer

        q = config.quality
        return DistilledScorer(
            checkpoint=q.checkpoint,
            embedder=config.embedder.name,
            device=_device(config),
            flip_tta=q.flip_tta,
        )
    if name == "stability":
        from vidfiqa.quality.stability import StabilityQuality

        return StabilityQuality(build_embedder(config))
    q = config.quality
    return registry.create("quality", name, model_root=q.model_root, device=_device(config))


def build_stages(config: Config) -> Stages:
    """Detector, landmarker and the configured scorer of a run, after setting the CPU threads
    their runtimes use (``quality.cpu_threads``; :func:`vidfiqa.device.set_cpu_threads`)."""
    set_cpu_threads(config.quality.cpu_threads, stages=2 if config.detector.thread else 1)
    return Stages(
        detector=build_detector(config),
        landmarker=build_landmarker(config),
        scorer=build_scorer(config.quality.scorer, config),
    )
