"""Property tests (hypothesis) of the metrics, the template aggregation and the tracker."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vidfiqa.aggregate import Strategy
from vidfiqa.eval.edc import edc
from vidfiqa.eval.metrics import tar_at_far
from vidfiqa.pipeline.export import safe_name
from vidfiqa.pipeline.track import IouTracker
from vidfiqa.types import Detections

# Undefined rates at tiny FARs are part of the inputs drawn here; their warning is tested elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore::vidfiqa.eval.metrics.UndefinedMetricWarning")

# Scores on a coarse grid, so ties (the hard case for thresholds) are common.
scores = st.lists(st.integers(0, 20).map(lambda i: i / 20), min_size=1, max_size=60)


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    genuine = draw(scores)
    impostor = draw(scores)
    s = np.array(genuine + impostor)
    y = np.array([1] * len(genuine) + [0] * len(impostor))
    return s, y


@given(comparisons(), st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6))
def test_tar_is_monotone_in_far_and_never_exceeds_it(data, fars) -> None:
    s, y = data
    fars = sorted(fars)
    r = tar_at_far(s, y, far=fars)
    defined = ~np.isnan(r.tar)
    assert (np.diff(r.tar[defined]) >= 0).all()
    assert (r.achieved_far[defined] <= np.array(fars)[defined] + 1e-12).all()
    # Below 1/n impostors the rate is undefined, at or above it always defined (up to the
    # documented rounding tolerance: far=0.9999999999999999 with one impostor counts as 1).
    n = int((y == 0).sum())
    assert (defined == (np.array(fars) * n >= 1 - 1e-9)).all()


@given(comparisons(), st.sampled_from([0.1, 0.25, 0.5]), st.data())
def test_edc_at_zero_discard_is_the_plain_fnmr(data, fmr, more) -> None:
    s, y = data
    if (y == 0).sum() * fmr < 1:
        return  # the threshold is undefined there
    q = np.array(more.draw(st.lists(st.floats(0, 1), min_size=len(s), max_size=len(s))))
    e = edc(s, y, q, np.ones_like(q), fmr=fmr, limits=[0.2])
    assert e.discard[0] == 0
    assert e.fnmr[0] == np.mean(s[y == 1] <= e.threshold)
    assert e.fnmr[0] == pytest.approx(1 - tar_at_far(s, y, far=[fmr]).tar[0])
    assert (np.diff(e.discard) > 0).all()


strategies = st.sampled_from(["best", "topk:3", "topk:0.5", "mean", "linear", "softmax:0.1", "threshold:0.5"])
qualities = arrays(np.float64, st.integers(1, 12), elements=st.floats(-1, 1))


@given(strategies, qualities)
def test_weights_sum_to_one_on_valid_frames(name, q) -> None:
    idx, w = Strategy.parse(name).weights(q)
    assert len(idx) == len(w) >= 1
    assert abs(w.sum() - 1) < 1e-9 and (w >= 0).all()
    assert ((idx >= 0) & (idx < len(q))).all() and len(set(idx.tolist())) == len(idx)


@given(strategies, qualities, st.randoms())
def test_template_does_not_depend_on_frame_order(name, q, random) -> None:
    rng = np.random.default_rng(random.randint(0, 2**32 - 1))
    # Distinct qualities: with ties, which of two equal frames "best" picks is arbitrary.
    q = q + np.arange(len(q)) * 1e-6
    emb = rng.standard_normal((len(q), 8))
    perm = rng.permutation(len(q))
    s = Strategy.parse(name)
    a = s.aggregate(q, emb).vector
    b = s.aggregate(q[perm], emb[perm]).vector
    np.testing.assert_allclose(a, b, atol=1e-6)


@given(strategies, st.floats(-1, 1), arrays(np.float64, 8, elements=st.floats(-10, 10)))
def test_single_frame_template_is_that_frame(name, q, e) -> None:
    if np.linalg.norm(e) < 1e-3:
        return
    t = Strategy.parse(name).aggregate(np.array([q]), e[None])
    np.testing.assert_allclose(t.vector, e / np.linalg.norm(e), atol=1e-6)
    assert t.frames.tolist() == [0] and t.weights.tolist() == [1.0]


box = st.tuples(st.floats(0, 600), st.floats(0, 400), st.floats(10, 120)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[2]]
)


@settings(max_examples=60)
@given(st.lists(st.lists(box, max_size=5), min_size=1, max_size=25), st.sets(st.integers(0, 24), max_size=3))
def test_tracker_never_reuses_an_id(rounds, cuts) -> None:
    tracker = IouTracker()
    ended: set[int] = set()
    live: set[int] = set()
    for i, boxes in enumerate(rounds):
        if i in cuts:
            tracker.reset()
            ended |= live
            live = set()
        out = tracker.update(
            Detections(boxes=np.array(boxes, np.float32).reshape(-1, 4), scores=np.ones(len(boxes)))
        )
        ids = out.tracker_id[out.tracker_id >= 0].tolist()
        assert len(ids) == len(set(ids))  # one id per detection in a round
        assert not set(ids) & ended  # an ended track's id never comes back
        ended |= live - set(ids) - {t.track_id for t in tracker._tracks}
        live = {t.track_id for t in tracker._tracks}


@given(st.text(max_size=200))
def test_output_names_never_leave_their_folder(text) -> None:
    name = safe_name(text)
    assert name and len(name) <= 80 and name not in (".", "..")
    assert all(c.isalnum() or c in "._-" for c in name)  # letters of any script stay
    assert "/" not in name and "\\" not in name and len(name.encode()) <= 200
    folder = Path("/out")
    assert (folder / name).resolve().parent == folder
