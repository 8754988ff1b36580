"""Key frames detected in batches (``detector.batch``, a look-ahead over the decoded frames) give
exactly what detecting them one at a time gives: same key frames, shots, tracks, boxes and
qualities, in fewer detector calls."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from tests.bad_inputs import _face_frames, size_change_h264
from tests.conftest import SAMPLES, write_clip
from vidfiqa.build import Stages
from vidfiqa.config import load_config
from vidfiqa.pipeline.analyse import VideoAnalysis, analyse_video
from vidfiqa.types import Detections


def _analyse(path: Path, batch: int, **overrides) -> VideoAnalysis:
    return analyse_video(path, load_config(None, {"detector.batch": batch, **overrides}))


def assert_same_analysis(a: VideoAnalysis, b: VideoAnalysis) -> None:
    assert a.frames_read == b.frames_read
    assert a.shot_starts == b.shot_starts
    assert a.detections == b.detections  # key frames
    assert [t.track_id for t in a.tracks] == [t.track_id for t in b.tracks]
    for ta, tb in zip(a.tracks, b.tracks):
        assert ta.shot == tb.shot
        np.testing.assert_array_equal(ta.frames, tb.frames)
        np.testing.assert_array_equal(ta.interpolated, tb.interpolated)
        np.testing.assert_allclose(ta.boxes, tb.boxes, rtol=0, atol=1e-3)
        np.testing.assert_allclose(ta.qualities, tb.qualities, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("name", "frames"), [("talking_head_a.mp4", 48), ("multi_face_walk_1080p.mp4", 40)])
def test_batched_detection_matches_one_at_a_time(shared_data: Path, name: str, frames: int) -> None:
    video = shared_data / "videos" / name
    one = _analyse(video, 1, **{"video.max_frames": frames, "detector.full_every": 1})
    eight = _analyse(video, 8, **{"video.max_frames": frames, "detector.full_every": 1})
    assert one.tracks, "the clip should have faces"
    assert_same_analysis(one, eight)
    assert one.detector_calls == one.detections  # batch 1: one key frame per call
    assert eight.detector_calls == math.ceil(eight.detections / 8) < one.detector_calls


def test_batches_of_whole_frames_between_region_key_frames(shared_data: Path) -> None:
    # Key frames detected around tracked faces run when their turn comes, with the tracks of
    # the steps before them; the whole-frame ones around them still go in batches.
    video = shared_data / "videos" / "multi_face_walk_1080p.mp4"
    one = _analyse(video, 1, **{"video.max_frames": 40, "detector.full_every": 2})
    eight = _analyse(video, 8, **{"video.max_frames": 40, "detector.full_every": 2})
    assert len(one.tracks) >= 3
    assert_same_analysis(one, eight)
    assert eight.detector_calls < one.detector_calls


def test_shot_cut_inside_look_ahead() -> None:
    """group_walk cuts at frame 100. Read from frame 90 with a key frame every 2nd frame, the
    first look-ahead of 8 key frames holds 90-98, 99 (closing the first shot), the cut, 100 and
    102."""
    video = SAMPLES / "group_walk.mp4"
    window = {"video.start": 3.6, "video.max_frames": 30}
    one, eight = _analyse(video, 1, **window), _analyse(video, 8, **window)
    assert 100 in eight.shot_starts
    assert_same_analysis(one, eight)
    assert {t.shot for t in eight.tracks} == {0, 1}
    for track in eight.tracks:  # no track spans the cut
        assert (track.frames < 100).all() or (track.frames >= 100).all()
    assert eight.detector_calls < one.detector_calls


def test_size_change_inside_look_ahead(tmp_path: Path) -> None:
    """352x288 for frames 0-7, 640x480 for 8-13, 352x288 again: both size changes fall in the
    first look-ahead, and one detector call gets frames of different sizes."""
    video = size_change_h264(tmp_path / "size_change.h264", _face_frames(8))
    one, eight = _analyse(video, 1), _analyse(video, 8)
    assert eight.shot_starts == [0, 8, 14]
    assert_same_analysis(one, eight)
    assert eight.tracks and eight.detector_calls < one.detector_calls


class _Recorder:
    """A detector that finds nothing and remembers which images it was given, call by call."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        self.calls.append([hashlib.sha1(im.tobytes()).hexdigest() for im in images])
        return [Detections.empty() for _ in images]


def _three_scenes(n: tuple[int, ...] = (7, 10, 6)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = []
    for scene, count in enumerate(n):
        base = np.zeros((64, 96, 3), np.uint8)
        base[..., scene] = 200
        for _ in range(count):
            noise = rng.integers(-6, 7, base.shape)
            frames.append(np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8))
    return frames


@pytest.mark.parametrize("every", [1, 2, 3])
def test_key_frames_do_not_depend_on_batch(tmp_path: Path, every: int) -> None:
    """The same frames are detected, in the same order, whatever the batch; each call holds at
    most ``batch`` of them, and cuts do not end a look-ahead early."""
    video = write_clip(tmp_path / "scenes.mp4", _three_scenes())

    def run(batch: int) -> tuple[VideoAnalysis, list[list[str]]]:
        recorder = _Recorder()
        stages = Stages(detector=recorder, landmarker=None, scorer=None)  # no face: never called
        overrides = {"detector.every": every, "detector.batch": batch, "detector.full_every": 1}
        config = load_config(None, overrides)
        return analyse_video(video, config, stages), recorder.calls

    base, base_calls = run(1)
    assert base.shot_starts == [0, 7, 17]
    keys = [h for call in base_calls for h in call]
    assert all(len(call) == 1 for call in base_calls) and base.detector_calls == len(keys)
    for batch in (2, 5, 8, 100):
        analysis, calls = run(batch)
        assert analysis.shot_starts == base.shot_starts
        assert [h for call in calls for h in call] == keys
        assert all(len(call) <= batch for call in calls)
        assert analysis.detector_calls == len(calls) == math.ceil(len(keys) / batch)
        assert analysis.detections == len(keys)


@pytest.mark.parametrize("seconds", [0.1, 0.2, 0.5])
def test_whole_frames_on_a_schedule_in_time(tmp_path: Path, seconds: float) -> None:
    """With ``detector.full_seconds`` a key frame is detected whole when that much video time has
    passed since the last whole one; region key frames without a tracked face call no detector."""
    video = write_clip(tmp_path / "scene.mp4", _three_scenes((24,)))  # one shot, 25 frames/s
    recorder = _Recorder()
    config = load_config(None, {"detector.every": 2, "detector.full_seconds": seconds})
    analysis = analyse_video(video, config, Stages(detector=recorder, landmarker=None, scorer=None))
    keys = [*range(0, 24, 2), 23]  # every 2nd frame, and the last one closing the shot
    whole, last = [], None
    for k in keys:
        if last is None or k / 25 - last >= seconds:
            whole.append(k)
            last = k / 25
    assert analysis.detections == len(keys) and len(recorder.calls) == len(whole)
    assert len(whole) < len(keys)
