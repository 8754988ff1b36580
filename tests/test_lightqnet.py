"""LightQNet on its published weights (``../shared/models/lightqnet``) and real LFW faces
(``../shared/data/lfw``); skipped where either folder is absent, as in a user's clone.

The reference is the official pipeline (``face_normalizer.py`` + ``tf_face_quality_model.py`` of
github.com/KaenChan/lightqnet): the frame itself warped with the three-point similarity onto the
160x160 template, resized to 96x96, BGR, ``(pixel - 128) / 128``. The scorer only sees the
112x112 ArcFace crop; these tests bound how far that moves the scores. Its speed is a study:
``benchmarks/lightqnet/run.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from vidfiqa.align import ARCFACE_112, align_arcface, similarity_transform
from vidfiqa.models.files import MODEL_FILES, ModelFileError
from vidfiqa.models.lightqnet import (
    TEMPLATE_160,
    WIDTHS,
    LightQNetScorer,
    crop_transforms,
)
from vidfiqa.types import FaceBatch

ROOT = Path(__file__).resolve().parents[1]
MODELS = (ROOT.parent / "shared" / "models").resolve()
LFW = (ROOT.parent / "shared" / "data" / "lfw" / "images").resolve()

N_FACES = 30
#: The face of the fixed-output pin, and its dm100 score through the crop path.
PIN_IMAGE = "Aaron_Eckhart/Aaron_Eckhart_0001.jpg"
PIN_SCORE = 0.6071331  # the official frame path gives 0.6071832
PIN_TOL = 1e-4


@pytest.fixture(scope="session")
def model_root() -> Path:
    """``../shared/models`` (the published LightQNet ONNX files); present in CI."""
    if not (MODELS / "lightqnet").is_dir():
        pytest.skip(f"needs the published LightQNet ONNX files in {MODELS / 'lightqnet'} (present in CI)")
    return MODELS


@pytest.fixture(scope="session")
def scorers(model_root: Path) -> dict[str, LightQNetScorer]:
    return {w: LightQNetScorer(width=w, model_root=model_root, device="cpu") for w in WIDTHS}


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _describe(paths: list[Path]) -> tuple[list[np.ndarray], FaceBatch]:
    """Frames and FaceBatch of the largest face dlib-HOG finds in each image, with dlib68 points
    (the project's own path from an image to a FaceBatch, as in :mod:`vidfiqa.learn.distill`)."""
    from vidfiqa.models import registry
    from vidfiqa.pipeline.faces import describe_faces

    detector = registry.create("detector", "dlib-hog", upsample=1)
    landmarker = registry.create("landmarker", "dlib68")
    images, batches = [], []
    for path in paths:
        image = _read(path)
        found = detector.detect([image])[0]
        if not len(found):
            continue
        found = found[[int(np.argmax(np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)))]]
        batches.append(describe_faces(image, found, landmarker))
        images.append(image)
    return images, FaceBatch.concat(batches)


@pytest.fixture(scope="session")
def lfw_faces() -> tuple[list[np.ndarray], FaceBatch]:
    """About 30 real faces: the first image of evenly spaced LFW identities."""
    if not LFW.is_dir():
        pytest.skip(f"needs the LFW images at {LFW} (present in CI)")
    people = sorted(p for p in LFW.iterdir() if p.is_dir())
    paths = [sorted(p.glob("*.jpg"))[0] for p in people[:: max(1, len(people) // N_FACES)][:N_FACES]]
    images, batch = _describe(paths)
    assert len(batch) >= 25, f"dlib found faces in only {len(batch)} of {len(paths)} LFW images"
    return images, batch


def _official_inputs(images: list[np.ndarray], landmarks: np.ndarray) -> np.ndarray:
    """The official preprocessing from each whole frame: float32 ``(B, 96, 96, 3)``."""
    out = []
    for image, p in zip(images, np.asarray(landmarks, np.float64)):
        three = np.stack([p[0], p[1], p[3:5].mean(0)])
        aligned = cv2.warpAffine(
            np.ascontiguousarray(image[..., ::-1]), similarity_transform(three, TEMPLATE_160), (160, 160)
        )
        out.append((cv2.resize(aligned, (96, 96)).astype(np.float32) - 128.0) / 128.0)
    return np.stack(out)


def _with_frames(batch: FaceBatch, images: list[np.ndarray]) -> FaceBatch:
    """``batch`` with its crops re-aligned from other (degraded) frames, landmarks kept."""
    crops = np.concatenate([align_arcface(im, p[None]) for im, p in zip(images, batch.landmarks)])
    return FaceBatch(
        crops, batch.landmarks, batch.boxes, batch.confidence, batch.landmarks_estimated, batch.visible
    )


def _rows(batch: FaceBatch, index: slice | np.ndarray) -> FaceBatch:
    names = ("crops", "landmarks", "boxes", "confidence", "landmarks_estimated", "visible")
    return FaceBatch(**{n: getattr(batch, n)[index] for n in names})


def _blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), 4)


def _down_up(image: np.ndarray, factor: int = 4) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# Measured on these 30 faces (module docstring of vidfiqa.models.lightqnet): Spearman 0.991 /
# 0.939 / 0.994 clean, >= 0.989 clean and blurred together; absolute difference at most 0.014,
# 0.0024 on average. Clean faces crowd into a narrow band, so their rank agreement alone is the
# noisiest number (dm050 reaches 0.988 on 79 other faces).
MIN_SPEARMAN_CLEAN = {"dm100": 0.96, "dm050": 0.88, "dm025": 0.96}
MIN_SPEARMAN_MIXED = 0.97
MAX_ABS_DIFF = 0.03
MAX_MEAN_ABS_DIFF = 0.006


@pytest.mark.parametrize("width", WIDTHS)
def test_crop_path_agrees_with_official_path(scorers, lfw_faces, width: str) -> None:
    images, batch = lfw_faces
    scorer = scorers[width]
    result = scorer.score(batch)
    assert result.scores.dtype == np.float32 and result.scores.shape == (len(batch),)
    assert result.factors == {}
    lo, hi = scorer.score_range
    assert np.all((result.scores > lo) & (result.scores < hi))
    official = scorer.run(_official_inputs(images, batch.landmarks))
    assert spearmanr(result.scores, official)[0] >= MIN_SPEARMAN_CLEAN[width]
    assert np.abs(result.scores - official).max() <= MAX_ABS_DIFF
    assert np.abs(result.scores - official).mean() <= MAX_MEAN_ABS_DIFF

    blurred = [_blur(im) for im in images]
    crop_path = np.r_[result.scores, scorer.score(_with_frames(batch, blurred)).scores]
    frame_path = np.r_[official, scorer.run(_official_inputs(blurred, batch.landmarks))]
    assert spearmanr(crop_path, frame_path)[0] >= MIN_SPEARMAN_MIXED


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("degrade", "min_fraction"), [(_blur, 0.95), (_down_up, 0.8)])
def test_clean_face_beats_degraded_face(scorers, lfw_faces, width: str, degrade, min_fraction: float) -> None:
    images, batch = lfw_faces
    images, batch = images[:20], _rows(batch, slice(20))
    clean = scorers[width].score(batch).scores
    degraded = scorers[width].score(_with_frames(batch, [degrade(im) for im in images])).scores
    assert np.mean(clean > degraded) >= min_fraction, (clean, degraded)


