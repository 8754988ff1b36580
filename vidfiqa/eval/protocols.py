"""Video verification protocols over templates: listed pairs (YTF restricted, any pair list)
and all pairs (eDifFIQA's YTF protocol). Scores are cosine similarities of unit templates."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vidfiqa.aggregate import Strategy
from vidfiqa.eval.edc import edc
from vidfiqa.eval.metrics import UndefinedMetricWarning, kfold_accuracy, roc, tar_at_far
from vidfiqa.eval.types import Pair, Templates

DEFAULT_FARS = (1e-4, 1e-3, 1e-2, 1e-1)


@dataclass(slots=True)
class ProtocolResult:
    """Scores of one scorer x strategy under one protocol, and the metrics on them.

    Attributes:
        scores, labels: the comparisons (float64, int8).
        metrics: name -> value (NaN where undefined).
        missing: pairs that named a video without features, as ``"a | b"``.
    """

    scores: np.ndarray
    labels: np.ndarray
    quality_a: np.ndarray
    quality_b: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _verification_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    qa: np.ndarray,
    qb: np.ndarray,
    fars: Sequence[float],
    edc_fmr: float,
) -> dict[str, float]:
    curve = roc(scores, labels)
    out = {"pairs": float(len(scores)), "genuine": float(labels.sum()), "auc": curve.auc, "eer": curve.eer}
    t = tar_at_far(scores, labels, far=fars)
    out.update({f"tar@far={f:g}": float(v) for f, v in zip(fars, t.tar)})
    e = edc(scores, labels, qa, qb, fmr=edc_fmr)
    out.update({f"pauc{int(k * 100)}": v for k, v in e.pauc.items()})
    out.update({f"pauc{int(k * 100)}_norm": v for k, v in e.pauc_normalised.items()})
    out["edc_fmr"] = edc_fmr
    return out


def listed_pairs(
    templates: Templates,
    pairs: list[Pair],
    *,
    fars: Sequence[float] = DEFAULT_FARS,
    edc_fmr: float = 1e-2,
) -> ProtocolResult:
    """Score the given pairs; with split numbers, also the k-fold accuracy (YTF restricted:
    threshold fit on 9 splits, accuracy on the 10th; mean +- standard error)."""
    index = {n: i for i, n in enumerate(templates.names)}
    kept = [p for p in pairs if p.a in index and p.b in index]
    missing = [f"{p.a} | {p.b}" for p in pairs if p.a not in index or p.b not in index]
    if not kept:
        raise ValueError(f"none of the {len(pairs)} pairs has both videos ({len(missing)} missing)")
    a = np.array([index[p.a] for p in kept])
    b = np.array([index[p.b] for p in kept])
    scores = np.einsum("ij,ij->i", templates.vectors[a], templates.vectors[b]).astype(np.float64)
    labels = np.array([p.same for p in kept], np.int8)
    qa, qb = templates.quality[a], templates.quality[b]
    result = ProtocolResult(scores, labels, qa, qb, missing=missing)
    if labels.all() or not labels.any():
        raise ValueError("the pairs with features are all genuine or all impostor")
    result.metrics = _verification_metrics(scores, labels, qa, qb, fars, edc_fmr)
    result.metrics["missing_pairs"] = float(len(missing))
    folds = np.array([p.fold for p in kept])
    if len(np.unique(folds)) >= 2:
        k = kfold_accuracy(scores, labels, folds)
        result.metrics["accuracy"] = k.mean
        result.metrics["accuracy_se"] = k.std_error
    return result


def all_pairs(
    templates: Templates,
    identities: Sequence[str],
    *,
    fars: Sequence[float] = (1e-4, 1e-3),
    edc_fmr: float = 1e-3,
) -> ProtocolResult:
    """Every unordered pair of templates, genuine when the identities agree (eDifFIQA, TBIOM
    2024, section 5.3: YTF all-pairs, TAR at FAR 1e-3 and 1e-4).

    Scored exactly by one matrix product: 3425 templates give 5.86M pairs in seconds.
    """
    ids = np.asarray(identities)
    if len(ids) != len(templates.names):
        raise ValueError(f"{len(ids)} identities for {len(templates.names)} templates")
    sims = templates.vectors @ templates.vectors.T
    iu, ju = np.triu_indices(len(ids), k=1)
    scores = sims[iu, ju].astype(np.float64)
    labels = (ids[iu] == ids[ju]).astype(np.int8)
    qa, qb = templates.quality[iu], templates.quality[ju]
    result = ProtocolResult(scores, labels, qa, qb)
    result.metrics = _verification_metrics(scores, labels, qa, qb, fars, edc_fmr)
    return result


def roc_points(result: ProtocolResult) -> tuple[np.ndarray, np.ndarray]:
    """FAR and TAR of a result, for plotting."""
    r = roc(result.scores, result.labels)
    return r.far, r.tar


IJB_FARS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)

#: Per protocol, the FARs measured and the table reported, as the papers do: listed pairs (YTF
#: restricted, LFW, any pair list), all pairs (eDifFIQA's YTF protocol) and IJB's TAR@FAR ladder.
TABLES: dict[str, tuple[tuple[float, ...], list[str]]] = {
    "listed": (DEFAULT_FARS, ["accuracy", "auc", "eer", "tar@far=0.001", "tar@far=0.01", "pauc20", "pauc30"]),
    "all-pairs": ((1e-4, 1e-3), ["tar@far=0.0001", "tar@far=0.001", "auc", "eer", "pauc20", "pauc30"]),
    "ijb": (IJB_FARS, [f"tar@far={f:g}" for f in IJB_FARS] + ["auc", "pauc20"]),
}


@dataclass(slots=True)
class Evaluation:
    """Every scorer x strategy of one protocol: ``results`` keyed by ``(scorer, strategy
    label)``, the table's ``columns``, and ``notes`` (undefined metrics, missing pairs) for the
    reader."""

    results: dict[tuple[str, str], ProtocolResult]
    columns: list[str]
    notes: list[str]


def evaluate(
    templates: Callable[[str, Strategy], Templates],
    scorers: Sequence[str],
    strategies: Sequence[Strategy],
    *,
    pairs: list[Pair] | None = None,
    identities: dict[str, str] | None = None,
    table: str = "listed",
    edc_fmr: float = 1e-2,
) -> Evaluation:
    """Templates per scorer and strategy (``templates(scorer, strategy)``) under one protocol.

    ``pairs`` given: those pairs (k-fold accuracy when they carry several folds); otherwise all
    pairs of templates, genuine when ``identities`` (name -> person) agree. The FARs reported
    are those of ``table`` (see :data:`TABLES`).

    Raises:
        ValueError: no pair has features on both sides, or only one class remains.
    """
    fars, columns = TABLES[table]
    results: dict[tuple[str, str], ProtocolResult] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        for scorer in scorers:
            for strategy in strategies:
                t = templates(scorer, strategy)
                if pairs is not None:
                    result = listed_pairs(t, pairs, edc_fmr=edc_fmr, fars=fars)
                else:
                    people = [(identities or {})[n] for n in t.names]
                    result = all_pairs(t, people, edc_fmr=edc_fmr, fars=fars)
                results[(scorer, strategy.label)] = result
    notes = []
    first = next(iter(results.values()))
    if first.missing and pairs is not None:
        notes.append(f"warning: {len(first.missing)} of {len(pairs)} pairs name videos without features")
    notes += [f"note: {m} (n/a in the table)" for m in sorted({str(w.message) for w in caught})]
    return Evaluation(results, columns, notes)
