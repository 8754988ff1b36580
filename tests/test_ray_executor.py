"""`vidfiqa process --executor ray` on a local Ray instance (2 CPUs), against SQLite and the real
PostgreSQL server: the same database as a local run, the index in line with it, and workers
killed with SIGKILL mid-video restarted with their video retried."""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.batches import OPTIONS, VIDEOS, contents, index_agrees
from vidfiqa.cli.main import cli
from vidfiqa.store.db import Store

pytest.importorskip("ray")


pytestmark = pytest.mark.slow  # subprocesses, kills, fuzzing: minutes


def test_ray_workers_store_what_a_local_run_stores(reference, db_url: str, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    missing = tmp_path / "missing.mp4"
    args = ["process", *map(str, VIDEOS), str(missing), "--db", db_url, "--index", str(index), *OPTIONS]
    result = CliRunner().invoke(cli, [*args, "--executor", "ray", "--workers", "2"])
    assert result.exit_code == 1, result.output  # the missing file fails, the batch goes on
    assert "1 of 4 videos failed" in result.output and f"{missing}: no such file" in result.output
    assert contents(db_url) == reference
    index_agrees(db_url, index)
    runs = Store(db_url).runs()  # one run for the batch, whichever worker stored a video
    assert len(runs) == 1 and len(runs[0]["video_ids"]) == 3 and runs[0]["finished_at"]


def _processing_workers() -> list[int]:
    """Pids of Ray workers busy in ``_Worker.process`` (Ray names the process after its task)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "cmdline").read_bytes().startswith(b"ray::_Worker.process"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


class Killer(threading.Thread):
    """SIGKILLs each of the next ``times`` workers seen processing a video, ``after`` seconds into
    it: mid-video, like the OOM killer would."""

    def __init__(self, times: int, after: float = 1.0):
        super().__init__(daemon=True)
        self.times, self.after, self.killed = times, after, []
        self.stop = threading.Event()

    def run(self) -> None:
        seen: dict[int, float] = {}
        while len(self.killed) < self.times and not self.stop.is_set():
            now = time.monotonic()
            for pid in _processing_workers():
                if pid not in self.killed and now - seen.setdefault(pid, now) >= self.after:
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
                    break
            time.sleep(0.05)


def _run_killing(killer: Killer, args: list[str]):
    killer.start()
    try:
        return CliRunner().invoke(cli, args)
    finally:
        killer.stop.set()
        killer.join()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers in /proc")
def test_a_killed_worker_is_restarted_and_its_video_retried(reference, db_url: str, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    args = ["process", *map(str, VIDEOS), "--db", db_url, "--index", str(index), *OPTIONS]
    killer = Killer(times=1)
    result = _run_killing(killer, [*args, "--executor", "ray", "--workers", "2"])
    assert len(killer.killed) == 1
    assert result.exit_code == 0, result.output
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    # A worker killed after its commit is retried too, and then finds its video stored.
    assert len(statuses) == 3 and set(statuses) <= {"done", "skipped"}, result.stdout
    assert contents(db_url) == reference
    index_agrees(db_url, index)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers in /proc")
def test_a_video_that_kills_every_try_fails_alone(reference, tmp_path: Path) -> None:
    db, index = f"sqlite:///{tmp_path / 'v.db'}", tmp_path / "idx"
    # One worker, largest file first: both tries of group_walk die before blur_ramp starts.
    doomed, fine = VIDEOS[2], VIDEOS[0]
    args = ["process", str(doomed), str(fine), "--db", db, "--index", str(index), *OPTIONS]
    killer = Killer(times=2)
    result = _run_killing(killer, [*args, "--executor", "ray", "--workers", "1", "--retries", "1"])
    assert len(killer.killed) == 2
    assert result.exit_code == 1
    assert f"error: {doomed.resolve()}: its worker died on all 2 tries" in result.stderr
    assert "1 of 2 videos failed" in result.stderr
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["status"] for o in outcomes] == ["failed", "done"]
    stored = contents(db)
    assert stored[str(doomed.resolve())] == ("failed", 0, 0)
    assert stored[str(fine.resolve())] == reference[str(fine.resolve())]
    index_agrees(db, index)


def test_without_ray_installed_the_ray_executor_says_how_to_get_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra sees
    db = f"sqlite:///{tmp_path / 'v.db'}"
    args = ["process", str(VIDEOS[0]), "--db", db, "--index", str(tmp_path / "idx"), "--executor", "ray"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output == "Error: --executor ray needs Ray: pip install 'vidfiqa[ray]'\n"
    assert Store(db).runs() == []  # nothing started


def test_workers_that_cannot_load_their_models_stop_the_batch_in_one_line(tmp_path: Path) -> None:
    args = ["process", str(VIDEOS[0]), "--db", f"sqlite:///{tmp_path / 'v.db'}", "--index", str(tmp_path)]
    args += ["--scorer", "ediffiqa-s", "--model-root", str(tmp_path / "no models"), "--no-progress"]
    result = CliRunner().invoke(cli, [*args, "--executor", "ray", "--workers", "1"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "ediffiqa" in last.lower(), result.output
