"""Shared fixtures: paths to the committed sample clips and to ../shared/data, and small clips
made with PyAV on the fly."""

from __future__ import annotations

import json
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vidfiqa.video import write_video

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_videos"
# VIDFIQA_SHARED_DATA: another copy of it (a GPU machine gets only the checkout).
SHARED = Path(os.environ.get("VIDFIQA_SHARED_DATA") or ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real third-party videos); present in CI, absent in a user's clone."""
    if not (SHARED / "videos").is_dir():
        pytest.skip(f"needs the shared test data at {SHARED} (present in CI)")
    return SHARED


@pytest.fixture(scope="session")
def sample(request: pytest.FixtureRequest):
    """Load a committed sample clip and its ground truth: ``sample("blur_ramp")``."""

    def load(name: str) -> tuple[Path, dict]:
        video = SAMPLES / f"{name}.mp4"
        return video, json.loads((SAMPLES / f"{name}.json").read_text())

    return load


def write_clip(
    path: Path, frames: list[np.ndarray], *, rate: Fraction = Fraction(25), rotation: int = 0
) -> Path:
    """Encode RGB uint8 frames into ``path`` (libx264, yuv420p)."""
    return write_video(path, frames, fps=rate, rotation=rotation)


def pattern_frames(n: int, h: int = 64, w: int = 96) -> list[np.ndarray]:
    """Frames whose frame number can be read back from the mean of the top-left block."""
    out = []
    for i in range(n):
        image = np.zeros((h, w, 3), np.uint8)
        image[:16, :16] = 8 * i % 256
        image[-16:, -16:] = 255
        out.append(image)
    return out


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames at 29.97 fps, 96x64, readable frame numbers."""
    path = tmp_path_factory.mktemp("clips") / "tiny.mp4"
    return write_clip(path, pattern_frames(30), rate=Fraction(30000, 1001))


POSTGRES_ENV = "VIDFIQA_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, and the PostgreSQL server named by
    ``$VIDFIQA_TEST_POSTGRES_URL`` (CI starts one; ``VIDFIQA_REQUIRE_POSTGRES=1`` turns its
    absence into a failure instead of a skip)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("VIDFIQA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"VIDFIQA_REQUIRE_POSTGRES=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"set {POSTGRES_ENV} to a PostgreSQL database URL to run the PostgreSQL tests")
    from sqlalchemy import create_engine

    from vidfiqa.store.db import Base

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, tuple[str, int, int]], float]:
    """What an uninterrupted local `process` of the batch-test clips stores (tests/batches.py),
    and its wall time in seconds on this machine."""
    from tests.batches import VIDEOS, contents, run_process

    root = tmp_path_factory.mktemp("reference")
    db = f"sqlite:///{root / 'v.db'}"
    start = time.perf_counter()
    proc = run_process(db, root / "idx", VIDEOS)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    return contents(db), time.perf_counter() - start


@pytest.fixture(scope="session")
def reference(reference_run) -> dict[str, tuple[str, int, int]]:
    return reference_run[0]
