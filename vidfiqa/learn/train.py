"""Training of the lightweight FIQA ensemble on a folder of face images with quality labels."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.stats import pearsonr, spearmanr

from vidfiqa.device import resolve_device
from vidfiqa.learn.settings import TrainSettings
from vidfiqa.models.lightweight import (
    BRANCHES,
    Branch,
    LightweightEnsemble,
    MSECorrLoss,
    save_checkpoint,
    to_input,
)


class TrainError(Exception):
    """Unusable training data or settings; one line."""


def read_labels(images: Path, labels: Path) -> tuple[list[Path], np.ndarray]:
    """Rows ``file,score`` (header optional) of images that exist under ``images``."""
    if not labels.is_file():
        raise TrainError(f"{labels}: no such label file")
    files, scores = [], []
    with labels.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if not row or not row[0].strip():
                continue
            try:
                score = float(row[1])
            except (IndexError, ValueError):
                if n == 1:
                    continue  # header
                raise TrainError(f"{labels}:{n}: expected file,score") from None
            path = images / row[0].strip()
            if not path.is_file():
                raise TrainError(f"{labels}:{n}: {path} does not exist")
            files.append(path)
            scores.append(score)
    if len(files) < 4:
        raise TrainError(f"{labels}: need at least 4 labelled images, got {len(files)}")
    return files, np.array(scores, np.float32)


def load_images(files: list[Path], size: int = 112) -> np.ndarray:
    """uint8 ``(n, size, size, 3)`` RGB."""
    return np.stack(
        [np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)) for f in files]
    )


@dataclass(slots=True)
class BranchReport:
    """Per epoch: mean training loss, SRCC / PLCC of quality on the held-out images and, with
    factors, the mean absolute error of the predicted factor levels there."""

    losses: list[float]
    srcc: list[float]
    plcc: list[float]
    factor_mae: list[float]


@dataclass(slots=True)
class TrainResult:
    model: LightweightEnsemble
    reports: dict[str, BranchReport]
    val_index: np.ndarray  # int64 (m,) positions of the held-out images


def correlations(predictions: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """SRCC and PLCC of predictions against labels (0, 0 for constant predictions)."""
    p = np.asarray(predictions, np.float64)
    if np.ptp(p) <= 1e-12 * max(1.0, float(np.abs(p).max())):
        return 0.0, 0.0  # constant predictions rank nothing
    return float(spearmanr(p, labels)[0]), float(pearsonr(p, labels)[0])


def held_out(n: int, groups: np.ndarray | None, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Positions held out: whole groups (people) when ``groups`` is given, else images."""
    if groups is None:
        return rng.permutation(n)[: max(2, int(round(fraction * n)))]
    names = np.unique(np.asarray(groups).astype(str))
    chosen = rng.permutation(names)[: max(1, int(round(fraction * len(names))))]
    return np.flatnonzero(np.isin(np.asarray(groups).astype(str), chosen))


