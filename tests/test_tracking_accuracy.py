"""Tracker accuracy against known ground truth (motmetrics IDF1/MOTA)."""

import numpy as np
import pytest

from vidfiqa.config import load_config
from vidfiqa.eval.tracking import frames_from_ground_truth, frames_from_tracks, mot_metrics
from vidfiqa.pipeline.analyse import analyse_video


def test_mot_metrics_on_a_hand_computed_case() -> None:
    box = np.array([0, 0, 10, 10.0])
    truth = {0: [("a", box)], 1: [("a", box + [1, 0, 1, 0])], 2: [("a", box)]}
    hyp = {0: [(1, box)], 1: [(2, box + [1, 0, 1, 0])]}
    m = mot_metrics(truth, hyp)
    # One identity-true positive of 3 truth and 2 predicted boxes: IDF1 = 2/5. MOTA = 1 - (1 miss
    # + 1 switch) / 3.
    assert m["idf1"] == pytest.approx(0.4)
    assert m["mota"] == pytest.approx(1 / 3)
    assert m["id_switches"] == 1 and m["num_objects"] == 3


@pytest.mark.parametrize(("clip", "every", "min_idf1"), [("group_walk", 2, 0.8), ("blur_ramp", 2, 0.9)])
def test_tracker_against_sample_ground_truth(sample, clip: str, every: int, min_idf1: float) -> None:
    video, truth = sample(clip)
    analysis = analyse_video(video, load_config(None, {"detector.every": every}))
    m = mot_metrics(frames_from_ground_truth(truth), frames_from_tracks(analysis.tracks))
    print(clip, every, m)
    assert m["idf1"] >= min_idf1, m
    assert m["precision"] >= 0.95, m