def test_pinned_score_of_one_face(scorers) -> None:
    if not (LFW / PIN_IMAGE).is_file():
        pytest.skip(f"needs {LFW / PIN_IMAGE}")
    _, batch = _describe([LFW / PIN_IMAGE])
    scorer = scorers["dm100"]
    inputs = scorer.preprocess(batch)
    score = float(scorer.score(batch).scores[0])
    assert score == pytest.approx(PIN_SCORE, abs=PIN_TOL)
    # The pin must be able to catch a wrong channel order or scaling: RGB instead of BGR moves
    # this face by 5e-3, raw pixels by 0.49, pixels in [0, 1] by 2.6e-3.
    pixels = inputs * 128 + 128
    for wrong in (inputs[..., ::-1], pixels, pixels / 255):
        assert abs(float(scorer.run(wrong)[0]) - PIN_SCORE) > 10 * PIN_TOL


def test_batched_transforms_match_align(lfw_faces) -> None:
    _, batch = lfw_faces
    for p, m in zip(batch.landmarks, crop_transforms(batch.landmarks)):
        to_crop = similarity_transform(p, ARCFACE_112)
        in_crop = p @ to_crop[:, :2].T + to_crop[:, 2]
        three = np.stack([in_crop[0], in_crop[1], in_crop[3:5].mean(0)])
        np.testing.assert_allclose(m, similarity_transform(three, TEMPLATE_160), atol=1e-9)


def test_empty_batch(scorers) -> None:
    empty = FaceBatch(
        np.zeros((0, 112, 112, 3), np.uint8),
        np.zeros((0, 5, 2), np.float32),
        np.zeros((0, 4), np.float32),
        np.zeros(0, np.float32),
        np.zeros(0, bool),
        np.zeros(0, np.float32),
    )
    result = scorers["dm025"].score(empty)
    assert result.scores.shape == (0,) and result.scores.dtype == np.float32


def test_degenerate_landmarks_still_score(scorers, lfw_faces) -> None:
    _, batch = lfw_faces
    row = _rows(batch, slice(1))
    broken = [np.full((1, 5, 2), np.nan, np.float32), np.zeros((1, 5, 2), np.float32)]
    for landmarks in broken:
        bad = FaceBatch(row.crops, landmarks, row.boxes, row.confidence, row.landmarks_estimated, row.visible)
        score = scorers["dm100"].score(bad).scores
        assert np.isfinite(score).all() and 0 < score[0] < 1


def test_specs_fit_model_file_and_shared_sums(model_root: Path) -> None:
    sums = dict(
        line.split()[::-1] for line in (model_root / "lightqnet" / "SHA256SUMS").read_text().splitlines()
    )
    for name in (f"lightqnet-{w}" for w in WIDTHS):
        spec = MODEL_FILES[name]
        assert spec.name == name and (model_root / spec.filename).is_file()
        assert sums[Path(spec.filename).name] == spec.sha256


def _one_line(exc: pytest.ExceptionInfo[ModelFileError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as exc:
        LightQNetScorer(width="dm050", model_root=tmp_path)
    message = _one_line(exc)
    assert str(tmp_path / "lightqnet" / "lightqnet-dm050.onnx") in message
    assert "not found" in message and "github.com/KaenChan/lightqnet" in message


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "lightqnet" / "lightqnet-dm100.onnx"
    path.parent.mkdir()
    path.write_bytes(b"\x08\x07garbage, not an ONNX graph" * 100)
    with pytest.raises(ModelFileError) as exc:
        LightQNetScorer(model_root=tmp_path)
    message = _one_line(exc)
    assert str(path) in message and "sha256" in message and "github.com/KaenChan/lightqnet" in message


def test_bad_width_and_device(model_root: Path) -> None:
    with pytest.raises(ValueError, match="width"):
        LightQNetScorer(width="dm075", model_root=model_root)
    with pytest.raises(ValueError, match="device"):
        LightQNetScorer(model_root=model_root, device="tpu")
