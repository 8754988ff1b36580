"""Evaluation runs: the features of a benchmark's videos or images (computed with the config's
models, cached), then its protocol (:mod:`vidfiqa.eval`) and the report files. One function per
benchmark: :func:`evaluate_ytf`, :func:`evaluate_lfw`, :func:`evaluate_pairs`,
:func:`evaluate_ijb`; the ``eval`` commands parse options, call them and print.

Each creates ``out`` once its inputs have been read (``PathError`` when it cannot) and writes
``out/results.json`` (with the embedder, scorers, counts and every metric),
``results.md``, ``roc.png`` and ``edc.png`` (and ``results.html`` when asked), and returns an
:class:`EvalReport`. What a person should know along the way (absent videos, images without a
face) goes to ``warn``; progress to ``bar(name, total)``, anything with ``update(n)`` and
``close()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vidfiqa.aggregate import Strategy
from vidfiqa.build import build_detector, build_embedder, build_landmarker, build_scorer
from vidfiqa.config import Config
from vidfiqa.eval import ytf
from vidfiqa.eval.ijb import given_faces, pool_templates, read_meta, template_pairs
from vidfiqa.eval.lfw import absent_notes, pair_images, read_pairs
from vidfiqa.eval.pairs import PairRow
from vidfiqa.eval.protocols import coverage, evaluate
from vidfiqa.eval.report import write_report
from vidfiqa.eval.types import EvalInputError, make_templates
from vidfiqa.inputs import ensure_output_dir
from vidfiqa.models.base import QualityScorer
from vidfiqa.pipeline.features import FeatureExtractor, extract_all, image_features
from vidfiqa.runs.pair_features import pair_item_features
from vidfiqa.runs.process import Outcome
from vidfiqa.store.db import Store
from vidfiqa.store.index import IndexDir


class EvalError(Exception):
    """Nothing could be evaluated; the message says why in one line."""


class Bar(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def close(self) -> Any: ...


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _no_bar(name: str, total: int | None = None) -> Bar:
    return _NoBar()


def _ignore(line: str) -> None:
    pass


@dataclass(slots=True)
class EvalReport:
    """What an evaluation wrote: the Markdown table, the files, and the protocol's notes."""

    table: str
    paths: dict[str, Path]
    notes: list[str] = field(default_factory=list)


def scorer_models(scorers: list[str] | tuple[str, ...], config: Config) -> dict[str, QualityScorer]:
    """The scorers named (the config's own when none is), built.

    Raises:
        ModelFileError: a scorer's model file is missing or unusable.
    """
    return {n: build_scorer(n, config) for n in scorers or (config.quality.scorer,)}


def _not_evaluated(out: Path, meta: dict[str, Any], reason: str) -> EvalError:
    """Write out/results.json saying why nothing was evaluated; the error to raise."""
    path = out / "results.json"
    path.write_text(
        json.dumps({**meta, "status": "not evaluated", "reason": reason, "results": []}, indent=1)
    )
    return EvalError(f"{reason}; nothing evaluated (see {path})")


def _report(
    templates_of: Callable[[str, Strategy], Any],
    scorers: dict[str, QualityScorer],
    strategies: list[Strategy],
    out: Path,
    meta: dict[str, Any],
    *,
    pairs: list | None = None,
    identities: dict[str, str] | None = None,
    table: str = "listed",
    edc_fmr: float,
    html: bool,
    items: str = "videos",
) -> EvalReport:
    """Run the protocol and write its report files."""
    try:
        evaluation = evaluate(
            templates_of,
            list(scorers),
            strategies,
            pairs=pairs,
            identities=identities,
            table=table,
            edc_fmr=edc_fmr,
            items=items,
        )
    except ValueError as exc:
        raise _not_evaluated(out, meta, str(exc)) from None
    first = next(iter(evaluation.results.values()))
    meta = {
        **meta,
        "pairs": int(first.metrics["pairs"]),
        "genuine": int(first.metrics["genuine"]),
        "impostor": int(first.metrics["impostor"]),
        "edc_fmr": edc_fmr,
    }
    paths = write_report(
        out, meta, evaluation.results, evaluation.columns, html=html, caution=evaluation.caution
    )
    return EvalReport((out / "results.md").read_text(), paths, list(evaluation.notes))


