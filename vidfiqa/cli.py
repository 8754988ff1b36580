"""Command line: one sub-command per user task, no logic beyond parsing and printing.

Data goes to stdout, progress and errors to stderr. Exit codes: 0 success, 1 a failure with a
one-line message (for several videos: any video failed), 2 usage errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from vidfiqa.config import Config, ConfigError, load_config
from vidfiqa.video import VideoError

_CONFIG_HELP = "YAML config (see configs/default.yaml); command-line options override it."


def _run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that runs the pipeline on videos."""
    for option in reversed(
        [
            click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP),
            click.option(
                "--backend", type=click.Choice(["pyav", "decord"]), help="Video decoder [default: pyav]."
            ),
            click.option("--stride", type=click.IntRange(min=1), help="Keep every n-th frame [default: 1]."),
            click.option("--start", type=click.FloatRange(min=0), help="Start time in seconds."),
            click.option("--end", type=click.FloatRange(min=0), help="End time in seconds."),
            click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many frames."),
            click.option(
                "--detector",
                type=click.Choice(["dlib-hog", "dlib-cnn"]),
                help="Face detector [default: dlib-hog].",
            ),
            click.option(
                "--upsample",
                type=click.IntRange(0, 3),
                help="Detector upsampling; finds smaller faces, ~4x slower each [default: 0].",
            ),
            click.option(
                "--detect-every",
                type=click.IntRange(min=1),
                help="Detect every n frames, track and interpolate between [default: 2].",
            ),
            click.option(
                "--landmarks",
                type=click.Choice(["dlib68", "dlib5"]),
                help="Landmark model [default: dlib68].",
            ),
            click.option(
                "--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr."
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _load(config_path: str | None, **overrides: Any) -> Config:
    try:
        return load_config(config_path, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _progress_bar(enabled: bool, name: str):
    from tqdm import tqdm

    return tqdm(desc=name, unit="frame", disable=not enabled, leave=False, dynamic_ncols=True)


@click.group()
@click.version_option(package_name="vidfiqa")
def cli() -> None:
    """vidfiqa: face-image-quality analytics on video."""


@cli.command("best-frames")
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output directory (created)."
)
@click.option("--top-k", type=click.IntRange(min=1), help="Best frames kept per track [default: 5].")
@click.option(
    "--min-gap",
    type=click.IntRange(min=0),
    help="Least distance in frames between picks of a track [default: 5].",
)
@_run_options
def best_frames(
    videos: tuple[str, ...],
    out_dir: str,
    top_k: int | None,
    min_gap: int | None,
    config_path: str | None,
    progress: bool,
    **video_opts: Any,
) -> None:
    """Pick the K best faces of every face track in each VIDEO.

    Decodes each video, detects and tracks faces, scores every face in every frame with the
    quality scorer, and writes per track the K best aligned 112x112 crops and a 224x224 context
    crop (PNG), a contact sheet per video, and manifest.json / manifest.csv with video, track,
    frame, time, box, landmarks, quality, every quality factor and the reasons for each pick.
    A video that fails is reported on stderr and the others go on; the exit code is then 1.

    Example:

        vidfiqa best-frames sample_videos/group_walk.mp4 --top-k 5 --out best/
    """
    from vidfiqa.export import safe_name, write_best_frames, write_manifest
    from vidfiqa.pipeline import Stages, analyse_video
    from vidfiqa.select import select_best

    config = _load(
        config_path,
        **{
            "video.backend": video_opts["backend"],
            "video.stride": video_opts["stride"],
            "video.start": video_opts["start"],
            "video.end": video_opts["end"],
            "video.max_frames": video_opts["max_frames"],
            "detector.name": video_opts["detector"],
            "detector.upsample": video_opts["upsample"],
            "detector.every": video_opts["detect_every"],
            "landmarks.name": video_opts["landmarks"],
            "select.top_k": top_k,
            "select.min_gap": min_gap,
        },
    )
    out = Path(out_dir)
    stages = Stages.from_config(config)
    rows: list[dict] = []
    failed = 0
    used: set[str] = set()
    for video in videos:
        folder = safe_name(Path(video).stem)
        while folder in used:
            folder += "_"
        used.add(folder)
        bar = _progress_bar(progress, Path(video).name)
        try:
            analysis = analyse_video(
                video,
                config,
                stages,
                progress=bar.update,
                on_open=lambda info, bar=bar: setattr(bar, "total", info.num_frames),
            )
        except VideoError as exc:
            bar.close()
            click.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        bar.close()
        picks = [
            s
            for track in analysis.tracks
            for s in select_best(track, config.select.top_k, min_gap=config.select.min_gap)
        ]
        rows += write_best_frames(out, video, folder, analysis, picks, config)
        click.echo(
            f"{video}: {analysis.frames_read} frames, {len(analysis.tracks)} tracks, "
            f"{len(picks)} best frames -> {out / folder}"
        )
    json_path, _ = write_manifest(out, rows)
    click.echo(f"manifest: {json_path}")
    if failed:
        raise click.ClickException(f"{failed} of {len(videos)} videos failed")


@cli.command()
@click.argument("video", type=click.Path())
@click.option(
    "--backend",
    type=click.Choice(["pyav", "decord"]),
    default="pyav",
    show_default=True,
    help="Video decoder.",
)
def probe(video: str, backend: str) -> None:
    """Print what the container says about VIDEO, as JSON.

    Example:

        vidfiqa probe sample_videos/blur_ramp.mp4
    """
    from vidfiqa.video import open_video

    try:
        with open_video(video, backend=backend) as reader:
            info = reader.info
    except VideoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(asdict(info), indent=1))


def main() -> None:
    cli()
