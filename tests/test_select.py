import numpy as np
import pytest

from vidfiqa.pipeline.select import select_best
from vidfiqa.types import FaceObservation, Track


def track(qualities: list[float], frames: list[int] | None = None) -> Track:
    frames = frames or list(range(len(qualities)))
    obs = [
        FaceObservation(
            frame_index=f,
            time=f / 25,
            box=np.zeros(4, np.float32),
            landmarks=np.zeros((5, 2), np.float32),
            detector_score=1.0,
            quality=q,
            factors={"sharpness": q, "pose": 0.9, "exposure": 0.5, "yaw": 3.0, "pitch": -2.0},
        )
        for f, q in zip(frames, qualities)
    ]
    return Track.from_observations(4, 0, obs)


def test_top_k_in_quality_order_ties_to_earlier_frame() -> None:
    picks = select_best(track([0.2, 0.9, 0.5, 0.9, 0.1]), 3)
    assert [p.observation.frame_index for p in picks] == [1, 3, 2]
    assert [p.rank for p in picks] == [1, 2, 3]
    assert picks[0].reasons[0] == "quality 0.900 (track median 0.500), #1 of 5 frames"
    assert picks[0].reasons[1] == "strongest: sharpness 0.90, pose 0.90"
    assert picks[0].reasons[2] == "weakest: exposure 0.50, pose 0.90"


def test_min_gap_spreads_picks_and_relaxes_when_needed() -> None:
    q = [0.1, 0.8, 0.9, 0.85, 0.2, 0.3, 0.7]
    picks = select_best(track(q), 2, min_gap=3)
    assert [p.observation.frame_index for p in picks] == [2, 6]
    picks = select_best(track(q), 4, min_gap=3)
    assert [p.observation.frame_index for p in picks] == [2, 6, 3, 1]
    assert not any("min_gap" in r for r in picks[1].reasons)
    assert any("min_gap" in r for r in picks[2].reasons)


def test_short_track_and_nan() -> None:
    picks = select_best(track([float("nan"), 0.4]), 5)
    assert [p.observation.frame_index for p in picks] == [1, 0]
    with pytest.raises(ValueError, match="k must be >= 1"):
        select_best(track([0.4]), 0)


def test_learned_levels_name_the_worst_degradations() -> None:
    levels = {"blur_level": 0.62, "noise_level": 0.05, "occlusion_level": 0.31, "pose_level": 0.2}
    obs = [
        FaceObservation(
            frame_index=f, time=f / 25, box=np.zeros(4, np.float32), landmarks=np.zeros((5, 2), np.float32),
            detector_score=1.0, quality=0.5, factors=levels if f else {k: 0.01 for k in levels},
        )
        for f in range(2)
    ]  # fmt: skip
    picks = select_best(Track.from_observations(1, 0, obs), 2)
    reasons = {p.observation.frame_index: p.reasons for p in picks}
    assert "learned degradation: blur 0.62, occlusion 0.31" in reasons[1]
    assert "learned degradation: none above 0.15" in reasons[0]
    multipliers_only = {**levels, "visibility": 1.0, "eyes_open": 1.0}
    obs[1].factors.update(multipliers_only)
    picks = select_best(Track.from_observations(1, 0, obs), 1)
    assert not any(r.startswith(("strongest", "weakest")) for r in picks[0].reasons)
