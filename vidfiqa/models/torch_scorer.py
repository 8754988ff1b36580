"""A quality scorer around any torch network that maps aligned crops to ``(features, quality)``.

Shared by the published regressors (eDifFIQA, CR-FIQA): device choice, batching, colour order
and scaling live here, the network and its checkpoint layout in the model's own module.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from vidfiqa.models.base import FaceBatch
from vidfiqa.types import QualityResult


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_tensor(crops: np.ndarray, device: torch.device, *, bgr: bool = False) -> torch.Tensor:
    """uint8 ``(B, 112, 112, 3)`` RGB -> float32 ``(B, 3, 112, 112)`` in [-1, 1], channels in
    ``BGR`` order if ``bgr``."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    if bgr:
        x = x.flip(-1)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


class TorchQualityScorer:
    """Runs ``network(x) -> (features (B, d), quality (B,))`` on ArcFace-aligned crops.

    Args:
        name: scorer name.
        network: the torch module (its weights already loaded).
        color: channel order the network was trained on.
        device: ``cuda`` when available by default.
        batch_size: crops per forward pass.
    """

    score_range = (0.0, 1.0)

    def __init__(
        self,
        name: str,
        network: nn.Module,
        *,
        color: Literal["RGB", "BGR"] = "RGB",
        device: str | None = None,
        batch_size: int = 64,
    ):
        self.name = name
        self.color = color
        self.device = torch.device(device) if device else default_device()
        self.batch_size = batch_size
        self.model = network.to(self.device).eval()

    @torch.inference_mode()
    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quality float32 ``(B,)`` and L2-normalised features float32 ``(B, d)``."""
        qs, fs = [], []
        for lo in range(0, len(crops), self.batch_size):
            x = to_tensor(crops[lo : lo + self.batch_size], self.device, bgr=self.color == "BGR")
            feat, q = self.model(x)
            qs.append(q.float().cpu().numpy())
            fs.append(nn.functional.normalize(feat.float(), dim=1).cpu().numpy())
        if not qs:
            return np.zeros(0, np.float32), np.zeros((0, 512), np.float32)
        return np.concatenate(qs).astype(np.float32), np.concatenate(fs).astype(np.float32)

    def score(self, batch: FaceBatch) -> QualityResult:
        return QualityResult(scores=self.predict(batch.crops)[0], factors={})
