"""eDifFIQA: a fast FIQA regressor distilled from the diffusion-based DifFIQA.

Babnik, Peer, Struc, "eDifFIQA: Towards Efficient Face Image Quality Assessment based on Denoising
Diffusion Probabilistic Models", IEEE T-BIOM 2024 (arXiv:2404.18596). A pretrained CosFace iResNet
backbone (S: iResNet18, M: iResNet50, L: iResNet100) with an MLP head 512-1024-1 (GELU) regresses
the quality labels of the teacher. Input: RGB 112x112 ArcFace-aligned crops scaled to [-1, 1].
Output: the raw regression value (trained on labels in [0, 1]; higher is better) and the
backbone's 512-d feature.

The released checkpoints (``ediffiqaS.pth``, ``ediffiqaM.pth``, ``ediffiqaL.pth``) load unchanged:
their keys are ``base_model.*`` (the iResNet) and ``mlp.l1.*``, ``mlp.l2.*``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vidfiqa.models.backbones.iresnet import IResNet
from vidfiqa.models.base import FaceBatch
from vidfiqa.models.files import load_state_dict
from vidfiqa.types import QualityResult

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


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_tensor(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 ``(B, 112, 112, 3)`` RGB -> float32 ``(B, 3, 112, 112)`` in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


class EDifFIQAScorer:
    """Quality scorer ``ediffiqa-s|m|l`` (see the module docs); factors hold nothing.

    Args:
        size: s, m or l.
        model_root: folder with the released checkpoint (see :mod:`vidfiqa.models.files`).
        device: ``cuda`` when available by default.
        batch_size: crops per forward pass.
        model: an already built network (tests); skips loading the checkpoint.
    """

    score_range = (0.0, 1.0)

    def __init__(
        self,
        *,
        size: str = "s",
        model_root: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
        model: EDifFIQA | None = None,
    ):
        self.name = f"ediffiqa-{size}"
        self.device = torch.device(device) if device else default_device()
        self.batch_size = batch_size
        if model is None:
            model = EDifFIQA(size=size)
            model.load_state_dict(load_state_dict(self.name, model_root))
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quality float32 ``(B,)`` and L2-normalised features float32 ``(B, 512)``."""
        qs, fs = [], []
        for lo in range(0, len(crops), self.batch_size):
            feat, q = self.model(to_tensor(crops[lo : lo + self.batch_size], self.device))
            qs.append(q.float().cpu().numpy())
            fs.append(nn.functional.normalize(feat.float(), dim=1).cpu().numpy())
        if not qs:
            return np.zeros(0, np.float32), np.zeros((0, 512), np.float32)
        return np.concatenate(qs).astype(np.float32), np.concatenate(fs).astype(np.float32)

    def score(self, batch: FaceBatch) -> QualityResult:
        return QualityResult(scores=self.predict(batch.crops)[0], factors={})
