"""HTML reports: `vidfiqa report` for a video file, for what a `process` run stored, and
`eval ... --report`; their content, and that they render in a real browser (Debian's chromium,
headless): every image decodes, no console error, and the screenshot shows a page."""

import base64
import io
import json
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
from vidfiqa.cli.main import cli

STRATEGIES = ["--strategy", "best", "--strategy", "softmax:0.05"]


@pytest.fixture(scope="module")
def video_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "group walk report.html"
    args = ["report", str(SAMPLES / "group_walk.mp4"), "--out", str(out), "--no-progress", "--top-k", "3"]
    result = CliRunner().invoke(cli, [*args, *STRATEGIES])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A database where one run stored group_walk (as the fresh report analyses it) and
    blur_ramp, and the folder of that run's report pages."""
    root = tmp_path_factory.mktemp("stored")
    db = f"sqlite:///{root / 'v.db'}"
    videos = [str(SAMPLES / "group_walk.mp4"), str(SAMPLES / "blur_ramp.mp4")]
    store = ["--db", db, "--index", str(root / "idx")]
    result = CliRunner().invoke(cli, ["process", *videos, *store, "--no-progress", *STRATEGIES])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli, ["report", "run:last", "--db", db, "--out", str(root / "pages"), "--top-k", "3"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"report: {root / 'pages' / 'video1_group_walk.html'}",
        f"report: {root / 'pages' / 'video2_blur_ramp.html'}",
        f"report: {root / 'pages' / 'index.html'}",
    ]
    return db, root / "pages"


@pytest.fixture(scope="module")
def run_index(stored: tuple[str, Path]) -> Path:
    return stored[1] / "index.html"


@pytest.fixture(scope="module")
def stored_report(stored: tuple[str, Path]) -> Path:
    return stored[1] / "video1_group_walk.html"


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


@pytest.mark.slow
def test_video_report_shows_tracks_timelines_best_frames_and_templates(video_report: Path) -> None:
    html = video_report.read_text()
    tracks = re.findall(r"<h2>Track (\d+)</h2>", html)
    assert len(tracks) == 7  # the clip's seven identities (sample_videos/group_walk.json), one track each
    assert "<h2>Contact sheet</h2>" in html
    assert (
        "<td>960x540</td><td>25.00</td><td>150</td><td>clean</td><td>2</td><td>7</td>" in html
    )  # size, fps, frames, shots, tracks
    images = _images(html)
    # Contact sheet + per track a timeline, its factors, where it is and up to 3 crops.
    assert 1 + 3 * len(tracks) <= len(images) <= 1 + 6 * len(tracks)
    assert all(im.size[0] > 0 for im in images)
    # The default scorer (distilled) explains with its learned degradation levels.
    assert html.count("<th>factors</th>") == len(tracks) and "blur_level" in html
    assert "learned degradation" in html
    # Each template row lists its frames with weights that add up to 1.
    for cell in re.findall(r"<td>((?:\d+ \(\d\.\d{3}\)(?:, )?)+)</td>", html):
        weights = [float(w) for w in re.findall(r"\((\d\.\d{3})\)", cell)]
        assert abs(sum(weights) - 1) < 0.01
    assert html.count("<td>best</td>") == len(tracks) and html.count("<td>softmax:0.05</td>") == len(tracks)
    assert "<td>retinaface, every 2 frames, the whole frame every 2 key frames</td>" in html


