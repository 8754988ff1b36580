"""A bounded run of the atheris harness (tests/fuzz/fuzz_open_video.py) on mutations of a real
clip: no input may raise anything but VideoError, crash or hang the decoder."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

pytest.importorskip("atheris")
pytestmark = pytest.mark.slow  # subprocesses, kills, fuzzing: minutes


HARNESS = Path(__file__).parent / "fuzz" / "fuzz_open_video.py"


def test_fuzzing_video_opening_finds_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLES / "single_face_motion.mp4", corpus / "seed.mp4")
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            str(corpus),
            "-max_total_time=30",
            "-timeout=20",
            "-rss_limit_mb=4096",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    log = result.stderr
    assert result.returncode == 0, log[-3000:]
    runs = [line for line in log.splitlines() if line.startswith("Done ")]
    assert runs, log[-2000:]  # "Done N runs in T second(s)"
    assert int(runs[-1].split()[1]) >= 50
