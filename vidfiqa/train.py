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

from vidfiqa.models.lightweight import Branch, LightweightEnsemble, MSECorrLoss, to_input


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
    """Per epoch: mean training loss, and SRCC / PLCC on the held-out images."""

    losses: list[float]
    srcc: list[float]
    plcc: list[float]


@dataclass(slots=True)
class TrainResult:
    model: LightweightEnsemble
    reports: dict[str, BranchReport]
    val_index: np.ndarray  # int64 (m,) positions of the held-out images


def evaluate(
    predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    """SRCC and PLCC of predictions against labels."""
    p = predict(images)
    if np.ptp(p) <= 1e-12 * max(1.0, float(np.abs(p).max())):
        return 0.0, 0.0  # constant predictions rank nothing
    return float(spearmanr(p, labels)[0]), float(pearsonr(p, labels)[0])


def train_lightweight(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = 10,
    batch_size: int = 16,
    lr: float = 3e-4,
    alpha: float = 1.0,
    val_fraction: float = 0.2,
    seed: int = 0,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train each branch with MSECorrLoss (Adam), reporting SRCC/PLCC on a held-out split after
    every epoch."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    order = rng.permutation(len(images))
    n_val = max(2, int(round(val_fraction * len(images))))
    val, tr = order[:n_val], order[n_val:]
    if len(tr) < 2:
        raise TrainError(f"too few images to train: {len(images)} with {n_val} held out")
    model = LightweightEnsemble()
    loss_fn = MSECorrLoss(alpha)
    reports = {}
    for m in model.modules():
        # torchvision's ImageNet recipe uses momentum 0.01 over ~1M steps; on a few hundred
        # fine-tuning steps the running statistics would barely move from their start.
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    for name in ("mobilenet", "shufflenet"):
        branch: Branch = getattr(model, name).to(dev)
        opt = torch.optim.Adam(branch.parameters(), lr=lr)
        report = BranchReport([], [], [])

        @torch.inference_mode()
        def predict(x: np.ndarray, branch: Branch = branch) -> np.ndarray:
            branch.eval()
            return branch(to_input(x, dev)).cpu().numpy()

        for _ in range(epochs):
            branch.train()
            perm = rng.permutation(tr)
            total = 0.0
            for lo in range(0, len(perm), batch_size):
                idx = perm[lo : lo + batch_size]
                if len(idx) < 2:  # Pearson and BatchNorm need two samples
                    continue
                x = to_input(images[idx], dev)
                if rng.random() < 0.5:
                    x = x.flip(-1)
                loss = loss_fn(branch(x), torch.from_numpy(labels[idx]).to(dev))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss) * len(idx)
            report.losses.append(total / len(perm))
            srcc, plcc = evaluate(predict, images[val], labels[val])
            report.srcc.append(srcc)
            report.plcc.append(plcc)
            if log:
                epoch = len(report.losses)
                log(f"{name} epoch {epoch}: loss {report.losses[-1]:.4f} val SRCC {srcc:.3f} PLCC {plcc:.3f}")
        reports[name] = report
    return TrainResult(model.cpu().eval(), reports, np.sort(val))


def train_and_save(
    images: np.ndarray,
    labels: np.ndarray,
    out_path: str | Path,
    *,
    log: Callable[[str], None] | None = None,
    **settings,
) -> dict[str, dict[str, list[float]]]:
    """Train the lightweight ensemble (``settings``: see :func:`train_lightweight`), save its
    state dict at ``out_path``, and return per branch the losses and validation SRCC / PLCC.

    Raises:
        TrainError: unusable data or settings.
    """
    result = train_lightweight(images, labels, log=log, **settings)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.model.state_dict(), out_path)
    return {
        name: {"loss": r.losses, "val_srcc": r.srcc, "val_plcc": r.plcc} for name, r in result.reports.items()
    }
