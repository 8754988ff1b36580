"""Multi-object tracking accuracy (CLEAR MOT and identity metrics) with ``motmetrics``.

Ground truth is per frame: boxes and identities, as the sample clips' JSON holds it, or the
tracks of another run (a dense, detect-every-frame run as a reference for a strided one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from vidfiqa.geometry import box_iou
from vidfiqa.types import Track

#: frame index -> list of (object id, xyxy box)
FrameBoxes = Mapping[int, list[tuple[str | int, np.ndarray]]]


def frames_from_tracks(tracks: Iterable[Track]) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Per-frame ``(track id, box)`` lists from tracks."""
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for t in tracks:
        for frame, box in zip(t.frames.tolist(), t.boxes):
            out.setdefault(frame, []).append((t.track_id, box))
    return out


def frames_from_ground_truth(truth: dict) -> dict[int, list[tuple[str, np.ndarray]]]:
    """Per-frame ``(identity, box)`` lists from a sample clip's ground-truth JSON.

    Identities are made unique per shot (``"astronaut@1"``): a tracker must start a new track
    after a cut, so the same person across a cut is two ground-truth objects.
    """
    return {
        f["index"]: [
            (f"{face['identity']}@{f['shot']}", np.asarray(face["box"], np.float64)) for face in f["faces"]
        ]
        for f in truth["frames"]
    }


def mot_metrics(truth: FrameBoxes, hypothesis: FrameBoxes, *, min_iou: float = 0.5) -> dict[str, float]:
    """IDF1, MOTA, MOTP and counts over the frames of ``truth``.

    A hypothesis box matches a ground-truth box when IoU >= ``min_iou``. Hypothesis frames not
    in ``truth`` are ignored (the reader may have skipped them by stride).

    Returns:
        ``idf1``, ``mota``, ``motp`` (mean 1 - IoU of matches), ``id_switches``,
        ``fragmentations``, ``num_objects``, ``num_predictions``, ``recall``, ``precision``.
    """
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=False)
    # motmetrics stores ids as floats: number the identities.
    gt_ids: dict[str | int, int] = {}
    hyp_ids: dict[str | int, int] = {}
    for index in sorted(truth):
        gt = truth[index]
        hyp = hypothesis.get(index, [])
        gt_boxes = np.array([b for _, b in gt], np.float64).reshape(-1, 4)
        hyp_boxes = np.array([b for _, b in hyp], np.float64).reshape(-1, 4)
        # Distances are 1 - IoU, NaN for pairs that may not match (motmetrics' convention);
        # computed here because motmetrics' own helper uses an API removed in NumPy 2.
        iou = box_iou(gt_boxes, hyp_boxes).astype(np.float64)
        dist = np.where(iou >= min_iou, 1 - iou, np.nan)
        acc.update(
            [gt_ids.setdefault(g, len(gt_ids)) for g, _ in gt],
            [hyp_ids.setdefault(h, len(hyp_ids)) for h, _ in hyp],
            dist,
            frameid=index,
        )
    names = [
        "idf1",
        "mota",
        "motp",
        "num_switches",
        "num_fragmentations",
        "num_objects",
        "num_predictions",
        "recall",
        "precision",
    ]
    summary = mm.metrics.create().compute(acc, metrics=names, name="all")
    row = summary.loc["all"]
    return {
        "idf1": float(row["idf1"]),
        "mota": float(row["mota"]),
        "motp": float(row["motp"]),
        "id_switches": int(row["num_switches"]),
        "fragmentations": int(row["num_fragmentations"]),
        "num_objects": int(row["num_objects"]),
        "num_predictions": int(row["num_predictions"]),
        "recall": float(row["recall"]),
        "precision": float(row["precision"]),
    }
