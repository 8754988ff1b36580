"""Best frames of videos, without a database: per video its tracks' K best faces as crops, a
contact sheet, and one manifest and ``summary.json`` for the whole run (``best-frames``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidfiqa.build import Stages, build_stages
from vidfiqa.config import Config
from vidfiqa.pipeline.analyse import VideoAnalysis, analyse_video
from vidfiqa.pipeline.export import clear_previous_run, video_folders, write_best_frames, write_manifest
from vidfiqa.pipeline.select import Selection, select_best
from vidfiqa.runs.notes import partial_reason, summary_notes
from vidfiqa.video import VideoError


@dataclass(slots=True)
class VideoBest:
    """What one video gave: its entry of ``summary.json`` (status done, partial or failed, the
    reason, notes and counts) and, unless it failed, its analysis and picks."""

    summary: dict[str, Any]
    analysis: VideoAnalysis | None = None
    picks: list[Selection] = field(default_factory=list)


@dataclass(slots=True)
class BestFramesRun:
    """A run: one :class:`VideoBest` per video in the order given, and the manifest written
    (``None`` when every video failed: then the folder keeps what an earlier run wrote)."""

    videos: list[VideoBest]
    manifest: Path | None

    @property
    def failed(self) -> int:
        return sum(v.summary["status"] == "failed" for v in self.videos)


def pick_best(analysis: VideoAnalysis, config: Config) -> list[Selection]:
    """The ``select.top_k`` best faces of every track of ``analysis``, by the config's rules."""
    s = config.select
    return [
        pick
        for track in analysis.tracks
        for pick in select_best(
            track, s.top_k, min_gap=s.min_gap, floor=s.relative_floor, low=analysis.score_range[0]
        )
    ]


def best_frames(
    videos: list[str],
    config: Config,
    out: Path,
    *,
    progress: Callable[[str], Any] | None = None,
    on_video: Callable[[VideoBest], None] | None = None,
) -> BestFramesRun:
    """Analyse each of ``videos`` with ``config`` and write its best frames under ``out`` (an
    existing, writable folder); a rerun into ``out`` replaces what the previous run wrote there.

    Args:
        progress: ``progress(video)`` gives a context manager with ``update(n)`` and
            ``opened(info)`` (:class:`vidfiqa.progress.FrameProgress`).
        on_video: called with each video's result as soon as it is known.

    Raises:
        ModelFileError: the models cannot be loaded (when the first video has opened).
    """
    stages: list[Stages] = []  # built once, when the first video has opened

    def models() -> Stages:
        if not stages:
            stages.append(build_stages(config))
        return stages[0]

    results, rows, written = [], [], []
    for video, folder in zip(videos, video_folders(list(videos))):
        try:
            with progress(video) if progress else contextlib.nullcontext() as bar:
                hooks = {"progress": bar.update, "on_open": bar.opened} if bar else {}
                analysis = analyse_video(video, config, models, **hooks)
        except VideoError as exc:
            result = VideoBest({"video": video, "status": "failed", "reason": str(exc)})
        else:
            picks = pick_best(analysis, config)
            rows += write_best_frames(out, video, folder, analysis, picks)
            written.append(folder)
            reason = partial_reason(analysis, config)
            said = reason.split("; ") if reason else []
            summary = {
                "video": video,
                "folder": folder,
                "status": "partial" if reason else "done",
                "reason": reason,
                "notes": [n for n in summary_notes(analysis, config) if n not in said],
                "frames": analysis.frames_read,
                "tracks": len(analysis.tracks),
                "best_frames": len(picks),
            }
            result = VideoBest(summary, analysis, picks)
        results.append(result)
        if on_video:
            on_video(result)
    manifest = None
    if written:
        # Only once this run has written something: a run whose videos all failed keeps the last.
        clear_previous_run(out, written, rows)
        manifest, _ = write_manifest(out, rows, written)
        (out / "summary.json").write_text(json.dumps([r.summary for r in results], indent=1) + "\n")
    return BestFramesRun(results, manifest)
