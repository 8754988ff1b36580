"""IJB-style template verification on a small set built from real labelled face photos."""

import csv
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vidfiqa.aggregate import Strategy
from vidfiqa.cli.main import cli
from vidfiqa.eval.ijb import IjbError, box_from_landmarks, pool_templates, read_meta
from vidfiqa.eval.ytf import YtfError
from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker
from vidfiqa.types import ImageFeatures


def identities(folder: Path) -> dict[str, list[str]]:
    """Identity groups of the deepface set, from its same-person pairs (union-find)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    with (folder / "master.csv").open() as fh:
        for row in csv.DictReader(fh):
            a, b = root(row["file_x"]), root(row["file_y"])
            if row["Decision"] == "Yes":
                parent[a] = b
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(root(name), []).append(name)
    return {k: sorted(v) for k, v in groups.items()}


@pytest.fixture(scope="module")
def ijb(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Meta files over the identities of the deepface set (9 people, 25 photos): every person
    gets several templates of up to three photos; a template's first photo is one media, the
    rest another (as a photo and a video would be)."""
    folder = shared_data / "images" / "deepface_pairs"
    meta = tmp_path_factory.mktemp("meta")
    groups = sorted(identities(folder).values(), key=len, reverse=True)
    faces, owner = [], {}
    tid = 0
    for person, images in enumerate(groups):
        size = {2: 1, 3: 2}.get(len(images), 3)
        for lo in range(0, len(images), size):
            tid += 1
            owner[tid] = person
            for k, name in enumerate(images[lo : lo + size]):
                faces.append(f"{name} {tid} {100 * tid + (0 if k == 0 else 1)}")
    (meta / "ijbc_face_tid_mid.txt").write_text("\n".join(faces) + "\n")
    pairs = [f"{a} {b} {int(owner[a] == owner[b])}" for a, b in combinations(sorted(owner), 2)]
    (meta / "ijbc_template_pair_label.txt").write_text("\n".join(pairs) + "\n")
    return folder, meta


def test_meta_and_pooling(ijb: tuple[Path, Path]) -> None:
    _, meta_dir = ijb
    meta = read_meta(meta_dir)
    n = len(meta.images)
    assert n == 25 and len(np.unique(meta.templates)) == 19
    assert meta.pairs.shape == (171, 2) and meta.labels.sum() == 11 and meta.landmarks is None
    # Template 1 = photos 0, 1, 2 in media [0] and [1, 2]: media vectors e0 and unit(e1 + e2),
    # averaged with equal weight.
    e = np.eye(4, dtype=np.float32)[np.arange(n) % 4]
    feats = ImageFeatures(np.ones(n, bool), e, {"q": np.linspace(0, 1, n, dtype=np.float32)})
    t = pool_templates(meta, feats, "q", Strategy("mean"))
    assert t.names[0] == "1"
    v = e[0] + (e[1] + e[2]) / np.sqrt(2)
    np.testing.assert_allclose(t.vectors[0], v / np.linalg.norm(v), atol=1e-6)


def test_meta_errors(tmp_path: Path) -> None:
    with pytest.raises(IjbError, match="ijbc_face_tid_mid.txt: no such meta file"):
        read_meta(tmp_path)
    (tmp_path / "ijbc_face_tid_mid.txt").write_text("a.jpg 1\n")
    with pytest.raises(IjbError, match=r"ijbc_face_tid_mid.txt:1: expected 3 columns, got 2") as caught:
        read_meta(tmp_path)
    assert not isinstance(caught.value, YtfError)  # an IJB file is no YouTube Faces file


def test_box_from_landmarks_matches_dlib_boxes(shared_data: Path) -> None:
    image = np.asarray(Image.open(shared_data / "images" / "deepface_pairs" / "img1.jpg").convert("RGB"))
    d = DlibLandmarker().landmark(image, DlibHogDetector(upsample=1).detect([image])[0][[0]])
    box = box_from_landmarks(d.landmarks[0])
    width = d.boxes[0, 2] - d.boxes[0, 0]
    assert np.abs(box - d.boxes[0]).max() < 0.2 * width


@pytest.mark.parametrize("five_points", [False, True])
def test_eval_ijb_command(ijb: tuple[Path, Path], tmp_path: Path, five_points: bool) -> None:
    folder, meta_dir = ijb
    if five_points:  # landmarks given by a 5-point file, as IJB-C distributes them
        meta = read_meta(meta_dir)
        det, lm = DlibHogDetector(upsample=1), DlibLandmarker()
        lines = []
        for name in meta.images:
            image = np.asarray(Image.open(folder / name).convert("RGB"))
            d = det.detect([image])[0]
            d = lm.landmark(image, d[[int(np.argmax(d.scores))]])
            coords = " ".join(f"{v:.2f}" for v in d.landmarks[0].ravel())
            lines.append(f"{name} {coords} {d.scores[0]:.3f}")
        copy = tmp_path / "meta"
        copy.mkdir()
        for f in meta_dir.iterdir():
            (copy / f.name).write_text(f.read_text())
        (copy / "ijbc_name_5pts_score.txt").write_text("\n".join(lines) + "\n")
        meta_dir = copy
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["eval", "ijb", "--images", str(folder), "--meta", str(meta_dir), "--out", str(out), "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert data["faces_from"] == ("5-point file" if five_points else "detector")
    assert [r["strategy"] for r in data["results"]] == ["mean", "softmax:0.05"]
    m = data["results"][0]["metrics"]
    assert m["pairs"] == 171 and m["genuine"] == 11
    assert m["auc"] > 0.95  # same-person templates from different photos score above impostors
    assert m["tar@far=1e-06"] is None  # 160 impostor pairs cannot measure FAR 1e-6
    assert m["tar@far=0.1"] > 0.8
    assert "| distilled | mean |" in (out / "results.md").read_text()
