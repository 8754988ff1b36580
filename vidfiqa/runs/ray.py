"""Process videos on Ray: a pool of worker actors, each holding the models once, takes videos
from a shared list; every worker writes its videos to the shared database itself (one transaction
per video), and the driver brings the FAISS index in line with the database at the end.

Scale-out needs nothing else of the machines: a local Ray instance (``address=None``, the
default) or a cluster (``address="ray://head:10001"`` or ``"auto"`` on a cluster node), a database
every worker reaches (PostgreSQL for a cluster; a SQLite file works on one machine), and the video
paths readable from every worker (shared storage).

A worker that dies (killed, out of memory, a crash in native code) is restarted by Ray, models
loaded again, and its video retried up to ``retries`` times; a video that still kills its worker
is reported and stored as failed, and the batch goes on. A video that fails for its own reasons
(unreadable, damaged) is stored as failed by the worker, as in a local run.

The index is not built by the workers: the driver's sync after the last video adds exactly the
templates that the database holds, so there are no per-worker shards to merge and no race between
writers of one index file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import asdict
from typing import Any

from vidfiqa.config import Config
from vidfiqa.runs.process import Outcome, store_failure
from vidfiqa.store.db import Store


class WorkerStartError(Exception):
    """The workers could not load their models; the message is one line."""


class _Worker:
    """One Ray actor: models loaded once, then any number of videos."""

    def __init__(self, config: dict[str, Any], db: str, index: str, run_id: int, threads: int):
        import torch

        from vidfiqa.models.files import ModelFileError
        from vidfiqa.runs.process import Processor
        from vidfiqa.store.db import StoreError
        from vidfiqa.store.index import IndexDir

        # Workers share the machine's cores: as many torch threads as the worker has CPUs.
        torch.set_num_threads(threads)
        self.error = ""
        try:
            self.processor = Processor(
                Config.model_validate(config),
                Store(db),
                IndexDir(index),
                command="process --executor ray",
                run_id=run_id,
            )
            self.processor.models()  # a worker exists to process: load its models now
        except (ModelFileError, StoreError) as exc:
            # Kept, not raised, so that the driver can show this one line instead of Ray's
            # wrapped traceback of a failed actor creation.
            self.error = str(exc)

    def ready(self) -> str:
        """Empty when the models loaded, else why not."""
        return self.error

    def process(self, video: str, force: bool) -> dict[str, Any]:
        return asdict(self.processor.process(video, force=force))


def _size(path: str) -> int:
    """The file's size in bytes, a proxy for the work it takes; 0 if the driver cannot see it."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def process_with_ray(
    videos: list[str],
    config: Config,
    store: Store,
    db: str,
    index: str,
    run_id: int,
    *,
    address: str | None = None,
    workers: int = 2,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    retries: int = 2,
    force: bool = False,
) -> list[Outcome]:
    """Outcomes of ``videos`` processed by ``workers`` Ray actors, in the order given.

    Args:
        store: the driver's connection to the database the workers write to (``db``, a URL
            every worker can reach), for recording videos whose worker died on every try.
        index: folder of the FAISS index (the workers do not write it; see the module).
        run_id: the run the workers store their videos under.
        cpus_per_worker: Ray CPUs reserved per worker, also its torch thread count (at least
            1); more make each video faster, fewer let more workers share a node.
        gpus_per_worker: Ray GPUs per worker; fractions let workers share one GPU.
        retries: how often a video is tried again after its worker died processing it.

    Raises:
        WorkerStartError: a worker could not load its models.
    """
    import ray
    from ray.exceptions import RayActorError

    started_here = not ray.is_initialized()
    # Ray prints its own notices (a worker died, a task is retried) to stdout, which is reserved
    # for the JSON results: they go to stderr with the rest of the progress.
    with contextlib.redirect_stdout(sys.stderr):
        if started_here:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                options["num_cpus"] = max(workers * cpus_per_worker, 1)
            ray.init(address=address, **options)
        try:
            # Unlimited restarts: the retry budget is per video (max_task_retries), so one bad
            # video cannot use up a worker's lives and fail the videos after it.
            actor = ray.remote(
                num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=-1, max_task_retries=retries
            )(_Worker)
            spec = (config.model_dump(mode="json"), db, index, run_id, max(1, int(cpus_per_worker)))
            pool = [actor.remote(*spec) for _ in range(min(workers, len(videos)))]
            try:
                errors = {e for e in ray.get([a.ready.remote() for a in pool]) if e}
            except RayActorError as exc:
                raise WorkerStartError(f"a Ray worker could not start: {_first_line(exc)}") from None
            if errors:
                raise WorkerStartError(sorted(errors)[0])
            outcomes: dict[int, Outcome] = {}
            # Largest files first (popped from the end): a long video started last would keep
            # one worker busy while the others idle.
            waiting = sorted(enumerate(videos), key=lambda iv: (_size(iv[1]), -iv[0]))
            running: dict[Any, tuple[Any, int]] = {}
            while waiting or running:
                while pool and waiting:
                    worker = pool.pop()
                    i, video = waiting.pop()
                    running[worker.process.remote(video, force)] = (worker, i)
                (ref,), _ = ray.wait(list(running), num_returns=1)
                worker, i = running.pop(ref)
                try:
                    outcomes[i] = Outcome(**ray.get(ref))
                except RayActorError as exc:
                    video = videos[i]
                    reason = f"{video}: its worker died on all {retries + 1} tries ({_first_line(exc)})"
                    video_id = store_failure(store, config, run_id, video, reason)
                    outcomes[i] = Outcome(video, "failed", reason, video_id=video_id)
                pool.append(worker)
        finally:
            if started_here:
                ray.shutdown()
    return [outcomes[i] for i in range(len(videos))]
