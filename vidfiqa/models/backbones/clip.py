"""CLIP with the RN50 image encoder and its text transformer.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021
(arXiv:2103.00020). The image encoder is a ResNet-50 with a three-convolution stem, average-pool
anti-aliasing before strided convolutions, and an attention-pooling head; the text encoder is a
causal 12-layer transformer whose end-of-text token, projected, is the text feature.

Parameter names follow OpenAI's released state dict (``visual.*``, ``transformer.resblocks.*``,
``token_embedding``, ``positional_embedding``, ``ln_final``, ``text_projection``, ``logit_scale``)
so CLIP checkpoints, and models fine-tuned from them such as CLIB-FIQA, load unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True, slots=True)
class ClipConfig:
    """Sizes of one CLIP model (the defaults are RN50's)."""

    embed_dim: int = 1024
    image_resolution: int = 224
    vision_layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    vision_width: int = 64
    context_length: int = 77
    vocab_size: int = 49408
    text_width: int = 512
    text_heads: int = 8
    text_layers: int = 12


class Bottleneck(nn.Module):
    """1x1, 3x3, (avg-pool if strided), 1x1 convolutions; the shortcut pools before its 1x1 conv."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample: nn.Sequential | None = None
        if stride > 1 or inplanes != planes * self.expansion:
            # The "-1" key keeps the conv and BN at indices 0 and 1, as in the released weights.
            self.downsample = nn.Sequential(
                OrderedDict(
                    [
                        ("-1", nn.AvgPool2d(stride)),
                        ("0", nn.Conv2d(inplanes, planes * self.expansion, 1, bias=False)),
                        ("1", nn.BatchNorm2d(planes * self.expansion)),
                    ]
                )
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.avgpool(F.relu(self.bn2(self.conv2(out))))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class AttentionPool2d(nn.Module):
    """Multi-head attention of the mean feature (as query) over all positions plus the mean."""

    def __init__(self, spatial: int, dim: int, heads: int, output_dim: int):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spatial**2 + 1, dim) / dim**0.5)
        self.k_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.c_proj = nn.Linear(dim, output_dim)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, output_dim)``."""
        x = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding.to(x.dtype)
        b, n, c = x.shape
        q = self.q_proj(x[:, :1]).view(b, 1, self.heads, c // self.heads).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.heads, c // self.heads).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.heads, c // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, c)
        return self.c_proj(out)


class ModifiedResNet(nn.Module):
    """CLIP's image ResNet; input ``(B, 3, R, R)`` normalised with :data:`CLIP_MEAN`/:data:`CLIP_STD`."""

    def __init__(
        self, layers: tuple[int, int, int, int], output_dim: int, heads: int, resolution: int, width: int
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = width
        for i, blocks in enumerate(layers):
            planes = width * 2**i
            stage = [Bottleneck(inplanes, planes, stride=1 if i == 0 else 2)]
            inplanes = planes * Bottleneck.expansion
            stage += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.attnpool = AttentionPool2d(resolution // 32, width * 32, heads, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.avgpool(F.relu(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU that CLIP was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, width * 4)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(width * 4, width)),
                ]
            )
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


class CLIP(nn.Module):
    """Image and text encoders of CLIP with a ResNet image tower."""

    def __init__(self, config: ClipConfig = ClipConfig()):
        super().__init__()
        c = config
        self.config = c
        self.visual = ModifiedResNet(
            c.vision_layers, c.embed_dim, c.vision_width * 32 // 64, c.image_resolution, c.vision_width
        )
        self.transformer = Transformer(c.text_width, c.text_layers, c.text_heads)
        self.token_embedding = nn.Embedding(c.vocab_size, c.text_width)
        self.positional_embedding = nn.Parameter(torch.randn(c.context_length, c.text_width) * 0.01)
        self.ln_final = nn.LayerNorm(c.text_width)
        self.text_projection = nn.Parameter(torch.randn(c.text_width, c.embed_dim) * c.text_width**-0.5)
        self.logit_scale = nn.Parameter(torch.tensor(1 / 0.07).log())
        # Causal mask; not a buffer, so it is not part of the state dict (as in the released one).
        self._mask = torch.full((c.context_length, c.context_length), float("-inf")).triu_(1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3, R, R)`` images -> ``(B, embed_dim)`` features (not L2-normalised)."""
        return self.visual(images)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """int ``(T, context_length)`` token ids (end-of-text has the largest id) -> ``(T, embed_dim)``."""
        eot = tokens.argmax(dim=-1)
        # Attention is causal, so positions after the last end-of-text token cannot change any
        # text's feature: dropping them gives the same result for a fraction of the work.
        n = int(eot.max()) + 1
        x = self.token_embedding(tokens[:, :n]) + self.positional_embedding[:n]
        x = self.ln_final(self.transformer(x, self._mask[:n, :n].to(x.device, x.dtype)))
        return x[torch.arange(len(x), device=x.device), eot] @ self.text_projection


#: CLIP's image normalisation (RGB in [0, 1]).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
