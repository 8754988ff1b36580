"""dlib's 68-point predictor in a child process: the in-process answers bit for bit, errors as
one line, and the same analysis as with dlib on the calling thread."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SAMPLES
from vidfiqa.config import load_config
from vidfiqa.models import dlib_process
from vidfiqa.models.dlib_models import DlibLandmarker
from vidfiqa.models.dlib_process import DlibProcessError, DlibProcessLandmarker
from vidfiqa.models.retinaface import RetinaFaceDetector
from vidfiqa.pipeline.analyse import analyse_video
from vidfiqa.video import open_video

pytestmark = pytest.mark.skipif(not dlib_process.available(), reason="needs memfd_create (Linux)")


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    with open_video(SAMPLES / "group_walk.mp4") as reader:
        return [f.image for _, f in zip(range(3), reader)]


def test_the_child_answers_as_dlib_does_in_process(frames) -> None:
    found = RetinaFaceDetector(max_side=None).detect(frames[:1])[0]
    assert len(found) >= 2
    here, child = DlibLandmarker(points=68), DlibProcessLandmarker()
    try:
        for image in frames:
            np.testing.assert_array_equal(
                child.eye_openness(image, found.landmarks), here.eye_openness(image, found.landmarks)
            )
            np.testing.assert_array_equal(
                child.eye_openness(image, found.landmarks, refine=True),
                here.eye_openness(image, found.landmarks, refine=True),
            )
            theirs, ours = child.landmark(image, found), here.landmark(image, found)
            np.testing.assert_array_equal(theirs.landmarks, ours.landmarks)
            np.testing.assert_array_equal(theirs.data["eye_openness"], ours.data["eye_openness"])
        # A larger frame grows the shared memory; the answers stay dlib's.
        big = np.zeros((frames[0].shape[0] * 2, frames[0].shape[1] * 2, 3), np.uint8)
        big[: frames[0].shape[0], : frames[0].shape[1]] = frames[0]
        np.testing.assert_array_equal(
            child.eye_openness(big, found.landmarks), here.eye_openness(big, found.landmarks)
        )
        assert child.eye_openness(frames[0], np.zeros((0, 5, 2))).shape == (0,)
    finally:
        child.close()


def test_started_measures_are_dlibs_in_any_order_they_are_read(frames) -> None:
    # Several measures in flight, read back to front, with a frame request sent after them
    # and answered first: each caller still gets its own answer.
    found = RetinaFaceDetector(max_side=None).detect(frames[:1])[0]
    here, child = DlibLandmarker(points=68), DlibProcessLandmarker()
    try:
        started = [
            child.start_eye_openness(image, found.landmarks[: i + 1]) for i, image in enumerate(frames)
        ]
        np.testing.assert_array_equal(
            child.eye_openness(frames[0], found.landmarks, refine=True),
            here.eye_openness(frames[0], found.landmarks, refine=True),
        )
        for i in reversed(range(len(frames))):
            np.testing.assert_array_equal(
                started[i].result(), here.eye_openness(frames[i], found.landmarks[: i + 1])
            )
        child._child.kill()
        with pytest.raises(DlibProcessError, match="ended unexpectedly"):  # sending or reading
            child.start_eye_openness(frames[0], found.landmarks).result()
    finally:
        child.close()


def test_errors_in_the_child_come_back_as_one_line(frames) -> None:
    child = DlibProcessLandmarker()
    with pytest.raises(DlibProcessError, match=r"^dlib's process failed: AttributeError: .*'boxes'$"):
        child.landmark(frames[0], "not detections")
    assert child.eye_openness(frames[0], np.zeros((0, 5, 2))).shape == (0,)  # it goes on
    child.close()
    with pytest.raises(DlibProcessError, match="was closed"):
        child.eye_openness(frames[0], np.zeros((1, 5, 2)))


def test_the_child_leaves_ctrl_c_to_its_parent(frames) -> None:
    import os
    import signal
    import time

    child = DlibProcessLandmarker()
    child.eye_openness(frames[0], np.zeros((0, 5, 2)))  # started and listening
    os.kill(child._child.pid, signal.SIGINT)
    time.sleep(0.2)
    assert child._child.poll() is None
    assert child.eye_openness(frames[0], np.zeros((0, 5, 2))).shape == (0,)
    child.close()
    assert child._child.returncode is not None  # closed: gone


def test_a_child_that_dies_is_a_clear_error(frames) -> None:
    child = DlibProcessLandmarker()
    child._child.kill()
    with pytest.raises(DlibProcessError, match=r"ended unexpectedly \(exit code -9\)"):
        child.eye_openness(frames[0], np.full((1, 5, 2), 50.0))
    child.close()


def test_the_eye_process_changes_no_result(monkeypatch) -> None:
    # With the process, the pipeline starts each key frame's eye measure ahead of observing it
    # (DetectorLandmarks.start); on the calling thread it measures them as it goes.
    from vidfiqa.models.detector_landmarks import DetectorLandmarks
    from vidfiqa.pipeline.analyse import _VideoRun

    starts, order = [], []
    start, close = DetectorLandmarks.start, _VideoRun.close_segment
    monkeypatch.setattr(
        DetectorLandmarks, "start", lambda *a: order.append("start") or starts.append(start(*a)) or starts[-1]
    )
    monkeypatch.setattr(_VideoRun, "close_segment", lambda *a: order.append("close") or close(*a))
    path = SAMPLES / "group_walk.mp4"
    runs = [
        analyse_video(path, load_config(None, {"quality.cpu_threads": 1, "landmarks.eye_process": on}))
        for on in (True, False)
    ]
    assert len(runs[0].tracks) == len(runs[1].tracks) >= 4
    assert sum(isinstance(s, dlib_process.PendingEyes) for s in starts) >= 20
    # Ahead: the first segment is closed only once five key frames' measures have been started.
    assert order[:6] == ["start"] * 5 + ["close"]
    for a, b in zip(*(r.tracks for r in runs), strict=True):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.qualities, b.qualities)
        for name in a.factors:
            np.testing.assert_array_equal(a.factors[name], b.factors[name], err_msg=name)
