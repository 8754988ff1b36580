"""Helpers shared by the batch tests (crash safety, concurrency, Ray): run `vidfiqa process` on
the sample clips in a subprocess and read back what the database holds."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import SAMPLES
from vidfiqa.cli.main import cli
from vidfiqa.store.db import Store

VIDEOS = [SAMPLES / "blur_ramp.mp4", SAMPLES / "single_face_motion.mp4", SAMPLES / "group_walk.mp4"]
# Short enough to run many times, long enough for several tracks and a shot cut in group_walk.
OPTIONS = ["--max-frames", "110", "--no-progress", "--strategy", "best", "--strategy", "mean"]


def run_process(db: str, index: Path, videos: list[Path], *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vidfiqa", "process", *map(str, videos), "--db", db, "--index", str(index)]
    return subprocess.Popen(
        [*cmd, *OPTIONS, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def contents(db: str) -> dict[str, tuple[str, int, int]]:
    """path -> (status, tracks, templates), failing on any duplicated video."""
    store = Store(db)
    videos = store.videos()
    paths = Counter(v.path for v in videos)
    assert all(n == 1 for n in paths.values()), f"duplicated videos: {paths}"
    out = {}
    for v in videos:
        tracks = store.tracks(v.id)
        templates = sum(len(store.templates(track_id=t["track_id"])) for t in tracks)
        out[v.path] = (v.status, len(tracks), templates)
    store.close()
    return out


def index_agrees(db: str, index: Path) -> None:
    result = CliRunner().invoke(cli, ["index", "check", "--db", db, "--index", str(index)])
    assert result.exit_code == 0, result.output