def _extractor(
    config: Config,
    scorers: dict[str, QualityScorer],
    *,
    detect: bool,
    cache: Path,
    max_frames: int | None = None,
) -> FeatureExtractor:
    return FeatureExtractor(
        landmarker=build_landmarker(config),
        embedder=build_embedder(config),
        scorers=scorers,
        detector=build_detector(config, still=True) if detect else None,
        max_frames=max_frames,
        cache=cache,
    )


def _features(
    videos: dict[str, Any], extractor: FeatureExtractor, bar: Callable[..., Bar]
) -> tuple[dict, list]:
    progress = bar("videos", len(videos))
    try:
        return extract_all(videos, extractor, progress.update)
    finally:
        progress.close()


def _no_faces(names: list[str], warn: Callable[[str], None], what: str = "no face found") -> None:
    for name in names:
        warn(f"warning: {name}: {what}; its pairs count as missing")


def evaluate_ytf(
    config: Config,
    root: str | Path,
    out: str | Path,
    *,
    protocol: str = "restricted",
    splits: str | Path | None = None,
    scorers: list[str] | tuple[str, ...] = (),
    strategies: list[str] | tuple[str, ...] = ("best", "mean", "softmax:0.05"),
    max_frames: int | None = None,
    detect: bool = False,
    aligned: bool = False,
    halves: bool = False,
    cache: Path | None = None,
    edc_fmr: float | None = None,
    html: bool = False,
    warn: Callable[[str], None] = _ignore,
    bar: Callable[..., Bar] = _no_bar,
) -> EvalReport:
    """The YouTube Faces protocols: ``restricted`` (the splits' pairs, 10-fold accuracy) or
    ``all-pairs`` (eDifFIQA's: every pair of videos, TAR at FAR 1e-4 and 1e-3), per scorer and
    template strategy, with the config's embedder.

    Raises:
        EvalInputError, ValueError: the root, splits or a strategy cannot be read.
        EvalError: nothing could be evaluated (out/results.json says why when it was written).
        ModelFileError: a model cannot be loaded.
    """
    chosen = [Strategy.parse(s) for s in strategies]
    listed = ytf.load_aligned(root) if aligned else ytf.load_ytf(root)
    videos = ytf.drop_missing_frames(listed)
    if halves:
        videos = ytf.split_halves(videos)
    splits_path = (splits or ytf.find_splits(root)) if protocol == "restricted" else None
    pairs = ytf.read_splits(splits_path) if splits_path else None
    out = ensure_output_dir(out)
    title = {"title": f"YouTube Faces, {protocol}", "root": str(Path(root).resolve()), "protocol": protocol}
    split_meta: dict[str, Any] = {}
    if pairs is not None:
        # Before any feature: how many split pairs can be scored at all.
        cov = coverage(pairs, videos)
        warn(f"splits: {cov.line('videos')}")
        split_meta = {
            "splits": str(Path(splits_path).resolve()),
            "split_pairs": cov.pairs,
            "split_pairs_with_both_videos": {"genuine": cov.genuine, "impostor": cov.impostor},
            "absent_videos": cov.absent,
        }
        if not cov.genuine or not cov.impostor:
            raise _not_evaluated(
                out,
                {**title, **split_meta, "missing_pairs": cov.missing},
                f"{cov.line('videos')}: need both genuine and impostor pairs",
            )
    scorer_map = scorer_models(scorers, config)
    for note in ytf.missing_frames_notes(listed):
        warn(note)
    detect = detect or aligned
    extractor = _extractor(
        config, scorer_map, detect=detect, cache=cache or out / "cache", max_frames=max_frames
    )
    features, empty = _features(videos, extractor, bar)
    _no_faces(empty, warn)
    if not features:
        raise EvalError("no video has a face: nothing to evaluate")
    return _report(
        lambda scorer, strategy: make_templates(features, scorer, strategy),
        scorer_map,
        chosen,
        out,
        {
            **title,
            **split_meta,
            "videos_without_faces": empty,
            "missing_frames": sum(v.missing_frames for v in listed.values()),
            "videos_without_frames": sorted(n for n, v in listed.items() if not v.frames),
            "frames_per_video": max_frames or "all",
            "faces_from": "detector" if detect else "database boxes",
            "images": "aligned_images_DB" if aligned else "frame_images_DB",
            "embedder": config.embedder.name,
            "videos": len(features),
        },
        pairs=pairs,
        identities={name: videos[name].person for name in features},
        table="listed" if protocol == "restricted" else "all-pairs",
        edc_fmr=edc_fmr or (1e-2 if protocol == "restricted" else 1e-3),
        html=html,
    )