def test_detection_options_reach_the_run(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    args = ["report", str(SAMPLES / "group_walk.mp4"), "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(cli, [*args, "--max-frames", "6", "--detect-every", "3", "--full-every", "1"])
    assert result.exit_code == 0, result.output
    assert "<td>retinaface, every 3 frames</td>" in out.read_text()


def _without_store_references(html: str) -> str:
    """The page after its summary table, less what names stored rows (track:ID, template:ID)."""
    html = html.split("</table>", 1)[1]
    html = re.sub(r"<p class=meta>track:\d+, ", "<p class=meta>", html)
    return re.sub(r"<td>template:\d+</td>", "", html.replace("<th>stored as</th>", ""))


@pytest.mark.slow
def test_stored_run_report_is_the_fresh_report_of_the_same_video(
    video_report: Path, stored_report: Path
) -> None:
    # Same tracks, qualities, picks, crops, timelines and template weights, byte for byte: the
    # page of a stored run is made from the database and loses nothing.
    html = stored_report.read_text()
    assert _without_store_references(html) == _without_store_references(video_report.read_text())
    row = "<td>video:1, run:1</td><td>done</td><td>960x540</td><td>25.00</td><td>150</td><td>clean</td>"
    assert row + "<td>7</td>" in html
    track_refs = re.findall(r"<h2>Track \d+</h2><p class=meta>track:(\d+), ", html)
    assert track_refs == [str(i) for i in range(1, 8)]
    assert len(re.findall(r"<td>template:\d+</td><td>best</td>", html)) == 7


def test_stored_report_of_one_video_with_a_strategy_and_a_label(
    stored: tuple[str, Path], tmp_path: Path
) -> None:
    db, _ = stored
    result = CliRunner().invoke(cli, ["enroll", "track:8", "--label", "Eileen Collins", "--db", db])
    assert result.exit_code == 0, result.output
    out = tmp_path / "blur.html"
    args = ["report", "video:2", "--db", db, "--out", str(out), "--strategy", "softmax:0.05"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"report: {out}\n"
    html = out.read_text()
    assert "track:8 (Eileen Collins), " in html and "<h2>Contact sheet</h2>" in html
    assert "<td>softmax:0.05</td>" in html and "<td>best</td>" not in html
    assert len(re.findall(r"<td><img ", html)) == 5  # the five best frames with their faces


def test_stored_report_without_its_video_file_keeps_the_rest(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(SAMPLES / "blur_ramp.mp4", clip)
    db = f"sqlite:///{tmp_path / 'v.db'}"
    store = ["--db", db, "--index", str(tmp_path / "idx")]
    result = CliRunner().invoke(cli, ["process", str(clip), *store, "--no-progress", "--max-frames", "40"])
    assert result.exit_code == 0, result.output
    pages = {}
    for case in ("changed", "gone"):
        if case == "changed":
            clip.write_bytes(clip.read_bytes()[:-100])
        else:
            clip.unlink()
        pages[case] = tmp_path / f"{case}.html"
        result = CliRunner().invoke(cli, ["report", "run:1", "--db", db, "--out", str(pages[case])])
        assert result.exit_code == 0, result.output
    changed, gone = pages["changed"].read_text(), pages["gone"].read_text()
    assert (
        f"{clip.resolve()} has changed since it was processed: best frames shown without their faces"
        in changed
    )
    assert f"{clip.resolve()} cannot be read any more: best frames shown without their faces" in gone
    for html in (changed, gone):
        assert "<h2>Track 0</h2>" in html and "<h2>Contact sheet</h2>" not in html
        assert "<td><img " not in html and "quality timeline of track 0" in html


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run:7", "--out", "r.html"], 1, "Error: no run 7 in the database; see 'vidfiqa runs'"),
        (["video:7", "--out", "r.html"], 1, "Error: no video 7 in the database; see 'vidfiqa runs'"),
        (["run:1", "--out", "r.html"], 1, "Error: 2 videos to report: give --out a folder for one page each"),
        (["run:1", "--out", "r", "--detector", "dlib-cnn"], 2, "Error: --detector applies to a video file"),
        (["video:last", "--out", "r"], 2, "Error: video:last is not a reference; use video:ID or run:last"),
    ],
)
def test_stored_report_errors_are_one_line(stored, args, code, message, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["report", *args, "--db", stored[0]])
    assert result.exit_code == code
    assert result.stderr.splitlines()[-1].startswith(message), result.stderr
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())


def test_a_run_report_has_an_index_page_linking_each_video(run_index: Path) -> None:
    """Issue 25.18: report run:last writes the run's summary page beside its video pages."""
    html = run_index.read_text()
    assert "<td>run:1</td><td>process</td>" in html and "<td>2 done</td>" in html
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)
    assert links == [("video1_group_walk.html", "group_walk.mp4"), ("video2_blur_ramp.html", "blur_ramp.mp4")]
    assert all((run_index.parent / page).is_file() for page, _ in links)
    assert "<td>video:1</td><td>done</td><td>960x540</td>" in html


def test_each_track_shows_its_factors_over_time_and_where_it_is(stored_report: Path) -> None:
    """Issue 25.18: per track, each quality factor over its frames, and a full frame (at most
    480 px wide) with the track's box in red."""
    html = stored_report.read_text()
    tracks = re.findall(r"<h2>Track (\d+)</h2>", html)
    sources = dict((alt, src) for src, alt in re.findall(r'<img src="([^"]+)" alt="([^"]+)"', html))
    for track in tracks:
        assert f"quality factors of track {track}" in sources
        (where,) = [alt for alt in sources if re.fullmatch(rf"frame \d+ with track {track}", alt)]
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(sources[where].split(",", 1)[1]))))
        assert image.shape[1] == 480  # group_walk is 960 wide
        red = (image[..., 0] > 200) & (image[..., 1] < 40) & (image[..., 2] < 40)
        assert red.sum() > 100  # the track's box
    assert html.count("<h3>Where</h3>") == len(tracks) == 7


def test_runs_lists_what_each_run_stored(stored: tuple[str, Path]) -> None:
    result = CliRunner().invoke(cli, ["runs", "--db", stored[0]])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)
    assert run["run_id"] == 1 and run["command"] == "process" and run["finished_at"]
    assert run["video_ids"] == [1, 2] and run["statuses"] == {"done": 2}


def test_eval_report_holds_the_table_and_both_plots(eval_report: Path) -> None:
    html = eval_report.read_text()
    assert "<h2>ROC</h2>" in html and "<h2>EDC</h2>" in html
    assert "tar@far=0.001" in html and "<td>distilled</td>" in html
    assert len(_images(html)) == 2


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("VIDFIQA_REQUIRE_CHROMIUM") == "1":
            pytest.fail("VIDFIQA_REQUIRE_CHROMIUM=1 but no chromium on PATH")
        pytest.skip("needs chromium (apt-get install chromium; CI installs it)")
    return found


@pytest.mark.parametrize("page", ["video_report", "stored_report", "eval_report", "run_index"])
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
    assert shown >= (0 if page == "run_index" else 2)  # the index is text and links
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
