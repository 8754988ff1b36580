"""Verification thresholds of each embedder at stated false accept rates, and the FAR a score
stands for.

A threshold is only meaningful with the FAR it was set for and the data it was measured on, so
each embedder's record (``thresholds.json`` beside this file, written by ``vidfiqa models
calibrate``) holds a table of thresholds over FARs from 0.5 down to what its impostor pairs can
resolve, with the data, the number of impostor pairs and the command that made it. Scores are
cosine similarities of L2-normalised embeddings; a pair is accepted when ``score >= threshold``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

RECORD = Path(__file__).with_name("thresholds.json")
#: The FAR a default threshold stands for.
DEFAULT_FAR = 1e-3


@dataclass(frozen=True, slots=True)
class Calibration:
    """The thresholds of one embedder.

    Attributes:
        embedder: its name.
        far: float64 ``(K,)`` FAR targets, decreasing.
        threshold: float64 ``(K,)`` the least cosine accepted at each target (increasing).
        impostor_pairs: impostor comparisons the table was measured on.
        source: the data, the face pipeline and the command that made it.
    """

    embedder: str
    far: np.ndarray
    threshold: np.ndarray
    impostor_pairs: int
    source: dict[str, Any]

    def threshold_at(self, far: float = DEFAULT_FAR) -> float:
        """The threshold at FAR ``far``, which must be one of the table's targets.

        Raises:
            ValueError: ``far`` is not in the table (the message lists the targets).
        """
        hit = np.flatnonzero(np.isclose(self.far, far, rtol=1e-6, atol=0))
        if not len(hit):
            known = ", ".join(f"{f:g}" for f in self.far if np.log10(f) == round(np.log10(f)))
            raise ValueError(f"{self.embedder}: no threshold calibrated at FAR {far:g}; calibrated: {known}")
        return float(self.threshold[hit[0]])

    def far_at(self, score: float) -> float:
        """The share of the calibration's impostor pairs that ``score`` would accept, interpolated
        in log-FAR between the table's rows and clamped to its range (a score above the highest
        threshold stands for "at most the smallest FAR measured")."""
        logs = np.interp(score, self.threshold, np.log10(self.far))
        return float(10.0**logs)


@lru_cache(maxsize=1)
def _records() -> dict[str, Calibration]:
    data = json.loads(RECORD.read_text())
    return {
        name: Calibration(
            embedder=name,
            far=np.asarray(r["far"], np.float64),
            threshold=np.asarray(r["threshold"], np.float64),
            impostor_pairs=int(r["impostor_pairs"]),
            source=r["source"],
        )
        for name, r in data.items()
    }


def calibration(embedder: str) -> Calibration | None:
    """The calibration of ``embedder``, or ``None`` when it has none (a user's own pack)."""
    return _records().get(embedder)


def calibrated_threshold(embedder: str, far: float = DEFAULT_FAR) -> float:
    """The threshold of ``embedder`` at ``far``.

    Raises:
        KeyError: ``embedder`` has no calibration.
        ValueError: no threshold at ``far``.
    """
    record = calibration(embedder)
    if record is None:
        raise KeyError(f"{embedder}: no calibrated threshold; run 'vidfiqa models calibrate {embedder}'")
    return record.threshold_at(far)


#: FAR targets of a calibration: ten a decade from 0.5 down to 1e-7 (rows the impostor pairs
#: cannot resolve are left out).
FAR_GRID = np.unique(np.concatenate([[0.5], 10.0 ** -np.arange(1, 7.01, 0.1)]))[::-1]
