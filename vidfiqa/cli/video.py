"""Commands on video files: ``process``, ``best-frames``, ``probe``, ``report`` and ``bench``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from vidfiqa.cli.options import (
    build,
    config_from_options,
    db_option,
    device_option,
    frame_progress,
    index_kind_option,
    open_store,
    preset_option,
    run_options,
    store_options,
    threads_option,
    writable_dir,
)
from vidfiqa.types import plural
from vidfiqa.video import VideoError


@click.command("best-frames")
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Output directory (created). A rerun into it replaces what the previous run wrote there "
    "(its video folders, crops and contact sheets); other files are left alone.",
)
@click.option("--top-k", type=click.IntRange(min=1), help="Best frames kept per track [default: 5].")
@click.option(
    "--min-gap",
    type=click.IntRange(min=0),
    help="Least distance in frames between picks of a track [default: 5].",
)
@run_options
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
    frame, time, box, landmarks, quality, every quality factor and the reasons for each pick,
    and summary.json: per video its status (done, partial, failed), the reason (as 'process'
    words it: damage skipped, fewer frames than the container lists) and notes (short tracks
    dropped, resolution changes). A partial video is also said on stderr. A video that fails is
    reported on stderr and the others go on; the exit code is then 1.

    Example:

        vidfiqa best-frames sample_videos/group_walk.mp4 --top-k 5 --out best/
    """
    from vidfiqa.runs.best_frames import VideoBest, best_frames

    config = config_from_options(config_path, video_opts, {"select.top_k": top_k, "select.min_gap": min_gap})
    created = not Path(out_dir).exists()
    out = writable_dir(out_dir, "output folder")

    def say(result: VideoBest) -> None:
        s = result.summary
        if s["status"] == "failed":
            click.echo(f"error: {s['reason']}", err=True)
            return
        if s["reason"]:
            click.echo(f"partial: {s['video']}: {s['reason']}", err=True)
        said = s["reason"].split("; ") if s["reason"] else []
        tail = "".join(f"; {n}" for n in [*said, *s["notes"]])
        click.echo(
            f"{s['video']}: {plural(s['frames'], 'frame')}, {plural(s['tracks'], 'track')}, "
            f"{plural(s['best_frames'], 'best frame')} -> {out / s['folder']}{tail}"
        )

    run = build(
        best_frames,
        list(videos),
        config,
        out,
        progress=lambda video: frame_progress(progress, video, config),
        on_video=say,
    )
    if run.manifest is not None:
        click.echo(f"manifest: {run.manifest}")
    elif created:
        out.rmdir()  # made only to prove it writable; nothing went into it
    if run.failed:
        raise click.ClickException(f"{run.failed} of {plural(len(videos), 'video')} failed")


