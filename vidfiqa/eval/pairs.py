"""A generic video-pair benchmark: a CSV of ``video_a,video_b,label`` rows, where each side is a
video file or a folder of frame images, so that any video benchmark can be run.

Video files go through the full pipeline (detection, tracking, quality) and the SQL store, with
every observation of every track embedded; the store is then the feature cache: a second run with
another scorer or strategy reads embeddings and per-frame factors back instead of recomputing
them. A video is represented by its longest track. Frame folders are read as image sequences, the
largest detected face of each image used, with features cached as ``.npz``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidfiqa.eval.types import EvalInputError, Pair
from vidfiqa.inputs import IMAGE_SUFFIXES
from vidfiqa.quality.factors import COMPONENTS, as_factor
from vidfiqa.store.db import Store
from vidfiqa.types import ImageFrame, ImageSequence, VideoFeatures


@dataclass(frozen=True, slots=True)
class PairRow:
    a: str
    b: str
    label: int
    fold: int = 1

    def as_pair(self) -> Pair:
        return Pair(self.fold, self.a, self.b, self.label == 1)


def read_pair_list(path: str | Path) -> list[PairRow]:
    """Rows of a pair CSV: ``video_a,video_b,label[,fold]``, header optional; relative paths are
    taken relative to the CSV's folder."""
    p = Path(path)
    if not p.is_file():
        raise EvalInputError(f"{p}: no such pair list")
    rows = []
    with p.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            row = [c.strip() for c in row]
            if not row or not row[0] or row[0].startswith("#"):
                continue
            if len(row) < 3:
                expected = "video_a,video_b,label[,fold]"
                raise EvalInputError(f"{p}:{n}: expected {expected}, got {len(row)} columns")
            if row[2] not in ("0", "1"):
                if n == 1:
                    continue  # header
                raise EvalInputError(f"{p}:{n}: label must be 0 or 1, got {row[2]!r}")
            a, b = ((p.parent / c).resolve() for c in row[:2])
            fold = int(row[3]) if len(row) > 3 and row[3] else 1
            rows.append(PairRow(str(a), str(b), int(row[2]), fold))
    if not rows:
        raise EvalInputError(f"{p}: no pairs")
    return rows


def stored_scorer(scorers: Sequence[str], configured: str, *, videos: bool) -> tuple[str, list[str]]:
    """The scorer video files are processed with (and stored under), and the scorers evaluated.

    ``scorers`` are the --scorer names (checked, repeats dropped); ``configured`` the config's
    scorer, used when none is named. Stored videos keep one scorer's qualities and, under
    ``factors``, each component: so ``factors:<component>`` alone processes with ``factors``.
    Without video files (``videos`` false: frame folders only) any scorers go together.

    >>> stored_scorer(["factors:confidence"], "distilled", videos=True)
    ('factors', ['factors:confidence'])

    Raises:
        ValueError: with video files, two model scorers, or a component under another scorer.
    """
    if not scorers:
        return configured, [configured]
    models = [s for s in scorers if not s.startswith("factors:")]
    components = [s for s in scorers if s.startswith("factors:")]
    stored = models[0] if models else "factors"
    if videos and len(models) > 1:
        raise ValueError(
            f"video files are stored with one quality scorer, and --scorer names {len(models)} "
            f"({', '.join(models)}): evaluate one per run"
        )
    if videos and components and stored != "factors":
        raise ValueError(
            f"--scorer {components[0]} reads the components that the factors scorer stores, and the "
            f"videos are stored with {stored}; add --scorer factors, or evaluate {stored} in its own run"
        )
    return stored, list(scorers)


def frame_folder(path: str | Path) -> ImageSequence:
    """A folder of frame images (sorted by name) as a video whose faces must be detected."""
    folder = Path(path)
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EvalInputError(f"{folder}: no frame images ({', '.join(IMAGE_SUFFIXES)})")
    return ImageSequence(str(folder), "", [ImageFrame(f, i, None) for i, f in enumerate(files)])


def stored_qualities(observations: list, scorer: str, stored_scorer: str) -> np.ndarray:
    """Per-observation quality for ``scorer`` from stored rows: the stored score when it is the
    scorer the rows were made with, one stored factor for ``factors:<component>``."""
    if scorer == stored_scorer:
        return np.array([o.quality for o in observations], np.float32)
    base, _, component = scorer.partition(":")
    if base == "factors" and component in COMPONENTS:
        return as_factor(np.array([o.factors[component] for o in observations], np.float32))
    raise ValueError(f"scorer {scorer!r} cannot be derived from stored {stored_scorer!r} results")


def video_features_from_store(
    store: Store, video_id: int, model: str, scorers: list[str], stored_scorer: str
) -> VideoFeatures | None:
    """Features of a stored video's longest track (``None`` without an embedded track)."""
    track = store.longest_track(video_id)
    if track is None:
        return None
    obs, vectors = store.embedded_observations(track, model)
    if not obs:
        return None
    return VideoFeatures(
        frames=np.array([o.frame_index for o in obs], np.int64),
        embeddings=vectors,
        qualities={s: stored_qualities(obs, s, stored_scorer) for s in scorers},
    )
