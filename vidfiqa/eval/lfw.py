"""Labeled Faces in the Wild (LFW): the View 2 pair list and its images.

Layout (Huang, Ramesh, Berg, Learned-Miller, "Labeled Faces in the Wild: A Database for Studying
Face Recognition in Unconstrained Environments", UMass TR 07-49, 2007)::

    ROOT/pairs.txt                             "10<TAB>300", then per fold 300 matched lines
                                               (name n1 n2) and 300 mismatched (name1 n1 name2 n2)
    ROOT/images/<Person>/<Person>_<NNNN>.jpg   (``lfw/`` or ``lfw-deepfunneled/`` also accepted,
                                               or ROOT itself: the extracted ``lfw/`` folder
                                               with pairs.txt put beside the person folders)

Each image is read as a one-frame video, so that the YouTube Faces machinery (features, templates,
protocols) evaluates it; pairs naming an image that is absent are reported as missing, as pairs
naming absent videos are.
"""

from __future__ import annotations

import glob
from pathlib import Path

from vidfiqa.eval.types import EvalInputError, Pair
from vidfiqa.types import ImageFrame, ImageSequence

_IMAGE_FOLDERS = ("images", "lfw-deepfunneled", "lfw", "lfw_funneled")


def _holds_people(folder: Path) -> bool:
    """Whether ``folder`` itself holds ``<Person>/<Person>_<NNNN>.jpg`` (the extracted archive)."""
    try:
        people = [d for d in folder.iterdir() if d.is_dir()]
    except OSError:
        return False
    return any(next(d.glob(f"{glob.escape(d.name)}_*.jpg"), None) is not None for d in people[:50])


def image_folder(root: str | Path) -> Path:
    """The folder of ``<Person>/<Person>_<NNNN>.jpg``: one of ``root``'s images folders
    (``images``, ``lfw-deepfunneled``, ``lfw``, ``lfw_funneled``), else ``root`` itself when it
    holds the person folders (the extracted ``lfw/`` folder, pairs.txt beside them).

    Raises:
        EvalInputError: neither.
    """
    for name in _IMAGE_FOLDERS:
        if (Path(root) / name).is_dir():
            return Path(root) / name
    if _holds_people(Path(root)):
        return Path(root)
    raise EvalInputError(
        f"{root}: no images folder ({', '.join(_IMAGE_FOLDERS)}) and no <Person>/<Person>_<NNNN>.jpg "
        "folders in it"
    )


def image_name(person: str, number: int) -> str:
    """The key of one image, ``Person/Person_NNNN``."""
    return f"{person}/{person}_{number:04d}"


def read_pairs(path: str | Path) -> list[Pair]:
    """The pairs of a View 2 ``pairs.txt``, with their fold (1-based) and image keys.

    Raises:
        EvalInputError: a missing file or a line that is neither a matched nor a mismatched pair.
    """
    p = Path(path)
    if not p.is_file():
        raise EvalInputError(f"{p}: no such pair list")
    lines = p.read_text().splitlines()
    try:
        folds, per_fold = (int(v) for v in lines[0].split())
    except (IndexError, ValueError):
        raise EvalInputError(f"{p}:1: expected the header 'folds<TAB>pairs per fold'") from None
    pairs = []
    for n, line in enumerate(lines[1:], 2):
        cells = line.split()
        if not cells:
            continue
        fold = len(pairs) // (2 * per_fold) + 1
        try:
            if len(cells) == 3:
                a, b = image_name(cells[0], int(cells[1])), image_name(cells[0], int(cells[2]))
            elif len(cells) == 4:
                a, b = image_name(cells[0], int(cells[1])), image_name(cells[2], int(cells[3]))
            else:
                raise ValueError
        except ValueError:
            expected = "'name n1 n2' or 'name1 n1 name2 n2'"
            raise EvalInputError(f"{p}:{n}: expected {expected}, got {line[:60]!r}") from None
        pairs.append(Pair(fold, a, b, len(cells) == 3))
    if len(pairs) != folds * 2 * per_fold:
        raise EvalInputError(f"{p}: {len(pairs)} pairs, the header announces {folds} x {2 * per_fold}")
    return pairs


def absent_notes(pairs: list[Pair], absent: list[str]) -> list[str]:
    """A warning for a reader when images the pairs name are absent (their pairs are missing)."""
    if not absent:
        return []
    missing = set(absent)
    hit = sum(p.a in missing or p.b in missing for p in pairs)
    return [f"warning: {len(absent)} images the pairs name are absent; their {hit} pairs count as missing"]


def pair_images(root: str | Path, pairs: list[Pair]) -> tuple[dict[str, ImageSequence], list[str]]:
    """The images ``pairs`` name, each as a one-frame video whose face the detector finds, and
    the keys of those whose files are absent (their pairs are then missing)."""
    folder = image_folder(root)
    videos: dict[str, ImageSequence] = {}
    absent: set[str] = set()
    for key in sorted({k for p in pairs for k in (p.a, p.b)}):
        path = folder / f"{key}.jpg"
        if path.is_file():
            videos[key] = ImageSequence(key, key.split("/")[0], [ImageFrame(path, 0, None)])
        else:
            absent.add(key)
    return videos, sorted(absent)
