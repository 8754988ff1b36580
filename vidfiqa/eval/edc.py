"""Error-versus-discard characteristic (EDC) and its partial area, for judging quality scores.

A quality score is useful when discarding the lowest-quality samples lowers the recognition
error. The EDC plots FNMR against the fraction of mated comparisons discarded, lowest pair
quality first.

Standard mode (ISO/IEC 29794-1:2024, Schlett et al.):

1. Pair quality is the minimum of the two samples' qualities (configurable: ``min``, ``mean``,
   ``product``).
2. The decision threshold is fixed **once**, from all non-mated comparisons, at the target FMR
   (the rule of :func:`vidfiqa.eval.metrics.tar_at_far`: accept ``score > t``).
3. Mated comparisons are sorted by ascending pair quality; comparisons with equal pair quality
   are discarded together, so the curve only has points where a whole tie group is gone.
4. FNMR at discard fraction ``x`` is the share of the remaining mated comparisons scoring at or
   below the threshold. The curve is a step function (the error holds until the next discard).
5. pAUC is the area under that step function from 0 to a limit (0.2 and 0.3 reported), raw and
   divided by the FNMR at zero discard (so that 1 x limit means "discarding did not help").

Legacy mode (``refit=True``), as CR-FIQA's and SER-FIQ's evaluation scripts do for their "ERC":
all comparisons, mated and non-mated, are discarded by pair quality, and the threshold is re-fit
on the remaining non-mated comparisons at each step. Provided to compare with older papers; it
mixes the quality's effect on FMR into the FNMR curve.

References:
    Schlett, Rathgeb, Henniger, Galbally, Busch, "Considerations on the Evaluation of Biometric
    Quality Assessment Algorithms", IEEE T-BIOM 2023 (arXiv:2303.13294).
    ISO/IEC 29794-1:2024, Biometric sample quality, Part 1: Framework.
    Grother and Tabassi, "Performance of Biometric Quality Measures", IEEE TPAMI 2007.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vidfiqa.eval.metrics import UndefinedMetricWarning, _check, tar_at_far

PairQuality = Literal["min", "mean", "product"]


@dataclass(frozen=True, slots=True)
class Edc:
    """An EDC.

    Attributes:
        discard: float64 ``(m,)`` discard fractions, ascending, starting at 0.
        fnmr: float64 ``(m,)`` FNMR after discarding ``discard[i]``.
        threshold: the fixed decision threshold (standard mode), NaN in legacy mode.
        pauc: limit -> raw partial area.
        pauc_normalised: limit -> partial area divided by ``fnmr[0]`` (NaN if that is 0).
    """

    discard: np.ndarray
    fnmr: np.ndarray
    threshold: float
    pauc: dict[float, float]
    pauc_normalised: dict[float, float]


def pair_quality(q1: np.ndarray, q2: np.ndarray, how: PairQuality = "min") -> np.ndarray:
    """Combine the two samples' qualities of each comparison, float64 ``(n,)``."""
    a, b = np.asarray(q1, np.float64), np.asarray(q2, np.float64)
    if how == "min":
        return np.minimum(a, b)
    if how == "mean":
        return (a + b) / 2
    if how == "product":
        return a * b
    raise ValueError(f"pair quality must be min, mean or product, got {how!r}")


def partial_area(discard: np.ndarray, error: np.ndarray, limit: float) -> float:
    """Area under the step function ``error[i]`` on ``[discard[i], discard[i+1])`` up to ``limit``.

    >>> round(partial_area(np.array([0.0, 0.1, 0.5]), np.array([0.4, 0.2, 0.0]), 0.3), 12)
    0.08
    """
    edges = np.r_[discard, np.inf]
    widths = np.clip(np.minimum(edges[1:], limit) - edges[:-1], 0, None)
    return float((widths * error).sum())


