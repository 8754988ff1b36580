"""Distillation: eDifFIQA's label optimisation by hand, and `vidfiqa train distill` on real faces
(YouTube Faces frames from ../shared/data, cropped by their labelled boxes, half of them blurred)."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vidfiqa.cli import cli
from vidfiqa.distill import optimise_labels
from vidfiqa.eval.ytf import load_ytf
from vidfiqa.models.lightweight import LightweightScorer


def _unit(*v: float) -> np.ndarray:
    a = np.array(v, np.float32)
    return a / np.linalg.norm(a)


def test_labels_by_hand() -> None:
    teacher = np.array([10.0, 8.0, 6.0, 0.0, 9.0, 2.0])  # rescaled: 1, .8, .6, 0, .9, .2
    emb = np.stack([_unit(1, 0), _unit(1, 0), _unit(0, 1), _unit(1, 1), _unit(0, 1), _unit(1, 0)])
    ids = ["a", "a", "a", "a", "b", ""]
    out = optimise_labels(teacher, emb, ids, beta=0.5, epsilon=0.5, min_per_identity=2)
    # As the official prepare_data.py: the threshold is the score at position int(beta * n) of
    # the descending order (1, .9, .8, .6, ...) -> .6, so a's centre is the mean of (1, 0), (1, 0)
    # and (0, 1), i.e. (2, 1) / sqrt(5).
    assert out.threshold == pytest.approx(0.6)
    assert out.identities == ["a"] and out.dropped == ["b"]  # b has one image above it
    cos = np.array([2, 2, 1, 3 / np.sqrt(2)]) / np.sqrt(5)
    expected_a = np.clip(np.array([1.0, 0.8, 0.6, 0.0]) - 0.5 * (1 - cos), 0, 1)
    np.testing.assert_allclose(out.labels[:4], expected_a, atol=1e-6)
    assert out.labels[3] == 0  # clamped
    assert out.keep.tolist() == [True, True, True, True, False, True]
    assert out.labels[5] == pytest.approx(0.2)  # no identity: the teacher's label


def test_labels_do_not_depend_on_order() -> None:
    rng = np.random.default_rng(0)
    teacher = rng.random(40)
    emb = rng.standard_normal((40, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    ids = [f"p{i % 3}" for i in range(40)]
    out = optimise_labels(teacher, emb, ids, min_per_identity=2)
    perm = rng.permutation(40)
    shuffled = optimise_labels(teacher[perm], emb[perm], [ids[i] for i in perm], min_per_identity=2)
    np.testing.assert_allclose(shuffled.labels, out.labels[perm], atol=1e-6)
    assert (out.labels <= (teacher - teacher.min()) / np.ptp(teacher) + 1e-6).all()  # only ever lowered


@pytest.fixture(scope="module")
def face_folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    for name, video in sorted(load_ytf(shared_data / "ytf_mini").items()):
        person = root / video.person
        person.mkdir(exist_ok=True)
        for k, frame in enumerate(video.frames[:: max(1, len(video.frames) // 8)][:8]):
            image = np.asarray(Image.open(frame.path).convert("RGB"))
            cx, cy = (frame.box[:2] + frame.box[2:]) / 2
            half = 0.8 * (frame.box[2] - frame.box[0])
            x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
            crop = cv2.resize(image[y0 : int(cy + half), x0 : int(cx + half)], (112, 112))
            if k % 2:
                crop = cv2.GaussianBlur(crop, (0, 0), 2.5)
            Image.fromarray(crop).save(person / f"{name.replace('/', '_')}_{k}.png")
    return root


@pytest.mark.slow
def test_distill_command_trains_a_loadable_student(face_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "lightweight.pth"
    labels = tmp_path / "labels.csv"
    result = CliRunner().invoke(
        cli,
        [
            "train", "distill", "--teacher", "factors", "--images", str(face_folder), "--out", str(out),
            "--epochs", "2", "--min-per-identity", "2", "--beta", "0.5", "--labels-out", str(labels),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["faces"] == report["images"] > 8 and report["identities"] >= 2
    assert report["trained_on"] == report["faces"] - sum(
        1 for r in csv.DictReader(labels.open()) if r["used"] == "0"
    )
    rows = list(csv.DictReader(labels.open()))
    teacher = np.array([float(r["teacher"]) for r in rows])
    label = np.array([float(r["label"]) for r in rows])
    rescaled = (teacher - teacher.min()) / np.ptp(teacher)
    assert ((label >= 0) & (label <= rescaled + 1e-5)).all() and (label < rescaled - 1e-3).any()
    blurred = np.array([r["file"].endswith(("_1.png", "_3.png", "_5.png", "_7.png")) for r in rows])
    assert label[blurred].mean() < label[~blurred].mean()  # the factor teacher sees the blur
    assert len(report["branches"]["mobilenet"]["loss"]) == 2
    scorer = LightweightScorer(model_root=str(out.parent), device="cpu")
    crops = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    assert np.isfinite(scorer.predict(crops)).all()


def test_distill_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["train", "distill", "--images", str(tmp_path), "--out", str(tmp_path / "x.pth")]
    result = runner.invoke(cli, [*args, "--teacher", "nope"])
    assert result.exit_code == 1 and "unknown teacher 'nope'" in result.output
    result = runner.invoke(cli, [*args, "--teacher", "factors"])
    assert result.exit_code == 1 and "need at least 4 face images, found 0" in result.output
    assert len(result.output.strip().splitlines()) == 1
