"""eDifFIQA: architecture against the published checkpoint layout, inference, and loading of
checkpoints from the model folder. Weights here are random: these tests check the code paths,
not quality (the released weights are not redistributable with the tests)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests.conftest import SAMPLES
from vidfiqa.cli import cli
from vidfiqa.models.ediffiqa import EDifFIQA, EDifFIQAScorer
from vidfiqa.models.files import ModelFileError

FIXTURE = Path(__file__).parent / "fixtures" / "ediffiqa_state_dict.json"


@pytest.mark.parametrize(("size", "name"), [("s", "ediffiqaS"), ("m", "ediffiqaM"), ("l", "ediffiqaL")])
def test_state_dict_matches_the_published_layout(size: str, name: str) -> None:
    published = json.loads(FIXTURE.read_text())["models"][name]
    ours = [[k, list(v.shape)] for k, v in EDifFIQA(size=size).state_dict().items()]
    assert ours == published


@pytest.fixture(scope="module")
def random_scorer() -> EDifFIQAScorer:
    torch.manual_seed(0)
    return EDifFIQAScorer(size="s", model=EDifFIQA(size="s"), device="cpu")


def test_predict_shapes_dtypes_and_batch_independence(random_scorer: EDifFIQAScorer) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    q, f = random_scorer.predict(crops)
    assert q.shape == (5,) and q.dtype == np.float32
    assert f.shape == (5, 512) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1, rtol=1e-5)
    random_scorer.batch_size = 2  # batching must not change results (eval-mode BatchNorm)
    q2, f2 = random_scorer.predict(crops)
    np.testing.assert_allclose(q2, q, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f2, f, rtol=1e-4, atol=1e-5)
    assert random_scorer.predict(crops[:0])[0].shape == (0,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(random_scorer: EDifFIQAScorer) -> None:
    crops = np.random.default_rng(1).integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    gpu = EDifFIQAScorer(
        size="s", model=EDifFIQA(size="s").load_state_dict(random_scorer.model.state_dict()) or None
    )
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.predict(crops)[0], random_scorer.predict(crops)[0], atol=1e-3)


def test_checkpoints_load_from_the_model_folder(random_scorer: EDifFIQAScorer, tmp_path: Path) -> None:
    torch.save(random_scorer.model.state_dict(), tmp_path / "ediffiqaS.pth")
    loaded = EDifFIQAScorer(size="s", model_root=str(tmp_path), device="cpu")
    crops = np.random.default_rng(2).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded.predict(crops)[0], random_scorer.predict(crops)[0], atol=1e-6)
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["models", "verify", "ediffiqa-s", "--model-root", str(tmp_path)]).exit_code == 0
    )
    info = json.loads(
        runner.invoke(cli, ["models", "info", "ediffiqa-s", "--model-root", str(tmp_path)]).stdout
    )
    assert info["present"] and len(info["sha256"]) == 64
    # The whole pipeline runs with it (random weights: only the plumbing is checked).
    out = tmp_path / "best"
    result = runner.invoke(
        cli,
        [
            "best-frames",
            str(SAMPLES / "blur_ramp.mp4"),
            "--scorer",
            "ediffiqa-s",
            "--model-root",
            str(tmp_path),
            "--out",
            str(out),
            "--top-k",
            "2",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "manifest.json").read_text())
    assert len(rows) == 2 and all(np.isfinite(r["quality"]) for r in rows)


def test_missing_wrong_and_corrupt_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ModelFileError, match=r"ediffiqa-s: model file .*ediffiqaS.pth not found; get ediffiqaS.pth"
    ):
        EDifFIQAScorer(size="s", model_root=str(tmp_path))
    (tmp_path / "ediffiqaS.pth").write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(cli, ["models", "verify", "ediffiqa-s", "--model-root", str(tmp_path)])
    assert result.exit_code == 1 and result.output.startswith("Error: ediffiqa-s: cannot load")
    assert len(result.output.strip().splitlines()) == 1
    torch.save({"mlp.l1.weight": torch.zeros(3, 3)}, tmp_path / "ediffiqaS.pth")
    result = CliRunner().invoke(cli, ["models", "verify", "ediffiqa-s", "--model-root", str(tmp_path)])
    assert result.exit_code == 1 and "does not fit the network" in result.output
