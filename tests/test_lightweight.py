"""The lightweight ensemble: torchvision-compatible backbones, MSECorrLoss, training on a tiny set
with known quality order, and the trained checkpoint used as a scorer."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tests.conftest import SAMPLES
from vidfiqa.align import align_arcface
from vidfiqa.cli.main import cli
from vidfiqa.config import load_config
from vidfiqa.learn.settings import TrainSettings
from vidfiqa.learn.train import train_lightweight
from vidfiqa.models.backbones.mobilenet import MobileNetV3Small, ShuffleNetV2
from vidfiqa.models.lightweight import LightweightEnsemble, LightweightScorer, MSECorrLoss, to_input
from vidfiqa.pipeline.analyse import analyse_video, revisit

FIXTURE = Path(__file__).parent / "fixtures" / "torchvision_lightweight_state_dict.json"


@pytest.mark.parametrize(
    ("key", "build"), [("mobilenet_v3_small", MobileNetV3Small), ("shufflenet_v2_x0_5", ShuffleNetV2)]
)
def test_backbones_match_torchvision_layout(key: str, build) -> None:
    published = json.loads(FIXTURE.read_text())["models"][key]
    assert [[k, list(v.shape)] for k, v in build().state_dict().items()] == published


def test_msecorr_loss_by_hand_and_with_constant_input() -> None:
    pred, target = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 4.0])
    r = np.corrcoef([1, 2, 3], [1, 2, 4])[0, 1]
    assert MSECorrLoss(alpha=0.5)(pred, target).item() == pytest.approx(1 / 3 + 0.5 * (1 - r), rel=1e-5)
    flat = torch.zeros(4, requires_grad=True)
    loss = MSECorrLoss()(flat, torch.tensor([0.1, 0.2, 0.3, 0.4]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(flat.grad).all()


def test_flip_tta_averages_both_branches_and_views() -> None:
    torch.manual_seed(0)
    model = LightweightEnsemble().eval()
    x = torch.randn(3, 3, 112, 112)
    with torch.no_grad():
        expected = torch.stack(
            [b(v) for v in (x, x.flip(-1)) for b in (model.mobilenet, model.shufflenet)]
        ).mean(0)
        torch.testing.assert_close(model(x), expected)
    assert model(x).shape == (3,)


def test_folded_batch_norms_compute_the_same_and_leave_the_callers_network_alone() -> None:
    torch.manual_seed(0)
    model = LightweightEnsemble(factors=("blur",), input_size=96).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:  # trained-looking statistics, so that folding has something to fold
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
    crops = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), np.uint8)
    scorer = LightweightScorer(model=model, device="cpu")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in scorer.model.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == len(norms) > 50
    with torch.no_grad():
        quality, levels = model.outputs(to_input(crops, torch.device("cpu"), 96))
    q, f = scorer.predict(crops)
    np.testing.assert_allclose(q, quality.numpy(), atol=1e-5)
    np.testing.assert_allclose(f, levels.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def blur_faces() -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops of blur_ramp.mp4 with the label 1 - sigma / 4 (sharp = 1)."""
    video = SAMPLES / "blur_ramp.mp4"
    truth = json.loads(video.with_suffix(".json").read_text())
    # Every frame detected whole and aligned by dlib's 68 points: the training checks below were
    # sized on these crops (the detector's own points jitter more on the blurred frames).
    config = load_config(None, {"detector.every": 1, "detector.full_every": 1, "landmarks.name": "dlib68"})
    analysis = analyse_video(video, config)
    track = analysis.tracks[0]
    by_frame = {int(f): i for i, f in enumerate(track.frames)}
    crops = {
        f.index: align_arcface(f.image, track.landmarks[by_frame[f.index]][None])[0]
        for f in revisit(analysis.source, set(by_frame))
    }
    frames = sorted(crops)
    labels = np.array([1 - truth["frames"][i]["degradation"]["blur_sigma"] / 4 for i in frames], np.float32)
    return np.stack([crops[i] for i in frames]), labels


@pytest.mark.slow
def test_training_lowers_loss_and_raises_srcc(blur_faces: tuple[np.ndarray, np.ndarray]) -> None:
    # The target is the blur amount itself; the per-epoch held-out SRCC of a branch must rise.
    images, labels = blur_faces[0], 1 - blur_faces[1]
    torch.manual_seed(0)
    # The rate this test was tuned at; at the default (2e-3) it passes too, but with ShuffleNet's
    # last loss at 0.19 of its first against the bound of 0.2.
    settings = TrainSettings(epochs=8, batch_size=16, lr=3e-4, seed=0)
    result = train_lightweight(images, labels, settings)
    for name, r in result.reports.items():
        assert r.losses[-1] < 0.2 * r.losses[0], (name, r.losses)
    mobilenet = result.reports["mobilenet"].srcc
    assert max(mobilenet) > 0.8 and mobilenet[-1] > mobilenet[0], mobilenet  # few images: noisy epochs


@pytest.mark.slow
def test_train_command_and_trained_scorer_in_the_pipeline(
    blur_faces: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, labels = blur_faces
    folder = tmp_path / "faces"
    folder.mkdir()
    rows = ["file,score"]
    for i, (img, y) in enumerate(zip(images, labels)):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
        rows.append(f"{i:03d}.png,{y}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    models = tmp_path / "models"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "train",
            "lightweight",
            "--images",
            str(folder),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--out",
            str(models / "lightweight.pth"),
            "--epochs",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    history = json.loads(result.stdout)
    assert set(history) == {"mobilenet", "shufflenet"} and len(history["mobilenet"]["val_srcc"]) == 2
    out = tmp_path / "best"
    result = runner.invoke(
        cli,
        [
            "best-frames",
            str(SAMPLES / "blur_ramp.mp4"),
            "--scorer",
            "lightweight",
            "--model-root",
            str(models),
            "--out",
            str(out),
            "--top-k",
            "3",
            "--config",
            str(_keep_every_track(tmp_path)),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "manifest.json").read_text())
    assert len(rows) == 3
    # The qualities written are the trained model's own output on those crops.
    scorer = LightweightScorer(model_root=str(models), device="cpu")
    crops = np.stack([np.asarray(Image.open(out / r["crop"]).convert("RGB")) for r in rows])
    np.testing.assert_allclose([r["quality"] for r in rows], scorer.predict(crops)[0], atol=2e-3)


def test_bad_label_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("a.png,0.5\n")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "lightweight",
            "--images",
            str(tmp_path),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--out",
            str(tmp_path / "m.pth"),
        ],
    )
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'labels.csv'}:1: {tmp_path / 'a.png'} does not exist\n"


def _keep_every_track(folder: Path) -> Path:
    """A config without the track gate's quality floor and the picks' relative floor: a network
    trained for two epochs on a handful of frames scores near zero or below, which the gate
    would rightly call no face."""
    path = folder / "keep.yaml"
    path.write_text(
        "select:\n  min_track_quality: 0\n  relative_floor: 0\n"
        # The manifest's quality is then the scorer's own, with no track-level multiplier.
        "quality:\n  sharpness_power: 0\n  eyes_closed_penalty: 1\n"
    )
    return path
