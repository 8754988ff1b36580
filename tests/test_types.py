from dataclasses import fields

import numpy as np
import pytest

from vidfiqa.types import Detections, FaceBatch, FaceObservation, Track


def test_empty_has_documented_dtypes() -> None:
    d = Detections.empty()
    assert len(d) == 0
    assert d.boxes.shape == (0, 4) and d.boxes.dtype == np.float32
    assert d.scores.shape == (0,) and d.scores.dtype == np.float32


def test_shape_errors_name_expected_and_actual() -> None:
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\), got \(3,\)"):
        Detections(boxes=np.zeros((2, 4)), scores=np.zeros(3))
    with pytest.raises(ValueError, match=r"landmarks must have shape \(1, 5, 2\)"):
        Detections(boxes=np.zeros((1, 4)), scores=np.zeros(1), landmarks=np.zeros((1, 68, 2)))
    with pytest.raises(ValueError, match=r"data\['q'\] must have 1 rows, got 2"):
        Detections(boxes=np.zeros((1, 4)), scores=np.zeros(1), data={"q": np.zeros(2)})


def test_indexing_and_merge_keep_rows_aligned() -> None:
    d = Detections(
        boxes=np.arange(12).reshape(3, 4),
        scores=[0.1, 0.2, 0.3],
        tracker_id=[7, 8, 9],
        confidence=np.array([0.5, 0.6, 0.7]),
    )
    picked = d[np.array([False, True, True])]
    assert picked.tracker_id.tolist() == [8, 9]
    assert picked.confidence.tolist() == pytest.approx([0.6, 0.7])
    merged = Detections.merge([d[[0]], Detections.empty(), picked])
    assert merged.tracker_id.tolist() == [7, 8, 9]
    np.testing.assert_array_equal(merged.boxes, d.boxes)
    assert len(Detections.merge([])) == 0


# Issue 26, item 4: a data model as strict as its best parts.


def _rows(n: int = 3, **fields) -> Detections:
    return Detections(boxes=np.arange(4 * n).reshape(n, 4), scores=np.linspace(-0.5, 1.5, n), **fields)


def test_confidence_and_flags_are_fields_with_defaults() -> None:
    d = _rows(3)
    # Not given: the scores clipped to [0, 1] (what RetinaFace and SCRFD give), nothing
    # interpolated, nothing estimated.
    assert d.confidence.dtype == np.float32 and d.confidence.tolist() == [0.0, 0.5, 1.0]
    assert d.interpolated.dtype == bool and d.interpolated.tolist() == [False] * 3
    assert d.landmarks_estimated.dtype == bool and d.landmarks_estimated.tolist() == [False] * 3
    given = _rows(2, confidence=[0.25, 0.75], interpolated=[0, 1], landmarks_estimated=[True, False])
    assert given.confidence.dtype == np.float32 and given.confidence.tolist() == [0.25, 0.75]
    assert given.interpolated.tolist() == [False, True] and given.landmarks_estimated.tolist() == [
        True,
        False,
    ]
    empty = Detections.empty()
    assert empty.confidence.shape == (0,) and empty.confidence.dtype == np.float32
    assert empty.interpolated.shape == (0,) and empty.interpolated.dtype == bool
    assert empty.landmarks_estimated.shape == (0,) and empty.landmarks_estimated.dtype == bool


def test_confidence_and_flags_are_validated() -> None:
    with pytest.raises(ValueError, match=r"confidence must have shape \(2,\), got \(3,\)"):
        _rows(2, confidence=np.zeros(3))
    with pytest.raises(ValueError, match=r"interpolated must have shape \(2,\), got \(1,\)"):
        _rows(2, interpolated=[True])
    with pytest.raises(ValueError, match=r"landmarks_estimated must have shape \(2,\)"):
        _rows(2, landmarks_estimated=np.zeros((2, 1), bool))
    with pytest.raises(ValueError, match="interpolated must be bool"):
        _rows(2, interpolated=[0.5, 1.0])
    # The fields may not hide in data any more: stale code fails loudly.
    for key in ("confidence", "interpolated", "landmarks_estimated"):
        with pytest.raises(ValueError, match=f"'{key}' is a field of Detections"):
            _rows(2, data={key: np.zeros(2)})


