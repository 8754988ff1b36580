"""IJB-B/IJB-C style template verification: media pooling, then template pooling.

Meta files as distributed with the IJB-C evaluation sets (and insightface's IJB tooling)::

    <prefix>_face_tid_mid.txt          image_name template_id media_id
    <prefix>_template_pair_label.txt   template_a template_b label
    <prefix>_name_5pts_score.txt       image_name x1 y1 ... x5 y5 score   (optional)

Images live in one folder (``loose_crop/`` in IJB-C). Faces come from the 5-point file when given
(landmarks in ArcFace order; dlib's landmark predictor then runs on the box they span, for dlib's
chips), otherwise from the detector (largest face).

Pooling: the images of one *media* (a video's frames, or a single photo) are aggregated with the
template strategy under the quality scorer; the media vectors of one *template* are then
averaged with equal weight, so a long video does not outweigh a photo. Template quality is the
mean of its media qualities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidfiqa.aggregate import Strategy
from vidfiqa.eval.types import EvalInputError, Pair, Templates
from vidfiqa.types import Detections, ImageFeatures


class IjbError(EvalInputError):
    """IJB meta files or images that cannot be used; the message is one line."""


@dataclass(frozen=True, slots=True)
class IjbMeta:
    """The meta files, read.

    Attributes:
        images: image names, ``(n,)``.
        templates, media: int64 ``(n,)`` template and media id of each image.
        pairs: int64 ``(m, 2)`` template ids; labels int8 ``(m,)``.
        landmarks: float32 ``(n, 5, 2)`` or ``None``; scores float32 ``(n,)`` or ``None``.
    """

    images: list[str]
    templates: np.ndarray
    media: np.ndarray
    pairs: np.ndarray
    labels: np.ndarray
    landmarks: np.ndarray | None
    scores: np.ndarray | None


def _rows(path: Path, columns: int) -> list[list[str]]:
    if not path.is_file():
        raise IjbError(f"{path}: no such meta file")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < columns:
            raise IjbError(f"{path}:{n}: expected {columns} columns, got {len(parts)}")
        out.append(parts)
    return out


def read_meta(meta_dir: str | Path, prefix: str = "ijbc") -> IjbMeta:
    d = Path(meta_dir)
    faces = _rows(d / f"{prefix}_face_tid_mid.txt", 3)
    pairs = _rows(d / f"{prefix}_template_pair_label.txt", 3)
    try:
        templates = np.array([int(r[1]) for r in faces], np.int64)
        media = np.array([int(r[2]) for r in faces], np.int64)
        pair_ids = np.array([[int(r[0]), int(r[1])] for r in pairs], np.int64).reshape(-1, 2)
        labels = np.array([int(r[2]) for r in pairs], np.int8)
    except ValueError as exc:
        raise IjbError(f"{d}: non-numeric template, media or label ({exc})") from None
    images = [r[0] for r in faces]
    landmarks = scores = None
    five = d / f"{prefix}_name_5pts_score.txt"
    if five.is_file():
        rows = {r[0]: r for r in _rows(five, 12)}
        missing = [i for i in images if i not in rows]
        if missing:
            raise IjbError(f"{five}: no landmarks for {len(missing)} images (first: {missing[0]})")
        landmarks = np.array([[float(v) for v in rows[i][1:11]] for i in images], np.float32).reshape(
            -1, 5, 2
        )
        scores = np.array([float(rows[i][11]) for i in images], np.float32)
    return IjbMeta(images, templates, media, pair_ids, labels, landmarks, scores)


def box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """A detector-like square face box, float32 ``(4,)``, around ArcFace-order landmarks: dlib's
    HOG boxes are ~2.6 inter-ocular distances wide with the eyes ~0.37 of the way down."""
    eyes = (landmarks[0] + landmarks[1]) / 2
    iod = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    side = 2.6 * iod
    top = eyes[1] - 0.37 * side
    return np.array([eyes[0] - side / 2, top, eyes[0] + side / 2, top + side], np.float32)


def given_faces(meta: IjbMeta) -> list[Detections] | None:
    """The faces the 5-point file gives, one per image (box spanned by the points, confidence
    from the raw score), or ``None`` without a 5-point file (the detector then finds them)."""
    if meta.landmarks is None:
        return None
    conf = 1.0 / (1.0 + np.exp(-meta.scores.astype(np.float64)))  # 5-point files carry raw scores
    return [
        Detections(
            boxes=box_from_landmarks(meta.landmarks[i])[None],
            scores=meta.scores[i : i + 1],
            confidence=np.array([conf[i]], np.float32),
        )
        for i in range(len(meta.images))
    ]


def pool_templates(meta: IjbMeta, feats: ImageFeatures, scorer: str, strategy: Strategy) -> Templates:
    """One unit vector per template id (named by the id); templates without a face are left out."""
    tids, media = meta.templates[feats.found], meta.media[feats.found]
    q = feats.qualities[scorer]
    out_ids, out_vec, out_q = [], [], []
    for t in np.unique(tids):
        vecs, quals = [], []
        for m in np.unique(media[tids == t]):
            sel = np.flatnonzero((tids == t) & (media == m))
            agg = strategy.aggregate(q[sel], feats.embeddings[sel])
            vecs.append(agg.vector.astype(np.float64))
            quals.append(agg.quality(q[sel]))
        v = np.mean(vecs, axis=0)
        out_ids.append(t)
        out_vec.append((v / np.linalg.norm(v)).astype(np.float32))
        out_q.append(float(np.mean(quals)))
    return Templates([str(t) for t in out_ids], np.stack(out_vec), np.array(out_q))


def template_pairs(meta: IjbMeta) -> list[Pair]:
    """The meta file's template pairs, as pairs of template names."""
    return [Pair(1, str(a), str(b), bool(y)) for (a, b), y in zip(meta.pairs, meta.labels)]
