"""HTML reports: `vidfiqa report` for a video and `eval ... --report`, their content, and that
they render in a real browser (Debian's chromium, headless): every image decodes, no console
error, and the screenshot shows a page."""

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import SAMPLES
from vidfiqa.cli import cli


@pytest.fixture(scope="module")
def video_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "group walk report.html"
    args = ["report", str(SAMPLES / "group_walk.mp4"), "--out", str(out), "--no-progress", "--top-k", "3"]
    result = CliRunner().invoke(cli, [*args, "--strategy", "best", "--strategy", "softmax:0.05"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def eval_report(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    args = ["eval", "ytf", "--root", str(shared_data / "ytf_mini"), "--protocol", "all-pairs", "--halves"]
    result = CliRunner().invoke(cli, [*args, "--max-frames", "6", "--out", str(out), "--report"])
    assert result.exit_code == 0, result.output
    return out / "results.html"


def _images(html: str) -> list[Image.Image]:
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert all(s.startswith("data:image/png;base64,") for s in sources)  # self-contained
    return [Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))) for s in sources]


def test_video_report_shows_tracks_timelines_best_frames_and_templates(video_report: Path) -> None:
    html = video_report.read_text()
    tracks = re.findall(r"<h2>Track (\d+)</h2>", html)
    assert len(tracks) == 8  # the clip's eight identities (tests/test_tracking_accuracy.py)
    assert "<h2>Contact sheet</h2>" in html
    assert (
        "<td>960x540</td><td>25.00</td><td>150</td><td>2</td><td>8</td>" in html
    )  # size, fps, frames, shots, tracks
    images = _images(html)
    # Contact sheet + per track a timeline and up to 3 crops.
    assert 1 + 2 * len(tracks) <= len(images) <= 1 + 4 * len(tracks)
    assert all(im.size[0] > 0 for im in images)
    assert html.count("<th>factors</th>") == len(tracks) and "sharpness" in html
    # Each template row lists its frames with weights that add up to 1.
    for cell in re.findall(r"<td>((?:\d+ \(\d\.\d{3}\)(?:, )?)+)</td>", html):
        weights = [float(w) for w in re.findall(r"\((\d\.\d{3})\)", cell)]
        assert abs(sum(weights) - 1) < 0.01
    assert html.count("<td>best</td>") == len(tracks) and html.count("<td>softmax:0.05</td>") == len(tracks)


def test_eval_report_holds_the_table_and_both_plots(eval_report: Path) -> None:
    html = eval_report.read_text()
    assert "<h2>ROC</h2>" in html and "<h2>EDC</h2>" in html
    assert "tar@far=0.001" in html and "<td>factors</td>" in html
    assert len(_images(html)) == 2


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("VIDFIQA_REQUIRE_CHROMIUM") == "1":
            pytest.fail("VIDFIQA_REQUIRE_CHROMIUM=1 but no chromium on PATH")
        pytest.skip("needs chromium (apt-get install chromium; CI installs it)")
    return found


@pytest.mark.parametrize("page", ["video_report", "eval_report"])
def test_pages_render_in_chromium(page: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    browser = _chromium()
    url = request.getfixturevalue(page).resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    flags += ["--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [browser, *flags, "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Set by the page's own check once loaded (vidfiqa/html.py).
    assert 'data-broken-images="0"' in dom.stdout
    shown = int(re.search(r'data-images="(\d+)"', dom.stdout).group(1))
    assert shown >= 2
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [browser, *flags, "--window-size=1200,1600", f"--screenshot={shot}", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1200) and pixels.std() > 10  # text, tables and images, not blank
