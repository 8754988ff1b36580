"""Types every evaluation protocol shares: pairs, templates, and the error a bad input raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidfiqa.aggregate import Strategy
from vidfiqa.types import VideoFeatures


class EvalInputError(Exception):
    """A benchmark file or folder that cannot be read; the message is one line."""


@dataclass(frozen=True, slots=True)
class Pair:
    """One comparison of a protocol: items ``a`` and ``b`` (video, image or template names),
    whether they show the same person, and the ``fold`` (split) it belongs to (1-based)."""

    fold: int
    a: str
    b: str
    same: bool


@dataclass(frozen=True, slots=True)
class Templates:
    """One template per item for one scorer and strategy.

    Attributes:
        names: item names, ``(n,)``.
        vectors: float32 ``(n, d)``.
        quality: float64 ``(n,)`` template quality: the weighted mean quality of the frames
            that made it (used as the item's quality in EDC).
    """

    names: list[str]
    vectors: np.ndarray
    quality: np.ndarray


def make_templates(features: dict[str, VideoFeatures], scorer: str, strategy: Strategy) -> Templates:
    """One template per item of ``features``, aggregated with ``strategy`` under ``scorer``."""
    names = sorted(features)
    vectors, quality = [], []
    for name in names:
        f = features[name]
        agg = strategy.aggregate(f.qualities[scorer], f.embeddings)
        vectors.append(agg.vector)
        quality.append(agg.quality(f.qualities[scorer]))
    return Templates(names, np.stack(vectors), np.array(quality))
