"""Measures of a quality scorer on faces of known people, from their embeddings and qualities:
how quality follows recognition utility, what it does to templates (eDifFIQA's best-frame and
quality-weighted scenarios, section 5.3) and to comparisons it may discard (EDC).

Templates here are groups of samples of one photo (some degraded): a scorer is good when the
face it picks, or the weights it gives, make templates that verify well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import spearmanr

from vidfiqa.eval.edc import edc
from vidfiqa.eval.metrics import eer, tar_at_far

TemplateRule = Literal["best", "weighted", "first", "random"]
FARS = (1e-4, 1e-3)


def rescaled(quality: np.ndarray) -> np.ndarray:
    """float64 qualities min-max rescaled to [0, 1] (0.5 everywhere when constant), so that any
    scorer's scale weighs templates alike."""
    q = np.asarray(quality, np.float64)
    span = float(np.ptp(q)) if len(q) else 0.0
    return (q - q.min()) / span if span > 0 else np.full(len(q), 0.5)


def template_vectors(
    embeddings: np.ndarray,
    template: np.ndarray,
    quality: np.ndarray,
    rule: TemplateRule,
    *,
    first: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """One unit vector per template, float32 ``(t, d)``.

    Args:
        embeddings: float32 ``(n, d)`` unit embeddings of the samples.
        template: int64 ``(n,)`` template of each sample, ``0..t-1``.
        quality: float ``(n,)``.
        rule: ``best`` (the highest quality; the earliest on ties), ``weighted`` (the mean
            weighted by :func:`rescaled` quality), ``first`` (the sample where ``first`` is True:
            the undegraded photo, an oracle) or ``random`` (one at random: no quality at all).
    """
    t = int(template.max()) + 1
    d = embeddings.shape[1]
    q = rescaled(quality)
    out = np.zeros((t, d), np.float64)
    if rule == "weighted":
        w = np.where(q.reshape(-1) > 0, q, 0.0)
        np.add.at(out, template, embeddings * w[:, None])
        empty = np.linalg.norm(out, axis=1) == 0
        if empty.any():  # every weight 0: the plain mean
            rows = np.isin(template, np.flatnonzero(empty))
            np.add.at(out, template[rows], embeddings[rows])
    else:
        if rule == "best":
            key = q
        elif rule == "first":
            if first is None:
                raise ValueError("rule 'first' needs the first-sample mask")
            key = np.asarray(first, np.float64)
        elif rule == "random":
            key = np.random.default_rng(seed).random(len(q))
        else:
            raise ValueError(f"unknown template rule {rule!r}")
        # Highest key per template, earliest row on ties: sort by (template, -key, row).
        order = np.lexsort((np.arange(len(q)), -key, template))
        starts = np.r_[0, np.flatnonzero(np.diff(template[order])) + 1]
        out[template[order[starts]]] = embeddings[order[starts]]
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


def all_pairs(vectors: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores float64 and mated labels bool of every pair ``i < j`` of templates."""
    i, j = np.triu_indices(len(vectors), k=1)
    scores = np.einsum("nd,nd->n", vectors[i].astype(np.float64), vectors[j].astype(np.float64))
    return scores, np.asarray(person)[i] == np.asarray(person)[j]


@dataclass(frozen=True, slots=True)
class Scenario:
    """Verification of templates made by one rule: EER, and TAR at :data:`FARS`."""

    eer: float
    tar: dict[float, float]
    mated: int
    non_mated: int


def scenario(
    embeddings: np.ndarray,
    template: np.ndarray,
    person: np.ndarray,
    quality: np.ndarray,
    rule: TemplateRule,
    *,
    first: np.ndarray | None = None,
) -> Scenario:
    """All-pairs verification of the templates ``rule`` makes; ``person``: ``(t,)`` of each."""
    scores, labels = all_pairs(template_vectors(embeddings, template, quality, rule, first=first), person)
    tar = tar_at_far(scores, labels, far=FARS)
    return Scenario(
        eer=float(eer(scores, labels)),
        tar={f: float(v) for f, v in zip(FARS, tar.tar)},
        mated=int(labels.sum()),
        non_mated=int((~labels).sum()),
    )


def utility_correlation(quality: np.ndarray, utility: np.ndarray) -> float:
    """Spearman's rho between quality and recognition utility where the utility is defined."""
    ok = np.isfinite(utility)
    return float(spearmanr(np.asarray(quality)[ok], np.asarray(utility)[ok])[0])


def pair_edc(
    scores: np.ndarray, labels: np.ndarray, quality_a: np.ndarray, quality_b: np.ndarray
) -> dict[float, float]:
    """EDC pAUC (ISO/IEC 29794-1, FMR 1e-3, pair quality = min) at discard 20% and 30%, divided by
    the FNMR at zero discard (so 0.2 and 0.3 mean discarding did not help): lower is better."""
    return edc(scores, labels, quality_a, quality_b, limits=(0.2, 0.3)).pauc_normalised
