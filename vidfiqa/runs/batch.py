"""A batch of videos in one run: one after another in this process, or spread over Ray workers
(:mod:`vidfiqa.runs.ray`); then the index is brought in line with the store."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidfiqa.config import Config
from vidfiqa.runs.process import Outcome, Processor, start_run
from vidfiqa.store.db import Store, StoreError
from vidfiqa.store.index import IndexDir, IndexFileError
from vidfiqa.store.sync import sync_index


@dataclass(frozen=True, slots=True)
class RayOptions:
    """How ``run_batch`` spreads videos over Ray workers (see :mod:`vidfiqa.runs.ray`)."""

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    retries: int = 2


@dataclass(slots=True)
class BatchResult:
    """What a batch did: one outcome per video, in the order given, and the index changes per
    space, or ``index_error`` when the index could not be updated (the database keeps what was
    stored; ``vidfiqa index rebuild`` repairs the index)."""

    outcomes: list[Outcome]
    index_changes: dict[str, dict[str, int]]
    index_error: str = ""

    @property
    def failed(self) -> int:
        return sum(o.status == "failed" for o in self.outcomes)


def run_batch(
    videos: list[str],
    config: Config,
    store: Store,
    index_dir: IndexDir,
    *,
    force: bool = False,
    command: str = "process",
    ray: RayOptions | None = None,
    progress: Callable[[str], Any] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> BatchResult:
    """Process ``videos`` into ``store`` in one run, then bring the index in line with it.

    Args:
        ray: run on Ray workers (they write to ``store.url``, which they must reach) instead of
            one after another in this process.
        progress: ``progress(video)`` returns a context manager with ``update(n)`` and
            ``opened(info)`` (see :class:`vidfiqa.progress.FrameProgress`); local runs only.
        on_outcome: called with each outcome as it is known (local runs) or at the end (Ray).

    Raises:
        ModelFileError: the models cannot be loaded (local runs).
        WorkerStartError: a Ray worker could not load its models.
        KeyboardInterrupt: Ctrl-C; the run is recorded as ``interrupted`` and the index brought
            in line with the videos stored before it (see :func:`_interrupted`).
    """
    if ray is None:
        processor = Processor(config, store, index_dir, command=command)
        run_id = processor.run_id
    else:
        run_id = start_run(store, config, f"{command} --executor ray")
    try:
        if ray is None:
            outcomes = []
            for video in videos:
                with progress(video) if progress else contextlib.nullcontext() as bar:
                    hooks = {"progress": bar.update, "on_open": bar.opened} if bar else {}
                    outcome = processor.process(video, force=force, **hooks)
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)
        else:
            from vidfiqa.runs.ray import process_with_ray

            # Workers may start in another directory: give them absolute paths.
            paths = [str(Path(v).resolve()) if Path(v).exists() else v for v in videos]
            outcomes = process_with_ray(
                paths,
                config,
                store,
                absolute_url(store.url),
                str(index_dir.path.resolve()),
                run_id,
                force=force,
                **dataclasses.asdict(ray),
            )
            for outcome in outcomes:
                if on_outcome:
                    on_outcome(outcome)
    except KeyboardInterrupt:
        _interrupted(store, index_dir, run_id)
        raise
    try:
        changes, error = sync_index(store, index_dir), ""
    except (OSError, IndexFileError) as exc:
        changes, error = {}, (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
    store.finish_run(run_id)
    return BatchResult(outcomes, changes, error)


def _interrupted(store: Store, index_dir: IndexDir, run_id: int) -> None:
    """After Ctrl-C: record the run as interrupted and bring the index in line with the videos
    committed before it (each video is one transaction, so those are whole), so that ``runs``
    says what happened and ``index check`` passes without another run. A second Ctrl-C is
    ignored meanwhile; a failure here (say, a locked database) leaves the repair to the next run
    or ``vidfiqa index rebuild``, as a killed run does."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        store.finish_run(run_id, "interrupted")
        sync_index(store, index_dir)
    except (OSError, IndexFileError, StoreError):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute (other URLs unchanged)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).is_absolute():
        return parsed.set(database=str(Path(parsed.database).resolve())).render_as_string(hide_password=False)
    return url
