from pathlib import Path

import dlib
import face_recognition_models as frm
import numpy as np
import pytest

from vidfiqa.align import (
    ARCFACE_112,
    align_arcface,
    align_dlib_chip,
    context_crop,
    similarity_transform,
    similarity_transforms,
    visible_fraction,
)
from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker, DlibResNetEmbedder
from vidfiqa.video import open_video


def test_similarity_transform_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)
    with pytest.raises(ValueError, match="need two"):
        similarity_transform(src[:1], dst[:1])


def _umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Umeyama's SVD solution without reflection, the reference for the closed form."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.array([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    var_s = (s**2).sum() / len(src)
    m = np.empty((2, 3))
    m[:, :2] = ((sig * sign).sum() / var_s if var_s > 0 else 1.0) * (u @ np.diag(sign) @ vt)
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def test_closed_form_similarity_is_umeyamas() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(50, 30, (40, 5, 2))
    points[-1, :, 0] *= -1  # a mirrored face: no reflection may be fitted
    points[-2] = points[-2, :1]  # no spread
    for dst in (ARCFACE_112, rng.normal(0, 10, (5, 2))):
        reference = np.stack([_umeyama(p, dst) for p in points])
        np.testing.assert_allclose(similarity_transforms(points, dst), reference, atol=1e-9)
        np.testing.assert_allclose(similarity_transform(points[0], dst), reference[0], atol=1e-9)


def test_arcface_alignment_puts_landmarks_on_the_template() -> None:
    # Landmarks twice the template size, rotated by 20 degrees and shifted: after alignment a
    # dot drawn at each landmark must land on the template point.
    a = np.radians(20)
    rot = 2 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = ARCFACE_112 @ rot.T + [150, 40]
    image = np.zeros((400, 400, 3), np.uint8)
    for x, y in pts:
        image[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3] = 255
    crop = align_arcface(image, pts[None])[0]
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    for x, y in ARCFACE_112:
        assert crop[round(y), round(x)].min() > 100
    assert align_arcface(image, np.zeros((0, 5, 2))).shape == (0, 112, 112, 3)


def test_visible_fraction_of_a_face_at_the_frame_edge() -> None:
    pts = ARCFACE_112[None].astype(np.float32)  # a 112x112 face at the frame's top-left corner
    whole = (slice(0, 112), slice(0, 112))
    assert visible_fraction(pts, (112, 112, 3), whole)[0] == 1.0
    assert visible_fraction(pts, (112, 56, 3), whole)[0] == pytest.approx(0.5, abs=0.04)
    assert visible_fraction(pts - [200, 0], (112, 112, 3), whole)[0] == 0.0


def test_context_crop_is_centred_on_the_box() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    image[90:110, 140:160] = 255
    crop = context_crop(image, np.array([140.0, 90.0, 160.0, 110.0]), scale=2.0, size=40)
    assert crop.shape == (40, 40, 3)
    assert crop[20, 20].min() == 255 and crop[2, 2].max() == 0


def test_dlib_chip_matches_dlib_get_face_chip(shared_data: Path) -> None:
    with open_video(shared_data / "videos" / "talking_head_a.mp4") as reader:
        image = next(iter(reader)).image
    dets = DlibLandmarker(points=5).landmark(image, DlibHogDetector().detect([image])[0])
    ours = align_dlib_chip(image, dets.data["dlib5"])[0]
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    x1, y1, x2, y2 = (round(float(v)) for v in dets.boxes[0])
    theirs = dlib.get_face_chip(image, predictor(image, dlib.rectangle(x1, y1, x2 - 1, y2 - 1)), 150, 0.25)
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 4
    e = DlibResNetEmbedder().embed(np.stack([ours, theirs]))
    assert float(e[0] @ e[1]) > 0.99
