"""Commands that evaluate FIQA scorers on benchmarks: eval ytf|lfw|pairs|ijb."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import click

from vidfiqa.cli.options import (
    build,
    config_from_options,
    device_option,
    edc_fmr_option,
    eval_config_options,
    eval_model_root_option,
    eval_report_option,
    eval_run_options,
    eval_scorers_option,
    frame_progress,
    open_store,
    out_dir_option,
    progress_bar,
    progress_option,
    store_options,
    writable_dir,
)
from vidfiqa.config import Config


@click.group("eval")
def eval_group() -> None:
    """Evaluate FIQA scorers and template strategies on video benchmarks."""


def _eval_models(scorers: tuple[str, ...] | list[str], config: Config | None = None) -> dict[str, Any]:
    from vidfiqa.build import build_scorer

    return {n: build(build_scorer, n, config) for n in scorers or ((config or Config()).quality.scorer,)}


def _eval_config(
    config_path: str | None, embedder: str | None, model_root: str | None, device: str | None
) -> Config:
    """The config of an evaluation: --config (else the defaults) with --embedder, --model-root
    and --device."""
    return config_from_options(
        config_path, {"embedder": embedder, "model_root": model_root, "device": device}
    )


def _not_evaluated(out: Path, meta: dict[str, Any], reason: str) -> NoReturn:
    """Write OUT/results.json saying why nothing was evaluated, then stop with one line."""
    import json

    path = out / "results.json"
    path.write_text(
        json.dumps({**meta, "status": "not evaluated", "reason": reason, "results": []}, indent=1)
    )
    raise click.ClickException(f"{reason}; nothing evaluated (see {path})")


def _extractor(config: Config, scorers: dict[str, Any], *, detect: bool, cache: Path, max_frames=None):
    from vidfiqa.build import build_detector, build_embedder, build_landmarker
    from vidfiqa.pipeline.features import FeatureExtractor

    return FeatureExtractor(
        landmarker=build(build_landmarker, config),
        embedder=build(build_embedder, config),
        scorers=scorers,
        detector=build(build_detector, config, still=True) if detect else None,
        max_frames=max_frames,
        cache=cache,
    )


def _sequence_features(videos: dict[str, Any], extractor: Any, progress: bool) -> tuple[dict, list]:
    """Features of image sequences, with a bar; stops with one line when none has a face."""
    from vidfiqa.pipeline.features import extract_all

    bar = progress_bar(progress, "videos", len(videos))
    features, empty = extract_all(videos, extractor, bar.update)
    bar.close()
    return features, empty


def _evaluate(
    features_of: Any,
    scorers: dict[str, Any],
    strategies: list,
    out: Path,
    meta: dict[str, Any],
    *,
    pairs: list | None = None,
    identities: dict[str, str] | None = None,
    table: str = "listed",
    edc_fmr: float,
    html: bool,
    items: str = "videos",
) -> None:
    """Evaluate, write the report files and print the table."""
    from vidfiqa.eval.protocols import evaluate
    from vidfiqa.eval.report import write_report

    try:
        evaluation = evaluate(
            features_of,
            list(scorers),
            strategies,
            pairs=pairs,
            identities=identities,
            table=table,
            edc_fmr=edc_fmr,
            items=items,
        )
    except ValueError as exc:
        _not_evaluated(out, meta, str(exc))
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
    for note in evaluation.notes:
        click.echo(note, err=True)
    click.echo((out / "results.md").read_text())
    click.echo(f"written: {', '.join(str(p) for p in paths.values())}", err=True)


def _no_faces(names: list[str], what: str = "no face found") -> None:
    for name in names:
        click.echo(f"warning: {name}: {what}; its pairs count as missing", err=True)


@eval_group.command("ytf")
@eval_report_option
@click.option("--root", type=click.Path(file_okay=False), required=True, help="YouTube Faces root folder.")
@click.option(
    "--protocol",
    type=click.Choice(["restricted", "all-pairs"]),
    default="restricted",
    show_default=True,
    help="restricted: the pairs of the splits, 10-fold accuracy; all-pairs: every pair of videos "
    "(eDifFIQA), TAR at FAR 1e-4 and 1e-3.",
)
@click.option(
    "--splits",
    type=click.Path(dir_okay=False),
    help="splits.txt or meta_and_splits.mat [default: ROOT/splits.txt, then "
    "ROOT/meta_data/meta_and_splits.mat].",
)
@eval_scorers_option
@eval_config_options
@eval_model_root_option
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Template strategy, repeatable (see 'process') [default: best, mean, softmax:0.05].",
)
@click.option(
    "--max-frames", type=click.IntRange(min=1), help="Frames per video, spread evenly [default: all]."
)
@click.option("--detect", is_flag=True, help="Find faces with the detector instead of the database's boxes.")
@click.option(
    "--aligned",
    is_flag=True,
    help="Read aligned_images_DB instead of frame_images_DB (faces found by the detector).",
)
@click.option(
    "--halves", is_flag=True, help="Split every video into two halves (same-person pairs for small sets)."
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False),
    help="Folder caching per-frame features [default: OUT/cache].",
)
@edc_fmr_option(None, "FMR of the EDC's fixed threshold [default: 1e-2 restricted, 1e-3 all-pairs].")
@out_dir_option
@device_option
@progress_option
def eval_ytf(
    config_path: str | None,
    embedder: str | None,
    root: str,
    protocol: str,
    splits: str | None,
    scorers: tuple[str, ...],
    model_root: str | None,
    strategies: tuple[str, ...],
    max_frames: int | None,
    detect: bool,
    aligned: bool,
    halves: bool,
    cache: str | None,
    edc_fmr: float | None,
    out_dir: str,
    device: str | None,
    progress: bool,
    report: bool,
) -> None:
    """Reproduce the YouTube Faces video protocols for FIQA scorers and template strategies.

    Per-frame embeddings (the configured embedder, SFace by default) and qualities are computed
    once and cached, templates are built per scorer and strategy, and the protocol's metrics
    written to OUT/results.json, a Markdown table OUT/results.md and plots OUT/roc.png and
    OUT/edc.png.

    Example:

        vidfiqa eval ytf --root ../shared/data/ytf_mini --protocol all-pairs --halves --out ytf/
    """
    from vidfiqa.aggregate import Strategy
    from vidfiqa.eval import ytf
    from vidfiqa.eval.protocols import coverage
    from vidfiqa.eval.types import EvalInputError, make_templates

    config = _eval_config(config_path, embedder, model_root, device)
    try:
        chosen = [Strategy.parse(s) for s in strategies or ("best", "mean", "softmax:0.05")]
        listed = ytf.load_aligned(root) if aligned else ytf.load_ytf(root)
        videos = ytf.drop_missing_frames(listed)
        if halves:
            videos = ytf.split_halves(videos)
        splits_path = (splits or ytf.find_splits(root)) if protocol == "restricted" else None
        pairs = ytf.read_splits(splits_path) if splits_path else None
    except (EvalInputError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    out = writable_dir(out_dir, "output folder")
    title = {"title": f"YouTube Faces, {protocol}", "root": str(Path(root).resolve()), "protocol": protocol}
    split_meta: dict[str, Any] = {}
    if pairs is not None:
        # Before any feature: how many split pairs can be scored at all.
        cov = coverage(pairs, videos)
        click.echo(f"splits: {cov.line('videos')}", err=True)
        split_meta = {
            "splits": str(Path(splits_path).resolve()),
            "split_pairs": cov.pairs,
            "split_pairs_with_both_videos": {"genuine": cov.genuine, "impostor": cov.impostor},
            "absent_videos": cov.absent,
        }
        if not cov.genuine or not cov.impostor:
            _not_evaluated(
                out,
                {**title, **split_meta, "missing_pairs": cov.missing},
                f"{cov.line('videos')}: need both genuine and impostor pairs",
            )
    scorer_map = _eval_models(scorers, config)
    for note in ytf.missing_frames_notes(listed):
        click.echo(note, err=True)
    detect = detect or aligned
    extractor = _extractor(
        config,
        scorer_map,
        detect=detect,
        cache=Path(cache) if cache else out / "cache",
        max_frames=max_frames,
    )
    features, empty = _sequence_features(videos, extractor, progress)
    _no_faces(empty)
    if not features:
        raise click.ClickException("no video has a face: nothing to evaluate")
    _evaluate(
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
        html=report,
    )


@eval_group.command("lfw")
@eval_report_option
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    required=True,
    help="LFW folder: pairs.txt and images/<Person>/<Person>_<NNNN>.jpg, or the extracted lfw/ "
    "folder itself with pairs.txt beside the person folders.",
)
@click.option("--pairs", "pairs_file", type=click.Path(dir_okay=False), help="[default: ROOT/pairs.txt].")
@eval_scorers_option
@eval_config_options
@eval_model_root_option
@click.option(
    "--folds",
    type=click.IntRange(min=1),
    help="Evaluate only the first N folds (a quick look; accuracy needs 2 or more) [default: all].",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False),
    help="Folder caching per-image features [default: OUT/cache].",
)
@edc_fmr_option(1e-2, "FMR of the EDC's fixed threshold.")
@out_dir_option
@device_option
@progress_option
def eval_lfw(
    config_path: str | None,
    embedder: str | None,
    root: str,
    pairs_file: str | None,
    scorers: tuple[str, ...],
    model_root: str | None,
    folds: int | None,
    cache: str | None,
    edc_fmr: float,
    out_dir: str,
    device: str | None,
    progress: bool,
    report: bool,
) -> None:
    """Face verification on LFW View 2: 10-fold accuracy, AUC, EER and EDC per quality scorer.

    Each image's largest face (the configured detector, RetinaFace by default) is embedded with
    the configured embedder (SFace by default); pairs
    naming an absent image are reported and left out, as missing videos are in 'eval ytf'.

    Example:

        vidfiqa eval lfw --root ../shared/data/lfw --folds 2 --out lfw_eval/
    """
    from vidfiqa.aggregate import Strategy
    from vidfiqa.eval.lfw import absent_notes, pair_images, read_pairs
    from vidfiqa.eval.types import EvalInputError, make_templates

    config = _eval_config(config_path, embedder, model_root, device)
    try:
        pairs = read_pairs(pairs_file or Path(root) / "pairs.txt")
        if folds is not None:
            pairs = [p for p in pairs if p.fold <= folds]
        videos, absent = pair_images(root, pairs)
    except (EvalInputError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    scorer_map = _eval_models(scorers, config)
    out = writable_dir(out_dir, "output folder")
    for note in absent_notes(pairs, absent):
        click.echo(note, err=True)
    extractor = _extractor(config, scorer_map, detect=True, cache=Path(cache) if cache else out / "cache")
    features, empty = _sequence_features(videos, extractor, progress)
    if empty:
        click.echo(f"warning: no face found in {len(empty)} images; their pairs count as missing", err=True)
    if not features:
        raise click.ClickException("no image has a face: nothing to evaluate")
    _evaluate(
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
        html=report,
        items="images",
    )


@eval_group.command("pairs")
@eval_report_option
@click.option(
    "--pairs",
    "pair_list",
    type=click.Path(dir_okay=False),
    required=True,
    help="CSV of video_a,video_b,label[,fold] (videos or folders of frames; header optional).",
)
@store_options
@click.option(
    "--strategy", "strategies", multiple=True, help="Template strategy, repeatable [default: best, mean]."
)
@edc_fmr_option(1e-2, "FMR of the EDC.")
@out_dir_option
@eval_run_options
def eval_pairs(
    pair_list: str,
    db: str,
    index_path: str,
    strategies: tuple[str, ...],
    edc_fmr: float,
    out_dir: str,
    config_path: str | None,
    progress: bool,
    report: bool,
    **video_opts: Any,
) -> None:
    """Verification on any list of video pairs, per quality scorer and template strategy.

    Video files are processed into the store (--db/--index) with every tracked face embedded, and
    read back from it on later runs; a video stands for its longest track. Folders of frames are
    read as image sequences (largest detected face per image), with a bar over their images;
    images and folders without a face are counted. Writes OUT/results.json, OUT/results.md,
    OUT/roc.png and OUT/edc.png; with a fold column, also k-fold accuracy.

    Video files are stored with one quality scorer: the --scorer named (factors when only
    factors:<component> ones are), whose components factors:<component> reads back.

    Example:

        vidfiqa eval pairs --pairs pairs.csv --stride 3 --out pairs_eval/
    """
    from vidfiqa.aggregate import Strategy
    from vidfiqa.eval.pairs import read_pair_list, stored_scorer
    from vidfiqa.eval.types import EvalInputError, make_templates
    from vidfiqa.runs.pair_features import pair_item_features

    scorers = video_opts.pop("scorers")
    try:
        rows = read_pair_list(pair_list)
        chosen = [Strategy.parse(s) for s in strategies or ("best", "mean")]
        items = sorted({r.a for r in rows} | {r.b for r in rows})
        config = config_from_options(config_path, {**video_opts, "scorer": None}, {"templates.embed": "all"})
        stored, evaluated = stored_scorer(
            scorers, config.quality.scorer, videos=any(not Path(i).is_dir() for i in items)
        )
    except (EvalInputError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    config = config_from_options(config_path, {**video_opts, "scorer": stored}, {"templates.embed": "all"})
    scorer_map = _eval_models(evaluated, config)
    out = writable_dir(out_dir, "output folder")
    writable_dir(index_path, "index folder")
    store, index_dir = open_store(db, index_path, create=True)

    def failed(outcome: Any) -> None:
        if outcome.status == "failed":
            click.echo(f"error: {outcome.reason}", err=True)

    try:
        found = build(
            pair_item_features,
            items,
            config,
            store,
            index_dir,
            scorer_map,
            cache=out / "cache",
            progress=lambda video: frame_progress(progress, video, config),
            on_outcome=failed,
            image_bar=lambda total: progress_bar(progress, "images", total),
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for error in found.errors:
        click.echo(f"error: {error}", err=True)
    _no_faces(found.without_faces)
    folder_note = found.folder_note()
    if folder_note:
        click.echo(folder_note, err=True)
    if not found.features:
        raise click.ClickException("no video has a face: nothing to evaluate")
    _evaluate(
        lambda scorer, strategy: make_templates(found.features, scorer, strategy),
        scorer_map,
        chosen,
        out,
        {
            "title": "Video pairs",
            "pair_list": str(Path(pair_list).resolve()),
            "embedder": config.embedder.name,
            "stored_scorer": stored,
            "errors": found.errors,
            "without_faces": found.without_faces,
            "frame_folders": found.folders,
            "images": found.images,
            "images_without_faces": found.images_without_faces,
        },
        pairs=[r.as_pair() for r in rows],
        edc_fmr=edc_fmr,
        html=report,
    )


@eval_group.command("ijb")
@eval_report_option
@click.option(
    "--images", type=click.Path(file_okay=False), required=True, help="Folder of the images (loose_crop)."
)
@click.option(
    "--meta", "meta_dir", type=click.Path(file_okay=False), required=True, help="Folder of the meta files."
)
@click.option("--prefix", default="ijbc", show_default=True, help="Meta file prefix (ijbc, ijbb).")
@eval_scorers_option
@eval_config_options
@eval_model_root_option
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Media pooling strategy, repeatable [default: mean, softmax:0.05].",
)
@edc_fmr_option(1e-3, "FMR of the EDC.")
@out_dir_option
@device_option
@progress_option
def eval_ijb(
    config_path: str | None,
    embedder: str | None,
    images: str,
    meta_dir: str,
    prefix: str,
    scorers: tuple[str, ...],
    model_root: str | None,
    strategies: tuple[str, ...],
    edc_fmr: float,
    out_dir: str,
    device: str | None,
    progress: bool,
    report: bool,
) -> None:
    """IJB-B/IJB-C style template verification: TAR at FAR 1e-6 ... 1e-1.

    Reads PREFIX_face_tid_mid.txt, PREFIX_template_pair_label.txt and, when present,
    PREFIX_name_5pts_score.txt from --meta; pools images into media with each strategy, media
    into templates with equal weight, and writes OUT/results.json, results.md, roc.png, edc.png.

    Example:

        vidfiqa eval ijb --images IJBC/loose_crop --meta IJBC/meta --out ijbc_eval/
    """
    from vidfiqa.aggregate import Strategy
    from vidfiqa.build import build_detector, build_embedder, build_landmarker
    from vidfiqa.eval.ijb import given_faces, pool_templates, read_meta, template_pairs
    from vidfiqa.eval.types import EvalInputError
    from vidfiqa.pipeline.features import image_features

    config = _eval_config(config_path, embedder, model_root, device)
    try:
        meta = read_meta(meta_dir, prefix)
        chosen = [Strategy.parse(s) for s in strategies or ("mean", "softmax:0.05")]
        scorer_map = _eval_models(scorers, config)
        paths = [Path(images) / name for name in meta.images]
        missing = next((p for p in paths if not p.is_file()), None)
        if missing is not None:
            raise EvalInputError(f"{missing}: listed in the meta files but missing")
    except (EvalInputError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    out = writable_dir(out_dir, "output folder")
    given = given_faces(meta)
    bar = progress_bar(progress, "images", len(meta.images))
    try:
        feats = image_features(
            paths,
            given,
            landmarker=build(build_landmarker, config),
            embedder=build(build_embedder, config),
            scorers=scorer_map,
            detector=None if given else build(build_detector, config, still=True),
            progress=bar.update,
        )
    except OSError as exc:
        raise click.ClickException(
            f"{getattr(exc, 'filename', '') or images}: not a readable image"
        ) from None
    finally:
        bar.close()
    if feats is None:
        raise click.ClickException(f"{images}: no face in any listed image")
    _evaluate(
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
        html=report,
        items="templates",
    )
