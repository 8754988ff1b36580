"""`vidfiqa process` killed with SIGKILL at random points and re-run, and two runs on one database
at once: nothing lost, nothing duplicated, index and database agree."""

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.batches import VIDEOS, contents, index_agrees, run_process

pytestmark = pytest.mark.slow  # subprocesses, kills, fuzzing: minutes


def test_killed_runs_leave_no_duplicates_and_rerun_completes(reference_run, tmp_path: Path) -> None:
    reference, seconds = reference_run
    db, index = f"sqlite:///{tmp_path / 'v.db'}", tmp_path / "idx"
    rng = random.Random(7)
    killed = 0
    for attempt in range(6):
        # Every other run re-processes everything (--force replaces stored videos), so that its
        # kill lands mid-run however much earlier runs stored: while decoding, scoring, replacing
        # a stored video and saving the index. Times scale with this machine's uninterrupted run.
        proc = run_process(db, index, VIDEOS, *(["--force"] if attempt % 2 else []))
        time.sleep(rng.uniform(0.3, 0.9) * seconds)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        stored = contents(db)  # also: no duplicate after any kill
        # Whatever is stored is whole: a killed replacement leaves the old version.
        assert all(stored[path] == reference[path] for path in stored), stored
    assert killed >= 3
    proc = run_process(db, index, VIDEOS)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    assert contents(db) == reference
    index_agrees(db, index)


def test_two_runs_at_once_on_one_database(reference, db_url: str, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    first = run_process(db_url, index, VIDEOS)
    second = run_process(db_url, index, VIDEOS[::-1])
    for proc in (first, second):
        assert proc.wait(timeout=900) == 0, proc.stderr.read()
    assert contents(db_url) == reference
    index_agrees(db_url, index)
    # A third run, to check the index the two left behind is sound, finds everything stored.
    third = run_process(db_url, index, VIDEOS)
    out, _ = third.communicate(timeout=600)
    assert third.returncode == 0 and out.count('"status": "skipped"') == len(VIDEOS)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_during_index_save_keeps_the_old_file(tmp_path: Path) -> None:
    # The index file is replaced by rename: a writer killed half-way leaves a stray temporary
    # file at most, and the next run's check and sync still load the index.
    db, index = f"sqlite:///{tmp_path / 'v.db'}", tmp_path / "idx"
    proc = run_process(db, index, VIDEOS[:1])
    assert proc.wait(timeout=600) == 0
    (index / "dlib-resnet__best__factors.faiss.123.tmp").write_bytes(b"half-written")
    index_agrees(db, index)
    proc = run_process(db, index, VIDEOS[:1])
    assert proc.wait(timeout=600) == 0


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_ctrl_c_records_the_run_as_interrupted_and_leaves_the_index_consistent(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from vidfiqa.cli.main import cli

    db, index = f"sqlite:///{tmp_path / 'v.db'}", tmp_path / "idx"
    proc = run_process(db, index, VIDEOS)
    first = proc.stdout.readline()  # the first video is stored: interrupt the second
    assert '"status": "done"' in first, first + proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted: the videos finished before are stored" in err
    runs = json.loads(CliRunner().invoke(cli, ["runs", "--db", db]).output)
    assert runs[-1]["status"] == "interrupted" and runs[-1]["finished_at"] is not None
    stored = contents(db)
    assert 1 <= len(stored) < len(VIDEOS) and all(s == "done" for s, _, _ in stored.values())
    index_agrees(db, index)  # without another run
    proc = run_process(db, index, VIDEOS)  # and the rerun does the rest
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    assert len(contents(db)) == len(VIDEOS)
    assert json.loads(CliRunner().invoke(cli, ["runs", "--db", db]).output)[-1]["status"] == "finished"
