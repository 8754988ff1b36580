import numpy as np
import pytest

from vidfiqa.aggregate import STRATEGIES, Strategy


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


Q = np.array([0.2, 0.9, 0.5, 0.9, -0.1])
E = unit(np.random.default_rng(0).normal(size=(5, 8)))


@pytest.mark.parametrize(
    ("text", "frames", "weights"),
    [
        ("best", [1], [1.0]),
        ("topk:2", [1, 3], [0.5, 0.5]),
        ("topk:0.6", [1, 2, 3], [1 / 3] * 3),
        ("mean", [0, 1, 2, 3, 4], [0.2] * 5),
        ("linear", [0, 1, 2, 3], np.array([0.2, 0.9, 0.5, 0.9]) / 2.5),
        ("threshold:0.5", [1, 2, 3], [1 / 3] * 3),
        ("threshold:0.95", [1], [1.0]),
    ],
)
def test_weights_by_hand(text: str, frames: list[int], weights: list[float]) -> None:
    s = Strategy.parse(text)
    idx, w = s.weights(Q)
    assert idx.tolist() == frames
    np.testing.assert_allclose(w, weights)
    agg = s.aggregate(Q, E)
    expected = unit((np.asarray(weights)[:, None] * E[frames]).sum(0))
    np.testing.assert_allclose(agg.vector, expected, atol=1e-6)
    assert agg.vector.dtype == np.float32


def test_softmax_temperature_spans_best_to_mean() -> None:
    cold = Strategy("softmax", temperature=1e-3).weights(Q)
    assert cold[0].tolist() == [1, 3]  # the two tied best frames share the weight
    np.testing.assert_allclose(cold[1], [0.5, 0.5])
    hot = Strategy("softmax", temperature=1e3).weights(Q)[1]
    np.testing.assert_allclose(hot, 0.2, atol=1e-3)


@pytest.mark.parametrize("name", STRATEGIES)
def test_invariants(name: str) -> None:
    rng = np.random.default_rng(3)
    q = rng.uniform(0, 1, 12)
    e = unit(rng.normal(size=(12, 16)))
    s = Strategy(name)
    idx, w = s.weights(q)
    assert w.sum() == pytest.approx(1) and (w > 0).all()
    perm = rng.permutation(12)
    a = s.aggregate(q, e).vector
    b = s.aggregate(q[perm], e[perm]).vector
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(s.aggregate(q[:1], e[:1]).vector, e[0], atol=1e-6)
    # Only the needed frames are read.
    only = {int(i): e[i] for i in s.needed(q)}
    np.testing.assert_allclose(s.aggregate(q, only).vector, a)


def test_label_round_trip_and_errors() -> None:
    for text in ("best", "topk:5", "topk:0.25", "softmax:0.1", "threshold:0.6", "mean", "linear"):
        assert Strategy.parse(text).label == text
    with pytest.raises(ValueError, match="unknown strategy"):
        Strategy.parse("median")
    with pytest.raises(ValueError, match="takes no parameter"):
        Strategy.parse("mean:3")
    with pytest.raises(ValueError, match="k must be"):
        Strategy.parse("topk:2.5")
    with pytest.raises(ValueError, match="at least one frame"):
        Strategy("best").weights(np.zeros(0))