@click.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@store_options
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Template strategy, repeatable: best, topk:K, mean, linear, softmax:T, threshold:Q "
    "[default: best, topk:5].",
)
@click.option(
    "--embed",
    type=click.Choice(["needed", "all"]),
    help="Embed only the frames a strategy uses, or every frame [default: needed].",
)
@index_kind_option
@click.option("--force", is_flag=True, help="Reprocess videos already stored with this configuration.")
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: one video after another in this process; ray: a pool of Ray workers.",
)
@click.option("--address", help="Ray cluster to join (e.g. ray://head:10001, auto) [default: a local Ray].")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Ray workers.")
@click.option(
    "--cpus-per-worker",
    type=click.FloatRange(min=0, min_open=True),
    default=1,
    show_default=True,
    help="Ray CPUs reserved for a worker (fractions let workers share a core); its torch threads "
    "are the whole part, at least 1.",
)
@click.option(
    "--gpus-per-worker",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Ray GPUs a worker; a fraction (0.5) lets workers share a GPU.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Ray: how many more times a video is tried after its worker died (killed, out of memory) "
    "processing it.",
)
@run_options
def process(
    videos: tuple[str, ...],
    db: str,
    index_path: str,
    strategies: tuple[str, ...],
    embed: str | None,
    index_kind: str,
    force: bool,
    executor: str,
    address: str | None,
    workers: int,
    cpus_per_worker: float,
    gpus_per_worker: float,
    retries: int,
    config_path: str | None,
    progress: bool,
    **video_opts: Any,
) -> None:
    """Process each VIDEO into stored tracks, per-frame quality and templates.

    Stores every track with its per-frame observations (box, landmarks, quality and factors),
    the embeddings computed, and one template per track and strategy, then brings the FAISS
    index in line with the database. A video already stored with the same content (sha256)
    and configuration is skipped unless --force. Prints one JSON object per video; a failed
    video is reported and stored as failed, the others go on, and the exit code is then 1.
    Ctrl-C keeps the videos finished before it (indexed) and records the run as interrupted
    (exit code 130).

    Example:

        vidfiqa process sample_videos/group_walk.mp4 --strategy best --strategy softmax:0.05
    """
    from vidfiqa.runs.batch import RayOptions, run_batch
    from vidfiqa.runs.ray import WorkerStartError

    config = config_from_options(
        config_path,
        video_opts,
        {"templates.strategies": list(strategies) or None, "templates.embed": embed},
    )
    ray = None
    if executor == "ray":
        try:
            import ray as _  # noqa: F401
        except ImportError:
            raise click.ClickException("--executor ray needs Ray: pip install 'vidfiqa[ray]'") from None
        ray = RayOptions(address, workers, cpus_per_worker, gpus_per_worker, retries)
    writable_dir(index_path, "index folder")
    store, index_dir = open_store(db, index_path, index_kind, create=True)
    try:
        batch = build(
            run_batch,
            list(videos),
            config,
            store,
            index_dir,
            force=force,
            ray=ray,
            progress=lambda video: frame_progress(progress, video, config),
            on_outcome=_print_outcome,
        )
    except WorkerStartError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo(
            "\ninterrupted: the videos finished before are stored and indexed; 'vidfiqa runs' "
            "lists the run as interrupted, and rerunning the command does the rest",
            err=True,
        )
        raise SystemExit(130) from None
    _summarise(batch)


def _print_outcome(outcome: Any) -> None:
    if outcome.status == "failed":
        click.echo(f"error: {outcome.reason}", err=True)
    click.echo(json.dumps(asdict(outcome)))


