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

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from vidfiqa.device import no_tf32, resolve_device
from vidfiqa.models.backbones.mobilenet import MobileNetV3Small, ShuffleNetV2
from vidfiqa.models.files import ModelFileError, locate, read_checkpoint
from vidfiqa.types import FaceBatch, QualityResult

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
    """One backbone with its regression head and, with ``n_factors``, a factor-level head.

    ``forward`` -> quality ``(B,)``; :meth:`outputs` -> quality ``(B,)`` and factor levels
    ``(B, n_factors)`` in [0, 1] (sigmoid), the CLIB-FIQA-style explanation of the score.
    """

    def __init__(self, backbone: str, *, n_factors: int = 0):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
        self.backbone = BACKBONES[backbone](num_classes=None)
        d = self.backbone.feature_dim
        self.head = nn.Sequential(
            nn.Linear(d, 128), nn.ReLU(inplace=True), nn.Dropout(0.1), nn.Linear(128, 1)
        )
        self.factor_head = nn.Linear(d, n_factors) if n_factors else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.embed(x)).squeeze(1)

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        features = self.backbone.embed(x)
        quality = self.head(features).squeeze(1)
        if self.factor_head is None:
            return quality, None
        return quality, torch.sigmoid(self.factor_head(features))


BRANCHES = ("mobilenet", "shufflenet")


class LightweightEnsemble(nn.Module):
    """Both branches; ``forward`` averages them, with the flipped image when ``flip_tta``.

    Args:
        flip_tta: also score the mirrored crop and average.
        factors: names of the factor levels the branches predict (none: quality only).
        input_size: side of the square input the crops are resized to.
    """

    def __init__(self, *, flip_tta: bool = True, factors: tuple[str, ...] = (), input_size: int = 112):
        super().__init__()
        self.mobilenet = Branch("mobilenetv3-small", n_factors=len(factors))
        self.shufflenet = Branch("shufflenetv2-x0.5", n_factors=len(factors))
        self.flip_tta = flip_tta
        self.factors = tuple(factors)
        self.input_size = input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs(x)[0]

    def outputs(
        self, x: torch.Tensor, branches: tuple[str, ...] = BRANCHES
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Quality ``(B,)`` and factor levels ``(B, F)`` (``None`` without factors), each the
        mean over ``branches`` and, with ``flip_tta``, both views."""
        views = [x, x.flip(-1)] if self.flip_tta else [x]
        outs = [getattr(self, b).outputs(v) for v in views for b in branches]
        quality = torch.stack([q for q, _ in outs]).mean(0)
        levels = torch.stack([f for _, f in outs]).mean(0) if self.factors else None
        return quality, levels


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """``model`` (in eval mode) with every batch norm that directly follows a convolution folded
    into it, in place: the same function to ~1e-7, and 1.6x the speed of the ensemble at batch 64
    on 2 CPU cores (233 -> 368 faces/s), since half its layers were batch norms."""
    for parent in model.modules():
        names = list(parent._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = parent._modules[a], parent._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                parent._modules[a] = fuse_conv_bn_eval(conv, bn)
                parent._modules[b] = nn.Identity()
    return model


def to_input(crops: np.ndarray, device: torch.device, size: int = 112) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` RGB -> ImageNet-normalised float32 ``(B, 3, size, size)``."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float().div_(255)
    if x.shape[-1] != size or x.shape[-2] != size:
        # antialias: a plain bilinear shrink aliases and would hide the blur it should see.
        x = nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


CHECKPOINT_FORMAT = "vidfiqa-lightweight/1"


def save_checkpoint(model: LightweightEnsemble, path: str | Path, record: dict[str, Any]) -> None:
    """The network's weights (as float16: half the file, scores change < 1e-3), its factors and
    input size, and ``record`` (how it was made), in one torch file."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "factors": list(model.factors),
            "input_size": model.input_size,
            "state_dict": state,
            "record": record,
        },
        path,
    )


def round_as_saved(model: LightweightEnsemble) -> LightweightEnsemble:
    """``model`` with its weights rounded to float16 in place, as :func:`save_checkpoint` stores
    them, so that what is measured before saving is what the file gives."""
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model


def load_checkpoint(path: str | Path, *, flip_tta: bool = True) -> tuple[LightweightEnsemble, dict[str, Any]]:
    """The network of a :func:`save_checkpoint` file and its record.

    Raises:
        ModelFileError: not such a file.
    """
    data = read_checkpoint(Path(path))
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path}: not a vidfiqa lightweight checkpoint ({CHECKPOINT_FORMAT})")
    model = LightweightEnsemble(
        flip_tta=flip_tta, factors=tuple(data["factors"]), input_size=int(data["input_size"])
    )
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    )
    return model.eval(), data["record"]


class LightweightScorer:
    """Scorer ``lightweight``: a checkpoint of your own, from ``vidfiqa train lightweight``, in
    the model folder; its factor levels, when it learned some, are the factors ``<name>_level``.

    Args:
        model_root: folder holding ``lightweight.pth`` (ignored with ``checkpoint`` or ``model``).
        checkpoint: a checkpoint file to load instead.
        device: torch device; CUDA when available.
        batch_size: faces per forward pass.
        model: an already loaded network.
    """

    name = "lightweight"
    score_range = (0.0, 1.0)

    def __init__(
        self,
        *,
        model_root: str | None = None,
        checkpoint: str | Path | None = None,
        device: str | None = None,
        batch_size: int = 64,
        model: LightweightEnsemble | None = None,
    ):
        self.device = torch.device(resolve_device(device))
        self.batch_size = batch_size
        self.record: dict[str, Any] = {}
        if model is None:
            model, self.record = load_checkpoint(checkpoint or locate("lightweight", model_root))
        # A copy: folding rewrites the layers, and a caller's network may go on training.
        self.model = fold_batch_norms(copy.deepcopy(model).eval()).to(self.device)

    @torch.inference_mode()
    def predict(
        self, crops: np.ndarray, branches: tuple[str, ...] = BRANCHES
    ) -> tuple[np.ndarray, np.ndarray]:
        """float32 quality ``(B,)`` and factor levels ``(B, F)`` of uint8 ``(B, H, W, 3)`` crops."""
        qs, fs = [], []
        for lo in range(0, len(crops), self.batch_size):
            chunk = crops[lo : lo + self.batch_size]
            n = len(chunk)
            if self.device.type == "cuda":
                # One input shape on CUDA: each new batch size costs a kernel choice there
                # (~0.5 s a size on an H200), far more than scoring the padding.
                chunk = np.concatenate(
                    [chunk, np.zeros((self.batch_size - n, *chunk.shape[1:]), chunk.dtype)]
                )
            x = to_input(chunk, self.device, self.model.input_size)
            with no_tf32():
                q, f = self.model.outputs(x, branches)
            qs.append(q[:n].float().cpu().numpy())
            fs.append(f[:n].float().cpu().numpy() if f is not None else np.zeros((n, 0), np.float32))
        if not qs:
            return np.zeros(0, np.float32), np.zeros((0, len(self.model.factors)), np.float32)
        return np.concatenate(qs).astype(np.float32), np.concatenate(fs).astype(np.float32)

    def score(self, batch: FaceBatch) -> QualityResult:
        q, levels = self.predict(batch.crops)
        return QualityResult(scores=q, factors=level_factors(self.model.factors, levels))


def level_factors(names: tuple[str, ...], levels: np.ndarray) -> dict[str, np.ndarray]:
    """Factor levels ``(B, F)`` as the factors ``<name>_level`` of a quality result."""
    return {f"{n}_level": levels[:, j] for j, n in enumerate(names)}
