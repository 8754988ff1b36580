"""MagFace: the magnitude of a face feature as its quality.

Meng, Zhao, Huang, Zhao, "MagFace: A Universal Representation for Face Recognition and Quality
Assessment", CVPR 2021 (arXiv:2103.06627). The MagFace loss ties a feature's norm to how easy
the face is to recognise, so ``||f||`` (about 10 to 110 for the released models) is the quality
and ``f / ||f||`` the embedding. iResNet backbones with BatchNorm eps 2e-5. Input: 112x112
ArcFace-aligned crops in **BGR** order scaled to [0, 1], as the official ``gen_feat.py`` feeds them
(``cv2.imread``, ``ToTensor``, ``Normalize(mean=0, std=1)``).

The released checkpoints are training snapshots, ``{"state_dict": ...}`` with keys
``features.module.<iresnet key>`` (DistributedDataParallel) or ``module.features.<iresnet key>``
(DataParallel) plus the classifier ``fc.*`` that inference drops.
"""

from __future__ import annotations

import torch

from vidfiqa.models.backbones.iresnet import IResNet
from vidfiqa.models.files import ModelFileError, load_state_dict, locate
from vidfiqa.models.torch_scorer import TorchQualityScorer

DEPTH = {"r100": 100, "r50": 50, "r18": 18}


class MagFace(IResNet):
    """iResNet whose ``forward`` returns ``(features (B, 512), feature norm (B,))``."""

    def __init__(self, *, depth: int = 100):
        super().__init__(depth=depth, bn_eps=2e-5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        feat = super().forward(x)
        return feat, feat.norm(dim=1)


def backbone_state(checkpoint: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The iResNet weights of a MagFace training snapshot, under the backbone's own key names."""
    state = {}
    for key, value in checkpoint.items():
        for prefix in ("features.module.", "module.features.", "features."):
            if key.startswith(prefix):
                state[key.removeprefix(prefix)] = value
                break
    return state


def magface_scorer(
    *,
    size: str = "r100",
    model_root: str | None = None,
    device: str | None = None,
    model: MagFace | None = None,
) -> TorchQualityScorer:
    """Scorer ``magface-<size>`` with the released weights from ``model_root``."""
    name = f"magface-{size}"
    if model is None:
        model = MagFace(depth=DEPTH[size])
        state = backbone_state(load_state_dict(name, model_root))
        if not state:
            raise ModelFileError(f"{name}: {locate(name, model_root)} holds no features.* backbone weights")
        model.load_state_dict(state)
    return TorchQualityScorer(
        name, model, color="BGR", value_range="unit", score_range=(0.0, 110.0), device=device
    )
