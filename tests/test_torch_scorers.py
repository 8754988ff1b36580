"""Published FIQA models (eDifFIQA, CR-FIQA, MagFace, CLIB-FIQA): architecture against the
published checkpoint layouts, inference, and loading from the model folder. Weights here are
random: these tests check the code paths, not quality (the released weights are not
redistributable with the tests)."""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests.conftest import SAMPLES
from tests.test_clibfiqa import clib_network, write_vocab
from vidfiqa.cli.main import cli
from vidfiqa.models.backbones.clip import CLIP
from vidfiqa.models.clibfiqa import clibfiqa_scorer
from vidfiqa.models.crfiqa import CRFIQA, crfiqa_scorer
from vidfiqa.models.ediffiqa import EDifFIQA, ediffiqa_scorer
from vidfiqa.models.files import MODEL_FILES, ModelFileError
from vidfiqa.models.magface import MagFace, magface_scorer
from vidfiqa.models.torch_scorer import TorchQualityScorer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("fixture", "key", "build"),
    [
        ("ediffiqa_state_dict.json", "ediffiqaS", lambda: EDifFIQA(size="s")),
        ("ediffiqa_state_dict.json", "ediffiqaM", lambda: EDifFIQA(size="m")),
        ("ediffiqa_state_dict.json", "ediffiqaL", lambda: EDifFIQA(size="l")),
        ("crfiqa_state_dict.json", "crfiqa-s", lambda: CRFIQA(size="s")),
        ("crfiqa_state_dict.json", "crfiqa-l", lambda: CRFIQA(size="l")),
        ("magface_state_dict.json", "magface-r100", lambda: _prefixed(MagFace(depth=100), "features.")),
        ("magface_state_dict.json", "magface-r50", lambda: _prefixed(MagFace(depth=50), "features.")),
        ("magface_state_dict.json", "magface-r18", lambda: _prefixed(MagFace(depth=18), "features.")),
        ("clip_rn50_state_dict.json", "clib-fiqa", CLIP),
    ],
)
def test_state_dict_matches_the_published_layout(fixture: str, key: str, build) -> None:
    published = json.loads((FIXTURES / fixture).read_text())["models"][key]
    ours = [[k, list(v.shape)] for k, v in build().state_dict().items()]
    assert ours == published


def _prefixed(module: torch.nn.Module, prefix: str) -> torch.nn.Module:
    # MagFace's inference wrapper holds the iResNet as its ``features`` attribute.
    wrapper = torch.nn.Module()
    wrapper.add_module(prefix.rstrip("."), module)
    return wrapper


SCORERS = {
    "ediffiqa-s": lambda **kw: ediffiqa_scorer(size="s", **kw),
    "crfiqa-s": lambda **kw: crfiqa_scorer(size="s", **kw),
    "magface-r18": lambda **kw: magface_scorer(size="r18", **kw),
    "clib-fiqa": clibfiqa_scorer,
}
NETWORKS = {
    "ediffiqa-s": lambda: EDifFIQA(size="s"),
    "crfiqa-s": lambda: CRFIQA(size="s"),
    "magface-r18": lambda: MagFace(depth=18),
    "clib-fiqa": lambda: clib_network(VOCAB),
}
# How each released file stores the network's weights.
RELEASED_LAYOUT = {
    "magface-r18": lambda state: {"state_dict": {f"features.module.{k}": v for k, v in state.items()}},
    # The whole CLIP, saved from DataParallel.
    "clib-fiqa": lambda state: {"module." + k.removeprefix("clip."): v for k, v in state.items()},
}
VOCAB = write_vocab(Path(tempfile.mkdtemp()) / MODEL_FILES["clib-fiqa-vocab"].filename)


@pytest.fixture(scope="module", params=sorted(SCORERS))
def random_scorer(request: pytest.FixtureRequest) -> TorchQualityScorer:
    torch.manual_seed(0)
    return SCORERS[request.param](model=NETWORKS[request.param](), device="cpu")


@pytest.mark.slow
def test_predict_shapes_dtypes_and_batch_independence(random_scorer: TorchQualityScorer) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    random_scorer.batch_size = 64
    q, f = random_scorer.predict(crops)
    assert q.shape == (5,) and q.dtype == np.float32
    assert f.shape[0] == 5 and f.ndim == 2 and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1, rtol=1e-5)
    random_scorer.batch_size = 2  # batching must not change results (eval-mode BatchNorm)
    q2, f2 = random_scorer.predict(crops)
    np.testing.assert_allclose(q2, q, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f2, f, rtol=1e-4, atol=1e-5)
    assert random_scorer.predict(crops[:0])[0].shape == (0,)


