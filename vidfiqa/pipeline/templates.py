"""Embeddings for the frames templates need, and the templates themselves.

Embedding is the costly stage (dlib's ResNet: ~100 ms a face on these CPUs), so by default only
the frames some strategy uses are embedded (``embed="needed"``): the best frame for ``best``,
the top k for ``topk``, all frames for ``mean``. The frames are decoded again (analysis keeps no
pixels) and the chips embedded in batches across tracks. A :class:`TemplateJob` takes frames from
any pass over the video, so that a caller needing other pixels of the same frames (the report's
crops) decodes once for both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from vidfiqa.aggregate import Aggregate, Strategy
from vidfiqa.align import embedder_chips
from vidfiqa.models.base import Embedder
from vidfiqa.pipeline.analyse import VideoAnalysis, revisit
from vidfiqa.quality.track_factors import flagged
from vidfiqa.types import Frame

EmbedMode = Literal["needed", "all"]


@dataclass(slots=True)
class TrackTemplates:
    """Templates of one track (results come in the order of ``VideoAnalysis.tracks``).

    Attributes:
        positions: int64 ``(m,)`` positions of the embedded observations in the track.
        vectors: float32 ``(m, d)`` their unit embeddings.
        templates: strategy label -> aggregate (empty when nothing was embedded).
    """

    positions: np.ndarray
    vectors: np.ndarray
    templates: dict[str, Aggregate]


class TemplateJob:
    """Embeds the observations the strategies need from frames handed to :meth:`add`, then
    aggregates the templates in :meth:`finish`.

    Args:
        analysis: the analysed video.
        embedder: the embedding model.
        strategies: template strategies.
        embed: ``needed`` (only frames some strategy uses) or ``all``.
        batch_size: chips per embedder call.
        min_gap: ``topk`` strategies take frames at least this far apart, as best frames do
            (``select.min_gap``).
        floor: ``topk`` strategies take no frame below this fraction of the track's best
            quality (``select.relative_floor``), counted from the bottom of the scorer's range
            (``analysis.score_range``).
    """

    def __init__(
        self,
        analysis: VideoAnalysis,
        embedder: Embedder,
        strategies: list[Strategy],
        *,
        embed: EmbedMode = "needed",
        batch_size: int = 32,
        min_gap: int = 0,
        floor: float = 0.0,
    ):
        self.tracks = analysis.tracks
        self.embedder = embedder
        low = analysis.score_range[0]
        self.strategies = [
            replace(s, min_gap=min_gap, floor=floor, low=low) if s.name == "topk" else s for s in strategies
        ]
        self.batch_size = batch_size
        # A track flagged as no face (the track gate) is embedded for no template: never searchable.
        self.wanted = [
            np.zeros(0, np.int64)
            if flagged(t)
            else np.arange(len(t))
            if embed == "all"
            else np.unique(np.concatenate([s.needed(t.qualities, t.frames) for s in self.strategies])).astype(
                np.int64
            )
            for t in self.tracks
        ]
        #: frame index -> (track number, observation position) rows to embed there
        self._by_frame: dict[int, list[tuple[int, int]]] = {}
        for t, positions in enumerate(self.wanted):
            for o in positions:
                self._by_frame.setdefault(int(self.tracks[t].frames[o]), []).append((t, int(o)))
        self._vectors: list[dict[int, np.ndarray]] = [{} for _ in self.tracks]
        self._pending: list[tuple[int, int, np.ndarray]] = []

    @property
    def frames(self) -> set[int]:
        """Frame indices this job needs."""
        return set(self._by_frame)

    def add(self, frame: Frame) -> None:
        """Cut the chips of ``frame`` (ignored when it holds nothing wanted)."""
        for t, o in self._by_frame.get(frame.index, []):
            track = self.tracks[t]
            dlib5 = track.extras["dlib5"][o : o + 1] if "dlib5" in track.extras else None
            chip = embedder_chips(self.embedder.alignment, frame.image, track.landmarks[o : o + 1], dlib5)[0]
            self._pending.append((t, o, chip))
            if len(self._pending) == self.batch_size:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        vectors = self.embedder.embed(np.stack([chip for _, _, chip in self._pending]))
        for (t, o, _), v in zip(self._pending, vectors):
            self._vectors[t][o] = v
        self._pending.clear()

    def finish(self) -> list[TrackTemplates]:
        """One :class:`TrackTemplates` per track, in track order."""
        self._flush()
        results = []
        for track, vectors in zip(self.tracks, self._vectors):
            positions = np.array(sorted(vectors), np.int64)
            stacked = (
                np.stack([vectors[int(o)] for o in positions]).astype(np.float32)
                if len(positions)
                else np.zeros((0, self.embedder.dim), np.float32)
            )
            templates = (
                {s.label: s.aggregate(track.qualities, vectors, track.frames) for s in self.strategies}
                if vectors
                else {}
            )
            results.append(TrackTemplates(positions, stacked, templates))
        return results


def build_templates(
    analysis: VideoAnalysis,
    embedder: Embedder,
    strategies: list[Strategy],
    *,
    embed: EmbedMode = "needed",
    min_gap: int = 0,
    floor: float = 0.0,
) -> list[TrackTemplates]:
    """Decode the frames the strategies need again, embed them and aggregate one template per
    track and strategy (``min_gap``, ``floor``: see :class:`TemplateJob`)."""
    job = TemplateJob(analysis, embedder, strategies, embed=embed, min_gap=min_gap, floor=floor)
    for frame in revisit(analysis.source, job.frames):
        job.add(frame)
    return job.finish()
