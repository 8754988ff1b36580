"""LFW split by person for training quality models: validation people are those of View 2's
last folds (its folds are disjoint in people), training people everyone else, so the degraded
View 2 pairs of the validation folds measure a model on people it never saw."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidfiqa.eval.lfw import image_folder, read_pairs
from vidfiqa.eval.types import Pair


@dataclass(frozen=True, slots=True)
class LfwSplit:
    """Photo keys (``Person/Person_NNNN``) and paths of each side, and the validation pairs."""

    train: list[str]
    val: list[str]
    paths: dict[str, Path]
    val_pairs: list[Pair]

    def people(self, keys: list[str]) -> list[str]:
        return [k.split("/")[0] for k in keys]


def split_lfw(root: str | Path, *, val_folds: tuple[int, ...] = (8, 9, 10)) -> LfwSplit:
    """Every photo under ``root/images``: those of people in ``val_folds`` of ``root/pairs.txt``
    for validation, the rest for training.

    Raises:
        EvalInputError: no images folder or an unreadable pair list.
    """
    folder = image_folder(root)
    pairs = read_pairs(Path(root) / "pairs.txt")
    val_people = {k.split("/")[0] for p in pairs if p.fold in val_folds for k in (p.a, p.b)}
    paths = {p.relative_to(folder).with_suffix("").as_posix(): p for p in sorted(folder.glob("*/*.jpg"))}
    val = [k for k in paths if k.split("/")[0] in val_people]
    train = [k for k in paths if k.split("/")[0] not in val_people]
    val_pairs = [p for p in pairs if p.fold in val_folds and p.a in paths and p.b in paths]
    return LfwSplit(train, val, paths, val_pairs)
