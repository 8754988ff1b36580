"""``vidfiqa.runs.best_frames``, the library behind ``best-frames``, called without click."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SAMPLES
from vidfiqa.config import load_config
from vidfiqa.runs.best_frames import VideoBest, best_frames


def test_best_frames_without_click(tmp_path: Path) -> None:
    seen: list[VideoBest] = []
    config = load_config(None, {"video.max_frames": 40, "select.top_k": 3})
    missing = str(tmp_path / "missing.mp4")
    run = best_frames([str(SAMPLES / "blur_ramp.mp4"), missing], config, tmp_path, on_video=seen.append)
    assert [v.summary["status"] for v in run.videos] == ["done", "failed"] and run.failed == 1
    assert seen == run.videos  # told as each video is known
    done = run.videos[0]
    assert done.summary["tracks"] == len(done.analysis.tracks) >= 1
    assert 1 <= done.summary["best_frames"] == len(done.picks) <= 3 * len(done.analysis.tracks)
    assert all(pick.reasons for pick in done.picks)
    assert "missing.mp4" in run.videos[1].summary["reason"]
    assert json.loads((tmp_path / "summary.json").read_text()) == [v.summary for v in run.videos]
    manifest = json.loads(run.manifest.read_text())
    assert len(manifest) == len(done.picks)