def evaluate_lfw(
    config: Config,
    root: str | Path,
    out: str | Path,
    *,
    pairs_file: str | Path | None = None,
    scorers: list[str] | tuple[str, ...] = (),
    folds: int | None = None,
    cache: Path | None = None,
    edc_fmr: float = 1e-2,
    html: bool = False,
    warn: Callable[[str], None] = _ignore,
    bar: Callable[..., Bar] = _no_bar,
) -> EvalReport:
    """LFW View 2: 10-fold accuracy, AUC, EER and EDC per scorer; each image's largest face
    (the config's detector) embedded with the config's embedder.

    Raises:
        EvalInputError, ValueError: the root or pairs file cannot be read.
        EvalError: no image has a face.
        ModelFileError: a model cannot be loaded.
    """
    pairs = read_pairs(pairs_file or Path(root) / "pairs.txt")
    if folds is not None:
        pairs = [p for p in pairs if p.fold <= folds]
    videos, absent = pair_images(root, pairs)
    scorer_map = scorer_models(scorers, config)
    out = ensure_output_dir(out)
    for note in absent_notes(pairs, absent):
        warn(note)
    extractor = _extractor(config, scorer_map, detect=True, cache=cache or out / "cache")
    features, empty = _features(videos, extractor, bar)
    if empty:
        warn(f"warning: no face found in {len(empty)} images; their pairs count as missing")
    if not features:
        raise EvalError("no image has a face: nothing to evaluate")
    return _report(
        lambda scorer, strategy: make_templates(features, scorer, strategy),
        scorer_map,
        [Strategy.parse("best")],
        out,
        {
            "title": "LFW View 2",
            "root": str(Path(root).resolve()),
            "folds": folds or max(p.fold for p in pairs),
            "absent_images": absent,
            "images_without_faces": empty,
            "faces_from": f"{config.detector.name}, largest face",
            "embedder": config.embedder.name,
            "images": len(features),
        },
        pairs=pairs,
        edc_fmr=edc_fmr,
        html=html,
        items="images",
    )


