"""Process videos on Ray: a pool of worker actors, each holding the models once, takes videos
from a shared list; every worker writes its videos to the shared database itself (one transaction
per video), and the driver brings the FAISS index in line with the database at the end.

Scale-out needs nothing else of the machines: a local Ray instance (``address=None``, the
default) or a cluster (``address="ray://head:10001"`` or ``"auto"`` on a cluster node), a database
every worker reaches (PostgreSQL for a cluster; a SQLite file works on one machine), and the video
paths readable from every worker (shared storage). A worker that dies (killed, out of memory) is
restarted and its video retried up to ``retries`` times; a video that fails for its own reasons is
stored as failed, as in a local run.

The index is not built by the workers: the driver's sync after the last video adds exactly the
templates that the database holds, so there are no per-worker shards to merge and no race between
writers of one index file.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from vidfiqa.config import Config
from vidfiqa.process import Outcome


class _Worker:
    """One Ray actor: models loaded once, then any number of videos."""

    def __init__(self, config: dict[str, Any], db: str, index: str, threads: int):
        import torch

        from vidfiqa.index import IndexDir
        from vidfiqa.process import Processor
        from vidfiqa.store import Store

        # Workers share the machine's cores: one torch thread each, unless told otherwise.
        torch.set_num_threads(threads)
        self.processor = Processor(
            Config.model_validate(config), Store(db), IndexDir(index), command="process --executor ray"
        )

    def process(self, video: str, force: bool) -> dict[str, Any]:
        return asdict(self.processor.process(video, force=force))


def process_with_ray(
    videos: list[str],
    config: Config,
    db: str,
    index: str,
    *,
    address: str | None = None,
    workers: int = 2,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    retries: int = 2,
    force: bool = False,
) -> list[Outcome]:
    """Outcomes of ``videos`` processed by ``workers`` Ray actors, in the order given."""
    import ray
    from ray.util import ActorPool

    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            options["num_cpus"] = max(workers * cpus_per_worker, 1)
        ray.init(address=address, **options)
    try:
        actor = ray.remote(
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=retries, max_task_retries=retries
        )(_Worker)
        threads = max(1, int(cpus_per_worker))
        pool = ActorPool(
            [actor.remote(config.model_dump(mode="json"), db, index, threads) for _ in range(workers)]
        )
        rows = list(pool.map(lambda a, video: a.process.remote(video, force), videos))
    finally:
        if started_here:
            ray.shutdown()
    return [Outcome(**row) for row in rows]
