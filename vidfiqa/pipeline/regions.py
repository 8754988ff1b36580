"""Detection inside regions around faces already tracked: cheap key frames between full ones.

A full-frame detection pays for every pixel of the frame, most of them far from any face. Between
two full-frame key frames the pipeline can instead look for each tracked face only where it is
expected: a square ``context`` times its side around its predicted box, shrunk to at most
``max_input`` pixels a side (``detector.region_side``: at the default 256 a face spans ~100 px
of detector input) and detected in one batch. What it cannot do is find a face that no track expects:
new faces wait for the next full-frame key frame (``detector.full_every``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vidfiqa.geometry import box_areas, nms
from vidfiqa.models.base import Detector
from vidfiqa.types import Detections

#: Regions are detected at sides that are multiples of this (RetinaFace's coarsest stride), so
#: regions of similar size share one batch.
_STEP = 32


def face_regions(boxes: np.ndarray, *, context: float = 2.5) -> np.ndarray:
    """Square regions around faces, float32 ``(n, 4)`` xyxy, centred on each box of ``boxes``
    (float ``(n, 4)`` xyxy) with side ``context`` times the box's longer side; they may reach
    outside the frame (that part reads black)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (b[:, :2] + b[:, 2:]) / 2
    half = context * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])[:, None] / 2
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


def region_sides(regions: np.ndarray, *, max_input: int) -> list[int]:
    """The side, in pixels, that each square region of ``regions`` (float ``(n, 4)`` xyxy) is
    detected at by :func:`detect_in_regions`: its own, rounded up to a multiple of 32, at most
    ``max_input``."""
    r = np.asarray(regions, np.float64).reshape(-1, 4)
    return [
        min(max_input, max(_STEP, math.ceil(max(side, 1.0) / _STEP) * _STEP)) for side in r[:, 2] - r[:, 0]
    ]


def whole_frame_pixels(shape: tuple[int, ...], max_side: int | None) -> float:
    """Pixels a detector that shrinks frames to ``max_side`` (``None``: native size) sees of a
    whole frame of ``shape`` ``(H, W[, 3])``."""
    h, w = shape[:2]
    k = 1.0 if max_side is None else min(1.0, max_side / max(h, w))
    return h * w * k * k


def detect_in_regions(
    detector: Detector, image: np.ndarray, regions: np.ndarray, *, max_input: int
) -> list[Detections]:
    """The faces ``detector`` finds in each square region of ``image``, in frame pixels.

    Args:
        detector: any detector; it sees each region as an image of its own.
        image: RGB uint8 ``(H, W, 3)`` frame.
        regions: float ``(n, 4)`` xyxy squares (see :func:`face_regions`).
        max_input: largest side a region is detected at; smaller regions keep their pixels
            (rounded up to a multiple of 32).

    Returns:
        One :class:`Detections` per region, boxes and landmarks mapped back to ``image``.
    """
    crops, placements = [], []
    regions = np.asarray(regions, np.float64).reshape(-1, 4)
    for (x1, y1, x2, _), size in zip(regions, region_sides(regions, max_input=max_input)):
        scale = size / max(x2 - x1, 1.0)
        matrix = np.array([[scale, 0, -x1 * scale], [0, scale, -y1 * scale]])
        crops.append(cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0))
        placements.append((x1, y1, scale))
    out = []
    for found, (x1, y1, scale) in zip(detector.detect(crops) if crops else [], placements):
        found.boxes = found.boxes / scale + np.array([x1, y1, x1, y1], np.float32)
        if found.landmarks is not None:
            found.landmarks = found.landmarks / scale + np.array([x1, y1], np.float32)
        out.append(found)
    return out


def expected_faces(found: list[Detections], predicted: np.ndarray) -> Detections:
    """Of each region's detections, the one nearest its track's predicted box (centre distance,
    among those of 2/3 to 1.5 times its side), then duplicates (IoU > 0.5, two tracks on one
    face) dropped, the higher score kept.

    Args:
        found: one :class:`Detections` per region (:func:`detect_in_regions`).
        predicted: float ``(n, 4)`` xyxy, the box each region was drawn around.
    """
    picks = []
    for d, box in zip(found, np.asarray(predicted, np.float64).reshape(-1, 4)):
        if not len(d):
            continue
        side = math.sqrt(box_areas(box[None])[0])
        ratio = np.sqrt(box_areas(d.boxes)) / max(side, 1e-9)
        distance = np.linalg.norm((d.boxes[:, :2] + d.boxes[:, 2:]) / 2 - (box[:2] + box[2:]) / 2, axis=1)
        distance = np.where((ratio > 2 / 3) & (ratio < 1.5), distance, np.inf)
        if np.isfinite(distance.min()):
            picks.append(d[[int(np.argmin(distance))]])
    if not picks:
        return found[0][[]] if found else Detections.empty()
    merged = Detections.merge(picks)
    return merged[np.sort(nms(merged.boxes, merged.scores, 0.5))]