def evaluate_pairs(
    config: Config,
    rows: list[PairRow],
    scorers: list[str],
    store: Store,
    index_dir: IndexDir,
    out: str | Path,
    *,
    pair_list: str | Path,
    strategies: list[str] | tuple[str, ...] = ("best", "mean"),
    edc_fmr: float = 1e-2,
    html: bool = False,
    warn: Callable[[str], None] = _ignore,
    bar: Callable[..., Bar] = _no_bar,
    video_bar: Callable[[str], Any] | None = None,
) -> EvalReport:
    """Verification on a list of video pairs (``rows`` of ``pair_list``): video files processed
    into ``store`` with the config (its scorer the one stored) and every face embedded, frame
    folders read as image sequences; ``scorers`` are evaluated.

    Raises:
        ValueError: a strategy cannot be read.
        EvalError: no item has a face.
        ModelFileError: a model cannot be loaded.
    """
    chosen = [Strategy.parse(s) for s in strategies]
    out = ensure_output_dir(out)
    items = sorted({r.a for r in rows} | {r.b for r in rows})
    scorer_map = scorer_models(scorers, config)

    def failed(outcome: Outcome) -> None:
        if outcome.status == "failed":
            warn(f"error: {outcome.reason}")

    found = pair_item_features(
        items,
        config,
        store,
        index_dir,
        scorer_map,
        cache=out / "cache",
        progress=video_bar,
        on_outcome=failed,
        image_bar=lambda total: bar("images", total),
    )
    for error in found.errors:
        warn(f"error: {error}")
    _no_faces(found.without_faces, warn)
    folder_note = found.folder_note()
    if folder_note:
        warn(folder_note)
    if not found.features:
        raise EvalError("no video has a face: nothing to evaluate")
    return _report(
        lambda scorer, strategy: make_templates(found.features, scorer, strategy),
        scorer_map,
        chosen,
        out,
        {
            "title": "Video pairs",
            "pair_list": str(Path(pair_list).resolve()),
            "embedder": config.embedder.name,
            "stored_scorer": config.quality.scorer,
            "errors": found.errors,
            "without_faces": found.without_faces,
            "frame_folders": found.folders,
            "images": found.images,
            "images_without_faces": found.images_without_faces,
        },
        pairs=[r.as_pair() for r in rows],
        edc_fmr=edc_fmr,
        html=html,
    )


def evaluate_ijb(
    config: Config,
    images: str | Path,
    meta_dir: str | Path,
    out: str | Path,
    *,
    prefix: str = "ijbc",
    scorers: list[str] | tuple[str, ...] = (),
    strategies: list[str] | tuple[str, ...] = ("mean", "softmax:0.05"),
    edc_fmr: float = 1e-3,
    html: bool = False,
    bar: Callable[..., Bar] = _no_bar,
) -> EvalReport:
    """IJB-B/IJB-C style template verification (TAR at FAR 1e-6 ... 1e-1): images pooled into
    media with each strategy, media into templates with equal weight.

    Raises:
        EvalInputError, ValueError: the meta files, an image or a strategy cannot be read.
        EvalError: no listed image has a face.
        ModelFileError: a model cannot be loaded.
    """
    meta = read_meta(meta_dir, prefix)
    chosen = [Strategy.parse(s) for s in strategies]
    scorer_map = scorer_models(scorers, config)
    paths = [Path(images) / name for name in meta.images]
    missing = next((p for p in paths if not p.is_file()), None)
    if missing is not None:
        raise EvalInputError(f"{missing}: listed in the meta files but missing")
    out = ensure_output_dir(out)
    given = given_faces(meta)
    progress = bar("images", len(meta.images))
    try:
        feats = image_features(
            paths,
            given,
            landmarker=build_landmarker(config),
            embedder=build_embedder(config),
            scorers=scorer_map,
            detector=None if given else build_detector(config, still=True),
            progress=progress.update,
        )
    except OSError as exc:
        raise EvalInputError(f"{getattr(exc, 'filename', '') or images}: not a readable image") from None
    finally:
        progress.close()
    if feats is None:
        raise EvalError(f"{images}: no face in any listed image")
    return _report(
        lambda scorer, strategy: pool_templates(meta, feats, scorer, strategy),
        scorer_map,
        chosen,
        out,
        {
            "title": f"{prefix.upper()} template verification",
            "images": len(meta.images),
            "images_without_face": int((~feats.found).sum()),
            "templates": len(set(meta.templates.tolist())),
            "faces_from": "5-point file" if given else "detector",
            "embedder": config.embedder.name,
        },
        pairs=template_pairs(meta),
        table="ijb",
        edc_fmr=edc_fmr,
        html=html,
        items="templates",
    )
