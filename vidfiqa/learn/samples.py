"""Training and validation faces for quality models: photos of known people, each seen clean and
degraded at known levels, found, aligned and embedded as the video pipeline would.

Each source photo gives ``variants`` samples: the first ``undegraded`` are the photo itself
(sample 0) and imperceptibly touched copies (every factor at most 0.05), the rest are degraded
at random levels (:mod:`vidfiqa.learn.degrade`). The detector runs on every sample, as it would on a
video frame; where it no longer finds the face (IoU < 0.3 with the clean face) the clean face's
box is used with confidence 0. The landmarker always runs on the sample's own pixels, so poor
alignment of a degraded face is part of what the embedder, and the labels, see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from vidfiqa.geometry import box_iou
from vidfiqa.learn.degrade import APPLIED, degrade, sample_levels
from vidfiqa.models.base import Detector, Embedder, Landmarker
from vidfiqa.pipeline.faces import face_batch
from vidfiqa.pipeline.features import chips_for, find_face, given_face, read_rgb
from vidfiqa.quality.factors import head_pose
from vidfiqa.types import Detections, FaceBatch

#: Factor levels a quality model learns: the applied ones, then pose (measured from landmarks).
FACTORS: tuple[str, ...] = (*APPLIED, "pose")
_POSE_FULL = 60.0  # degrees of combined yaw and pitch that count as level 1
_MATCH_IOU = 0.3


class QualitySetError(Exception):
    """Unusable photos or cache; one line."""


#: The :class:`FaceBatch` columns, stored as ``faces.<name>`` in a sample cache.
_FACE_COLUMNS = tuple(f.name for f in fields(FaceBatch))


@dataclass(frozen=True, slots=True)
class FaceSamples:
    """``n`` samples of ``m`` source photos.

    Attributes:
        keys: ``m`` photo keys (e.g. ``Person/Person_0001``); identities: their ``m`` people.
        source: int64 ``(n,)`` photo of each sample; variant: int64 ``(n,)``, 0 = the photo.
        levels: float32 ``(n, len(FACTORS))`` factor levels in [0, 1] (applied, then pose).
        degraded: bool ``(n,)``; some factor applied above the imperceptible level.
        detected: bool ``(n,)``; the detector found the face in the sample itself.
        faces: what a scorer sees of the ``n`` samples.
        embeddings: float32 ``(n, d)`` L2-normalised, from the embedder named ``embedder``.
    """

    keys: np.ndarray
    identities: np.ndarray
    source: np.ndarray
    variant: np.ndarray
    levels: np.ndarray
    degraded: np.ndarray
    detected: np.ndarray
    faces: FaceBatch
    embeddings: np.ndarray
    embedder: str

    def __len__(self) -> int:
        return len(self.source)

    @property
    def person(self) -> np.ndarray:
        """object ``(n,)``: the identity of each sample."""
        return self.identities[self.source]

    def batch(self, rows: np.ndarray | None = None) -> FaceBatch:
        """The samples at ``rows`` (all when ``None``) as a scorer's input."""
        if rows is None:
            return self.faces
        return FaceBatch(**{c: getattr(self.faces, c)[rows] for c in _FACE_COLUMNS})

    def save(self, path: Path) -> None:
        """An ``.npz`` file (written whole, then renamed into place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "faces"}
        arrays |= {f"faces.{c}": getattr(self.faces, c) for c in _FACE_COLUMNS}
        arrays["keys"] = arrays["keys"].astype(str)
        arrays["identities"] = arrays["identities"].astype(str)
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> FaceSamples:
        try:
            with np.load(path) as npz:
                arrays = {f.name: npz[f.name] for f in fields(cls) if f.name != "faces"}
                faces = FaceBatch(**{c: npz[f"faces.{c}"] for c in _FACE_COLUMNS})
        except (OSError, KeyError, ValueError) as exc:
            raise QualitySetError(f"{path}: not a sample cache of this version ({exc})") from None
        arrays["keys"] = arrays["keys"].astype(object)
        arrays["identities"] = arrays["identities"].astype(object)
        arrays["embedder"] = str(arrays["embedder"])
        return cls(faces=faces, **arrays)


def pose_levels(landmarks: np.ndarray, estimated: np.ndarray) -> np.ndarray:
    """float32 ``(B,)``: combined yaw and pitch of ``(B, 5, 2)`` landmarks, 60 degrees = 1."""
    yaw, pitch = head_pose(landmarks, use_pitch=~np.asarray(estimated, bool))
    return np.clip(np.hypot(yaw, pitch) / _POSE_FULL, 0, 1).astype(np.float32)


def _match(found: Detections, clean: Detections) -> Detections:
    """The detection of ``found`` on the clean face, else the clean box (and landmarks) at
    confidence 0."""
    if len(found):
        iou = box_iou(found.boxes, clean.boxes)[:, 0]
        best = int(np.argmax(iou))
        if iou[best] >= _MATCH_IOU:
            return found[[best]]
    face = given_face(clean.boxes[0], score=0.0, confidence=0.0)
    # Degradations do not move the face: a landmarker that keeps the detector's points
    # (detector5) takes the clean photo's.
    if clean.landmarks is not None:
        face.landmarks = clean.landmarks[:1].copy()
    return face


def build_samples(
    paths: list[Path],
    keys: list[str],
    identities: list[str],
    *,
    variants: int,
    undegraded: int,
    seed: int,
    detector: Detector,
    landmarker: Landmarker,
    embedder: Embedder,
    progress: Callable[[int], None] | None = None,
) -> FaceSamples:
    """Samples of every photo (see the module's text). A photo's randomness is seeded by
    ``(seed, its position)``, so a photo's samples do not depend on which others are built.

    Raises:
        QualitySetError: an unreadable photo.
    """
    if not 1 <= undegraded <= variants:
        raise QualitySetError(f"undegraded must be in 1..{variants}, got {undegraded}")
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("source", "variant", "levels", "degraded", "detected")
    }
    batches: list[FaceBatch] = []
    embeddings: list[np.ndarray] = []
    chips: list[np.ndarray] = []
    for i, path in enumerate(paths):
        try:
            image = read_rgb(path)
        except OSError as exc:
            raise QualitySetError(f"{path}: not a readable image ({exc})") from None
        rng = np.random.default_rng([seed, i])
        clean = find_face(image, None, detector) or given_face([0, 0, image.shape[1], image.shape[0]])
        for v in range(variants):
            if v == 0:
                levels, pixels, face = np.zeros(len(APPLIED), np.float32), image, clean
            else:
                levels = sample_levels(rng, high=0.05, low=0.0) if v < undegraded else sample_levels(rng)
                pixels = degrade(image, clean.boxes[0], levels, rng)
                face = _match(detector.detect([pixels])[0], clean)
            face = landmarker.landmark(pixels, face)
            batch = face_batch(pixels, face)
            if v == 0:
                clean = face  # as landmarked: an unmatched degraded face takes its points (_match)
                # Degradations do not turn a head: every sample keeps its photo's pose.
                pose = pose_levels(batch.landmarks, batch.landmarks_estimated)
            batches.append(batch)
            chips.append(chips_for(embedder, [pixels], [face], batch))
            cols["source"].append(np.array([i]))
            cols["variant"].append(np.array([v]))
            cols["levels"].append(np.append(levels, pose)[None])
            cols["degraded"].append(np.array([v >= undegraded]))
            cols["detected"].append(np.array([v == 0 or float(face.confidence[0]) > 0]))
        if len(chips) >= 256:  # bounded memory: dlib's chips are 150x150
            embeddings.append(embedder.embed(np.concatenate(chips)))
            chips = []
        if progress:
            progress(1)
    if chips:
        embeddings.append(embedder.embed(np.concatenate(chips)))
    return FaceSamples(
        keys=np.array(keys, dtype=object),
        identities=np.array(identities, dtype=object),
        source=np.concatenate(cols["source"]).astype(np.int64),
        variant=np.concatenate(cols["variant"]).astype(np.int64),
        levels=np.concatenate(cols["levels"]).astype(np.float32),
        degraded=np.concatenate(cols["degraded"]),
        detected=np.concatenate(cols["detected"]),
        faces=FaceBatch.concat(batches),
        embeddings=np.concatenate(embeddings).astype(np.float32),
        embedder=embedder.name,
    )


def recognition_utility(samples: FaceSamples, rows: np.ndarray | None = None) -> np.ndarray:
    """The recognition utility of each sample among the samples at ``rows`` (all when ``None``):
    cosine to its person's centre minus the highest cosine to another person's centre (the
    margin CR-FIQA learns and SDD-FIQA measures by its distribution), float32 ``(len(rows),)``.

    A person's centre is the mean clean embedding (variant 0) of their photos other than the
    sample's own, so a photo never counts as its own reference; people with one photo among
    ``rows`` have no such centre (their samples get NaN) but still serve as impostors.
    """
    rows = np.arange(len(samples)) if rows is None else np.asarray(rows)
    emb = samples.embeddings[rows].astype(np.float64)
    person = samples.person[rows]
    source = samples.source[rows]
    clean = samples.variant[rows] == 0
    people, person_idx = np.unique(person.astype(str), return_inverse=True)
    sums = np.zeros((len(people), emb.shape[1]))
    np.add.at(sums, person_idx[clean], emb[clean])
    counts = np.bincount(person_idx[clean], minlength=len(people))
    centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    own_clean = np.zeros_like(emb)
    clean_of = dict(zip(source[clean].tolist(), emb[clean]))
    for j, s in enumerate(source.tolist()):
        own_clean[j] = clean_of.get(s, 0.0)
    genuine = sums[person_idx] - own_clean
    genuine /= np.maximum(np.linalg.norm(genuine, axis=1, keepdims=True), 1e-12)
    pos = (emb * genuine).sum(1)
    neg = np.empty(len(rows))
    for lo in range(0, len(rows), 2048):
        s = emb[lo : lo + 2048] @ centres.T
        s[np.arange(len(s)), person_idx[lo : lo + 2048]] = -np.inf
        neg[lo : lo + 2048] = s.max(1)
    has_centre = counts[person_idx] - np.isin(source, source[clean]).astype(int) >= 1
    return np.where(has_centre, pos - neg, np.nan).astype(np.float32)
