import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from vidfiqa.eval.edc import edc, partial_area
from vidfiqa.eval.metrics import UndefinedMetricWarning, auc, eer, kfold_accuracy, roc, tar_at_far


def cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    random = (rng.normal(size=400), rng.integers(0, 2, 400))
    separated = (np.r_[rng.normal(2, 1, 200), rng.normal(0, 1, 300)], np.r_[np.ones(200), np.zeros(300)])
    tied = (rng.integers(0, 5, 300).astype(float) / 4, rng.integers(0, 2, 300))  # heavy ties
    all_tied = (np.full(10, 0.5), np.r_[np.ones(4), np.zeros(6)])
    return [random, separated, tied, all_tied]


@pytest.mark.parametrize("case", range(4))
def test_roc_and_auc_match_scikit_learn(case: int) -> None:
    s, y = cases()[case]
    r = roc(s, y)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(r.far, fpr)
    np.testing.assert_allclose(r.tar, tpr)
    np.testing.assert_allclose(r.thresholds[1:], thr[1:])
    assert auc(s, y) == pytest.approx(roc_auc_score(y, s))


def slow_tar_at_far(s: np.ndarray, y: np.ndarray, far: float) -> float:
    """Try every threshold (accept score >= t): the best TAR whose FAR stays <= far."""
    best = 0.0
    for t in np.r_[np.unique(s), np.inf]:
        if np.mean(s[y == 0] >= t) <= far + 1e-12:
            best = max(best, np.mean(s[y == 1] >= t))
    return best


@pytest.mark.parametrize("case", range(4))
@pytest.mark.parametrize("far", [0.01, 0.05, 0.1, 0.3])
def test_tar_at_far_matches_exhaustive_search(case: int, far: float) -> None:
    s, y = cases()[case]
    if far * np.sum(y == 0) < 1:
        with pytest.warns(UndefinedMetricWarning):
            assert math.isnan(tar_at_far(s, y, far=[far]).tar[0])
        return
    r = tar_at_far(s, y, far=[far])
    assert r.tar[0] == pytest.approx(slow_tar_at_far(s, y.astype(int), far))
    assert r.achieved_far[0] <= far


def test_tar_is_monotone_in_far_and_undefined_below_resolution() -> None:
    s, y = cases()[0]
    fars = np.linspace(0.005, 1, 50)
    tars = tar_at_far(s, y, far=fars).tar
    assert np.all(np.diff(tars) >= 0)
    with pytest.warns(UndefinedMetricWarning, match="below 1/"):
        assert math.isnan(tar_at_far(s, y, far=[1e-4]).tar[0])


def test_eer_by_brute_force() -> None:
    s, y = cases()[1]
    r = roc(s, y)
    frr = 1 - r.tar
    i = np.argmin(np.abs(r.far - frr))
    assert eer(s, y) == pytest.approx((r.far[i] + frr[i]) / 2, abs=0.01)
    assert eer([1, 2, 3, 4], [0, 0, 1, 1]) == 0.0


def test_kfold_accuracy_fits_threshold_on_other_folds() -> None:
    rng = np.random.default_rng(0)
    y = np.tile([1, 0], 50)
    s = np.where(y == 1, rng.normal(1, 0.5, 100), rng.normal(-1, 0.5, 100))
    folds = np.repeat(np.arange(1, 11), 10)
    r = kfold_accuracy(s, y, folds)
    assert len(r.accuracies) == 10 and 0.9 < r.mean <= 1
    assert r.std_error == pytest.approx(r.accuracies.std(ddof=1) / math.sqrt(10))
    # Issue 25.7: the std most YouTube Faces papers give beside the SE, both reported.
    assert r.std == pytest.approx(r.accuracies.std(ddof=1)) and r.std == pytest.approx(
        r.std_error * math.sqrt(10)
    )
    # A threshold fitted on folds 2-10 is applied to fold 1 untouched.
    train = folds != 1
    t = r.thresholds[0]
    assert r.accuracies[0] == np.mean((s[~train] >= t) == y[~train])


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, 0.2], [1, 2], "labels must be 0 or 1, got 2"),
        ([0.1, float("nan")], [1, 0], "scores must be finite"),
        ([0.1, 0.2], [1, 1], "need both genuine"),
        ([0.1], [1, 0], "differ in length"),
    ],
)
def test_malformed_input_names_the_problem(scores: list, labels: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        roc(scores, labels)


def test_edc_at_zero_discard_is_plain_fnmr_and_falls_for_a_useful_quality() -> None:
    rng = np.random.default_rng(1)
    n_gen, n_imp = 500, 5000
    q = rng.uniform(0, 1, n_gen)
    genuine = rng.normal(0.3 + 0.6 * q, 0.15)  # low quality -> low genuine score
    s = np.r_[genuine, rng.normal(0, 0.1, n_imp)]
    y = np.r_[np.ones(n_gen), np.zeros(n_imp)]
    q1 = np.r_[q, rng.uniform(0, 1, n_imp)]
    e = edc(s, y, q1, np.ones_like(q1), fmr=1e-3)
    t = tar_at_far(s, y, far=[1e-3])
    assert e.fnmr[0] == pytest.approx(1 - t.tar[0])
    assert e.fnmr[len(e.fnmr) // 2] < e.fnmr[0]
    assert e.pauc_normalised[0.2] < 0.2  # better than not discarding at all
    # A random quality does not help: pAUC stays near FNMR(0) x 0.2.
    noise = edc(s, y, rng.uniform(0, 1, len(s)), np.ones(len(s)), fmr=1e-3)
    assert noise.pauc_normalised[0.2] == pytest.approx(0.2, abs=0.05)
    assert e.pauc[0.3] == pytest.approx(partial_area(e.discard, e.fnmr, 0.3))


def test_edc_legacy_refit_mode() -> None:
    s = [0.1, 0.4, 0.8, 0.9, 0.6, 0.45, 0.2, 0.1]
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    q = [0.1, 0.2, 0.2, 0.9, 0.05, 0.5, 0.5, 0.5]
    e = edc(s, y, q, [1] * 8, fmr=0.34, refit=True)
    # Step 0: all pairs; 3 of 4 impostors... threshold from impostors {0.6, 0.45, 0.2, 0.1} at
    # FMR 0.34 (m = 1): 0.45 -> FNMR 2/4. Step 1 drops the impostor of quality 0.05 (0.6):
    # threshold from {0.45, 0.2, 0.1} (m = 1): 0.2 -> FNMR 1/4.
    assert e.fnmr[:2].tolist() == [0.5, 0.25]
    assert e.discard[:2].tolist() == [0.0, 0.0]
    assert math.isnan(e.threshold)
