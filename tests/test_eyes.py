"""Eye openness: a blink never ranks above an open-eyed frame of the same track (real frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidfiqa.config import load_config
from vidfiqa.models.dlib_models import eye_aspect_ratio
from vidfiqa.pipeline import analyse_video
from vidfiqa.select import select_best


def test_eye_aspect_ratio_by_hand() -> None:
    shapes = np.zeros((1, 68, 2))
    for start in (36, 42):  # an eye 4 wide whose lids are 1 apart: (1 + 1) / (2 * 4)
        shapes[0, start : start + 6] = [(0, 0), (1, -0.5), (3, -0.5), (4, 0), (3, 0.5), (1, 0.5)]
    np.testing.assert_allclose(eye_aspect_ratio(shapes), [0.25])


@pytest.mark.parametrize("scorer", ["factors", "distilled"])
def test_blinks_rank_below_every_open_eyed_frame(shared_data: Path, scorer: str) -> None:
    # talking_head_a closes its eyes at frames 94-97 and 185-187 (looked at, and eye aspect
    # ratios of 0.13-0.15 against a median of 0.29).
    config = load_config(None, {"quality.scorer": scorer})
    analysis = analyse_video(shared_data / "videos" / "talking_head_a.mp4", config)
    track = max(analysis.tracks, key=len)
    frames = track.frames.tolist()
    blink = np.isin(track.frames, [95, 96, 186])
    assert blink.sum() == 3, frames
    assert (track.factors["eyes_open"][blink] < 0.2).all()
    open_eyed = track.factors["eyes_open"] >= 0.99
    assert open_eyed.mean() > 0.9
    assert track.qualities[blink].max() < track.qualities[open_eyed].min()
    picks = select_best(track, 5, min_gap=5)
    assert all(p.observation.factors["eyes_open"] == 1.0 for p in picks)
    assert "eyes_open" in " ".join(select_best(track, len(track))[-1].reasons)
