"""Features of the items a video pair list names (``vidfiqa eval pairs``): video files through
the full pipeline into the store, which is then their feature cache, and folders of frames
through the image feature extractor.

A video stands for its longest track (by observation count, as everywhere: see
:meth:`vidfiqa.store.db.Store.longest_track`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidfiqa.build import build_detector, build_embedder, build_landmarker
from vidfiqa.config import Config
from vidfiqa.eval.pairs import frame_folder, video_features_from_store
from vidfiqa.eval.types import EvalInputError
from vidfiqa.models.base import QualityScorer
from vidfiqa.pipeline.features import FeatureExtractor, sample_frames
from vidfiqa.runs.batch import BatchResult, run_batch
from vidfiqa.runs.process import Outcome
from vidfiqa.store.db import Store
from vidfiqa.store.index import IndexDir
from vidfiqa.types import VideoFeatures


@dataclass(slots=True)
class ItemFeatures:
    """Features per item that has a face; ``errors`` (one line each) for items that could not be
    read, ``without_faces`` for items where no face was found; ``batch`` what processing the
    video files did (``None`` when there were none). Of the frame folders: how many were read
    (``folders``), their ``images`` (those sampled) and ``images_without_faces`` (no face
    detected, or unreadable)."""

    features: dict[str, VideoFeatures] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    without_faces: list[str] = field(default_factory=list)
    batch: BatchResult | None = None
    folders: int = 0
    images: int = 0
    images_without_faces: int = 0

    def folder_note(self) -> str | None:
        """One line on the frame folders' faces, e.g. ``frame folders: 37 of 500 images have no
        detected face; 2 of 10 folders have none (their pairs count as missing)``."""
        if not self.folders:
            return None
        empty = sum(1 for i in self.without_faces if Path(i).is_dir())
        return (
            f"frame folders: {self.images_without_faces} of {self.images} images have no detected "
            f"face; {empty} of {self.folders} folders have none"
            + (" (their pairs count as missing)" if empty else "")
        )


def pair_item_features(
    items: list[str],
    config: Config,
    store: Store,
    index_dir: IndexDir,
    scorers: dict[str, QualityScorer],
    *,
    cache: Path,
    progress: Callable[[str], Any] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    image_bar: Callable[[int], Any] | None = None,
) -> ItemFeatures:
    """Features of every item: folders read as image sequences (largest face per image, cached in
    ``cache``), video files processed into ``store`` with every tracked face embedded
    (``config.templates.embed`` should be ``all``) and read back from it.

    ``progress(video)`` gives a bar for one video file; ``image_bar(total)`` one over the frame
    folders' images (anything with ``update(n)`` and ``close()``).

    Raises:
        ModelFileError: a model cannot be loaded.
    """
    out = ItemFeatures()
    folders = [i for i in items if Path(i).is_dir()]
    videos = [i for i in items if not Path(i).is_dir()]
    if folders:
        extractor = FeatureExtractor(
            landmarker=build_landmarker(config),
            embedder=build_embedder(config),
            scorers=scorers,
            detector=build_detector(config, still=True),
            max_frames=config.video.max_frames,
            cache=cache,
        )
        sequences = {}
        for item in folders:
            try:
                sequences[item] = frame_folder(item)
            except EvalInputError as exc:
                out.errors.append(str(exc))
        sampled = {item: len(sample_frames(seq, extractor.max_frames)) for item, seq in sequences.items()}
        bar = image_bar(sum(sampled.values())) if image_bar else None
        try:
            for item, seq in sequences.items():
                found = extractor.features(seq, bar.update if bar else None)
                out.folders += 1
                out.images += sampled[item]
                out.images_without_faces += sampled[item] - (len(found.frames) if found else 0)
                _keep(out, item, found)
        finally:
            if bar is not None:
                bar.close()
    if videos:
        out.batch = run_batch(
            videos, config, store, index_dir, command="eval pairs", progress=progress, on_outcome=on_outcome
        )
        for item, outcome in zip(videos, out.batch.outcomes):
            if outcome.status == "failed":
                continue
            found = video_features_from_store(
                store, outcome.video_id, config.embedder.name, list(scorers), config.quality.scorer
            )
            _keep(out, item, found)
    return out


def _keep(out: ItemFeatures, item: str, found: VideoFeatures | None) -> None:
    if found is None:
        out.without_faces.append(item)
    else:
        out.features[item] = found
