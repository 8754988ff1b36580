import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidfiqa.align import align_dlib_chip
from vidfiqa.models.dlib_models import (
    DlibCnnDetector,
    DlibHogDetector,
    DlibLandmarker,
    DlibResNetEmbedder,
    arcface_from_dlib5,
)
from vidfiqa.video import ReadOptions, open_video


def frames(path: Path, n: int, stride: int = 1) -> list[np.ndarray]:
    with open_video(path, ReadOptions(stride=stride, max_frames=n)) as reader:
        return [f.image for f in reader]


@pytest.fixture(scope="module")
def head_a(shared_data: Path) -> list[np.ndarray]:
    return frames(shared_data / "videos" / "talking_head_a.mp4", 3, stride=100)


def test_hog_finds_the_talking_head(head_a: list[np.ndarray]) -> None:
    dets = DlibHogDetector().detect(head_a)
    assert [len(d) for d in dets] == [1, 1, 1]
    x1, y1, x2, y2 = dets[0].boxes[0]
    assert 60 < x1 < x2 < 420 and 100 < y1 < y2 < 480 and x2 - x1 > 150
    assert 0.5 < dets[0].confidence[0] <= 1


def test_hog_downscaled_detection_maps_boxes_back(head_a: list[np.ndarray]) -> None:
    full = DlibHogDetector().detect(head_a[:1])[0]
    small = DlibHogDetector(max_side=320).detect(head_a[:1])[0]
    assert len(small) == 1
    assert np.abs(small.boxes[0] - full.boxes[0]).max() < 0.15 * (full.boxes[0, 2] - full.boxes[0, 0])


def test_cnn_detector_agrees_with_hog(shared_data: Path) -> None:
    image = frames(shared_data / "videos" / "foreman_cif.h264", 1)
    hog = DlibHogDetector().detect(image)[0]
    cnn = DlibCnnDetector().detect(image)[0]
    assert len(cnn) == 1
    cx = (cnn.boxes[0, 0] + cnn.boxes[0, 2]) / 2
    assert hog.boxes[0, 0] < cx < hog.boxes[0, 2]


def test_no_face_gives_empty_detections() -> None:
    grey = np.full((240, 320, 3), 128, np.uint8)
    (d,) = DlibHogDetector().detect([grey])
    assert len(d) == 0 and d.confidence.shape == (0,)


@pytest.mark.parametrize("points", [68, 5])
def test_landmarks_follow_the_arcface_order(head_a: list[np.ndarray], points: int) -> None:
    image = head_a[0]
    d = DlibLandmarker(points=points).landmark(image, DlibHogDetector().detect([image])[0])
    (le, re, nose, lm, rm) = d.landmarks[0]
    assert le[0] < nose[0] < re[0] and lm[0] < rm[0]
    assert max(le[1], re[1]) < nose[1] < min(lm[1], rm[1])
    assert d.data["dlib5"].shape == (1, 5, 2)
    assert d.landmarks_estimated.tolist() == [points == 5]


def test_estimated_mouth_is_close_to_measured(head_a: list[np.ndarray]) -> None:
    image = head_a[0]
    det = DlibHogDetector().detect([image])[0]
    measured = DlibLandmarker(points=68).landmark(image, det[[0]]).landmarks[0]
    estimated = arcface_from_dlib5(DlibLandmarker(points=5).landmark(image, det[[0]]).data["dlib5"])[0]
    iod = np.linalg.norm(measured[1] - measured[0])
    assert np.linalg.norm(estimated - measured, axis=1).max() < 0.35 * iod


def embed_images(paths: list[Path]) -> np.ndarray:
    det, lm, emb = DlibHogDetector(upsample=1), DlibLandmarker(), DlibResNetEmbedder()
    chips = []
    for p in paths:
        image = np.asarray(Image.open(p).convert("RGB"))
        d = det.detect([image])[0]
        d = lm.landmark(image, d[[int(np.argmax(d.scores))]])
        chips.append(align_dlib_chip(image, d.data["dlib5"])[0])
    return emb.embed(np.stack(chips))


def test_embedder_separates_labelled_pairs(shared_data: Path) -> None:
    folder = shared_data / "images" / "deepface_pairs"
    with (folder / "master.csv").open() as fh:
        pairs = list(csv.DictReader(fh))
    same = [p for p in pairs if p["Decision"] == "Yes"][:12]
    diff = [p for p in pairs if p["Decision"] == "No"][:12]
    names = sorted({p[k] for p in same + diff for k in ("file_x", "file_y")})
    e = embed_images([folder / n for n in names])
    assert e.dtype == np.float32 and e.shape == (len(names), 128)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    idx = {n: i for i, n in enumerate(names)}

    def sims(rows: list[dict]) -> np.ndarray:
        return np.array([e[idx[r["file_x"]]] @ e[idx[r["file_y"]]] for r in rows])

    s, d = sims(same), sims(diff)
    # dlib's published operating point (Euclidean 0.6 on raw descriptors) sits near cosine 0.93
    # after normalisation; genuine pairs must sit clearly above impostors on average.
    assert s.mean() - d.mean() > 0.05
    assert np.median(s) > np.median(d)


def test_embedder_rejects_wrong_chip_size() -> None:
    with pytest.raises(ValueError, match=r"\(B, 150, 150, 3\)"):
        DlibResNetEmbedder().embed(np.zeros((1, 112, 112, 3), np.uint8))
