"""Distil any quality scorer into the lightweight student, with eDifFIQA's label optimisation.

Babnik, Peer, Struc, eDifFIQA (IEEE T-BIOM 2024), section III-C: the teacher's quality labels are
corrected by where each face's embedding lies relative to its identity's class centre, the mean
embedding of that identity's high-quality images (those in the global top ``beta`` of teacher
quality; identities with fewer than ``min_per_identity`` of them are dropped, as in the official
``prepare_data.py``)::

    label = clamp(q - epsilon * (1 - cos(e, centre)), 0, 1)

with ``q`` the teacher's score rescaled to [0, 1] over the training set. The official student is
a face-recognition backbone whose own embedding moves during training; the lightweight student
here has none, so ``e`` is the embedder's (fixed) embedding and the labels are computed once
before training. Images are grouped into identities by their sub-folder; images directly in the
root folder have no identity and keep the teacher's label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidfiqa.models.base import Detector, Embedder, FaceBatch, Landmarker, QualityScorer
from vidfiqa.pipeline import describe_faces
from vidfiqa.templates import chips_for
from vidfiqa.train import TrainError
from vidfiqa.types import Detections

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True, slots=True)
class LabelOptimisation:
    """Result of :func:`optimise_labels` for ``n`` images.

    Attributes:
        labels: float32 ``(n,)`` optimised labels in [0, 1] (meaningful where ``keep``).
        keep: bool ``(n,)``; False for images of dropped identities.
        threshold: the rescaled teacher quality above which an image counts as high quality.
        identities: identities with a class centre.
        dropped: identities dropped for too few high-quality images.
    """

    labels: np.ndarray
    keep: np.ndarray
    threshold: float
    identities: list[str]
    dropped: list[str]


def optimise_labels(
    teacher: np.ndarray,
    embeddings: np.ndarray,
    identities: list[str],
    *,
    beta: float = 0.2,
    epsilon: float = 0.5,
    min_per_identity: int = 10,
) -> LabelOptimisation:
    """eDifFIQA labels from teacher scores float ``(n,)``, L2-normalised embeddings float32
    ``(n, d)`` and each image's identity (``""``: unknown)."""
    t = np.asarray(teacher, np.float64)
    span = float(np.ptp(t)) if len(t) else 0.0
    q = (t - t.min()) / span if span > 0 else np.full(len(t), 0.5)
    threshold = float(np.sort(q)[::-1][min(int(beta * len(q)), len(q) - 1)])
    labels = q.copy()
    keep = np.ones(len(q), bool)
    ids = np.asarray(identities, dtype=object)
    with_centre, dropped = [], []
    for identity in sorted(set(identities) - {""}):
        rows = np.flatnonzero(ids == identity)
        chosen = rows[q[rows] >= threshold]
        if len(chosen) < min_per_identity:
            keep[rows] = False
            dropped.append(identity)
            continue
        centre = embeddings[chosen].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        labels[rows] = np.clip(q[rows] - epsilon * (1.0 - embeddings[rows] @ centre), 0.0, 1.0)
        with_centre.append(identity)
    return LabelOptimisation(labels.astype(np.float32), keep, threshold, with_centre, dropped)


def face_images(folder: Path) -> tuple[list[Path], list[str]]:
    """Image files under ``folder`` and their identity (the sub-folder path, ``""`` at the top)."""
    if not folder.is_dir():
        raise TrainError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(files) < 4:
        raise TrainError(f"{folder}: need at least 4 face images, found {len(files)}")
    identities = [p.parent.relative_to(folder).as_posix() for p in files]
    return files, ["" if i == "." else i for i in identities]


@dataclass(frozen=True, slots=True)
class DescribedFaces:
    """The faces found in a list of images: ``index`` (positions of the images used), aligned
    ``batch``, teacher ``scores`` float32 ``(m,)`` and ``embeddings`` float32 ``(m, d)``."""

    index: np.ndarray
    batch: FaceBatch
    scores: np.ndarray
    embeddings: np.ndarray


def describe_images(
    files: list[Path],
    *,
    landmarker: Landmarker,
    embedder: Embedder,
    teacher: QualityScorer,
    detector: Detector | None = None,
    progress: Callable[[int], None] | None = None,
) -> DescribedFaces:
    """Align, score and embed the face of each image: the whole image is the face box (face
    crops), or the largest face the ``detector`` finds. Images where none is found are skipped."""
    index, batches, chips = [], [], []
    for i, path in enumerate(files):
        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except OSError as exc:
            raise TrainError(f"{path}: not a readable image ({exc})") from None
        h, w = image.shape[:2]
        if detector is None:
            found = Detections(
                boxes=[[0, 0, w, h]], scores=np.ones(1), data={"confidence": np.ones(1, np.float32)}
            )
        else:
            found = detector.detect([image])[0]
            if not len(found):
                continue
            found = found[[int(np.argmax(np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)))]]
        batch = describe_faces(image, found, landmarker)
        index.append(i)
        batches.append(batch)
        chips.append(chips_for(embedder, [image], [found], batch))
        if progress:
            progress(1)
    if len(index) < 4:
        raise TrainError(f"faces found in only {len(index)} of {len(files)} images; need at least 4")
    batch = FaceBatch.concat(batches)
    scores = np.asarray(teacher.score(batch).scores, np.float32)
    # One call, so the embedder batches across images.
    embeddings = embedder.embed(np.concatenate(chips)).astype(np.float32)
    return DescribedFaces(np.array(index), batch, scores, embeddings)
