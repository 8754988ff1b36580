"""Lightweight FIQA ensemble: MobileNetV3-Small and ShuffleNetV2 x0.5 regressors, averaged.

After the VQualA 2025 face-quality challenge entry that pairs the two small ImageNet backbones,
each with an MLP regression head, trains them with ``MSE + alpha * (1 - Pearson)`` and averages
their predictions with horizontal-flip test-time augmentation. The heads here are two-layer MLPs
(features -> 128 -> 1, ReLU, dropout 0.1), an assumption: the entry's exact head was not available
to this project. Input: RGB aligned crops (112x112 by default), ImageNet mean/std normalisation.

Backbone module names follow torchvision (tested), so ImageNet weights from torchvision's files
load into ``branch.backbone`` unchanged before training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vidfiqa.models.backbones.mobilenet import MobileNetV3Small, ShuffleNetV2
from vidfiqa.models.base import FaceBatch
from vidfiqa.models.files import load_state_dict
from vidfiqa.types import QualityResult

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = {"mobilenetv3-small": MobileNetV3Small, "shufflenetv2-x0.5": ShuffleNetV2}


class MSECorrLoss(nn.Module):
    """``MSE + alpha * (1 - Pearson r)`` between predictions and labels of a batch.

    Args:
        alpha: weight of the correlation term.
        eps: keeps r defined when a batch's predictions or labels are constant (r then counts 0).
    """

    def __init__(self, alpha: float = 1.0, eps: float = 1e-8):
        super().__init__()
        self.alpha = alpha
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.flatten().float(), target.flatten().float()
        mse = torch.mean((pred - target) ** 2)
        p, t = pred - pred.mean(), target - target.mean()
        # eps inside the root too: sqrt's gradient at 0 is infinite.
        r = (p * t).sum() / torch.sqrt((p**2).sum() * (t**2).sum() + self.eps)
        return mse + self.alpha * (1 - r)


class Branch(nn.Module):
    """One backbone with its regression head; ``forward`` -> ``(B,)``."""

    def __init__(self, backbone: str):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
        self.backbone = BACKBONES[backbone]()
        d = self.backbone.feature_dim
        self.head = nn.Sequential(
            nn.Linear(d, 128), nn.ReLU(inplace=True), nn.Dropout(0.1), nn.Linear(128, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.embed(x)).squeeze(1)


class LightweightEnsemble(nn.Module):
    """Both branches; ``forward`` averages them, with the flipped image when ``flip_tta``."""

    def __init__(self, *, flip_tta: bool = True):
        super().__init__()
        self.mobilenet = Branch("mobilenetv3-small")
        self.shufflenet = Branch("shufflenetv2-x0.5")
        self.flip_tta = flip_tta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = [x, x.flip(-1)] if self.flip_tta else [x]
        preds = [branch(v) for v in views for branch in (self.mobilenet, self.shufflenet)]
        return torch.stack(preds).mean(0)


def to_input(crops: np.ndarray, device: torch.device, size: int = 112) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` RGB -> ImageNet-normalised float32 ``(B, 3, size, size)``."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float().div_(255)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class LightweightScorer:
    """Scorer ``lightweight``: a checkpoint trained with ``vidfiqa train lightweight``."""

    name = "lightweight"
    score_range = (0.0, 1.0)

    def __init__(
        self,
        *,
        model_root: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
        model: LightweightEnsemble | None = None,
    ):
        self.device = (
            torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.batch_size = batch_size
        if model is None:
            model = LightweightEnsemble()
            model.load_state_dict(load_state_dict("lightweight", model_root))
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def predict(self, crops: np.ndarray) -> np.ndarray:
        out = [
            self.model(to_input(crops[lo : lo + self.batch_size], self.device)).float().cpu().numpy()
            for lo in range(0, len(crops), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)

    def score(self, batch: FaceBatch) -> QualityResult:
        return QualityResult(scores=self.predict(batch.crops), factors={})
