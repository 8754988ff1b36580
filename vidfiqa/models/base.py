"""Stage interfaces: what a detector, landmarker, embedder and quality scorer must provide.

Stages are batch-first and own their preprocessing and device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from vidfiqa.types import Detections, QualityResult

Alignment = Literal["arcface112", "dlib150"]


class Detector(Protocol):
    name: str

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces in each RGB uint8 ``(H, W, 3)`` image; ``data["confidence"]`` in [0, 1]."""
        ...


class Landmarker(Protocol):
    name: str

    def landmark(self, image: np.ndarray, detections: Detections) -> Detections:
        """The same rows with ``landmarks`` (ArcFace order) filled in.

        Adds ``data["landmarks_estimated"]`` (bool ``(n,)``) and may add model-specific point
        sets (``data["dlib5"]``, float32 ``(n, 5, 2)``) that an embedder of the same family
        aligns with.
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


@dataclass(frozen=True, slots=True)
class FaceBatch:
    """What a quality scorer sees of ``B`` faces.

    Attributes:
        crops: uint8 ``(B, 112, 112, 3)`` ArcFace-aligned RGB crops.
        landmarks: float32 ``(B, 5, 2)`` ArcFace-order points in original-frame pixels.
        boxes: float32 ``(B, 4)`` xyxy in original-frame pixels.
        confidence: float32 ``(B,)`` detector confidence in [0, 1].
        landmarks_estimated: bool ``(B,)``; mouth corners estimated, not measured.
        visible: float32 ``(B,)`` fraction of the face region of each crop inside the frame
            (see :func:`vidfiqa.align.visible_fraction`).
        eye_openness: float32 ``(B,)`` eye aspect ratio (see
            :func:`vidfiqa.models.dlib_models.eye_aspect_ratio`), NaN where no landmarker
            measured the eye contours.
    """

    crops: np.ndarray
    landmarks: np.ndarray
    boxes: np.ndarray
    confidence: np.ndarray
    landmarks_estimated: np.ndarray
    visible: np.ndarray
    eye_openness: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.eye_openness is None:
            object.__setattr__(self, "eye_openness", np.full(len(self.crops), np.nan, np.float32))

    def __len__(self) -> int:
        return len(self.crops)

    @classmethod
    def concat(cls, parts: list[FaceBatch]) -> FaceBatch:
        """Rows of several batches, in order."""
        names = (
            "crops",
            "landmarks",
            "boxes",
            "confidence",
            "landmarks_estimated",
            "visible",
            "eye_openness",
        )
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})


class QualityScorer(Protocol):
    name: str
    #: Documented range of ``QualityResult.scores``.
    score_range: tuple[float, float]

    def score(self, batch: FaceBatch) -> QualityResult:
        """Quality of each face, higher is better."""
        ...
