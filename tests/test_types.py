import numpy as np
import pytest

from vidfiqa.types import Detections


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
        data={"confidence": np.array([0.5, 0.6, 0.7])},
    )
    picked = d[np.array([False, True, True])]
    assert picked.tracker_id.tolist() == [8, 9]
    assert picked.data["confidence"].tolist() == [0.6, 0.7]
    merged = Detections.merge([d[[0]], Detections.empty(), picked])
    assert merged.tracker_id.tolist() == [7, 8, 9]
    np.testing.assert_array_equal(merged.boxes, d.boxes)
    assert len(Detections.merge([])) == 0
