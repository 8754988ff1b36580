"""Commands that evaluate FIQA scorers on benchmarks: eval ytf|lfw|pairs|ijb."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _eval_config(
    config_path: str | None, embedder: str | None, model_root: str | None, device: str | None
) -> Config:
    """The config of an evaluation: --config (else the defaults) with --embedder, --model-root
    and --device."""
    return config_from_options(
        config_path, {"embedder": embedder, "model_root": model_root, "device": device}
    )


def _warn(line: str) -> None:
    click.echo(line, err=True)


def _run(evaluation: Callable[..., Any], *args: Any, progress: bool, **kwargs: Any) -> None:
    """Call a :mod:`vidfiqa.runs.evaluate` function with warnings and bars on stderr, print its
    table, or stop with one line."""
    from vidfiqa.eval.types import EvalInputError
    from vidfiqa.inputs import PathError
    from vidfiqa.runs.evaluate import EvalError

    try:
        report = build(
            evaluation, *args, bar=lambda name, total=None: progress_bar(progress, name, total), **kwargs
        )
    except (EvalInputError, EvalError, PathError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for note in report.notes:
        _warn(note)
    click.echo(report.table)
    click.echo(f"written: {', '.join(str(p) for p in report.paths.values())}", err=True)


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
    from vidfiqa.runs.evaluate import evaluate_ytf

    _run(
        evaluate_ytf,
        _eval_config(config_path, embedder, model_root, device),
        root,
        Path(out_dir),
        protocol=protocol,
        splits=splits,
        scorers=scorers,
        strategies=strategies or ("best", "mean", "softmax:0.05"),
        max_frames=max_frames,
        detect=detect,
        aligned=aligned,
        halves=halves,
        cache=Path(cache) if cache else None,
        edc_fmr=edc_fmr,
        html=report,
        warn=_warn,
        progress=progress,
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
    from vidfiqa.runs.evaluate import evaluate_lfw

    _run(
        evaluate_lfw,
        _eval_config(config_path, embedder, model_root, device),
        root,
        Path(out_dir),
        pairs_file=pairs_file,
        scorers=scorers,
        folds=folds,
        cache=Path(cache) if cache else None,
        edc_fmr=edc_fmr,
        html=report,
        warn=_warn,
        progress=progress,
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
    from vidfiqa.eval.pairs import read_pair_list, stored_scorer
    from vidfiqa.eval.types import EvalInputError
    from vidfiqa.runs.evaluate import evaluate_pairs

    scorers = video_opts.pop("scorers")
    try:
        rows = read_pair_list(pair_list)
        config = config_from_options(config_path, {**video_opts, "scorer": None}, {"templates.embed": "all"})
        videos = any(not Path(i).is_dir() for r in rows for i in (r.a, r.b))
        stored, evaluated = stored_scorer(scorers, config.quality.scorer, videos=videos)
    except (EvalInputError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    config = config_from_options(config_path, {**video_opts, "scorer": stored}, {"templates.embed": "all"})
    out = writable_dir(out_dir, "output folder")
    writable_dir(index_path, "index folder")
    store, index_dir = open_store(db, index_path, create=True)
    _run(
        evaluate_pairs,
        config,
        rows,
        evaluated,
        store,
        index_dir,
        out,
        pair_list=pair_list,
        strategies=strategies or ("best", "mean"),
        edc_fmr=edc_fmr,
        html=report,
        warn=_warn,
        video_bar=lambda video: frame_progress(progress, video, config),
        progress=progress,
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
    from vidfiqa.runs.evaluate import evaluate_ijb

    _run(
        evaluate_ijb,
        _eval_config(config_path, embedder, model_root, device),
        images,
        meta_dir,
        Path(out_dir),
        prefix=prefix,
        scorers=scorers,
        strategies=strategies or ("mean", "softmax:0.05"),
        edc_fmr=edc_fmr,
        html=report,
        progress=progress,
    )