def train_lightweight(
    images: np.ndarray,
    labels: np.ndarray,
    settings: TrainSettings,
    *,
    levels: np.ndarray | None = None,
    factors: tuple[str, ...] = (),
    groups: np.ndarray | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train each branch as ``settings`` say, with MSECorrLoss on quality plus, with ``levels``,
    ``settings.factor_weight`` times the MSE of the predicted factor levels (Adam, cosine
    learning-rate decay), reporting on a held-out split after every epoch.

    Args:
        images: uint8 ``(n, H, W, 3)`` aligned RGB crops.
        labels: float32 ``(n,)`` quality labels.
        levels: float32 ``(n, len(factors))`` factor levels in [0, 1], or ``None``.
        factors: their names.
        groups: ``(n,)`` person of each image: the held-out split is then by person.

    Raises:
        TrainError: too few images, or levels that do not fit ``factors``.
    """
    if levels is not None and levels.shape != (len(images), len(factors)):
        raise TrainError(f"levels of shape {levels.shape}, expected {(len(images), len(factors))}")
    s = settings
    input_size, batch_size = s.input_size, s.batch_size
    rng = np.random.default_rng(s.seed)
    torch.manual_seed(s.seed)
    dev = torch.device(resolve_device(s.device))
    val = held_out(len(images), groups, s.val_fraction, rng)
    tr = np.setdiff1d(np.arange(len(images)), val)
    if len(tr) < 2 or len(val) < 2:
        raise TrainError(f"too few images to train: {len(images)} with {len(val)} held out")
    model = LightweightEnsemble(factors=factors if levels is not None else (), input_size=input_size)
    loss_fn = MSECorrLoss(s.alpha)
    reports = {}
    for m in model.modules():
        # torchvision's ImageNet recipe uses momentum 0.01 over ~1M steps; on a few thousand
        # steps the running statistics would barely move from their start.
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    steps = s.epochs * -(-len(tr) // batch_size)
    for name in BRANCHES:
        branch: Branch = getattr(model, name).to(dev)
        opt = torch.optim.Adam(branch.parameters(), lr=s.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        report = BranchReport([], [], [], [])

        @torch.inference_mode()
        def outputs(x: np.ndarray, branch: Branch = branch) -> tuple[np.ndarray, np.ndarray | None]:
            branch.eval()
            qs, fs = [], []
            for lo in range(0, len(x), 256):
                q, f = branch.outputs(to_input(x[lo : lo + 256], dev, input_size))
                qs.append(q.cpu().numpy())
                fs.append(None if f is None else f.cpu().numpy())
            return np.concatenate(qs), None if fs[0] is None else np.concatenate(fs)

        for _ in range(s.epochs):
            branch.train()
            perm = rng.permutation(tr)
            total = 0.0
            for lo in range(0, len(perm), batch_size):
                idx = np.sort(perm[lo : lo + batch_size])
                if len(idx) < 2:  # Pearson and BatchNorm need two samples
                    continue
                x = to_input(images[idx], dev, input_size)
                if rng.random() < 0.5:
                    x = x.flip(-1)
                quality, predicted = branch.outputs(x)
                loss = loss_fn(quality, torch.from_numpy(labels[idx]).to(dev))
                if predicted is not None:
                    target = torch.from_numpy(levels[idx]).to(dev)
                    loss = loss + s.factor_weight * torch.mean((predicted - target) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
                total += loss.item() * len(idx)
            report.losses.append(total / len(perm))
            q, f = outputs(images[val])
            srcc, plcc = correlations(q, labels[val])
            report.srcc.append(srcc)
            report.plcc.append(plcc)
            mae = float(np.abs(f - levels[val]).mean()) if f is not None else float("nan")
            report.factor_mae.append(mae)
            if log:
                log(
                    f"{name} epoch {len(report.losses)}: loss {report.losses[-1]:.4f} "
                    f"held-out SRCC {srcc:.3f} PLCC {plcc:.3f} factor MAE {mae:.3f}"
                )
        reports[name] = report
    return TrainResult(model.cpu().eval(), reports, np.sort(val))


def train_and_save(
    images: np.ndarray,
    labels: np.ndarray,
    out_path: str | Path,
    settings: TrainSettings,
    *,
    record: dict | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[LightweightEnsemble, dict[str, dict[str, list[float]]]]:
    """Train the lightweight ensemble as ``settings`` say, save it at ``out_path`` with ``record``
    (how it was made), and return it with, per branch, the losses and held-out SRCC / PLCC /
    factor MAE.

    Raises:
        TrainError: unusable data or settings.
    """
    result = train_lightweight(images, labels, settings, log=log)
    reports = {
        name: {"loss": r.losses, "val_srcc": r.srcc, "val_plcc": r.plcc, "val_factor_mae": r.factor_mae}
        for name, r in result.reports.items()
    }
    save_checkpoint(result.model, out_path, {**(record or {}), "training": reports})
    return result.model, reports
