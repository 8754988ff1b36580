"""insightface packs: finding the files, and the SCRFD detector, landmarker and ArcFace embedder
through onnxruntime. The graphs are random-weight stand-ins in the packs' layout
(tests/onnx_pack.py): these tests check loading and the data paths, not accuracy."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import SAMPLES
from tests.onnx_pack import make_pack, scrfd_like
from vidfiqa.cli.main import cli
from vidfiqa.models import registry
from vidfiqa.models.files import ModelFileError
from vidfiqa.models.insightface_pack import ArcFaceEmbedder, ScrfdDetector, ScrfdLandmarker, find_pack
from vidfiqa.types import Detections


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_pack(root / "testpack")
    # A detector that finds nothing (very negative score bias), for the landmarker's fallback.
    (root / "blind").mkdir()
    scrfd_like(root / "blind" / "det.onnx", score_bias=-40.0)
    return root


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)


def test_files_are_sorted_by_role(root: Path, tmp_path: Path) -> None:
    pack = find_pack("testpack", str(root))
    assert pack.detector.name == "det_test.onnx" and pack.recognizer.name == "rec_test.onnx"
    with pytest.raises(
        ModelFileError, match=r"insightface pack 'nope' not found in .*nope or .*\.insightface"
    ):
        find_pack("nope", str(root))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="holds no SCRFD detector or ArcFace recogniser"):
        find_pack("empty", str(tmp_path))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelFileError, match=r"broken: cannot load .*x.onnx"):
        find_pack("broken", str(tmp_path))
    with pytest.raises(ModelFileError, match="has no recognizer ONNX file"):
        ArcFaceEmbedder("blind", str(root))


def test_detector_returns_typed_detections_with_keypoints(root: Path, image: np.ndarray) -> None:
    detector = registry.create("detector", "scrfd", pack="testpack", model_root=str(root), upsample=0)
    assert isinstance(detector, ScrfdDetector)
    found = detector.detect([image, image[:, ::-1]])
    assert len(found) == 2 and len(found[0]) > 0
    d = found[0]
    assert d.boxes.dtype == np.float32 and d.landmarks.shape == (len(d), 5, 2)
    assert ((d.confidence >= 0.5) & (d.confidence <= 1)).all()
    assert (d.boxes[:, 2] > d.boxes[:, 0]).all() and (d.boxes[:, 3] > d.boxes[:, 1]).all()


def test_landmarker_detects_in_a_crop_and_falls_back_to_the_template(root: Path, image: np.ndarray) -> None:
    boxes = np.array([[100, 60, 180, 150], [10, 10, 60, 70]], np.float32)
    found = ScrfdLandmarker("testpack", str(root)).landmark(image, Detections(boxes=boxes, scores=np.ones(2)))
    assert found.landmarks.shape == (2, 5, 2) and not found.landmarks_estimated.any()
    given = Detections(boxes=boxes, scores=np.ones(2))
    blind = ScrfdLandmarker("blind", str(root)).landmark(image, given)
    assert blind.landmarks_estimated.all()
    assert given.landmarks is None and blind is not given  # a new value; its input as it was
    # The template's eyes sit in the upper half of the box, the mouth in the lower.
    points = blind.landmarks[0]
    assert (points[:, 0] > 100).all() and (points[:, 0] < 180).all()
    assert points[0, 1] < 105 < points[3, 1]


def test_embedder_is_batched_and_normalised(root: Path) -> None:
    crops = np.random.default_rng(1).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    embedder = ArcFaceEmbedder("testpack", str(root))
    v = embedder.embed(crops)
    assert v.shape == (5, 512) and v.dtype == np.float32 and embedder.dim == 512
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, rtol=1e-5)
    embedder.batch_size = 2
    np.testing.assert_allclose(embedder.embed(crops), v, atol=1e-5)
    assert embedder.embed(crops[:0]).shape == (0, 512)
    # Colour order reaches the network: swapping channels changes the features.
    assert not np.allclose(embedder.embed(crops[..., ::-1]), v, atol=1e-3)


def test_process_runs_with_the_pack(root: Path, tmp_path: Path) -> None:
    config = tmp_path / "pack.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "detector": {"name": "scrfd", "every": 3},
                "landmarks": {"name": "scrfd5"},
                "embedder": {"name": "arcface"},
                "insightface": {"pack": "testpack", "model_root": str(root)},
                # The shipped 'distilled' weights are relative to sface and dlib-resnet only.
                "quality": {"scorer": "factors"},
            }
        )
    )
    db = f"sqlite:///{tmp_path / 'v.db'}"
    args = ["process", str(SAMPLES / "blur_ramp.mp4"), "--config", str(config), "--db", db]
    distilled = CliRunner().invoke(
        cli, [*args, "--scorer", "distilled", "--index", str(tmp_path / "idx"), "--max-frames", "12"]
    )
    assert distilled.exit_code == 1 and distilled.stderr.startswith(
        "Error: distilled: no packaged weights for embedder arcface (shipped: dlib-resnet, sface)"
    )
    result = CliRunner().invoke(cli, [*args, "--index", str(tmp_path / "idx"), "--max-frames", "12"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == "done" and report["tracks"] > 0
    listed = CliRunner().invoke(cli, ["templates", "--db", db])
    assert listed.exit_code == 0 and '"model": "arcface"' in listed.stdout
