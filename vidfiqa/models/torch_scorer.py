"""A quality scorer around any torch network that maps aligned crops to ``(features, quality)``.

Shared by the published models (eDifFIQA, CR-FIQA, MagFace, CLIB-FIQA): device choice, batching,
colour order and value scaling live here, the network and its checkpoint layout in the model's own
module. A network may return a third output, ``(B, F)`` factor values named by its
``factor_names`` attribute.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from vidfiqa.device import resolve_device
from vidfiqa.types import FaceBatch, QualityResult

ValueRange = Literal["pm1", "unit"]


def to_tensor(
    crops: np.ndarray, device: torch.device, *, bgr: bool = False, value_range: ValueRange = "pm1"
) -> torch.Tensor:
    """uint8 ``(B, 112, 112, 3)`` RGB -> float32 ``(B, 3, 112, 112)`` in [-1, 1] (``pm1``) or
    [0, 1] (``unit``), channels in ``BGR`` order if ``bgr``."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    if bgr:
        x = x.flip(-1)
    x = x.permute(0, 3, 1, 2).float()
    return x.div_(255.0) if value_range == "unit" else x.div_(127.5).sub_(1.0)


class TorchQualityScorer:
    """Runs ``network(x) -> (features (B, d), quality (B,))`` on ArcFace-aligned crops.

    Args:
        name: scorer name.
        network: the torch module (its weights already loaded).
        color: channel order the network was trained on.
        value_range: pixel scaling the network was trained on.
        score_range: the range its quality values take (documentation for users and plots).
        device: ``cuda`` when available by default.
        batch_size: crops per forward pass.
    """

    def __init__(
        self,
        name: str,
        network: nn.Module,
        *,
        color: Literal["RGB", "BGR"] = "RGB",
        value_range: ValueRange = "pm1",
        score_range: tuple[float, float] = (0.0, 1.0),
        device: str | None = None,
        batch_size: int = 64,
    ):
        self.name = name
        self.color = color
        self.value_range = value_range
        self.score_range = score_range
        self.device = torch.device(resolve_device(device))
        self.batch_size = batch_size
        self.model = network.to(self.device).eval()

    @torch.inference_mode()
    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Quality float32 ``(B,)``, L2-normalised features float32 ``(B, d)`` and factors (name ->
        float32 ``(B,)``; empty unless the network returns them)."""
        outputs: list[list[np.ndarray]] = [[], [], []]
        for lo in range(0, len(crops), self.batch_size):
            x = to_tensor(
                crops[lo : lo + self.batch_size],
                self.device,
                bgr=self.color == "BGR",
                value_range=self.value_range,
            )
            feat, q, *factors = self.model(x)
            outputs[0].append(q.float().cpu().numpy())
            outputs[1].append(nn.functional.normalize(feat.float(), dim=1).cpu().numpy())
            if factors:
                outputs[2].append(factors[0].float().cpu().numpy())
        names = list(getattr(self.model, "factor_names", []))
        if not outputs[0]:
            return (
                np.zeros(0, np.float32),
                np.zeros((0, 512), np.float32),
                {n: np.zeros(0, np.float32) for n in names},
            )
        quality, features = (np.concatenate(o).astype(np.float32) for o in outputs[:2])
        table = np.concatenate(outputs[2]).astype(np.float32) if outputs[2] else np.zeros((len(quality), 0))
        return quality, features, {n: table[:, i] for i, n in enumerate(names)}

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quality float32 ``(B,)`` and L2-normalised features float32 ``(B, d)``."""
        quality, features, _ = self.run(crops)
        return quality, features

    def score(self, batch: FaceBatch) -> QualityResult:
        quality, _, factors = self.run(batch.crops)
        return QualityResult(scores=quality, factors=factors)