#: Quality of two fixed crops under each network seeded with torch.manual_seed(0), on the CPU.
#: Swapping a scorer's pixel scaling (pm1 <-> unit) moves them by 1.2e-4 (clib-fiqa) to 3e-2.
PINNED = {
    "clib-fiqa": (0.49810367822647095, 0.4981018304824829),
    "crfiqa-s": (-0.04488036036491394, 0.002057289704680443),
    "ediffiqa-s": (0.026387616991996765, 0.033863380551338196),
    "magface-r18": (0.5141745805740356, 0.5286974310874939),
}


@pytest.mark.slow
def test_fixed_seed_outputs_are_pinned(random_scorer: TorchQualityScorer) -> None:
    crops = np.random.default_rng(7).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    q, _ = random_scorer.predict(crops)
    np.testing.assert_allclose(q, PINNED[random_scorer.name], atol=1e-5, rtol=0)


def test_colour_order_reaches_the_network() -> None:
    torch.manual_seed(0)
    net = CRFIQA(size="s")
    crops = np.random.default_rng(3).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    bgr = crfiqa_scorer(size="s", model=net, device="cpu").predict(crops)[0]
    rgb = crfiqa_scorer(size="s", model=net, device="cpu", color="RGB").predict(crops[..., ::-1])[0]
    np.testing.assert_allclose(bgr, rgb, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(random_scorer: TorchQualityScorer) -> None:
    crops = np.random.default_rng(1).integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    network = NETWORKS[random_scorer.name]()
    network.load_state_dict(random_scorer.model.state_dict())
    gpu = SCORERS[random_scorer.name](model=network, device="cuda")
    np.testing.assert_allclose(gpu.predict(crops)[0], random_scorer.predict(crops)[0], atol=1e-3)


@pytest.mark.slow
def test_checkpoints_load_from_the_model_folder(random_scorer: TorchQualityScorer, tmp_path: Path) -> None:
    name = random_scorer.name
    state = random_scorer.model.state_dict()
    shutil.copy(VOCAB, tmp_path)
    torch.save(RELEASED_LAYOUT.get(name, dict)(state), tmp_path / MODEL_FILES[name].filename)
    loaded = SCORERS[name](model_root=str(tmp_path), device="cpu")
    crops = np.random.default_rng(2).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded.predict(crops)[0], random_scorer.predict(crops)[0], atol=1e-6)
    runner = CliRunner()
    assert runner.invoke(cli, ["models", "verify", name, "--model-root", str(tmp_path)]).exit_code == 0
    info = json.loads(runner.invoke(cli, ["models", "info", name, "--model-root", str(tmp_path)]).stdout)
    assert info["present"] and len(info["sha256"]) == 64
    # The whole pipeline runs with it (random weights: only the plumbing is checked, so the
    # track gate's and the picks' quality floors, which random scores would fail, are off).
    keep = tmp_path / "keep.yaml"
    keep.write_text("select:\n  min_track_quality: 0\n  relative_floor: 0\n")
    out = tmp_path / "best"
    result = runner.invoke(
        cli,
        [
            "best-frames",
            str(SAMPLES / "blur_ramp.mp4"),
            "--scorer",
            name,
            "--model-root",
            str(tmp_path),
            "--out",
            str(out),
            "--top-k",
            "2",
            "--config",
            str(keep),
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
        ediffiqa_scorer(size="s", model_root=str(tmp_path))
    (tmp_path / "ediffiqaS.pth").write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(cli, ["models", "verify", "ediffiqa-s", "--model-root", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: ediffiqa-s: {tmp_path / 'ediffiqaS.pth'} is not a valid PyTorch checkpoint"
    )
    assert len(result.output.strip().splitlines()) == 1
    torch.save({"mlp.l1.weight": torch.zeros(3, 3)}, tmp_path / "ediffiqaS.pth")
    result = CliRunner().invoke(cli, ["models", "verify", "ediffiqa-s", "--model-root", str(tmp_path)])
    assert result.exit_code == 1 and "does not fit the network" in result.output
