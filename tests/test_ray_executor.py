"""`vidfiqa process --executor ray` on a local Ray instance (2 CPUs), against SQLite and the real
PostgreSQL server: the same database as a local run, the index in line with it."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.batches import VIDEOS, contents, index_agrees
from vidfiqa.cli import cli

pytest.importorskip("ray")
OPTIONS = ["--max-frames", "110", "--no-progress", "--strategy", "best", "--strategy", "mean"]


def test_ray_workers_store_what_a_local_run_stores(reference, db_url: str, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    missing = tmp_path / "missing.mp4"
    args = ["process", *map(str, VIDEOS), str(missing), "--db", db_url, "--index", str(index), *OPTIONS]
    result = CliRunner().invoke(cli, [*args, "--executor", "ray", "--workers", "2"])
    assert result.exit_code == 1, result.output  # the missing file fails, the batch goes on
    assert "1 of 4 videos failed" in result.output and f"{missing}: no such file" in result.output
    assert contents(db_url) == reference
    index_agrees(db_url, index)
