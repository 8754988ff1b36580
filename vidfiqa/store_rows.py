"""Tracks to ORM rows and back: the one place that copies observation arrays field by field.

Kept beside :mod:`vidfiqa.store` rather than in it, so that the store imports nothing of the
package; this module is the bridge between the pipeline's types and the store's rows.
"""

from __future__ import annotations

import numpy as np

from vidfiqa.store import ObservationRow, TemplateRow, TrackRow, to_bytes
from vidfiqa.templates import TrackTemplates
from vidfiqa.types import FaceObservation, Track, finite_or_none


def track_rows(
    tracks: list[Track], results: list[TrackTemplates], *, scorer: str, model: str
) -> tuple[list[TrackRow], list[tuple[int, int, str, np.ndarray]]]:
    """Unsaved rows of ``tracks`` with their observations and templates, and the embeddings as
    :meth:`Store.replace_video` takes them (``results`` in the order of ``tracks``)."""
    rows, embeddings = [], []
    for t, (track, result) in enumerate(zip(tracks, results)):
        frames = track.frames
        rows.append(
            TrackRow(
                track_index=track.track_id,
                shot=track.shot,
                first_frame=int(frames[0]),
                last_frame=int(frames[-1]),
                observations=[
                    ObservationRow(
                        frame_index=int(frames[i]),
                        time=float(track.times[i]),
                        box=track.boxes[i].astype(float).tolist(),
                        landmarks=track.landmarks[i].astype(float).tolist(),
                        detector_score=float(track.detector_scores[i]),
                        quality=float(track.qualities[i]),
                        factors={k: finite_or_none(v[i]) for k, v in track.factors.items()},
                        interpolated=bool(track.interpolated[i]),
                        landmarks_estimated=bool(track.landmarks_estimated[i]),
                    )
                    for i in range(len(track))
                ],
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
