import cv2
import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.conftest import SAMPLES
from vidfiqa.align import ARCFACE_112, align_arcface
from vidfiqa.config import load_config
from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker
from vidfiqa.pipeline.analyse import analyse_video
from vidfiqa.quality.factors import (
    COMPONENTS,
    FRONTAL_NOSE_RATIO,
    FactorQuality,
    head_pose,
    sharpness_ratio,
)
from vidfiqa.types import FaceBatch
from vidfiqa.video import ReadOptions, open_video


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """A sharp, frontal face from the committed blur-ramp clip (frame 0): crop and landmarks."""
    with open_video(SAMPLES / "blur_ramp.mp4", ReadOptions(max_frames=1)) as reader:
        image = next(iter(reader)).image
    d = DlibLandmarker().landmark(image, DlibHogDetector().detect([image])[0])
    return align_arcface(image, d.landmarks)[0], d.landmarks[0]


def batch(crops: np.ndarray, landmarks: np.ndarray) -> FaceBatch:
    n = len(crops)
    return FaceBatch(
        crops=crops,
        landmarks=np.broadcast_to(landmarks, (n, 5, 2)),
        boxes=np.zeros((n, 4), np.float32),
        confidence=np.full(n, 0.9, np.float32),
        landmarks_estimated=np.zeros(n, bool),
        visible=np.ones(n, np.float32),
    )


def test_sharpness_falls_with_blur_and_ignores_gain(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, _ = face
    blurred = [crop] + [cv2.GaussianBlur(crop, (0, 0), s) for s in (0.8, 1.5, 2.5, 4.0)]
    ratios = sharpness_ratio(np.stack(blurred))
    assert np.all(np.diff(ratios) < 0)
    darker = (crop.astype(np.float32) * 0.5).round().astype(np.uint8)
    assert sharpness_ratio(darker[None])[0] == pytest.approx(ratios[0], rel=0.15)


def test_components_are_in_unit_range_and_explain_the_score(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = face
    dark = (crop * 0.25).astype(np.uint8)
    result = FactorQuality().score(batch(np.stack([crop, dark]), lm))
    for name in COMPONENTS:
        if name == "eyes_open":  # no eye openness in the batch: not measured, NaN (null)
            assert np.isnan(result.factors[name]).all()
            continue
        assert np.all((result.factors[name] >= 0) & (result.factors[name] <= 1)), name
    assert 0 < result.scores[1] < result.scores[0] <= 1
    assert result.factors["exposure"][1] < 0.5 < result.factors["exposure"][0]
    only_exposure = FactorQuality({"exposure": 1.0}).score(batch(np.stack([crop, dark]), lm))
    np.testing.assert_allclose(only_exposure.scores, result.factors["exposure"], rtol=1e-5)


def test_face_cut_by_the_frame_edge_scores_lower(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = face
    b = batch(np.stack([crop, crop, crop]), lm)
    b = FaceBatch(
        **{**{k: getattr(b, k) for k in b.__slots__}, "visible": np.array([1, 0.8, 0.4], np.float32)}
    )
    result = FactorQuality().score(b)
    np.testing.assert_allclose(result.factors["visibility"], [1, 0.6, 0], atol=1e-6)
    np.testing.assert_allclose(result.scores, result.scores[0] * np.array([1, 0.6, 0]), atol=1e-6)


def test_head_pose_from_landmarks() -> None:
    frontal = ARCFACE_112.astype(np.float32)
    eye_y, mouth_y = frontal[:2, 1].mean(), frontal[3:, 1].mean()
    frontal[2, 1] = eye_y + FRONTAL_NOSE_RATIO * (mouth_y - eye_y)
    yaw, pitch = head_pose(frontal[None])
    assert abs(yaw[0]) < 1 and abs(pitch[0]) < 1
    a = np.radians(30)  # roll alone must not read as yaw or pitch
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    yaw, pitch = head_pose((frontal @ rot.T)[None])
    assert abs(yaw[0]) < 1 and abs(pitch[0]) < 1
    turned = frontal.copy()
    turned[2, 0] += 0.55 * 35.2  # nose one nose-depth sideways: tan(yaw) = 1
    yaw, _ = head_pose(turned[None])
    assert yaw[0] == pytest.approx(45, abs=1)
    down = frontal.copy()
    down[2, 1] += 8
    _, pitch = head_pose(np.stack([down, down]), use_pitch=np.array([True, False]))
    assert pitch[0] > 10 and pitch[1] == 0


def test_unknown_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown quality components"):
        FactorQuality({"blur": 1.0})


def test_quality_follows_the_blur_ramp(sample) -> None:
    """On blur_ramp.mp4 (Gaussian blur sigma rising linearly 0 -> 4 over the clip), the factor
    quality of the tracked face must fall with the blur: Spearman rho <= -0.9."""
    video, truth = sample("blur_ramp")
    analysis = analyse_video(video, load_config(None, {"detector.every": 1, "quality.scorer": "factors"}))
    sigma = {f["index"]: f["degradation"]["blur_sigma"] for f in truth["frames"]}
    obs = [t.observation(i) for t in analysis.tracks for i in range(len(t))]
    assert len(obs) >= 0.8 * len(truth["frames"])
    rho, _ = spearmanr([sigma[o.frame_index] for o in obs], [o.quality for o in obs])
    assert rho <= -0.9, rho
