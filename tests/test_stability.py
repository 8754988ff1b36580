from pathlib import Path

import cv2
import numpy as np
import pytest

from vidfiqa.align import ARCFACE_112, dlib_chip_template
from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker, DlibResNetEmbedder
from vidfiqa.pipeline.faces import describe_faces
from vidfiqa.quality.stability import StabilityQuality, arcface_to_dlib_chips
from vidfiqa.types import FaceBatch
from vidfiqa.video import ReadOptions, open_video


@pytest.fixture(scope="module")
def faces(shared_data: Path) -> FaceBatch:
    """Nine real faces: three frames of each talking head and of Foreman."""
    det, lm = DlibHogDetector(), DlibLandmarker()
    batches = []
    for video in ("talking_head_a.mp4", "talking_head_b.mp4", "foreman_cif.h264"):
        with open_video(shared_data / "videos" / video, ReadOptions(stride=40, max_frames=3)) as reader:
            for frame in reader:
                d = det.detect([frame.image])[0]
                batches.append(describe_faces(frame.image, d[[0]], lm))
    return FaceBatch.concat(batches)


@pytest.mark.slow
def test_degraded_faces_are_less_stable(faces: FaceBatch) -> None:
    def degrade(crop: np.ndarray) -> np.ndarray:  # a face seen at 28 px, upscaled
        small = cv2.resize(crop, (28, 28), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(cv2.resize(small, (112, 112)), (0, 0), 1.0)

    degraded = FaceBatch(
        np.stack([degrade(c) for c in faces.crops]),
        faces.landmarks,
        faces.boxes,
        faces.confidence,
        faces.landmarks_estimated,
        faces.visible,
    )
    scorer = StabilityQuality(DlibResNetEmbedder())
    clean, bad = scorer.score(faces), scorer.score(degraded)
    assert clean.scores.shape == (9,) and set(clean.factors) == {
        "stability_flip",
        "stability_noise",
        "stability_blur",
    }
    assert np.all(bad.scores < clean.scores)
    assert 0.8 < clean.scores.min() <= clean.scores.max() <= 1


def test_rejects_unknown_perturbations() -> None:
    with pytest.raises(ValueError, match="perturbations"):
        StabilityQuality(DlibResNetEmbedder(), perturbations=("rotate",))


def test_arcface_crop_realigns_eyes_onto_dlib_template() -> None:
    image = np.zeros((112, 112, 3), np.uint8)
    for x, y in ARCFACE_112[:2]:
        image[round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2] = 255
    chip = arcface_to_dlib_chips(image[None])[0]
    dlib = dlib_chip_template(150)
    for x, y in (dlib[2:4].mean(0), dlib[0:2].mean(0)):
        assert chip[round(y), round(x)].max() > 100
