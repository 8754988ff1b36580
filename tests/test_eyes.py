"""Eye openness: a blink never ranks above an open-eyed frame of the same track (real frames)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vidfiqa.config import load_config
from vidfiqa.models.dlib_models import eye_aspect_ratio
from vidfiqa.pipeline.analyse import analyse_video
from vidfiqa.pipeline.select import select_best


def test_eye_aspect_ratio_by_hand() -> None:
    shapes = np.zeros((1, 68, 2))
    for start in (36, 42):  # an eye 4 wide whose lids are 1 apart: (1 + 1) / (2 * 4)
        shapes[0, start : start + 6] = [(0, 0), (1, -0.5), (3, -0.5), (4, 0), (3, 0.5), (1, 0.5)]
    np.testing.assert_allclose(eye_aspect_ratio(shapes), [0.25])


@pytest.mark.parametrize(
    ("scorer", "landmarks"),
    [("factors", "dlib68"), ("distilled", "dlib68"), ("distilled", "detector5-eyes")],
)
def test_blinks_rank_below_every_open_eyed_frame(shared_data: Path, scorer: str, landmarks: str) -> None:
    # talking_head_a closes its eyes at frames 94-97 and 185-187 (looked at, and eye aspect
    # ratios of 0.13-0.16 against 0.26-0.34 open). With detector5-eyes frame 95 lies between
    # key frames: its eyes are measured there because they move between the key frames. The
    # gate is relative to the track's open eyes; its smiling stretch (frames 116-152, eyes
    # narrowed) is partly gated too, so open-eyed frames are 3/4 of the track, not all.
    config = load_config(None, {"quality.scorer": scorer, "landmarks.name": landmarks})
    analysis = analyse_video(shared_data / "videos" / "talking_head_a.mp4", config)
    track = max(analysis.tracks, key=len)
    frames = track.frames.tolist()
    blink = np.isin(track.frames, [95, 96, 186])
    assert blink.sum() == 3, frames
    assert (track.factors["eyes_open"][blink] < 0.2).all(), track.factors["eye_ratio"][blink]
    open_eyed = track.factors["eyes_open"] >= 0.99
    assert open_eyed.mean() > 0.6
    assert track.qualities[blink].max() < track.qualities[open_eyed].min()
    picks = select_best(track, 5, min_gap=5, floor=config.select.relative_floor)
    assert all(p.observation.factors["eyes_open"] == 1.0 for p in picks)
    assert "eyes_open" in " ".join(select_best(track, len(track))[-1].reasons)


def test_detector5_eyes_measures_detected_rows_only(shared_data: Path) -> None:
    from vidfiqa.models.detector_landmarks import DetectorLandmarks
    from vidfiqa.models.retinaface import RetinaFaceDetector
    from vidfiqa.video import open_video

    with open_video(shared_data / "videos" / "talking_head_a.mp4") as reader:
        image = next(iter(reader)).image
    found = RetinaFaceDetector(max_side=None).detect([image])[0]
    assert len(found) == 1
    rows = replace(found[[0, 0, 0, 0]], interpolated=np.array([False, True, True, False]))
    rows.data["eye_openness"] = np.array([np.nan, 0.11, np.nan, np.nan], np.float32)
    points = rows.landmarks.copy()
    landmarker = DetectorLandmarks(eyes=True)
    # Not asked for the track gate's measure (single images, evaluations): the per-image one
    # the scorers read, dlib's on the detector's box.
    out = landmarker.landmark(image, rows)
    np.testing.assert_array_equal(out.landmarks, points)  # aligned by the detector's points
    from vidfiqa.models.dlib_models import DlibLandmarker

    own = DlibLandmarker(points=68).landmark(image, found[[0]]).data["eye_openness"][0]
    assert 0.2 < own < 0.4  # open eyes
    np.testing.assert_array_equal(out.data["eye_openness"], np.array([own, 0.11, np.nan, own], np.float32))
    assert "eye_aspect" not in out.data
    assert not out.landmarks_estimated.any()
    # Asked for (the video pipeline gives the column): the aligned measure on the detected rows,
    # interpolation's value kept, and the per-image measure, which the video scorer does not
    # read, not taken.
    rows.data["eye_aspect"] = np.array([np.nan, 0.12, np.nan, np.nan], np.float32)
    out = landmarker.landmark(image, rows)
    aligned = DlibLandmarker(points=68).eye_openness(image, points[:1])[0]
    assert 0.2 < aligned < 0.4
    np.testing.assert_array_equal(
        out.data["eye_aspect"], np.array([aligned, 0.12, np.nan, aligned], np.float32)
    )
    np.testing.assert_array_equal(out.data["eye_openness"], rows.data["eye_openness"])
    assert "eye_openness" not in DetectorLandmarks().landmark(image, found[[0]]).data


def test_detector5_eyes_aligns_boxes_without_points_by_dlib68(shared_data: Path) -> None:
    # A dataset's labelled boxes (YTF) and dlib's detectors give no points: dlib's 68 align them.
    from vidfiqa.models.detector_landmarks import DetectorLandmarks
    from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker
    from vidfiqa.video import open_video

    with open_video(shared_data / "videos" / "talking_head_a.mp4") as reader:
        image = next(iter(reader)).image
    found = DlibHogDetector().detect([image])[0]
    assert len(found) == 1 and found.landmarks is None
    ours = DetectorLandmarks(eyes=True).landmark(image, found[[0]])
    dlib = DlibLandmarker(points=68).landmark(image, found[[0]])
    np.testing.assert_array_equal(ours.landmarks, dlib.landmarks)
    np.testing.assert_array_equal(ours.data["eye_openness"], dlib.data["eye_openness"])
    with pytest.raises(ValueError, match="'detector5' need a detector that gives them"):
        DetectorLandmarks().landmark(image, found[[0]])
