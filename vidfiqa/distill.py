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

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidfiqa.features import describe_images, read_rgb
from vidfiqa.inputs import IMAGE_SUFFIXES
from vidfiqa.models.base import Detector, Embedder, FaceBatch, Landmarker, QualityScorer
from vidfiqa.train import TrainError, train_and_save


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
class TeacherFaces:
    """The faces found in a list of images: ``index`` (positions of the images used), aligned
    ``batch``, teacher ``scores`` float32 ``(m,)`` and ``embeddings`` float32 ``(m, d)``."""

    index: np.ndarray
    batch: FaceBatch
    scores: np.ndarray
    embeddings: np.ndarray


def teacher_faces(
    files: list[Path],
    *,
    landmarker: Landmarker,
    embedder: Embedder,
    teacher: QualityScorer,
    detector: Detector | None = None,
    progress: Callable[[int], None] | None = None,
) -> TeacherFaces:
    """Align, score and embed the face of each image: the whole image is the face box (face
    crops), or the largest face the ``detector`` finds. Images where none is found are skipped.

    Raises:
        TrainError: an unreadable image, or faces in fewer than 4 images.
    """

    def images():
        for path in files:
            try:
                yield read_rgb(path), None
            except OSError as exc:
                raise TrainError(f"{path}: not a readable image ({exc})") from None

    faces = describe_images(
        images(), landmarker=landmarker, embedder=embedder, detector=detector, progress=progress
    )
    found = 0 if faces is None else len(faces.index)
    if faces is None or found < 4:
        raise TrainError(f"faces found in only {found} of {len(files)} images; need at least 4")
    scores = np.asarray(teacher.score(faces.batch).scores, np.float32)
    # One call, so the embedder batches across images.
    embeddings = embedder.embed(faces.chips).astype(np.float32)
    return TeacherFaces(faces.index, faces.batch, scores, embeddings)


def distill(
    folder: Path,
    out_path: str | Path,
    *,
    teacher: QualityScorer,
    teacher_name: str,
    landmarker: Landmarker,
    embedder: Embedder,
    detector: Detector | None = None,
    beta: float = 0.2,
    epsilon: float = 0.5,
    min_per_identity: int = 10,
    labels_out: Path | None = None,
    progress: Callable[[int], Any] | None = None,
    log: Callable[[str], None] | None = None,
    **settings,
) -> dict:
    """Score the faces of ``folder`` (one sub-folder per identity) with ``teacher``, optimise the
    labels (:func:`optimise_labels`), train the student on them (``settings``: see
    :func:`vidfiqa.train.train_lightweight`) and save it at ``out_path``; with ``labels_out``
    also write ``file,teacher,label,used`` as CSV. ``progress(n)`` makes a bar over the ``n``
    images (``update``, ``close``). Returns a JSON-ready summary.

    Raises:
        TrainError: too few images, faces or identities.
    """
    files, identities = face_images(folder)
    bar = progress(len(files)) if progress else None
    try:
        faces = teacher_faces(
            files,
            landmarker=landmarker,
            embedder=embedder,
            teacher=teacher,
            detector=detector,
            progress=bar.update if bar else None,
        )
    finally:
        if bar:
            bar.close()
    ids = [identities[i] for i in faces.index]
    opt = optimise_labels(
        faces.scores, faces.embeddings, ids, beta=beta, epsilon=epsilon, min_per_identity=min_per_identity
    )
    if opt.keep.sum() < 4:
        raise TrainError(
            f"only {int(opt.keep.sum())} images left after dropping identities with fewer than "
            f"{min_per_identity} high-quality images; lower --min-per-identity"
        )
    if labels_out:
        with Path(labels_out).open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "teacher", "label", "used"])
            for j, i in enumerate(faces.index):
                rel = files[i].relative_to(folder).as_posix()
                writer.writerow([rel, f"{faces.scores[j]:.6g}", f"{opt.labels[j]:.6g}", int(opt.keep[j])])
    reports = train_and_save(faces.batch.crops[opt.keep], opt.labels[opt.keep], out_path, log=log, **settings)
    return {
        "teacher": teacher_name,
        "images": len(files),
        "faces": len(faces.index),
        "trained_on": int(opt.keep.sum()),
        "quality_threshold": round(opt.threshold, 6),
        "identities": len(opt.identities),
        "dropped_identities": opt.dropped,
        "branches": reports,
    }
