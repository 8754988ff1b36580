"""Checks of the paths a user names, worded once for every command.

Input files are checked before they are opened, output folders before any work starts, so that a
long analysis never ends in a traceback because its results cannot be written. Every message is
one line that starts with the path as the user gave it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

#: Still-image files accepted wherever a video is (decoded as a one-frame video).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class PathError(Exception):
    """A path that cannot be used as asked.

    Attributes:
        path: the path as the user gave it.
        reason: what is wrong with it, without the path.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def input_problem(path: str | os.PathLike[str], *, allow_empty: bool = False) -> str | None:
    """Why ``path`` cannot be read as an input file, or ``None`` when it can (``allow_empty``:
    an empty file passes, for callers that record it as a failed input of their own)."""
    p = Path(path)
    if not p.exists():
        return "no such file"
    if p.is_dir():
        return "is a directory, not a video file"
    if not p.is_file():
        return "is not a regular file"
    if not os.access(p, os.R_OK):
        return "cannot read (permission denied)"
    if not allow_empty and p.stat().st_size == 0:
        return "empty file"
    return None


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    return (exc.strerror or type(exc).__name__).lower()


def ensure_output_dir(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """Create the folder ``path`` (and its parents) and prove it writable with a probe file.

    Raises:
        PathError: it is a file, cannot be created or cannot be written to.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise PathError(path, f"{what} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as exc:
        raise PathError(path, f"cannot write the {what} ({_why(exc)})") from None
    return p