def _steps(quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order by ascending quality, and the number discarded after each whole tie group."""
    order = np.argsort(quality, kind="stable")
    q = quality[order]
    ends = np.r_[np.flatnonzero(np.diff(q)) + 1, len(q)]
    return order, np.r_[0, ends]


def edc(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    quality1: Sequence[float] | np.ndarray,
    quality2: Sequence[float] | np.ndarray,
    *,
    fmr: float = 1e-3,
    pair: PairQuality = "min",
    limits: Sequence[float] = (0.2, 0.3),
    refit: bool = False,
) -> Edc:
    """The EDC of comparison ``scores`` (similarities) under the samples' qualities.

    Args:
        scores, labels: as in :mod:`vidfiqa.eval.metrics` (1 = mated).
        quality1, quality2: quality of each comparison's two samples.
        fmr: target FMR of the decision threshold.
        pair: how two qualities make a pair quality.
        limits: discard fractions up to which pAUC is integrated.
        refit: legacy mode (see the module docs).

    Hand-checked: four mated pairs with pair qualities 0.1, 0.2, 0.2, 0.9, of which the first
    two score at or below the threshold 0.45 that four impostors fix at FMR 0.25; the two pairs
    of quality 0.2 go together:

    >>> e = edc([0.1, 0.4, 0.8, 0.9, 0.6, 0.45, 0.2, 0.1], [1, 1, 1, 1, 0, 0, 0, 0],
    ...         [0.1, 0.2, 0.2, 0.9, 0.5, 0.5, 0.5, 0.5], [1] * 8, fmr=0.25, limits=[0.5])
    >>> e.discard.tolist(), e.fnmr.tolist(), e.threshold
    ([0.0, 0.25, 0.75, 1.0], [0.5, 0.3333333333333333, 0.0, 0.0], 0.45)
    >>> round(e.pauc[0.5], 6), round(e.pauc_normalised[0.5], 6)
    (0.208333, 0.416667)
    """
    s, y = _check(np.asarray(scores), np.asarray(labels))
    q = pair_quality(quality1, quality2, pair)
    if q.shape != s.shape:
        raise ValueError(f"qualities and scores differ in length: {q.shape[0]} vs {s.shape[0]}")
    if np.isnan(q).any():
        raise ValueError("qualities must not be NaN")
    if refit:
        order, cut = _steps(q)
        s_sorted, y_sorted = s[order], y[order]
        n_mated = y.sum()
        discard, fnmr = [], []
        for c in cut:
            rest_s, rest_y = s_sorted[c:], y_sorted[c:]
            mated = rest_s[rest_y]
            if not len(mated) or rest_y.all():
                break
            t = tar_at_far(rest_s, rest_y, far=[fmr]).threshold[0]
            discard.append(1 - len(mated) / n_mated)
            fnmr.append(float(np.mean(mated <= t)) if np.isfinite(t) else float("nan"))
        threshold = float("nan")
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UndefinedMetricWarning)
            threshold = float(tar_at_far(s, y, far=[fmr]).threshold[0])
        if caught:  # said once, as the EDC's own: its every point is undefined
            warnings.warn(
                f"EDC at FMR {fmr:g} is undefined: below 1/{int((~y).sum())} impostor pairs",
                UndefinedMetricWarning,
                stacklevel=2,
            )
        order, cut = _steps(q[y])
        rejected = (s[y] <= threshold)[order]
        n = len(rejected)
        remaining_errors = rejected.sum() - np.r_[0, np.cumsum(rejected)][cut]
        remaining = n - cut
        fnmr = np.where(remaining > 0, remaining_errors / np.maximum(remaining, 1), 0.0)
        if np.isnan(threshold):  # FMR below the data's resolution: the curve is undefined
            fnmr = np.full(len(cut), np.nan)
        discard = (cut / n).tolist()
    d, e = np.array(discard, np.float64), np.array(fnmr, np.float64)
    pauc = {float(lim): partial_area(d, e, lim) for lim in limits}
    base = e[0] if len(e) else float("nan")
    norm = {k: (float(v / base) if base > 0 else float("nan")) for k, v in pauc.items()}
    if len(e) and np.isnan(e[0]):
        pauc = dict.fromkeys(pauc, float("nan"))
    return Edc(discard=d, fnmr=e, threshold=threshold, pauc=pauc, pauc_normalised=norm)
