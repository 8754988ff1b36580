"""CR-FIQA: face image quality from the certainty ratio of training samples.

Boutros, Fang, Klemt, Fu, Kuijper, Damer, "CR-FIQA: Face Image Quality Assessment by Learning
Sample Relative Classifiability", CVPR 2023 (arXiv:2112.06592). An iResNet (S: iResNet50 on
CASIA-WebFace, L: iResNet100 on MS1MV2) whose 512-d feature also feeds a linear regression head
``qs`` predicting the certainty ratio; higher is better. Input: 112x112 ArcFace-aligned crops
scaled to [-1, 1], in **BGR** order by default, as the official ``getQualityScore.py``
(``--color_channel BGR``) feeds them.

The released ``backbone.pth`` files (``32572backbone.pth`` for S, ``181952backbone.pth`` for L)
load unchanged: iResNet keys plus ``qs.weight`` and ``qs.bias``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vidfiqa.models.backbones.iresnet import IResNet
from vidfiqa.models.files import load_state_dict
from vidfiqa.models.torch_scorer import TorchQualityScorer

DEPTH = {"s": 50, "l": 100}


class CRFIQA(IResNet):
    """iResNet with the ``qs`` head; ``forward`` returns ``(features, certainty ratio (B,))``."""

    def __init__(self, *, size: str = "l"):
        if size not in DEPTH:
            raise ValueError(f"CR-FIQA size must be s or l, got {size!r}")
        super().__init__(depth=DEPTH[size])
        self.qs = nn.Linear(512, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        feat = super().forward(x)
        return feat, self.qs(feat).squeeze(1)


def crfiqa_scorer(
    *,
    size: str = "l",
    model_root: str | None = None,
    device: str | None = None,
    color: Literal["RGB", "BGR"] = "BGR",
    model: CRFIQA | None = None,
) -> TorchQualityScorer:
    """Scorer ``crfiqa-<size>`` with the released weights from ``model_root``."""
    if model is None:
        model = CRFIQA(size=size)
        model.load_state_dict(load_state_dict(f"crfiqa-{size}", model_root))
    return TorchQualityScorer(f"crfiqa-{size}", model, color=color, device=device)
