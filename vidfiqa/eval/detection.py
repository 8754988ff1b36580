"""Detection recall of a pipeline's observations against reference faces (a consensus of CNN
detectors, see ``benchmarks/detector_consensus/run.py``), per face size."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from vidfiqa.geometry import box_iou
from vidfiqa.types import Track

#: Face heights (px) that bound the size buckets of :func:`recall`.
SIZE_EDGES = (40, 70)


def boxes_by_frame(tracks: Iterable[Track]) -> dict[int, np.ndarray]:
    """Every observation box of ``tracks``, grouped by frame: frame -> float32 ``(n, 4)``."""
    out: dict[int, list[np.ndarray]] = {}
    for track in tracks:
        for frame, box in zip(track.frames.tolist(), track.boxes):
            out.setdefault(frame, []).append(box)
    return {f: np.stack(b) for f, b in out.items()}


def recall(reference: dict, found: dict[int, np.ndarray], *, iou: float = 0.4) -> dict[str, float | int]:
    """The share of reference faces that an observation box of their frame covers with IoU >= ``iou``.

    Args:
        reference: a consensus JSON as ``benchmarks/detector_consensus/run.py`` writes it
            (``frames: [{index, faces: [{box}]}]``).
        found: frame -> boxes (see :func:`boxes_by_frame`).

    Returns:
        ``faces``, ``found``, ``recall`` overall, and ``recall_<bucket>`` for faces under 40 px,
        40-70 px and 70 px and up tall (NaN where a bucket is empty).
    """
    hits, heights = [], []
    for frame in reference["frames"]:
        ref = np.asarray([f["box"] for f in frame["faces"]], np.float32).reshape(-1, 4)
        if not len(ref):
            continue
        mine = found.get(int(frame["index"]), np.zeros((0, 4), np.float32))
        best = box_iou(ref, mine).max(axis=1) if len(mine) else np.zeros(len(ref))
        hits += (best >= iou).tolist()
        heights += (ref[:, 3] - ref[:, 1]).tolist()
    hit, h = np.asarray(hits, bool), np.asarray(heights)
    out: dict[str, float | int] = {"faces": len(hit), "found": int(hit.sum())}
    out["recall"] = float(hit.mean()) if len(hit) else float("nan")
    lo, hi = SIZE_EDGES
    for name, mask in ((f"<{lo}", h < lo), (f"{lo}-{hi}", (h >= lo) & (h < hi)), (f">={hi}", h >= hi)):
        out[f"recall_{name}"] = float(hit[mask].mean()) if mask.any() else float("nan")
    return out
