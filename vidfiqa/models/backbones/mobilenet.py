"""MobileNetV3-Small and ShuffleNetV2 x0.5, with torchvision's module names so that its ImageNet
weights load unchanged (their state-dict layout is a test fixture).

- Howard et al., "Searching for MobileNetV3", ICCV 2019 (arXiv:1905.02244); the block table is
  the paper's Table 2.
- Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
  ECCV 2018 (arXiv:1807.11164); widths from the paper's Table 5 (0.5x).
"""

from __future__ import annotations

import torch
from torch import nn


def _divisible(v: float, divisor: int = 8) -> int:
    """Round channels as the MobileNet reference code does (never below 90% of ``v``)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _conv_bn(
    inp: int, out: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = None
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out, eps=0.001, momentum=0.01),
    ]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class MobileInvertedResidual(nn.Module):
    def __init__(self, inp: int, k: int, exp: int, out: int, se: bool, act: type[nn.Module], stride: int):
        super().__init__()
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if exp != inp:
            layers.append(_conv_bn(inp, exp, 1, act=act))
        layers.append(_conv_bn(exp, exp, k, stride, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcitation(exp, _divisible(exp // 4)))
        layers.append(_conv_bn(exp, out, 1))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res_connect else y


#: MobileNetV3-Small, Howard et al. Table 2: input, kernel, expansion, output, SE, activation, stride.
SMALL_BLOCKS = [
    (16, 3, 16, 16, True, nn.ReLU, 2),
    (16, 3, 72, 24, False, nn.ReLU, 2),
    (24, 3, 88, 24, False, nn.ReLU, 1),
    (24, 5, 96, 40, True, nn.Hardswish, 2),
    (40, 5, 240, 40, True, nn.Hardswish, 1),
    (40, 5, 240, 40, True, nn.Hardswish, 1),
    (40, 5, 120, 48, True, nn.Hardswish, 1),
    (48, 5, 144, 48, True, nn.Hardswish, 1),
    (48, 5, 288, 96, True, nn.Hardswish, 2),
    (96, 5, 576, 96, True, nn.Hardswish, 1),
    (96, 5, 576, 96, True, nn.Hardswish, 1),
]


class MobileNetV3Small(nn.Module):
    """MobileNetV3-Small; ``forward`` -> ``(B, num_classes)``, ``embed`` -> pooled ``(B, 576)``.

    ``num_classes=None`` leaves out the ImageNet classifier (1.6M of its 2.5M parameters), for
    networks that only use ``embed``.
    """

    feature_dim = 576

    def __init__(self, *, num_classes: int | None = 1000, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 16, 3, 2, act=nn.Hardswish)]
        layers += [MobileInvertedResidual(*cfg) for cfg in SMALL_BLOCKS]
        layers.append(_conv_bn(96, 576, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = (
            nn.Sequential(
                nn.Linear(576, 1024),
                nn.Hardswish(inplace=True),
                nn.Dropout(dropout, inplace=True),
                nn.Linear(1024, num_classes),
            )
            if num_classes
            else None
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def _channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleInvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int):
        super().__init__()
        self.stride = stride
        half = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, half, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return _channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 x0.5 (Ma et al. Table 5); ``embed`` -> pooled ``(B, 1024)``;
    ``num_classes=None`` leaves out the ImageNet classifier."""

    feature_dim = 1024

    def __init__(self, *, num_classes: int | None = 1000, widths: tuple[int, ...] = (24, 48, 96, 192, 1024)):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp = widths[0]
        for name, repeats, out in zip(("stage2", "stage3", "stage4"), (4, 8, 4), widths[1:4]):
            blocks = [ShuffleInvertedResidual(inp, out, 2)] + [
                ShuffleInvertedResidual(out, out, 1) for _ in range(repeats - 1)
            ]
            setattr(self, name, nn.Sequential(*blocks))
            inp = out
        self.conv5 = nn.Sequential(
            nn.Conv2d(inp, widths[4], 1, bias=False), nn.BatchNorm2d(widths[4]), nn.ReLU(inplace=True)
        )
        self.fc = nn.Linear(widths[4], num_classes) if num_classes else None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))
