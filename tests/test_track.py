import numpy as np
import pytest

from vidfiqa.geometry import box_iou
from vidfiqa.pipeline.track import IouTracker
from vidfiqa.types import Detections


def slow_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - w * h
            out[i, j] = w * h / union if union > 0 else 0
    return out


def test_box_iou_matches_slow_version() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (7, 2))
    a = np.hstack([xy, xy + rng.uniform(1, 40, (7, 2))])
    xy = rng.uniform(0, 100, (5, 2))
    b = np.hstack([xy, xy + rng.uniform(1, 40, (5, 2))])
    np.testing.assert_allclose(box_iou(a, b), slow_iou(a, b), atol=1e-6)
    assert box_iou(a, np.zeros((0, 4))).shape == (7, 0)


def dets(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections(boxes=np.array(boxes, np.float32).reshape(-1, 4), scores=np.ones(len(boxes)))


def test_two_moving_faces_keep_their_ids() -> None:
    tracker = IouTracker(min_hits=2)
    seen = []
    for t in range(20):
        out = tracker.update(dets((10 + 3 * t, 10, 60 + 3 * t, 60), (200 - 2 * t, 100, 250 - 2 * t, 150)))
        seen.append(out.tracker_id.tolist())
    assert all(ids == seen[0] for ids in seen)
    assert tracker.confirmed_ids == set(seen[0])


def test_one_off_detection_is_never_confirmed_and_ids_are_not_reused() -> None:
    tracker = IouTracker(min_hits=2, max_misses=1)
    tracker.update(dets((0, 0, 50, 50)))
    tracker.update(dets((0, 0, 50, 50), (300, 300, 340, 340)))  # flicker
    out = tracker.update(dets((0, 0, 50, 50)))
    assert out.tracker_id.tolist() == [0]
    assert tracker.confirmed_ids == {0}
    tracker.reset()
    out = tracker.update(dets((0, 0, 50, 50)))
    assert out.tracker_id.tolist() == [2]


def test_track_survives_max_misses_then_dies() -> None:
    tracker = IouTracker(min_hits=1, max_misses=2)
    tracker.update(dets((0, 0, 50, 50)))
    for _ in range(2):
        tracker.update(Detections.empty())
    assert tracker.update(dets((2, 0, 52, 50))).tracker_id.tolist() == [0]
    for _ in range(3):
        tracker.update(Detections.empty())
    assert tracker.update(dets((2, 0, 52, 50))).tracker_id.tolist() == [1]


def test_velocity_prediction_bridges_a_missed_round() -> None:
    # 20 px per round on a 50 px box; after a missed round the face is 40 px from its last box
    # (IoU 0.11, below the threshold) but where the velocity says it should be.
    tracker = IouTracker(min_hits=1, iou_threshold=0.3)
    ids = [tracker.update(dets((20 * t, 0, 20 * t + 50, 50))).tracker_id[0] for t in range(4)]
    tracker.update(Detections.empty())
    ids.append(tracker.update(dets((100, 0, 150, 50))).tracker_id[0])
    assert ids == [0] * 5


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        IouTracker(iou_threshold=0)


def test_fit_says_how_well_the_prediction_held_and_coast_keeps_the_motion() -> None:
    tracker = IouTracker(min_hits=2)
    for t in range(3):  # a face moving 4 px a round
        tracker.update(dets((10 + 4 * t, 10, 60 + 4 * t, 60)))
    assert tracker.fit == pytest.approx(1.0)  # found exactly where predicted
    tracker.coast()  # a round passes undetected: the next prediction is two steps on
    np.testing.assert_allclose(tracker.predicted_boxes(), [[26, 10, 76, 60]])
    out = tracker.update(dets((26, 10, 76, 60)))
    assert out.tracker_id.tolist() == [0] and tracker.fit == pytest.approx(1.0)
    tracker.update(dets((42, 10, 92, 60)))  # off its course: 12 px from the prediction
    assert 0.5 < tracker.fit < 0.9
    tracker.update(dets((46, 10, 96, 60), (300, 300, 350, 350)))  # a new face: not steady
    assert tracker.fit == 0.0
    tracker.reset()
    assert tracker.fit == 0.0 and len(tracker.predicted_boxes()) == 0
