"""Tracks to ORM rows and back: the one place that copies observation arrays field by field.

Kept beside :mod:`vidfiqa.store.db` rather than in it, so that the store imports nothing of the
package; this module is the bridge between the pipeline's types and the store's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from vidfiqa.geometry import box_iou
from vidfiqa.pipeline.templates import TrackTemplates
from vidfiqa.store.db import TemplateRow, TrackRow, to_bytes
from vidfiqa.types import FaceObservation, Track, finite_or_none


def track_rows(
    tracks: list[Track], results: list[TrackTemplates], *, scorer: str, model: str
) -> tuple[list[TrackRow], list[tuple[int, int, str, np.ndarray]]]:
    """Unsaved rows of ``tracks`` with their templates (not their observations: see
    :func:`observation_values`), and the embeddings as :meth:`Store.replace_video` takes them
    (``results`` in the order of ``tracks``)."""
    rows, embeddings = [], []
    for t, (track, result) in enumerate(zip(tracks, results)):
        frames = track.frames
        rows.append(
            TrackRow(
                track_index=track.track_id,
                shot=track.shot,
                first_frame=int(frames[0]),
                last_frame=int(frames[-1]),
                templates=[
                    TemplateRow(
                        strategy=label,
                        scorer=scorer,
                        model=model,
                        dim=int(agg.vector.shape[0]),
                        vector=to_bytes(agg.vector),
                        frames=frames[agg.frames].tolist(),
                        weights=agg.weights.astype(float).tolist(),
                    )
                    for label, agg in result.templates.items()
                ],
            )
        )
        embeddings += [(t, int(o), model, v) for o, v in zip(result.positions, result.vectors)]
    return rows, embeddings


def observation_values(track: Track) -> Iterator[dict[str, Any]]:
    """The column values of each observation of ``track``, made one at a time as
    :meth:`Store.replace_video` inserts them (a 30-minute track holds 45,000)."""
    for i in range(len(track)):
        yield {
            "frame_index": int(track.frames[i]),
            "time": float(track.times[i]),
            "box": track.boxes[i].astype(float).tolist(),
            "landmarks": track.landmarks[i].astype(float).tolist(),
            "detector_score": float(track.detector_scores[i]),
            "quality": float(track.qualities[i]),
            "factors": {k: finite_or_none(v[i]) for k, v in track.factors.items()},
            "interpolated": bool(track.interpolated[i]),
            "landmarks_estimated": bool(track.landmarks_estimated[i]),
        }


def track_from_row(row: TrackRow) -> Track:
    """The :class:`Track` a stored row holds (its ``track_id`` the video's own track index)."""
    return Track.from_observations(
        row.track_index,
        row.shot,
        [
            FaceObservation(
                frame_index=o.frame_index,
                time=o.time,
                box=np.asarray(o.box, np.float32),
                landmarks=np.asarray(o.landmarks, np.float32),
                detector_score=o.detector_score,
                quality=o.quality,
                factors=dict(o.factors),
                interpolated=o.interpolated,
                landmarks_estimated=o.landmarks_estimated,
            )
            for o in row.observations
        ],
    )


#: Least :func:`track_overlap` at which a re-processed track takes the label of a stored one.
LABEL_MIN_OVERLAP = 0.5


def _boxes(track: TrackRow | Track) -> dict[int, Any]:
    if isinstance(track, Track):
        return dict(zip(track.frames.tolist(), track.boxes))
    return {o.frame_index: o.box for o in track.observations}


def track_overlap(a: TrackRow | Track, b: TrackRow | Track) -> float:
    """How much two tracks of one video are the same face: the sum, over the frames both cover,
    of their boxes' IoU, divided by the length of the shorter track. 1 when one track's boxes
    are the other's on its frames (a track split in two overlaps each half fully), 0 for
    tracks that never overlap."""
    boxes_a, boxes_b = _boxes(a), _boxes(b)
    common = sorted(boxes_a.keys() & boxes_b.keys())
    if not common:
        return 0.0
    ious = box_iou(np.array([boxes_a[f] for f in common]), np.array([boxes_b[f] for f in common]))
    return float(np.trace(ious)) / min(len(boxes_a), len(boxes_b))


def carry_labels(
    old: list[TrackRow], new: list[TrackRow], geometry: list[Track] | None = None
) -> tuple[list[tuple[TrackRow, TrackRow]], list[TrackRow]]:
    """Give the labels of ``old`` (a video's stored tracks) to the tracks of ``new`` (the same
    video processed again) that are the same face: each new track takes the label of the
    labelled old track it overlaps most (:func:`track_overlap` at least
    :data:`LABEL_MIN_OVERLAP`), so a track the new run split keeps its label in every part.
    Geometry, not template similarity: the frames are the same, so the same face has the same
    boxes, and two people who look alike are never confused.

    Sets ``label_id`` of the new tracks that take a label. ``geometry``: the :class:`Track` of
    each new row, whose boxes are compared, for rows without observations (:func:`track_rows`).

    Returns:
        ``(old, new)`` pairs carried, and the labelled old tracks no new track took.
    """
    labelled = [t for t in old if t.label_id is not None]
    pairs = []
    for n, boxes in zip(new, geometry or new, strict=True):
        overlaps = [track_overlap(o, boxes) for o in labelled]
        if overlaps and max(overlaps) >= LABEL_MIN_OVERLAP:
            best = labelled[overlaps.index(max(overlaps))]  # ties: the first stored
            n.label_id = best.label_id
            pairs.append((best, n))
    taken = {id(o) for o, _ in pairs}
    return pairs, [t for t in labelled if id(t) not in taken]
