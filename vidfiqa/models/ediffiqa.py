"""eDifFIQA: a fast FIQA regressor distilled from the diffusion-based DifFIQA.

Babnik, Peer, Struc, "eDifFIQA: Towards Efficient Face Image Quality Assessment based on Denoising
Diffusion Probabilistic Models", IEEE T-BIOM 2024 (arXiv:2404.18596). A pretrained CosFace iResNet
backbone (S: iResNet18, M: iResNet50, L: iResNet100) with an MLP head 512-1024-1 (GELU) regresses
the quality labels of the teacher. Input: RGB 112x112 ArcFace-aligned crops scaled to [-1, 1]
(the official inference applies ToTensor and Normalize(0.5, 0.5) to RGB images). Output: the raw
regression value (trained on labels in [0, 1]; higher is better) and the backbone's 512-d feature.

The released checkpoints (``ediffiqaS.pth``, ``ediffiqaM.pth``, ``ediffiqaL.pth``) load unchanged:
their keys are ``base_model.*`` (the iResNet) and ``mlp.l1.*``, ``mlp.l2.*``.
"""

from __future__ import annotations

import torch
from torch import nn

from vidfiqa.models.backbones.iresnet import IResNet
from vidfiqa.models.files import load_state_dict
from vidfiqa.models.torch_scorer import TorchQualityScorer

DEPTH = {"s": 18, "m": 50, "l": 100}


class QualityMLP(nn.Module):
    """The regression head: Linear(512, 1024), GELU, Linear(1024, 1)."""

    def __init__(self, in_dim: int = 512, hidden_dim: int = 1024):
        super().__init__()
        self.l1 = nn.Linear(in_dim, hidden_dim)
        self.ac = nn.GELU()
        self.l2 = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(self.ac(self.l1(x)))


class EDifFIQA(nn.Module):
    """Backbone plus head; ``forward`` returns ``(features (B, 512), quality (B,))``."""

    def __init__(self, *, size: str = "s"):
        super().__init__()
        if size not in DEPTH:
            raise ValueError(f"eDifFIQA size must be s, m or l, got {size!r}")
        self.base_model = IResNet(depth=DEPTH[size])
        self.mlp = QualityMLP()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.base_model(x)
        return feat, self.mlp(feat).squeeze(1)


def ediffiqa_scorer(
    *,
    size: str = "s",
    model_root: str | None = None,
    device: str | None = None,
    model: EDifFIQA | None = None,
) -> TorchQualityScorer:
    """Scorer ``ediffiqa-<size>`` with the released weights from ``model_root`` (or ``model``,
    already built, for tests)."""
    if model is None:
        model = EDifFIQA(size=size)
        model.load_state_dict(load_state_dict(f"ediffiqa-{size}", model_root))
    return TorchQualityScorer(f"ediffiqa-{size}", model, color="RGB", device=device)