def test_confidence_and_flags_travel_with_their_rows() -> None:
    d = _rows(3, confidence=[0.1, 0.2, 0.3], interpolated=[True, False, True], data={"x": np.arange(3)})
    for picked in (d[[2, 0]], d[np.array([True, False, True])][::-1]):
        assert picked.confidence.tolist() == pytest.approx([0.3, 0.1])
        assert picked.interpolated.tolist() == [True, True]
        assert picked.landmarks_estimated.tolist() == [False, False]
        assert picked.data["x"].tolist() == [2, 0]
    merged = Detections.merge([d[[1]], Detections.empty(), d[[0, 2]]])
    assert merged.confidence.tolist() == pytest.approx([0.2, 0.1, 0.3])
    assert merged.interpolated.tolist() == [False, True, True]
    assert merged.data["x"].tolist() == [1, 0, 2]


def test_merge_is_all_or_none_for_optional_fields() -> None:
    points = np.zeros((1, 5, 2))
    with_points, without = _rows(1, landmarks=points), _rows(1)
    for parts in ([with_points, without], [without, with_points]):
        with pytest.raises(ValueError, match="with and without landmarks"):
            Detections.merge(parts)
    with pytest.raises(ValueError, match="with and without tracker_id"):
        Detections.merge([_rows(1, tracker_id=[4]), _rows(1)])
    with pytest.raises(ValueError, match=r"with and without data keys \['eye_openness'\]"):
        Detections.merge([_rows(1), _rows(1, data={"eye_openness": np.ones(1)})])
    # Parts without rows carry nothing and are left out; all with, or all without, merge.
    assert Detections.merge([Detections.empty(), with_points, with_points]).landmarks.shape == (2, 5, 2)
    assert Detections.merge([without, without]).landmarks is None


def test_int_index_is_a_one_row_detections() -> None:
    d = _rows(3, tracker_id=[7, 8, 9], landmarks=np.arange(30).reshape(3, 5, 2), data={"x": np.arange(3)})
    for index in (1, np.int64(1), -2):
        row = d[index]
        assert isinstance(row, Detections) and len(row) == 1
        np.testing.assert_array_equal(row.boxes, d.boxes[1:2])
        assert row.tracker_id.tolist() == [8] and row.landmarks.shape == (1, 5, 2)
        assert row.confidence.tolist() == [0.5] and row.data["x"].tolist() == [1]
    for index in (3, -4):
        with pytest.raises(IndexError, match="out of range for 3 detections"):
            d[index]


def _snapshot(d: Detections) -> dict:
    return {
        f.name: (
            {k: v.copy() for k, v in d.data.items()}
            if f.name == "data"
            else None
            if getattr(d, f.name) is None
            else getattr(d, f.name).copy()
        )
        for f in fields(d)
    }


def _assert_unchanged(d: Detections, before: dict) -> None:
    for name, value in before.items():
        now = getattr(d, name)
        if name == "data":
            assert set(now) == set(value)
            for k in value:
                np.testing.assert_array_equal(now[k], value[k])
        elif value is None:
            assert now is None, name
        else:
            np.testing.assert_array_equal(now, value)


