"""Detection-to-track association: IoU + Hungarian assignment with a constant-velocity guess.

The tracker sees only the frames where detection ran (every ``detect_every`` frames); the
pipeline interpolates boxes for the frames in between. It takes and returns
:class:`~vidfiqa.types.Detections`, like ``supervision``'s trackers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidfiqa.geometry import box_areas, box_iou
from vidfiqa.types import Detections


@dataclass(slots=True)
class _TrackState:
    track_id: int
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0
    confirmed: bool = False

    def predicted(self) -> np.ndarray:
        """Last box moved by the centre's velocity; size is not extrapolated, since detector
        boxes jump between pyramid scales and a size trend would run away during misses."""
        shift = (self.velocity[:2] + self.velocity[2:]) / 2 * (self.misses + 1)
        return self.box + np.concatenate([shift, shift])


class IouTracker:
    """Greedy-free (Hungarian) IoU tracker with birth, confirmation and death.

    Args:
        iou_threshold: least IoU between a track's predicted box and a detection for them to be
            matched. Lower keeps fast-moving faces on their track but risks swapping identities
            between faces that pass each other.
        min_hits: matched detections (the first included) before a track is confirmed. Higher
            suppresses one-off false detections, at the cost of dropping genuinely short tracks.
        max_misses: detection rounds a confirmed track may go unmatched before it dies. Higher
            bridges missed detections (blur, occlusion) but lets a track jump to a newcomer.
        velocity_smoothing: weight of the newest displacement in the velocity estimate (0-1];
            lower is steadier, higher follows acceleration.
        max_shift: a detection that overlaps no track too little may still continue one whose
            predicted centre is within ``max_shift`` face sides of it and whose size it keeps
            (within 1.5x): a face crossing the frame moves a whole face width between two key
            frames, where IoU is 0 (the 1080p walk's fastest, 37 px a frame for a 100 px face).
            Overlaps always win over such near misses. 0 turns it off; higher bridges faster
            motion but risks taking a neighbour's detection in a crowd.
    """

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        min_hits: int = 2,
        max_misses: int = 5,
        velocity_smoothing: float = 0.5,
        max_shift: float = 1.0,
    ):
        if not 0 < iou_threshold <= 1:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if min_hits < 1 or max_misses < 0:
            raise ValueError(f"need min_hits >= 1 and max_misses >= 0, got {min_hits}, {max_misses}")
        self.iou_threshold = iou_threshold
        self.min_hits = min_hits
        self.max_misses = max_misses
        self.velocity_smoothing = velocity_smoothing
        self.max_shift = max_shift
        self._tracks: list[_TrackState] = []
        self._next_id = 0
        self.confirmed_ids: set[int] = set()
        #: The least IoU between a live track's predicted box and the detection it took in the
        #: last round; 0 when a live track went unmatched, a new one started, or none is live.
        self.fit = 0.0

    def reset(self) -> None:
        """End every live track (a shot cut); ids keep counting, so none is ever reused."""
        self._tracks = []
        self.fit = 0.0

    def coast(self) -> None:
        """Let a detection round pass without detections (the caller skipped it): every track
        keeps moving at its velocity, as through a miss, but none dies of it here."""
        for track in self._tracks:
            track.misses += 1

    def _near(
        self, predicted: np.ndarray, last: np.ndarray, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which (track, detection) pairs are near misses (see ``max_shift``), and how close
        each is in (0, 1]: 1 on the predicted centre, 0 at ``max_shift`` sides."""
        side = np.sqrt(box_areas(last))[:, None]
        det_side = np.sqrt(box_areas(boxes))[None, :]
        centre_p = (predicted[:, :2] + predicted[:, 2:]) / 2
        centre_d = (boxes[:, :2] + boxes[:, 2:]) / 2
        distance = np.linalg.norm(centre_p[:, None, :] - centre_d[None, :, :], axis=-1)
        reach = np.maximum(self.max_shift * side, 1e-9)
        ratio = det_side / np.maximum(side, 1e-9)
        near = (distance < reach) & (ratio > 2 / 3) & (ratio < 1.5) & (self.max_shift > 0)
        return near, np.where(near, 1 - distance / reach, 0.0)

    def predicted_boxes(self) -> np.ndarray:
        """Where each live track is expected at the next detection round, float64 ``(n, 4)``."""
        return np.stack([t.predicted() for t in self._tracks]) if self._tracks else np.zeros((0, 4))

    def update(self, detections: Detections) -> Detections:
        """Associate one detection round with the live tracks.

        Returns:
            The same detections with ``tracker_id`` set, tentative tracks included (check
            :attr:`confirmed_ids` before keeping a track).
        """
        n = len(detections)
        ids = np.full(n, -1, np.int64)
        if self._tracks and n:
            # A detection may match either where the track was or where it is heading: the
            # better of the two keeps jittery and fast faces alike on their tracks.
            predicted = np.stack([t.predicted() for t in self._tracks])
            last = np.stack([t.box for t in self._tracks])
            iou = np.maximum(box_iou(predicted, detections.boxes), box_iou(last, detections.boxes))
            overlap = iou >= self.iou_threshold
            near, closeness = self._near(predicted, last, detections.boxes)
            # Overlaps score 1-2 and near misses 0-1, so an overlap is always preferred.
            score = np.where(overlap, 1 + iou, np.where(near, closeness, 0.0))
            rows, cols = linear_sum_assignment(-score)
            keep = overlap[rows, cols] | near[rows, cols]
            rows, cols = rows[keep], cols[keep]
            whole = len(rows) == len(self._tracks) == n and all(t.confirmed for t in self._tracks)
            fits = box_iou(predicted[rows], detections.boxes[cols]).diagonal()
            self.fit = float(fits.min()) if whole else 0.0
        else:
            rows = cols = np.zeros(0, np.int64)
            self.fit = 0.0
        matched_tracks = set(rows.tolist())
        for r, c in zip(rows, cols):
            track = self._tracks[r]
            new_box = detections.boxes[c].astype(np.float64)
            step = (new_box - track.box) / (track.misses + 1)
            a = self.velocity_smoothing
            track.velocity = step if track.hits == 1 else a * step + (1 - a) * track.velocity
            track.box = new_box
            track.hits += 1
            track.misses = 0
            if track.hits >= self.min_hits:
                track.confirmed = True
                self.confirmed_ids.add(track.track_id)
            ids[c] = track.track_id
        survivors = []
        for i, track in enumerate(self._tracks):
            if i not in matched_tracks:
                track.misses += 1
                # A tentative track dies at its first miss: one-off detections are noise.
                if not track.confirmed or track.misses > self.max_misses:
                    continue
            survivors.append(track)
        for c in np.flatnonzero(ids < 0):
            track = _TrackState(self._next_id, detections.boxes[c].astype(np.float64))
            self._next_id += 1
            if self.min_hits <= 1:
                track.confirmed = True
                self.confirmed_ids.add(track.track_id)
            survivors.append(track)
            ids[c] = track.track_id
        self._tracks = survivors
        detections.tracker_id = ids
        return detections
