"""Degradations at known levels: each factor does what its name says, more with a higher level,
and a level of 0 leaves the photo untouched."""

from pathlib import Path

import numpy as np
import pytest

from vidfiqa.learn.degrade import APPLIED, degrade, sample_levels
from vidfiqa.pipeline.features import read_rgb
from vidfiqa.quality.factors import sharpness_ratio


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> np.ndarray:
    return read_rgb(next(iter(sorted((shared_data / "lfw" / "images").glob("*/*.jpg")))))


BOX = np.array([40.0, 40.0, 136.0, 136.0])  # the face of a 176x176 LFW crop


def _level(name: str, value: float) -> np.ndarray:
    levels = np.zeros(len(APPLIED), np.float32)
    levels[APPLIED.index(name)] = value
    return levels


def test_level_zero_is_the_photo(photo: np.ndarray) -> None:
    out = degrade(photo, BOX, np.zeros(len(APPLIED)), np.random.default_rng(0))
    assert out.dtype == np.uint8 and np.array_equal(out, photo)


@pytest.mark.parametrize("name", ["blur", "lowres"])
def test_blur_and_low_resolution_remove_detail_monotonically(photo: np.ndarray, name: str) -> None:
    crops = [
        degrade(photo, BOX, _level(name, v), np.random.default_rng(0))[40:136, 40:136] for v in (0, 0.3, 1)
    ]
    detail = [float(sharpness_ratio(np.stack([c]))[0]) for c in crops]
    assert detail[0] > detail[1] > detail[2], detail


def test_noise_or_compression_changes_the_pixels_more_at_higher_levels(photo: np.ndarray) -> None:
    diffs = []
    for v in (0.2, 1.0):
        out = [degrade(photo, BOX, _level("noise", v), np.random.default_rng(s)) for s in range(6)]
        diffs.append(np.mean([np.abs(o.astype(float) - photo).mean() for o in out]))
    assert diffs[1] > diffs[0] > 0.5


def test_occlusion_covers_the_face_box_only(photo: np.ndarray) -> None:
    out = degrade(photo, BOX, _level("occlusion", 1.0), np.random.default_rng(3))
    changed = np.any(out != photo, axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.min() >= 40 and rows.max() < 136 and cols.min() >= 40 and cols.max() < 136
    assert 0.3 < changed[40:136, 40:136].mean() <= 0.52  # up to half the face box


def test_exposure_darkens_or_washes_out(photo: np.ndarray) -> None:
    grey = [degrade(photo, BOX, _level("exposure", 1.0), np.random.default_rng(s)).mean() for s in range(8)]
    assert min(grey) < 0.4 * photo.mean() and max(grey) > 255 - 0.4 * (255 - photo.mean())


def test_sampled_levels() -> None:
    rng = np.random.default_rng(0)
    levels = np.stack([sample_levels(rng) for _ in range(500)])
    active = (levels > 0).sum(1)
    assert active.min() == 1 and active.max() == 3
    assert levels.max() <= 1 and levels[levels > 0].min() >= 0.1
    assert (levels > 0).mean(0).min() > 0.3  # every factor is drawn