def _summarise(batch: Any) -> None:
    """The index changes and a table of what happened to each file, on stderr (stdout keeps the
    JSON lines); exit 1 if the index could not be updated or any file failed."""
    outcomes = batch.outcomes
    click.echo(f"index: {json.dumps(batch.index_changes)}", err=True)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "partial", "failed", "skipped")}
    click.echo("summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()), err=True)
    width = max(len(Path(o.path).name) for o in outcomes)
    for o in outcomes:
        reason = o.reason.removeprefix(f"{o.path}: ")
        if o.status in ("failed", "skipped"):
            detail = "; ".join(d for d in (reason, o.notes) if d)
        else:
            detail = "; ".join(d for d in (plural(o.tracks, "track"), reason, o.notes) if d)
        click.echo(f"  {o.status:<8} {Path(o.path).name:<{width}}  {detail}", err=True)
    if batch.index_error:
        raise click.ClickException(
            f"the videos are stored, but the index could not be updated ({batch.index_error}); "
            "run 'vidfiqa index rebuild' once it can be written"
        )
    if batch.failed:
        raise click.ClickException(f"{batch.failed} of {plural(len(outcomes), 'video')} failed")


@click.command()
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


@click.command()
@click.argument("ref", metavar="VIDEO_OR_RUN")
@click.option(
    "--out",
    type=click.Path(),
    required=True,
    help="HTML file to write, or a folder for one page per video (needed when a run stored several).",
)
@db_option
@click.option("--top-k", type=click.IntRange(min=1), help="Best frames shown per track [default: 5].")
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Template strategy, repeatable [default: the config's, best and topk:5; stored: all].",
)
@run_options
def report(
    ref: str,
    out: str,
    db: str,
    top_k: int | None,
    strategies: tuple[str, ...],
    config_path: str | None,
    progress: bool,
    **video_opts: Any,
) -> None:
    """Write a self-contained HTML page per video: a VIDEO file, analysed now, or what a
    'vidfiqa process' run stored: run:ID, run:last (one page per video of the run) or video:ID,
    read from --db.

    The page shows the tracks, a quality timeline per track with the chosen best frames marked,
    each quality factor over the track's frames, a full frame with the track's box drawn, the
    contact sheet, each best frame's crop, factor breakdown and reasons, and which frames built
    each template with what weight. A run's folder also gets index.html: the run's summary and
    its videos, each linking its page. Images are inline: the file opens anywhere, offline.
    A stored video's page is made from the database alone (qualities, factors, templates as
    stored, best frames selected with the run's settings); only the crops are cut from the file,
    when it is still there and unchanged.

    Example:

    \b
        vidfiqa report sample_videos/group_walk.mp4 --out report.html
        vidfiqa process sample_videos/group_walk.mp4
        vidfiqa report run:last --out reports/
    """
    from vidfiqa.runs.report import STORED_REF, ReportError, report_file, report_stored
    from vidfiqa.store.db import Store, StoreError

    def said(path: Path) -> None:
        click.echo(f"report: {path}")

    if not Path(ref).exists() and STORED_REF.fullmatch(ref):
        given = [n for n, v in video_opts.items() if v is not None] + (["config"] if config_path else [])
        if given:
            option = "--" + given[0].replace("_", "-")
            raise click.UsageError(
                f"{option} applies to a video file; {ref} keeps the settings it was run with"
            )
        try:
            report_stored(
                Store(db, create=False), ref, out, top_k=top_k, strategies=list(strategies), on_page=said
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        except (StoreError, ReportError) as exc:
            raise click.ClickException(str(exc)) from None
        return
    config = config_from_options(
        config_path, video_opts, {"select.top_k": top_k, "templates.strategies": list(strategies) or None}
    )
    try:
        said(build(report_file, ref, config, out))
    except (VideoError, ReportError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("video", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="JSON file to write [default: print].")
@click.option(
    "--compare-frames",
    type=click.IntRange(min=0),
    default=150,
    show_default=True,
    help="Frames for the naive-vs-tuned comparison (the slow part); 0 skips it.",
)
@click.option(
    "--stage-frames",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="Frames for stage timings.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Batch size of the embedder stage timings.",
)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML config of the tuned run."
)
@preset_option
@device_option
@threads_option
@click.option(
    "--load-test/--no-load-test",
    default=True,
    show_default=True,
    help="Also run the pipeline on --load-frames frames with one core held busy by a spinning "
    "process, and with two, beside the same frames quiet (loaded_over_quiet, two_busy_over_quiet "
    "in the JSON).",
)
@click.option(
    "--load-frames",
    type=click.IntRange(min=1),
    default=48,
    show_default=True,
    help="Frames of each load-test run.",
)
def bench(
    video: str,
    out: str | None,
    compare_frames: int,
    stage_frames: int,
    batch: int,
    config_path: str | None,
    preset: str | None,
    device: str | None,
    threads: int | None,
    load_test: bool,
    load_frames: int,
) -> None:
    """Measure speeds on VIDEO in one process and print them as JSON.

    Decode-only frames/s (PyAV, decord), the pipeline with the config (--config or --preset;
    the default otherwise), each stage (HOG and CNN detection, landmarks, dlib's embedder and its
    torch port at --batch) and, on the first --compare-frames frames, the naive pipeline (dlib's
    models on every frame) against the tuned one (the config: detection every few frames, decode
    thread, embedding only what templates need), with their ratios and the cosine between the
    two templates of each track. Compare ratios across machines, not frames/s. The JSON records
    the load average before and after and the thread settings (a busy machine is warned of on
    stderr before the run), and the load test's frames/s with the config, with one core busy and
    with two, against quiet.

    Example:

        vidfiqa bench ../shared/data/videos/talking_head_a.mp4 --out bench.json
    """
    from vidfiqa.inputs import input_problem
    from vidfiqa.pipeline.benchmark import busy_note, machine_load, run_benchmark

    tuned = config_from_options(config_path, {"preset": preset, "device": device, "threads": threads})
    problem = input_problem(video)
    if problem:  # one line, before the load warning and any work
        raise click.ClickException(f"{video}: {problem}")
    before = machine_load()
    warning = busy_note(before)
    if warning:
        click.echo(warning, err=True)
    try:
        result = run_benchmark(
            Path(video),
            stage_frames=stage_frames,
            batch=batch,
            compare_frames=compare_frames or None,
            tuned_config=tuned,
            device=tuned.quality.device,
            load_frames=load_frames if load_test else None,
            load_before=before,
        )
    except VideoError as exc:
        raise click.ClickException(str(exc)) from None
    text = json.dumps(result, indent=1)
    if out:
        Path(out).write_text(text + "\n")
    else:
        click.echo(text)
