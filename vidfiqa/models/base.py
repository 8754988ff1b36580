"""Stage interfaces: what a detector, landmarker, embedder and quality scorer must provide.

Stages are batch-first and own their preprocessing and device.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

from vidfiqa.types import Detections, FaceBatch, QualityResult

Alignment = Literal["arcface112", "dlib150"]


class Detector(Protocol):
    name: str

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces in each RGB uint8 ``(H, W, 3)`` image; ``confidence`` in [0, 1]."""
        ...


class Landmarker(Protocol):
    name: str

    def landmark(self, image: np.ndarray, detections: Detections) -> Detections:
        """New detections of the same rows with ``landmarks`` (ArcFace order) and
        ``landmarks_estimated`` filled in; ``detections`` is left as it was.

        May add model-specific point sets (``data["dlib5"]``, float32 ``(n, 5, 2)``) that an
        embedder of the same family aligns with.
        """
        ...


class Embedder(Protocol):
    name: str
    dim: int
    alignment: Alignment
    #: Documented cosine-similarity decision threshold for 1:1 verification.
    threshold: float

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(B, dim)`` L2-normalised embeddings of uint8 ``(B, S, S, 3)`` crops aligned
        with ``alignment``."""
        ...


class QualityScorer(Protocol):
    name: str
    #: Documented range of ``QualityResult.scores``.
    score_range: tuple[float, float]

    def score(self, batch: FaceBatch) -> QualityResult:
        """Quality of each face, higher is better."""
        ...