def test_landmarkers_return_new_detections_and_leave_their_input() -> None:
    from vidfiqa.models.detector_landmarks import DetectorLandmarks
    from vidfiqa.models.dlib_models import DlibLandmarker

    image = np.random.default_rng(0).integers(0, 255, (120, 120, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 100, 100], [20, 15, 90, 110]], np.float32)
    bare = Detections(boxes=boxes, scores=[2.0, 0.5], interpolated=[False, True], data={"x": np.ones(2)})
    before = _snapshot(bare)
    for points in (5, 68):
        out = DlibLandmarker(points=points).landmark(image, bare)
        assert out is not bare and out.landmarks.shape == (2, 5, 2) and "dlib5" in out.data
        assert out.landmarks_estimated.tolist() == [points == 5] * 2
        assert out.interpolated.tolist() == [False, True] and out.data["x"].tolist() == [1, 1]
        _assert_unchanged(bare, before)
    pointed = Detections(
        boxes=boxes,
        scores=[0.9, 0.8],
        landmarks=np.full((2, 5, 2), 50.0),
        landmarks_estimated=[True, True],
        data={"eye_aspect": np.full(2, np.nan, np.float32)},
    )
    before = _snapshot(pointed)
    out = DetectorLandmarks().landmark(image, pointed)
    assert out is not pointed and not out.landmarks_estimated.any()
    _assert_unchanged(pointed, before)
    eyes = DetectorLandmarks(eyes=True)
    out = eyes.landmark(image, pointed)
    assert np.isfinite(out.data["eye_aspect"]).all()
    _assert_unchanged(pointed, before)
    measured = eyes.measure_eyes(image, pointed, np.array([False, True]))
    assert measured is not pointed
    assert np.isnan(measured.data["eye_aspect"][0]) and np.isfinite(measured.data["eye_aspect"][1])
    _assert_unchanged(pointed, before)
    # dlib's fallback for boxes without points returns a new value too.
    assert eyes.landmark(image, bare).landmarks.shape == (2, 5, 2)
    assert bare.landmarks is None
    # An empty frame: the detector's (missing) points are left alone too.
    empty = Detections.empty()
    assert DetectorLandmarks().landmark(image, empty).landmarks.shape == (0, 5, 2)
    assert empty.landmarks is None


def _batch(b: int = 2, **changes) -> FaceBatch:
    columns = dict(
        crops=np.zeros((b, 112, 112, 3), np.uint8),
        landmarks=np.zeros((b, 5, 2)),
        boxes=np.zeros((b, 4)),
        confidence=np.full(b, 0.9),
        landmarks_estimated=np.zeros(b, bool),
        visible=np.ones(b),
    )
    return FaceBatch(**(columns | changes))


