"""Video verification protocols over templates: listed pairs (YTF restricted, any pair list)
and all pairs (eDifFIQA's YTF protocol). Scores are cosine similarities of unit templates."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from vidfiqa.aggregate import Strategy
from vidfiqa.eval.edc import Edc, edc
from vidfiqa.eval.metrics import UndefinedMetricWarning, kfold_accuracy, roc, tar_at_far
from vidfiqa.eval.types import Pair, Templates

DEFAULT_FARS = (1e-4, 1e-3, 1e-2, 1e-1)

#: Fewest genuine and impostor pairs from which AUC and EER are reported without a caution: with
#: ``n`` pairs of a class, one pair moves TAR or FAR by ``1/n``, so below 20 a single pair shifts
#: the EER by more than 5 points (and the ROC is a staircase of a few steps).
MIN_CLASS_PAIRS = 20


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many of a protocol's pairs name two items that are present.

    Attributes:
        pairs: pairs listed.
        genuine, impostor: pairs with both items present, per class.
        missing: the other pairs, as ``"a | b"``.
        absent: the items those pairs name that are not present, sorted.
    """

    pairs: int
    genuine: int
    impostor: int
    missing: list[str]
    absent: list[str]

    def line(self, items: str = "videos") -> str:
        """One line for a reader, e.g. ``3 of the 22 pairs have both videos (1 genuine, 2
        impostor); 19 name 30 absent videos``."""
        text = (
            f"{self.genuine + self.impostor} of the {self.pairs} pairs have both {items} "
            f"({self.genuine} genuine, {self.impostor} impostor)"
        )
        if self.missing:
            names = "pair names" if len(self.missing) == 1 else "pairs name"
            item = items.removesuffix("s") if len(self.absent) == 1 else items
            text += f"; {len(self.missing)} {names} {len(self.absent)} absent {item}"
        return text


def coverage(pairs: Sequence[Pair], present: Collection[str]) -> Coverage:
    """Which of ``pairs`` name two items of ``present`` (for example the videos of a root, before
    any feature is computed)."""
    kept = [p for p in pairs if p.a in present and p.b in present]
    return Coverage(
        pairs=len(pairs),
        genuine=sum(p.same for p in kept),
        impostor=sum(not p.same for p in kept),
        missing=[f"{p.a} | {p.b}" for p in pairs if p.a not in present or p.b not in present],
        absent=sorted({n for p in pairs for n in (p.a, p.b) if n not in present}),
    )


def small_sample_caution(genuine: int, impostor: int) -> str | None:
    """A caution when AUC and EER rest on fewer than :data:`MIN_CLASS_PAIRS` pairs of a class,
    else ``None``."""
    fewest = min(genuine, impostor)
    if fewest >= MIN_CLASS_PAIRS or fewest == 0:
        return None
    return (
        f"AUC and EER from {genuine} genuine and {impostor} impostor pairs (fewer than "
        f"{MIN_CLASS_PAIRS} of a class): one pair moves them by up to {100 / fewest:.0f} points"
    )


@dataclass(slots=True)
class ProtocolResult:
    """Scores of one scorer x strategy under one protocol, and the metrics on them.

    Attributes:
        scores, labels: the comparisons (float64, int8).
        metrics: name -> value (NaN where undefined).
        missing: pairs that named a video without features, as ``"a | b"``.
        curve: the EDC behind the pAUC metrics (plotted from here, never recomputed).
    """

    scores: np.ndarray
    labels: np.ndarray
    quality_a: np.ndarray
    quality_b: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    curve: Edc | None = None


def _verification_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    qa: np.ndarray,
    qb: np.ndarray,
    fars: Sequence[float],
    edc_fmr: float,
) -> tuple[dict[str, float], Edc]:
    curve = roc(scores, labels)
    genuine = int(labels.sum())
    out = {
        "pairs": float(len(scores)),
        "genuine": float(genuine),
        "impostor": float(len(scores) - genuine),
        "auc": curve.auc,
        "eer": curve.eer,
    }
    t = tar_at_far(scores, labels, far=fars)
    out.update({f"tar@far={f:g}": float(v) for f, v in zip(fars, t.tar)})
    e = edc(scores, labels, qa, qb, fmr=edc_fmr)
    out.update({f"pauc{int(k * 100)}": v for k, v in e.pauc.items()})
    out.update({f"pauc{int(k * 100)}_norm": v for k, v in e.pauc_normalised.items()})
    out["edc_fmr"] = edc_fmr
    return out, e


