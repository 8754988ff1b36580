"""Box geometry shared by detectors, the tracker and evaluation: xyxy float pixels."""

from __future__ import annotations

import numpy as np


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """float64 ``(n,)`` areas of xyxy boxes ``(n, 4)``; inverted boxes have area 0."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: float ``(N, 4)`` and ``(M, 4)`` -> float32 ``(N, M)``.

    Zero rows in, zero rows out; two empty boxes have IoU 0.

    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2]])).round(3)
    array([[0.143, 1.   ]], dtype=float32)
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: float ``(n, 4)`` xyxy; areas are ``(x2 - x1) * (y2 - y1)`` (continuous
            coordinates, no ``+ 1``).
        scores: float ``(n,)``.
        threshold: a box is dropped when its IoU with a higher-scoring kept box exceeds this.

    Returns:
        int64 indices of the kept boxes, highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= threshold]
    return np.asarray(keep, np.int64)


def largest(boxes: np.ndarray) -> int:
    """Index of the largest box (the first of equals); the face a still image is taken to show.

    Raises:
        ValueError: no boxes.
    """
    if not len(boxes):
        raise ValueError("no boxes to choose from")
    return int(np.argmax(box_areas(boxes)))
