"""Template aggregation: one L2-normalised vector per track from per-frame embeddings.

Strategies (name -> what it does):

- ``best``: the embedding of the single highest-quality frame (best-frame selection).
- ``topk``: plain mean of the ``k`` best frames (``k`` a count >= 1, or a fraction in (0, 1) of
  the track's frames, at least one). Given the frames' indices, the frames are picked like best
  frames (:func:`vidfiqa.pipeline.select.select_best`): at least ``min_gap`` frames apart and at least
  ``floor`` of the best quality, so fewer than ``k`` rather than near-duplicates (frames 17,
  19, 20, 21) or a frame far below the best.
- ``mean``: plain mean of every frame (quality-blind baseline).
- ``linear``: mean weighted by quality, weights ``max(q, 0)``; all-zero weights fall back to the
  plain mean.
- ``softmax``: mean weighted by ``softmax(q / temperature)``; a low temperature approaches
  ``best``, a high one approaches ``mean``.
- ``threshold``: plain mean of the frames with ``q >= threshold``; if none passes, the best frame.

Every strategy says which frames it needs *before* embeddings exist (:meth:`Strategy.needed`),
so embeddings can be computed for those frames only, and records which frames contributed with
what weight. Ties in quality go to the earlier frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

StrategyName = Literal["best", "topk", "mean", "linear", "softmax", "threshold"]
STRATEGIES: tuple[StrategyName, ...] = ("best", "topk", "mean", "linear", "softmax", "threshold")

#: softmax weights below this fraction of the largest are dropped (and their frames not embedded).
SOFTMAX_CUTOFF = 1e-4


def eligible(qualities: np.ndarray, floor: float, low: float = 0.0) -> np.ndarray:
    """bool ``(n,)``: the qualities (float ``(n,)``) at least ``floor`` of the best one, both
    counted from ``low`` (the bottom of the scorer's range), and the best itself; NaN never."""
    q = np.asarray(qualities, np.float64)
    finite = np.isfinite(q)
    if not finite.any():
        return finite
    best = q[finite].max()
    with np.errstate(invalid="ignore"):
        ok = finite & (q - low >= floor * (best - low))
    # The best always counts, even below ``low`` (a scorer outside its documented range).
    ok[np.flatnonzero(q == best)[:1]] = True
    return ok


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A track's template.

    Attributes:
        vector: float32 ``(d,)``, unit length.
        frames: int64 ``(m,)`` positions (into the track's observations) that contributed.
        weights: float64 ``(m,)`` their weights, summing to 1.
    """

    vector: np.ndarray
    frames: np.ndarray
    weights: np.ndarray

    def quality(self, qualities: np.ndarray) -> float:
        """The template's quality: the weighted mean quality of the frames that made it, from
        the per-frame ``qualities`` the template was aggregated under."""
        return float((self.weights * np.asarray(qualities)[self.frames]).sum())


@dataclass(frozen=True, slots=True)
class Strategy:
    """An aggregation strategy with its parameter.

    Attributes:
        name: one of :data:`STRATEGIES`.
        k: ``topk`` only: count (>= 1) or fraction (0 < k < 1).
        temperature: ``softmax`` only, > 0, in units of quality.
        threshold: ``threshold`` only, in units of quality.
        min_gap: ``topk`` only: least frame distance between its frames (when frame indices
            are given).
        floor: ``topk`` only: least fraction of the best quality, counted from ``low``.
        low: the bottom of the scorer's range.
    """

    name: StrategyName
    k: float = 5
    temperature: float = 0.05
    threshold: float = 0.5
    min_gap: int = 0
    floor: float = 0.0
    low: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.name!r}; choose one of {', '.join(STRATEGIES)}")
        if self.k <= 0 or (self.k >= 1 and self.k != int(self.k)):
            raise ValueError(f"k must be a count >= 1 or a fraction in (0, 1), got {self.k}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    @property
    def label(self) -> str:
        """Name with its parameter, as stored (``topk:5``, ``softmax:0.05``, ``best``)."""
        param = {"topk": self.k, "softmax": self.temperature, "threshold": self.threshold}.get(self.name)
        return self.name if param is None else f"{self.name}:{param:g}"

    @classmethod
    def parse(cls, text: str) -> Strategy:
        """Inverse of :attr:`label`: ``"topk:0.2"``, ``"softmax:0.1"``, ``"mean"``."""
        name, _, param = text.partition(":")
        if not param:
            return cls(name)  # type: ignore[arg-type]
        field = {"topk": "k", "softmax": "temperature", "threshold": "threshold"}.get(name)
        if field is None:
            raise ValueError(f"strategy {name!r} takes no parameter (got {text!r})")
        try:
            value = float(param)
        except ValueError:
            raise ValueError(f"strategy parameter must be a number, got {text!r}") from None
        return cls(name, **{field: value})  # type: ignore[arg-type]

    def _order(self, q: np.ndarray) -> np.ndarray:
        # Descending quality, ties to the earlier frame; NaN last.
        key = np.where(np.isnan(q), -np.inf, q)
        return np.lexsort((np.arange(len(q)), -key))

    def weights(
        self, qualities: np.ndarray, frames: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Contributing frame positions and their weights (summing to 1), from qualities (and
        frame indices) alone.

        Args:
            qualities: float ``(n,)``, n >= 1.
            frames: int ``(n,)`` the frames' indices in the video, for ``topk``'s ``min_gap``;
                ``None``: unordered images (no gap).

        Returns:
            int64 ``(m,)`` positions in ascending order, float64 ``(m,)`` weights.
        """
        q = np.asarray(qualities, np.float64)
        n = len(q)
        if n == 0:
            raise ValueError("a template needs at least one frame")
        order = self._order(q)
        if self.name == "best":
            idx, w = order[:1], np.ones(1)
        elif self.name == "topk":
            m = int(self.k) if self.k >= 1 else max(1, int(round(self.k * n)))
            idx = self._spread(q, order, m, frames)
            w = np.full(len(idx), 1.0 / len(idx))
        elif self.name == "mean":
            idx, w = np.arange(n), np.full(n, 1.0 / n)
        elif self.name == "linear":
            raw = np.clip(np.nan_to_num(q, nan=0.0), 0, None)
            if raw.sum() <= 0:
                idx, w = np.arange(n), np.full(n, 1.0 / n)
            else:
                idx = np.flatnonzero(raw > 0)
                w = raw[idx] / raw[idx].sum()
        elif self.name == "softmax":
            z = np.where(np.isnan(q), -np.inf, q) / self.temperature
            z = z - z.max() if np.isfinite(z.max()) else np.zeros(n)
            e = np.exp(z)
            idx = np.flatnonzero(e >= SOFTMAX_CUTOFF * e.max())
            w = e[idx] / e[idx].sum()
        else:  # threshold
            idx = np.flatnonzero(q >= self.threshold)
            if not len(idx):
                idx = order[:1]
            w = np.full(len(idx), 1.0 / len(idx))
        sort = np.argsort(idx, kind="stable")
        return np.asarray(idx, np.int64)[sort], np.asarray(w, np.float64)[sort]

    def _spread(self, q: np.ndarray, order: np.ndarray, m: int, frames: np.ndarray | None) -> np.ndarray:
        # Greedy as select_best: the best remaining frame at least min_gap from every one taken,
        # and not below the floor; the best frame always counts.
        if self.floor > 0:
            ok = eligible(q, self.floor, self.low)
            ok[order[0]] = True
            order = order[ok[order]]
        if frames is None or self.min_gap <= 0:
            return order[:m]
        frames = np.asarray(frames, np.int64)
        taken: list[int] = []
        for i in order:
            if len(taken) == m:
                break
            if all(abs(frames[i] - frames[j]) >= self.min_gap for j in taken):
                taken.append(int(i))
        return np.array(taken, np.int64)

    def needed(self, qualities: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        """Frame positions whose embeddings this strategy uses (int64, ascending)."""
        return self.weights(qualities, frames)[0]

    def aggregate(
        self,
        qualities: np.ndarray,
        embeddings: dict[int, np.ndarray] | np.ndarray,
        frames: np.ndarray | None = None,
    ) -> Aggregate:
        """The template from per-frame embeddings.

        Args:
            qualities: float ``(n,)`` of the track's frames.
            embeddings: float ``(n, d)`` for every frame, or position -> float ``(d,)`` holding at
                least :meth:`needed`'s positions.
            frames: int ``(n,)`` frame indices (see :meth:`weights`).

        Returns:
            The unit-length weighted mean and its frames and weights.
        """
        idx, w = self.weights(qualities, frames)
        vectors = np.stack([np.asarray(embeddings[int(i)], np.float64) for i in idx])
        v = (w[:, None] * vectors).sum(0)
        norm = np.linalg.norm(v)
        if norm == 0:
            raise ValueError("embeddings cancel out: the template has zero length")
        return Aggregate(vector=(v / norm).astype(np.float32), frames=idx, weights=w)