def test_face_batch_is_validated() -> None:
    batch = _batch(2)
    assert len(batch) == 2 and batch.landmarks.dtype == np.float32 and batch.visible.dtype == np.float32
    assert batch.eye_openness.dtype == np.float32 and np.isnan(batch.eye_openness).all()
    with pytest.raises(ValueError, match="crops must be uint8, got float32"):
        _batch(2, crops=np.zeros((2, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match=r"crops must have shape \(2, 112, 112, 3\), got \(2, 96, 96, 3\)"):
        _batch(2, crops=np.zeros((2, 96, 96, 3), np.uint8))
    bad = {
        "landmarks": (np.zeros((2, 68, 2)), r"landmarks must have shape \(2, 5, 2\)"),
        "boxes": (np.zeros((3, 4)), r"boxes must have shape \(2, 4\), got \(3, 4\)"),
        "confidence": (np.zeros(1), r"confidence must have shape \(2,\)"),
        "landmarks_estimated": (np.zeros(3, bool), r"landmarks_estimated must have shape \(2,\)"),
        "visible": (np.ones((2, 1)), r"visible must have shape \(2,\)"),
        "eye_openness": (np.ones(5), r"eye_openness must have shape \(2,\)"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(ValueError, match=message):
            _batch(2, **{name: value})
    both = FaceBatch.concat([_batch(1, eye_openness=np.array([0.3])), _batch(2)])
    assert (
        len(both) == 3 and both.eye_openness[0] == np.float32(0.3) and np.isnan(both.eye_openness[1:]).all()
    )
    assert len(_batch(0)) == 0


def test_face_batch_lives_in_types() -> None:
    import vidfiqa.models.base as base

    assert FaceBatch.__module__ == "vidfiqa.types" and base.FaceBatch is FaceBatch  # only imported there


def _track(n: int = 2, **changes) -> Track:
    columns = dict(
        track_id=1,
        shot=0,
        frames=np.arange(n),
        times=np.arange(n) / 25,
        boxes=np.zeros((n, 4)),
        landmarks=np.zeros((n, 5, 2)),
        detector_scores=np.ones(n),
        qualities=np.ones(n),
    )
    return Track(**(columns | changes))


def test_track_extras_hold_a_model_familys_values() -> None:
    assert "dlib5" not in {f.name for f in fields(Track)} | {f.name for f in fields(FaceObservation)}
    assert _track().extras == {}
    dlib5 = np.arange(20, dtype=np.float32).reshape(2, 5, 2)
    track = _track(extras={"dlib5": dlib5})
    assert track.observation(1).extras["dlib5"].tolist() == dlib5[1].tolist()
    back = Track.from_observations(1, 0, [track.observation(1), track.observation(0)])
    np.testing.assert_array_equal(back.extras["dlib5"], dlib5)
    # A value that only some rows have is left out, as a column must be whole.
    partial = [track.observation(0), _track().observation(1)]
    assert Track.from_observations(1, 0, partial).extras == {}
    with pytest.raises(ValueError, match=r"extras\['dlib5'\] must have 2 rows, got shape \(3, 5, 2\)"):
        _track(extras={"dlib5": np.zeros((3, 5, 2))})


class _CornerEyes:
    """A landmarker that reads a face's eye openness off the frame's corner pixel on detected
    rows (interpolated rows keep what interpolation gave them), as ``detector5-eyes`` does."""

    name = "corner-eyes"

    def landmark(self, image: np.ndarray, detections: Detections) -> Detections:
        from dataclasses import replace

        eyes = detections.data.get("eye_openness", np.full(len(detections), np.nan, np.float32)).copy()
        eyes[~detections.interpolated] = image[0, 0, 0] / 10
        return replace(detections, data={**detections.data, "eye_openness": eyes})


def test_pipeline_interpolates_what_the_landmarker_returned_for_its_key_frames() -> None:
    # Landmarkers return new detections: the run must interpolate between the key frames' returned
    # values (issue 26), not between the detections it handed them.
    from types import SimpleNamespace

    from vidfiqa.config import load_config
    from vidfiqa.pipeline.analyse import _Timer, _VideoRun
    from vidfiqa.types import Frame, QualityResult

    class OneFace:
        name = "one-face"

        def detect(self, images: list[np.ndarray]) -> list[Detections]:
            points = np.array([[[24, 28], [40, 28], [32, 36], [26, 42], [38, 42]]], np.float32)
            return [Detections(boxes=[[16, 16, 48, 48]], scores=[0.9], landmarks=points) for _ in images]

    class Ones:
        name = "ones"
        score_range = (0.0, 1.0)

        def score(self, batch: FaceBatch) -> QualityResult:
            return QualityResult(scores=np.ones(len(batch), np.float32), factors={})

    frames = []
    for i in range(5):
        image = np.full((64, 64, 3), 128, np.uint8)
        image[0, 0, 0] = i  # eye openness i / 10 on detected frames
        frames.append(Frame(index=i, time=i / 25, image=image))
    config = load_config(None, {"detector.every": 2, "detector.full_every": 1, "tracker.min_hits": 1})
    stages = SimpleNamespace(detector=OneFace(), landmarker=_CornerEyes(), scorer=Ones())
    run = _VideoRun(config, stages, _Timer(), min_hits=1)
    assert run.run(iter(frames), None) == 5
    [track], _ = run.tracks({int(i) for r in run.rows for i in r["track_ids"]}, min_len=1)
    assert track.frames.tolist() == [0, 1, 2, 3, 4]
    assert track.interpolated.tolist() == [False, True, False, True, False]
    np.testing.assert_allclose(track.factors["eye_aspect"], [0.0, 0.1, 0.2, 0.3, 0.4], atol=1e-6)
