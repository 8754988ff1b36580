"""Verification metrics from comparison scores and labels: ROC, TAR at FAR, EER, AUC, k-fold
accuracy.

Conventions, here and in every function below: ``scores`` are similarities (higher = more
alike), ``labels`` are 1 for genuine (same person) and 0 for impostor pairs, and a pair is
*accepted* at threshold ``t`` when ``score >= t`` unless a function says otherwise. Sums are
accumulated in float64; sorts are stable, so ties are handled deterministically: pairs with equal
scores are always accepted or rejected together.

References:
    ISO/IEC 19795-1:2021, Biometric performance testing and reporting, Part 1.
    Huang et al., "Labeled Faces in the Wild", UMass TR 07-49 (2007): the 10-fold protocol and
    its standard error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class UndefinedMetricWarning(UserWarning):
    """A metric asked for more resolution than the data has (for example FAR 1e-4 from 1000
    impostor pairs); the value is NaN."""


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape[0]} vs {y.shape[0]}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"labels must be 0 or 1, got {y[bad][0].item()!r}")
    if not np.isfinite(s).all():
        raise ValueError(f"scores must be finite, got {s[~np.isfinite(s)][0].item()!r}")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError("need both genuine (1) and impostor (0) pairs")
    return s, y


@dataclass(frozen=True, slots=True)
class Roc:
    """ROC points, one per distinct score, thresholds descending.

    Attributes:
        far: float64 ``(m,)`` false accept rate at ``score >= thresholds[i]``.
        tar: float64 ``(m,)`` true accept rate.
        thresholds: float64 ``(m,)``; the first is ``+inf`` (nothing accepted).
    """

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray

    @property
    def auc(self) -> float:
        """Area under the curve, trapezoids between points."""
        return float(np.trapezoid(self.tar, self.far))

    @property
    def eer(self) -> float:
        """FAR where FAR equals FRR = 1 - TAR, linear between the bracketing points."""
        diff = self.far - (1 - self.tar)  # rises from -1 to +1 along the curve
        i = int(np.flatnonzero(diff >= 0)[0])
        if diff[i] == 0 or i == 0:
            return float(self.far[i])
        a = -diff[i - 1] / (diff[i] - diff[i - 1])
        return float(self.far[i - 1] + a * (self.far[i] - self.far[i - 1]))


def roc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> Roc:
    """The ROC curve (like ``sklearn.metrics.roc_curve(drop_intermediate=False)``).

    >>> r = roc([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0])
    >>> r.thresholds.tolist(), r.tar.tolist(), r.far.tolist()
    ([inf, 0.9, 0.8, 0.3], [0.0, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0])
    """
    s, y = _check(np.asarray(scores), np.asarray(labels))
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # ties accepted together
    tp = np.cumsum(y, dtype=np.float64)[last_of_run]
    fp = np.cumsum(~y, dtype=np.float64)[last_of_run]
    return Roc(
        far=np.r_[0.0, fp / fp[-1]],
        tar=np.r_[0.0, tp / tp[-1]],
        thresholds=np.r_[np.inf, s[last_of_run]],
    )


def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve (trapezoids between ROC points).

    >>> auc([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0])
    0.875
    """
    return roc(scores, labels).auc


