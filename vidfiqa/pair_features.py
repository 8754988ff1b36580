"""Features of the items a video pair list names (``vidfiqa eval pairs``): video files through
the full pipeline into the store, which is then their feature cache, and folders of frames
through the image feature extractor.

A video stands for its longest track (by observation count, as everywhere: see
:meth:`vidfiqa.store.Store.longest_track`).
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
from vidfiqa.features import FeatureExtractor
from vidfiqa.index import IndexDir
from vidfiqa.models.base import QualityScorer
from vidfiqa.process import BatchResult, Outcome, run_batch
from vidfiqa.store import Store
from vidfiqa.types import VideoFeatures


@dataclass(slots=True)
class ItemFeatures:
    """Features per item that has a face; ``errors`` (one line each) for items that could not be
    read, ``without_faces`` for items where no face was found; ``batch`` what processing the
    video files did (``None`` when there were none)."""

    features: dict[str, VideoFeatures] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    without_faces: list[str] = field(default_factory=list)
    batch: BatchResult | None = None


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
) -> ItemFeatures:
    """Features of every item: folders read as image sequences (largest face per image, cached in
    ``cache``), video files processed into ``store`` with every tracked face embedded
    (``config.templates.embed`` should be ``all``) and read back from it.

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
        for item in folders:
            try:
                found = extractor.features(frame_folder(item))
            except EvalInputError as exc:
                out.errors.append(str(exc))
                continue
            _keep(out, item, found)
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