def listed_pairs(
    templates: Templates,
    pairs: list[Pair],
    *,
    fars: Sequence[float] = DEFAULT_FARS,
    edc_fmr: float = 1e-2,
) -> ProtocolResult:
    """Score the given pairs; with split numbers, also the k-fold accuracy (YTF restricted:
    threshold fit on 9 splits, accuracy on the 10th; ``accuracy`` +- ``accuracy_se``, the
    standard error, and ``accuracy_std``, the standard deviation over the folds).

    Raises:
        ValueError: the pairs with features on both sides are not of both classes (the message
            gives the counts).
    """
    index = {n: i for i, n in enumerate(templates.names)}
    kept = [p for p in pairs if p.a in index and p.b in index]
    missing = [f"{p.a} | {p.b}" for p in pairs if p.a not in index or p.b not in index]
    genuine = sum(p.same for p in kept)
    if genuine == 0 or genuine == len(kept):
        raise ValueError(
            f"{len(kept)} of the {len(pairs)} pairs have features on both sides ({genuine} genuine, "
            f"{len(kept) - genuine} impostor); need both genuine and impostor pairs"
        )
    a = np.array([index[p.a] for p in kept])
    b = np.array([index[p.b] for p in kept])
    scores = np.einsum("ij,ij->i", templates.vectors[a], templates.vectors[b]).astype(np.float64)
    labels = np.array([p.same for p in kept], np.int8)
    qa, qb = templates.quality[a], templates.quality[b]
    result = ProtocolResult(scores, labels, qa, qb, missing=missing)
    result.metrics, result.curve = _verification_metrics(scores, labels, qa, qb, fars, edc_fmr)
    result.metrics["missing_pairs"] = float(len(missing))
    folds = np.array([p.fold for p in kept])
    if len(np.unique(folds)) >= 2:
        k = kfold_accuracy(scores, labels, folds)
        result.metrics["accuracy"] = k.mean
        result.metrics["accuracy_se"] = k.std_error
        result.metrics["accuracy_std"] = k.std
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
    if not labels.any() or labels.all():
        raise ValueError(
            f"the {len(scores)} pairs of {len(ids)} templates are all "
            f"{'impostor' if not labels.any() else 'genuine'}: need both genuine and impostor pairs"
        )
    result = ProtocolResult(scores, labels, qa, qb)
    result.metrics, result.curve = _verification_metrics(scores, labels, qa, qb, fars, edc_fmr)
    return result


def roc_points(result: ProtocolResult) -> tuple[np.ndarray, np.ndarray]:
    """FAR and TAR of a result, for plotting."""
    r = roc(result.scores, result.labels)
    return r.far, r.tar


IJB_FARS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)

#: Per protocol, the FARs measured and the table reported, as the papers do: listed pairs (YTF
#: restricted, LFW, any pair list), all pairs (eDifFIQA's YTF protocol) and IJB's TAR@FAR ladder.
TABLES: dict[str, tuple[tuple[float, ...], list[str]]] = {
    "listed": (
        DEFAULT_FARS,
        ["genuine", "impostor", "accuracy", "auc", "eer", "tar@far=0.001", "tar@far=0.01"]
        + ["pauc20", "pauc20_norm", "pauc30", "pauc30_norm"],
    ),
    "all-pairs": (
        (1e-4, 1e-3),
        ["genuine", "impostor", "tar@far=0.0001", "tar@far=0.001", "auc", "eer"]
        + ["pauc20", "pauc20_norm", "pauc30", "pauc30_norm"],
    ),
    "ijb": (
        IJB_FARS,
        ["genuine", "impostor"] + [f"tar@far={f:g}" for f in IJB_FARS] + ["auc", "pauc20", "pauc20_norm"],
    ),
}


@dataclass(slots=True)
class Evaluation:
    """Every scorer x strategy of one protocol: ``results`` keyed by ``(scorer, strategy
    label)``, the table's ``columns``, ``notes`` (undefined metrics, missing pairs, small
    samples) for the reader, and ``caution`` (the small-sample one, for the tables) or ``None``."""

    results: dict[tuple[str, str], ProtocolResult]
    columns: list[str]
    notes: list[str]
    caution: str | None = None


def evaluate(
    templates: Callable[[str, Strategy], Templates],
    scorers: Sequence[str],
    strategies: Sequence[Strategy],
    *,
    pairs: list[Pair] | None = None,
    identities: dict[str, str] | None = None,
    table: str = "listed",
    edc_fmr: float = 1e-2,
    items: str = "videos",
) -> Evaluation:
    """Templates per scorer and strategy (``templates(scorer, strategy)``) under one protocol.

    ``pairs`` given: those pairs (k-fold accuracy when they carry several folds); otherwise all
    pairs of templates, genuine when ``identities`` (name -> person) agree. The FARs reported
    are those of ``table`` (see :data:`TABLES`). ``items`` names what the pairs compare in the
    notes (videos, images, templates). Undefined metrics never leak a warning: each becomes one
    counted note.

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
        notes.append(f"warning: {len(first.missing)} of {len(pairs)} pairs name {items} without features")
    messages = [str(w.message) for w in caught]
    for m in sorted(set(messages)):
        times = messages.count(m)
        notes.append(f"note: {m} (n/a in the table; {times} time{'s' if times > 1 else ''})")
    caution = small_sample_caution(int(first.metrics["genuine"]), int(first.metrics["impostor"]))
    if caution:
        notes.append(f"warning: {caution}")
    return Evaluation(results, columns, notes, caution)
