"""Training-free quality from embedding stability, after DifFIQA's idea.

DifFIQA (Babnik, Peer, Struc, IJCB 2023, arXiv:2305.05768) measures how much a face's embedding
moves when the image is perturbed by a diffusion model's forward and backward process: good
faces sit in stable regions of the embedding space. Without a diffusion model, this scorer uses
cheap perturbations instead: a horizontal flip (pose and asymmetric lighting), Gaussian noise
and a slight blur (missing detail). The score is the mean cosine similarity between the
embedding of the face and those of its perturbed versions::

    q = mean_p cos(e(x), e(p(x)))

It works with any embedder, the embedded dlib one included, and costs one embedding per
perturbation plus one. Scores lie in [-1, 1] and, for real faces, in about [0.85, 1]; each
perturbation's similarity is reported as factor ``stability_<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vidfiqa.align import ARCFACE_112, dlib_chip_template, similarity_transform, warp
from vidfiqa.models.base import Embedder
from vidfiqa.types import FaceBatch, QualityResult

PERTURBATIONS = ("flip", "noise", "blur")


def arcface_to_dlib_chips(crops: np.ndarray, size: int = 150) -> np.ndarray:
    """Re-align ArcFace 112 crops to dlib's chip template by the eye centres (the points both
    templates share), uint8 ``(B, 112, 112, 3)`` -> ``(B, size, size, 3)``."""
    dlib = dlib_chip_template(size)
    dst = np.stack([dlib[2:4].mean(0), dlib[0:2].mean(0)])  # image-left eye, image-right eye
    m = similarity_transform(ARCFACE_112[:2], dst)
    return (
        np.stack([warp(c, m, size) for c in crops]) if len(crops) else np.zeros((0, size, size, 3), np.uint8)
    )


class StabilityQuality:
    """Scorer ``stability``.

    Args:
        embedder: any embedder; crops are re-aligned to its template.
        perturbations: subset of :data:`PERTURBATIONS`.
        noise_std: Gaussian noise, grey levels.
        blur_sigma: Gaussian blur, pixels of the 112 crop.
        seed: the noise is drawn from a fixed seed, so scores are reproducible.
    """

    name = "stability"
    score_range = (-1.0, 1.0)

    def __init__(
        self,
        embedder: Embedder,
        *,
        perturbations: Sequence[str] = PERTURBATIONS,
        noise_std: float = 8.0,
        blur_sigma: float = 1.0,
        seed: int = 0,
    ):
        unknown = set(perturbations) - set(PERTURBATIONS)
        if unknown or not perturbations:
            raise ValueError(
                f"perturbations must be a non-empty subset of {PERTURBATIONS}, got {perturbations}"
            )
        self.embedder = embedder
        self.perturbations = tuple(perturbations)
        self.noise_std = noise_std
        self.blur_sigma = blur_sigma
        self.seed = seed

    def _perturb(self, crops: np.ndarray, kind: str) -> np.ndarray:
        if kind == "flip":
            return np.ascontiguousarray(crops[:, :, ::-1])
        if kind == "blur":
            return np.stack([cv2.GaussianBlur(c, (0, 0), self.blur_sigma) for c in crops])
        rng = np.random.default_rng(self.seed)
        noisy = crops.astype(np.float32) + rng.normal(0, self.noise_std, crops.shape)
        return np.clip(noisy, 0, 255).round().astype(np.uint8)

    def _embed(self, crops: np.ndarray) -> np.ndarray:
        if self.embedder.alignment == "dlib150":
            crops = arcface_to_dlib_chips(crops)
        return self.embedder.embed(crops)

    def score(self, batch: FaceBatch) -> QualityResult:
        crops = np.asarray(batch.crops)
        n = len(crops)
        if n == 0:
            return QualityResult(
                np.zeros(0, np.float32),
                {f"stability_{p}": np.zeros(0, np.float32) for p in self.perturbations},
            )
        variants = np.concatenate([crops, *(self._perturb(crops, p) for p in self.perturbations)])
        e = self._embed(variants).reshape(1 + len(self.perturbations), n, -1)
        sims = np.einsum("pnd,nd->pn", e[1:], e[0]).astype(np.float32)
        factors = {f"stability_{p}": sims[i] for i, p in enumerate(self.perturbations)}
        return QualityResult(scores=sims.mean(0), factors=factors)
