"""eDifFIQA's label optimisation, which turns a teacher's quality scores into a student's labels.

Babnik, Peer, Struc, eDifFIQA (IEEE T-BIOM 2024), section III-C: the teacher's quality labels are
corrected by where each face's embedding lies relative to its identity's class centre, the mean
embedding of that identity's high-quality images (those in the global top ``beta`` of teacher
quality; identities with fewer than ``min_per_identity`` of them are dropped, as in the official
``prepare_data.py``)::

    label = clamp(q - epsilon * (1 - cos(e, centre)), 0, 1)

with ``q`` the teacher's score rescaled to [0, 1] over the training set. The official student is
a face-recognition backbone whose own embedding moves during training; the lightweight student
here has none, so ``e`` is the embedder's (fixed) embedding and the labels are computed once
before training. Faces with no identity (``""``) keep the teacher's label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
