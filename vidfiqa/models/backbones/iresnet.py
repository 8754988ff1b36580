"""Improved ResNet (iResNet) face-recognition backbones, as trained by insightface's arcface_torch.

Duta, Liu, Zhu, Shao, "Improved Residual Networks for Image and Video Recognition", ICPR 2020
(arXiv:2004.04989); used with ArcFace/CosFace heads by Deng et al. (arXiv:1801.07698). Input:
RGB 112x112 aligned faces scaled to [-1, 1]; output: a 512-d feature (not normalised).

Module names follow the published checkpoints (``conv1``, ``bn1``, ``prelu``, ``layer1..4`` of
blocks with ``bn1, conv1, bn2, prelu, conv2, bn3, downsample.{0,1}``, then ``bn2``, ``fc`` and the
``features`` BatchNorm1d), so those checkpoints load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

#: Blocks per stage (Duta et al., table 1 and insightface's arcface_torch).
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
    200: (6, 26, 60, 6),
}


class IBasicBlock(nn.Module):
    """Pre-activation-style residual block: BN, 3x3 conv, BN, PReLU, 3x3 conv (stride), BN."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, eps: float = 1e-5):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=eps)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=eps)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=eps)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes, eps=eps)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """iResNet for 112x112 faces.

    Args:
        depth: 18, 34, 50, 100 or 200.
        num_features: embedding size.
        dropout: before the embedding layer (0 at inference).
        bn_eps: BatchNorm epsilon: 1e-5 in arcface_torch, 2e-5 in the older insightface/MagFace code.
    """

    def __init__(
        self, *, depth: int = 50, num_features: int = 512, dropout: float = 0.0, bn_eps: float = 1e-5
    ):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"iResNet depth must be one of {sorted(DEPTHS)}, got {depth}")
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=bn_eps)
        self.prelu = nn.PReLU(64)
        widths = (64, 128, 256, 512)
        inplanes = 64
        for i, (width, blocks) in enumerate(zip(widths, DEPTHS[depth]), start=1):
            layers = [IBasicBlock(inplanes, width, stride=2, eps=bn_eps)]
            layers += [IBasicBlock(width, width, eps=bn_eps) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layers))
            inplanes = width
        self.bn2 = nn.BatchNorm2d(512, eps=bn_eps)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(512 * 7 * 7, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=bn_eps)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 112, 112)`` in [-1, 1] -> ``(B, num_features)``."""
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))
