"""Embeddings for the frames templates need, and the templates themselves.

Embedding is the costly stage (dlib's ResNet: ~100 ms a face on these CPUs), so by default only
the frames some strategy uses are embedded (``embed="needed"``): the best frame for ``best``,
the top k for ``topk``, all frames for ``mean``. The video is decoded a second time for them and
the chips are embedded in batches across tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vidfiqa.aggregate import Aggregate, Strategy
from vidfiqa.align import align_arcface, align_dlib_chip
from vidfiqa.config import Config
from vidfiqa.models.base import Embedder, FaceBatch
from vidfiqa.pipeline import VideoAnalysis, revisit
from vidfiqa.types import Detections

EmbedMode = Literal["needed", "all"]


@dataclass(slots=True)
class TrackTemplates:
    """Templates of one track.

    Attributes:
        track_position: index into ``VideoAnalysis.tracks``.
        embeddings: observation position -> float32 ``(d,)`` for every embedded frame.
        templates: strategy label -> aggregate.
    """

    track_position: int
    embeddings: dict[int, np.ndarray]
    templates: dict[str, Aggregate]


def chips_for(
    embedder: Embedder, images: list[np.ndarray], detections: list[Detections], batch: FaceBatch
) -> np.ndarray:
    """What ``embedder`` takes of faces just described (``batch``, from ``detections`` in
    ``images``, in order): the ArcFace crops, or dlib's 150x150 chips from dlib's own points."""
    if embedder.alignment == "arcface112":
        return batch.crops
    return np.concatenate([align_dlib_chip(im, d.data["dlib5"]) for im, d in zip(images, detections)])


def embed_observations(
    video: str | Path,
    config: Config,
    analysis: VideoAnalysis,
    embedder: Embedder,
    wanted: dict[int, list[int]],
    *,
    batch_size: int = 32,
) -> dict[tuple[int, int], np.ndarray]:
    """Embed chosen observations by decoding the video again.

    Args:
        wanted: track position -> observation positions to embed.

    Returns:
        ``(track position, observation position)`` -> float32 ``(d,)`` unit vector.
    """
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for t, positions in wanted.items():
        for o in positions:
            by_frame.setdefault(analysis.tracks[t].observations[o].frame_index, []).append((t, o))
    out: dict[tuple[int, int], np.ndarray] = {}
    keys: list[tuple[int, int]] = []
    chips: list[np.ndarray] = []

    def flush() -> None:
        vectors = embedder.embed(np.stack(chips))
        out.update(zip(keys, vectors))
        keys.clear()
        chips.clear()

    for frame in revisit(video, config, set(by_frame)):
        for t, o in by_frame[frame.index]:
            obs = analysis.tracks[t].observations[o]
            if embedder.alignment == "dlib150":
                if obs.dlib5 is None:
                    raise ValueError(f"{embedder.name} needs dlib's landmarks (dlib68 or dlib5)")
                chip = align_dlib_chip(frame.image, obs.dlib5[None])[0]
            else:
                chip = align_arcface(frame.image, obs.landmarks[None])[0]
            keys.append((t, o))
            chips.append(chip)
            if len(chips) == batch_size:
                flush()
    if chips:
        flush()
    return out


def build_templates(
    video: str | Path,
    config: Config,
    analysis: VideoAnalysis,
    embedder: Embedder,
    strategies: list[Strategy],
    *,
    embed: EmbedMode = "needed",
) -> list[TrackTemplates]:
    """Embed what the strategies need and aggregate one template per track and strategy."""
    wanted: dict[int, list[int]] = {}
    for t, track in enumerate(analysis.tracks):
        q = track.qualities
        if embed == "all":
            wanted[t] = list(range(len(q)))
        else:
            wanted[t] = sorted({int(i) for s in strategies for i in s.needed(q)})
    vectors = embed_observations(video, config, analysis, embedder, wanted)
    results = []
    for t, track in enumerate(analysis.tracks):
        mine = {o: vectors[(t, o)] for o in wanted[t] if (t, o) in vectors}
        templates = {s.label: s.aggregate(track.qualities, mine) for s in strategies} if mine else {}
        results.append(TrackTemplates(track_position=t, embeddings=mine, templates=templates))
    return results