def eer(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Equal error rate: where FAR equals FRR = 1 - TAR, linearly interpolated between the two
    ROC points that bracket it.

    >>> eer([0.9, 0.7, 0.6, 0.2], [1, 0, 1, 0])
    0.5
    """
    return roc(scores, labels).eer


@dataclass(frozen=True, slots=True)
class TarAtFar:
    """TAR at target FARs.

    Attributes:
        far: the targets.
        tar: float64, NaN where undefined.
        threshold: float64 ``t``; pairs with ``score > t`` are accepted.
        achieved_far: the FAR actually reached (<= the target).
    """

    far: np.ndarray
    tar: np.ndarray
    threshold: np.ndarray
    achieved_far: np.ndarray


def tar_at_far(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    far: Sequence[float] = (1e-4, 1e-3),
) -> TarAtFar:
    """True accept rate at the most permissive threshold whose FAR does not exceed each target.

    With ``n`` impostor pairs, at most ``m = floor(far * n)`` of them may be accepted. The
    threshold is the ``(m+1)``-th highest impostor score and pairs scoring **strictly above** it
    are accepted; impostors tied with it are all rejected, so ties never push the FAR past the
    target (the achieved FAR can then be below it). A target below ``1 / n`` cannot be measured
    and gives NaN with an :class:`UndefinedMetricWarning`. ``far * n`` is rounded up to an integer
    within 1e-9 of it, so that float error (``0.57 * 100`` is 56.99999999999999) never costs a
    pair.

    Two impostors tie at 0.8: at FAR 0.25 one may pass, so both are rejected (achieved FAR 0):

    >>> r = tar_at_far([0.9, 0.8, 0.7, 0.8, 0.8, 0.5, 0.4], [1, 1, 1, 0, 0, 0, 0], far=[0.25, 0.5, 0.1])
    >>> r.tar.tolist(), r.threshold.tolist(), r.achieved_far.tolist()
    ([0.3333333333333333, 1.0, nan], [0.8, 0.5, nan], [0.0, 0.5, nan])
    """
    s, y = _check(np.asarray(scores), np.asarray(labels))
    impostors, genuine = s[~y], s[y]
    targets = np.asarray(far, np.float64)
    thr = threshold_at_far(impostors, far=targets, stacklevel=3)
    defined = ~np.isnan(thr)
    tar = np.full(len(targets), np.nan)
    achieved = np.full(len(targets), np.nan)
    tar[defined] = np.mean(genuine[:, None] > thr[None, defined], axis=0)
    achieved[defined] = np.mean(impostors[:, None] > thr[None, defined], axis=0)
    return TarAtFar(far=targets, tar=tar, threshold=thr, achieved_far=achieved)


def threshold_at_far(
    impostor_scores: Sequence[float] | np.ndarray, *, far: Sequence[float], stacklevel: int = 2
) -> np.ndarray:
    """The threshold of each FAR target, by the rule of :func:`tar_at_far`: with ``n`` impostor
    scores the ``(floor(far * n) + 1)``-th highest, pairs **strictly above** it accepted; NaN with
    an :class:`UndefinedMetricWarning` for a target below ``1 / n``; ``-inf`` at FAR 1.

    >>> threshold_at_far([0.1, 0.5, 0.4, 0.9], far=[0.25, 0.5, 1.0]).tolist()
    [0.5, 0.4, -inf]
    """
    impostors = np.sort(np.asarray(impostor_scores, np.float64).ravel())[::-1]
    if np.isnan(impostors).any():
        raise ValueError("impostor scores contain NaN")
    n = len(impostors)
    targets = np.asarray(far, np.float64).ravel()
    thr = np.full(len(targets), np.nan)
    for i, f in enumerate(targets):
        if not 0 <= f <= 1:
            raise ValueError(f"FAR targets must be in [0, 1], got {f!r}")
        if f * n < 1 - 1e-9:
            warnings.warn(
                f"FAR {f:g} is below 1/{n} impostor pairs: TAR is undefined",
                UndefinedMetricWarning,
                stacklevel=stacklevel,
            )
            continue
        m = math.floor(f * n + 1e-9)
        thr[i] = impostors[m] if m < n else -np.inf
    return thr


def cross_identity_scores(
    embeddings: np.ndarray, identities: Sequence[str] | np.ndarray, *, block: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of every unordered pair of rows, split into genuine (same identity) and
    impostor (different identities) scores.

    Args:
        embeddings: float32 ``(n, d)`` unit vectors.
        identities: ``(n,)`` identity of each row.
        block: rows compared at a time (memory ``block x n`` floats).

    Returns:
        ``genuine`` and ``impostor`` float32 scores, ``(g,)`` and ``(n (n - 1) / 2 - g,)``, each
        pair once, in row-major order of the upper triangle.

    >>> e = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    >>> g, i = cross_identity_scores(e, ["a", "a", "b"])
    >>> g.tolist(), i.tolist()
    ([1.0], [0.0, 0.0])
    """
    x = np.asarray(embeddings, np.float32)
    ids = np.unique(np.asarray(identities), return_inverse=True)[1]
    if x.ndim != 2 or len(ids) != len(x):
        raise ValueError(f"need (n, d) embeddings and n identities, got {x.shape} and {len(ids)}")
    genuine, impostor = [], []
    for lo in range(0, len(x), block):
        sims = x[lo : lo + block] @ x.T
        rows = np.arange(lo, min(lo + block, len(x)))
        upper = np.arange(len(x))[None, :] > rows[:, None]
        same = ids[rows][:, None] == ids[None, :]
        genuine.append(sims[upper & same])
        impostor.append(sims[upper & ~same])
    return np.concatenate(genuine), np.concatenate(impostor)


@dataclass(frozen=True, slots=True)
class FoldAccuracy:
    """k-fold verification accuracy.

    Attributes:
        accuracies: float64 ``(k,)`` accuracy on each fold.
        thresholds: float64 ``(k,)`` threshold fitted on the other folds (accept ``score >= t``).
        mean: mean accuracy.
        std_error: ``std(ddof=1) / sqrt(k)``, as the LFW protocol defines it (Huang et al.).
        std: ``std(ddof=1)`` over the folds, the "mean +- std" most YouTube Faces papers report.
    """

    accuracies: np.ndarray
    thresholds: np.ndarray
    mean: float
    std_error: float
    std: float


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold (accept ``score >= t``) with the highest accuracy on these pairs; among
    equally good ones the midpoint of the best interval between consecutive distinct scores."""
    s, y = _check(scores, labels)
    cands = np.unique(s)
    # Accuracy when accepting score >= c, for every distinct score c, plus "accept nothing".
    order = np.sort(s)
    gen_below = np.searchsorted(np.sort(s[y]), cands, side="left")  # genuine rejected
    imp_below = np.searchsorted(np.sort(s[~y]), cands, side="left")  # impostors rejected
    acc = (y.sum() - gen_below + imp_below) / len(s)
    acc_none = (~y).sum() / len(s)
    best = int(np.argmax(acc))
    if acc_none > acc[best]:
        return float(order[-1] + 1.0)
    lower = cands[best - 1] if best > 0 else cands[best] - 1.0
    return float((lower + cands[best]) / 2)


def kfold_accuracy(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    folds: Sequence[int] | np.ndarray,
) -> FoldAccuracy:
    """Accuracy on each fold with the threshold fitted on all the other folds.

    Args:
        folds: int ``(n,)`` fold of each pair (YouTube Faces: its split, 1-10).

    >>> r = kfold_accuracy([0.9, 0.2, 0.8, 0.3, 0.7, 0.4], [1, 0, 1, 0, 1, 0], [1, 1, 2, 2, 3, 3])
    >>> r.accuracies.tolist(), r.mean
    ([1.0, 1.0, 1.0], 1.0)
    """
    s, y = _check(np.asarray(scores), np.asarray(labels))
    f = np.asarray(folds).ravel()
    if f.shape != s.shape:
        raise ValueError(f"folds and scores differ in length: {f.shape[0]} vs {s.shape[0]}")
    ks = np.unique(f)
    if len(ks) < 2:
        raise ValueError("need at least two folds")
    accs, thrs = [], []
    for k in ks:
        train = f != k
        t = best_threshold(s[train], y[train])
        accs.append(np.mean((s[~train] >= t) == y[~train]))
        thrs.append(t)
    a = np.array(accs)
    return FoldAccuracy(
        accuracies=a,
        thresholds=np.array(thrs),
        mean=float(a.mean()),
        std_error=float(a.std(ddof=1) / math.sqrt(len(a))),
        std=float(a.std(ddof=1)),
    )
