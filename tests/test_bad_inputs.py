"""One `vidfiqa process` batch over the bad-input corpus (tests/bad_inputs.py): every file gets a
status and a one-line reason, the batch never stops, and the exit code says something failed."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.bad_inputs import build
from vidfiqa.cli.main import cli
from vidfiqa.store.db import Store

# name -> (status, what the reason says, least tracks); None: any.
pytestmark = pytest.mark.slow  # subprocesses, kills, fuzzing: minutes


EXPECTED = {
    "zero_bytes": ("failed", "empty file", 0),
    "random_bytes": ("failed", "cannot open video", 0),
    "truncated_10": ("failed", "no decodable video frames", 0),
    "truncated_50": ("partial", "decoded 7 of the 40 frames", 1),
    "truncated_90": ("partial", "of the 40 frames the container lists", 1),
    "no_moov": ("failed", "cannot open video", 0),
    "unknown_codec": ("failed", "unsupported or unknown video codec", 0),
    "lossy_h264": ("partial", "damaged frames skipped", 1),
    "audio_only": ("failed", "no video stream", 0),
    "still_image": ("done", None, 1),
    "one_frame": ("done", None, 0),
    "4k": ("done", None, 1),
    "8k": ("done", None, 0),
    "vfr": ("done", None, 1),
    "rotated_90": ("done", None, 1),
    "rotated_180": ("done", None, 1),
    "rotated_270": ("done", None, 1),
    "gray": ("done", None, 1),
    "yuv444p": ("done", None, 1),
    "10bit": ("done", None, 1),
    "odd_path": ("done", None, 1),
    "directory": ("failed", "is a directory, not a video file", 0),
    "missing": ("failed", "no such file", 0),
    "no_faces": ("done", None, 0),
    "crowd_50": ("done", None, 50),
}


@pytest.fixture(scope="module")
def batch(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bad")
    files = build(root / "inputs", shared_data)
    db = f"sqlite:///{root / 'v.db'}"
    args = ["process", *map(str, files.values()), "--db", db, "--index", str(root / "idx"), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    outcomes = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            outcomes[row["path"]] = row
    by_name = {}
    for name, path in files.items():
        key = str(path.resolve()) if path.is_file() else str(path)
        by_name[name] = outcomes[key]
    return result, by_name, db


def test_every_input_gets_the_expected_outcome(batch) -> None:
    result, outcomes, _ = batch
    assert set(outcomes) == set(EXPECTED)
    for name, (status, reason, least_tracks) in EXPECTED.items():
        got = outcomes[name]
        if status is not None:
            assert got["status"] == status, (name, got)
        else:
            assert got["status"] in ("done", "partial"), (name, got)
        if reason is not None:
            assert reason in got["reason"], (name, got)
        assert got["tracks"] >= least_tracks, (name, got)
        if name == "crowd_50":
            assert got["tracks"] == 50
        assert "\n" not in got["reason"]
        if got["status"] == "failed":
            assert got["reason"].startswith(got["path"]), (name, got)


def test_the_batch_goes_on_and_reports(batch) -> None:
    result, outcomes, db = batch
    failed = sum(o["status"] == "failed" for o in outcomes.values())
    assert result.exit_code == 1 and f"{failed} of {len(EXPECTED)} videos failed" in result.output
    assert "Traceback" not in result.output
    tail = result.stderr[result.stderr.index("summary:") :].splitlines()
    summary = [line for line in tail if line.startswith(("summary:", "  "))]
    assert len(summary) == 1 + len(EXPECTED)
    assert summary[0].startswith(f"summary: {sum(o['status'] == 'done' for o in outcomes.values())} done")
    # Every file that exists has its video row with the same status.
    stored = {v.path: v for v in Store(db).videos()}
    for name, outcome in outcomes.items():
        if name in ("directory", "missing"):
            continue
        assert stored[outcome["path"]].status == outcome["status"], name
        assert (stored[outcome["path"]].reason or "") == outcome["reason"], name
