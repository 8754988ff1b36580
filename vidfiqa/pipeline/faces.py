"""From detections to what a quality scorer reads: aligned crops, landmarks and face geometry
(:class:`~vidfiqa.types.FaceBatch`), and the eye regions the blink measure compares."""

from __future__ import annotations

import cv2
import numpy as np

from vidfiqa.align import ARCFACE_112, align_arcface, similarity_transforms, visible_fraction
from vidfiqa.models.base import Landmarker
from vidfiqa.quality.factors import FACE_REGION
from vidfiqa.types import Detections, FaceBatch


def describe_faces(image: np.ndarray, detections: Detections, landmarker: Landmarker) -> FaceBatch:
    """Landmarks, aligned crops and geometry of the faces of one frame, ready for a quality
    scorer (``detections`` is left as it was; :func:`face_batch` of landmarked detections, for
    a caller that keeps them)."""
    return face_batch(image, landmarker.landmark(image, detections))


def face_batch(image: np.ndarray, detections: Detections) -> FaceBatch:
    """Aligned crops and geometry of the faces of one frame whose ``detections`` a landmarker
    returned, ready for a quality scorer."""
    return FaceBatch(
        crops=align_arcface(image, detections.landmarks),
        landmarks=detections.landmarks,
        boxes=detections.boxes,
        confidence=detections.confidence,
        landmarks_estimated=detections.landmarks_estimated,
        visible=visible_fraction(detections.landmarks, image.shape, FACE_REGION),
        eye_openness=detections.data.get("eye_openness"),
    )


#: The eyes in the ArcFace template at half size (56x56 px): lids to lids, corner to corner.
_EYE_BAND = (slice(21, 31), slice(12, 44))


def eye_bands(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Grey eye regions of the faces of ``image`` (RGB uint8 ``(H, W, 3)``) aligned by their
    five points ``landmarks`` (float ``(n, 5, 2)``): float32 ``(n, 10, 32)``, a coarse view in
    which a closing lid moves the mean grey level by 5-9 (the talking heads' blinks), where a
    talking face's frame-to-frame change is ~1 (90th percentile 4)."""
    points = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    out = np.zeros((len(points), 10, 32), np.float32)
    for i, m in enumerate(similarity_transforms(points, ARCFACE_112 / 2) if len(points) else []):
        chip = cv2.warpAffine(image, m, (56, 56), flags=cv2.INTER_AREA, borderValue=0)
        out[i] = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)[_EYE_BAND]
    return out
