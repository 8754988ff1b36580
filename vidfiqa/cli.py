"""Command line: one sub-command per user task, no logic beyond parsing and printing.

Data goes to stdout, progress and errors to stderr. Exit codes: 0 success, 1 a failure with a
one-line message (for several videos: any video failed), 2 usage errors.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from vidfiqa.config import QUALITY_SCORERS, Config, ConfigError, load_config
from vidfiqa.models.files import MODEL_FILES
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
                type=click.Choice(["dlib-hog", "dlib-cnn", "dlib-cnn-dlib", "scrfd"]),
                help="Face detector: dlib's HOG, dlib's MMOD CNN (run by torch; -dlib: dlib's own), "
                "SCRFD of an insightface pack [default: dlib-hog].",
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
                "--scorer",
                type=click.Choice(QUALITY_SCORERS),
                help="Quality scorer; all but factors and stability need their model files in the model "
                "folder (see 'vidfiqa models list') [default: factors].",
            ),
            click.option(
                "--model-root",
                type=click.Path(file_okay=False),
                help="Folder of published model files [default: $VIDFIQA_MODEL_ROOT, else "
                "~/.cache/vidfiqa/models].",
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


def _config_from_options(
    config_path: str | None, video_opts: dict[str, Any], extra: dict[str, Any]
) -> Config:
    return _load(
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
            "quality.scorer": video_opts["scorer"],
            "quality.model_root": video_opts["model_root"],
            **extra,
        },
    )


_db_option = click.option(
    "--db",
    default="sqlite:///vidfiqa.db",
    show_default=True,
    help="SQLAlchemy database URL (SQLite file or postgresql+psycopg://...).",
)


def _store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--db and --index, shared by every command that reads or writes the store."""
    fn = click.option(
        "--index",
        "index_path",
        type=click.Path(file_okay=False),
        default="vidfiqa.index",
        show_default=True,
        help="Folder of FAISS index files, one per (model, strategy, scorer).",
    )(fn)
    return _db_option(fn)


_index_kind_option = click.option(
    "--index-kind",
    type=click.Choice(["flat", "hnsw", "ivf"]),
    default="flat",
    show_default=True,
    help="FAISS index for spaces built now: flat is exact; hnsw and ivf are approximate and "
    "faster for galleries of 100k+.",
)


def _open_store(db: str, index_path: str, kind: str = "flat", *, create: bool = False):
    """The store and index folder; only commands that write pass ``create`` (a read-only
    command given a mistyped --db must refuse it, not create an empty database)."""
    from vidfiqa.index import IndexDir, IndexFileError
    from vidfiqa.store import Store, StoreError

    try:
        return Store(db, create=create), IndexDir(index_path, kind=kind)
    except (StoreError, IndexFileError) as exc:
        raise click.ClickException(str(exc)) from None


def _build(factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Build models, turning a missing or unusable model file into a one-line error."""
    from vidfiqa.models.files import ModelFileError

    try:
        return factory(*args, **kwargs)
    except ModelFileError as exc:
        raise click.ClickException(str(exc)) from None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=1, default=str))


def _progress_bar(enabled: bool, name: str, total: int | None = None):
    """A bar over items whose number is known up front (videos, images)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=name, disable=not enabled, leave=False, dynamic_ncols=True)


def _frame_progress(enabled: bool, video: str, config: Config):
    """A bar over one video's frames, shown once it has opened (see FrameProgress)."""
    from vidfiqa.pipeline import read_options
    from vidfiqa.progress import FrameProgress

    return FrameProgress(Path(video).name, read_options(config), enabled=enabled)


def _writable_dir(path: str, what: str) -> Path:
    """Create and probe an output folder before any work, or stop with one line."""
    from vidfiqa.inputs import PathError, ensure_output_dir

    try:
        return ensure_output_dir(path, what=what)
    except PathError as exc:
        raise click.ClickException(str(exc)) from None


def _writable_file(path: str, what: str) -> Path:
    from vidfiqa.inputs import PathError, check_output_file

    try:
        return check_output_file(path, what=what)
    except PathError as exc:
        raise click.ClickException(str(exc)) from None


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
    from vidfiqa.pipeline import Stages, analyse_video, summary_notes
    from vidfiqa.select import select_best

    config = _config_from_options(config_path, video_opts, {"select.top_k": top_k, "select.min_gap": min_gap})
    created = not Path(out_dir).exists()
    out = _writable_dir(out_dir, "output folder")
    stages: list[Stages] = []  # built once, when the first video has opened

    def models() -> Stages:
        if not stages:
            stages.append(_build(Stages.from_config, config))
        return stages[0]

    rows: list[dict] = []
    failed = 0
    used: set[str] = set()
    for video in videos:
        folder = safe_name(Path(video).stem)
        while folder in used:
            folder += "_"
        used.add(folder)
        try:
            with _frame_progress(progress, video, config) as bar:
                analysis = analyse_video(video, config, models, progress=bar.update, on_open=bar.opened)
        except VideoError as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        picks = [
            s
            for track in analysis.tracks
            for s in select_best(track, config.select.top_k, min_gap=config.select.min_gap)
        ]
        rows += write_best_frames(out, video, folder, analysis, picks, config)
        notes = "".join(f"; {n}" for n in summary_notes(analysis, config))
        click.echo(
            f"{video}: {analysis.frames_read} frames, {len(analysis.tracks)} tracks, "
            f"{len(picks)} best frames -> {out / folder}{notes}"
        )
    if failed < len(videos):
        json_path, _ = write_manifest(out, rows)
        click.echo(f"manifest: {json_path}")
    elif created:
        out.rmdir()  # made only to prove it writable; nothing went into it
    if failed:
        raise click.ClickException(f"{failed} of {len(videos)} videos failed")


@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@_store_options
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
@_index_kind_option
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
@_run_options
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

    Example:

        vidfiqa process sample_videos/group_walk.mp4 --strategy best --strategy softmax:0.05
    """
    from vidfiqa.process import Processor

    config = _config_from_options(
        config_path,
        video_opts,
        {
            "templates.strategies": list(strategies) or None,
            "templates.embed": embed,
        },
    )
    _writable_dir(index_path, "index folder")
    store, index_dir = _open_store(db, index_path, index_kind, create=True)
    if executor == "ray":
        resources = {
            "workers": workers,
            "cpus_per_worker": cpus_per_worker,
            "gpus_per_worker": gpus_per_worker,
        }
        _process_on_ray(
            list(videos), config, db, index_path, store, index_dir, address, resources, retries, force
        )
        return
    processor = Processor(config, store, index_dir)
    outcomes = []
    for video in videos:
        with _frame_progress(progress, video, config) as bar:
            outcome = _build(processor.process, video, force=force, progress=bar.update, on_open=bar.opened)
        if outcome.status == "failed":
            click.echo(f"error: {outcome.reason}", err=True)
        click.echo(json.dumps(asdict(outcome)))
        outcomes.append(outcome)
    _finish_batch(outcomes, _sync(processor.finish))


def _process_on_ray(
    videos: list[str],
    config: Config,
    db: str,
    index_path: str,
    store: Any,
    index_dir: Any,
    address: str | None,
    resources: dict[str, Any],
    retries: int,
    force: bool,
) -> None:
    from sqlalchemy.engine import make_url

    from vidfiqa.process import start_run, sync_index
    from vidfiqa.ray_executor import WorkerStartError, process_with_ray

    try:
        import ray  # noqa: F401
    except ImportError:
        raise click.ClickException("--executor ray needs Ray: pip install 'vidfiqa[ray]'") from None
    # Workers may start in another directory: give them absolute paths.
    url = make_url(db)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
        db = url.set(database=str(Path(url.database).resolve())).render_as_string(hide_password=False)
    paths = [str(Path(v).resolve()) if Path(v).exists() else v for v in videos]
    run_id = start_run(store, config, "process --executor ray")
    try:
        outcomes = process_with_ray(
            paths,
            config,
            store,
            db,
            str(Path(index_path).resolve()),
            run_id,
            address=address,
            retries=retries,
            force=force,
            **resources,
        )
    except WorkerStartError as exc:
        raise click.ClickException(str(exc)) from None
    for outcome in outcomes:
        if outcome.status == "failed":
            click.echo(f"error: {outcome.reason}", err=True)
        click.echo(json.dumps(asdict(outcome)))
    changes = _sync(lambda: sync_index(store, index_dir))
    store.finish_run(run_id)
    _finish_batch(outcomes, changes)


def _sync(sync: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run an index sync after the videos were stored; a failure keeps the database as stored
    and says how to repair the index."""
    from vidfiqa.index import IndexFileError

    try:
        return sync()
    except (OSError, IndexFileError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise click.ClickException(
            f"the videos are stored, but the index could not be updated ({reason}); "
            "run 'vidfiqa index rebuild' once it can be written"
        ) from None


def _finish_batch(outcomes: list[Any], index_changes: dict[str, Any]) -> None:
    """The index changes and a table of what happened to each file, on stderr (stdout keeps the
    JSON lines); exit 1 if any file failed."""
    click.echo(f"index: {json.dumps(index_changes)}", err=True)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "partial", "failed", "skipped")}
    click.echo("summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()), err=True)
    width = max(len(Path(o.path).name) for o in outcomes)
    for o in outcomes:
        reason = o.reason.removeprefix(f"{o.path}: ")
        if o.status in ("failed", "skipped"):
            detail = reason
        else:
            detail = "; ".join(d for d in (f"{o.tracks} tracks", reason, o.notes) if d)
        click.echo(f"  {o.status:<8} {Path(o.path).name:<{width}}  {detail}", err=True)
    failed = counts["failed"]
    if failed:
        raise click.ClickException(f"{failed} of {len(outcomes)} videos failed")


def _resolve_template(store, ref: str, strategy: str | None):
    """A template from an id, or from a stored video's longest track (by path)."""
    if ref.isdigit():
        row = store.template(int(ref))
        if row is None:
            raise click.ClickException(f"no template {ref}; see 'vidfiqa templates'")
        return row
    path = str(Path(ref).resolve())
    rows = [r for r in store.templates(strategy=strategy) if r.track.video.path == path]
    if not rows:
        raise click.ClickException(
            f"{ref}: no stored templates{f' for strategy {strategy}' if strategy else ''}; "
            "run 'vidfiqa process' on it first"
        )
    return max(rows, key=lambda r: (r.track.last_frame - r.track.first_frame, -r.id))


def _describe(row) -> dict[str, Any]:
    return {
        "template_id": row.id,
        "track_id": row.track_id,
        "video": row.track.video.path,
        "label": row.track.label.name if row.track.label else None,
        "strategy": row.strategy,
    }


@cli.command()
@click.argument("query")
@_store_options
@click.option(
    "--k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Neighbours per query."
)
@click.option("--strategy", help="Template strategy to search with [default: the first stored].")
def search(query: str, db: str, index_path: str, k: int, strategy: str | None) -> None:
    """Nearest stored templates to QUERY, a template id or a processed video's path.

    For a video, every track's template is a query and the video's own templates are left
    out of the results. Similarity is cosine (templates are unit vectors). Prints JSON.

    Example:

        vidfiqa search sample_videos/blur_ramp.mp4 --k 3
    """
    from vidfiqa.index import IndexFileError, Space

    store, index_dir = _open_store(db, index_path)
    if query.isdigit():
        queries = [_resolve_template(store, query, None)]
    else:
        path = str(Path(query).resolve())
        queries = [r for r in store.templates(strategy=strategy) if r.track.video.path == path]
        if not queries:
            _resolve_template(store, query, strategy)  # raises the explanatory error
        first = queries[0].strategy
        queries = [q for q in queries if q.strategy == first]
    out = []
    for q in queries:
        space = Space(q.model, q.strategy, q.scorer)
        try:
            index = index_dir.load(space)
        except IndexFileError as exc:
            raise click.ClickException(str(exc)) from None
        if index is None:
            raise click.ClickException(f"no index for {space.filename}; run 'vidfiqa index rebuild'")
        own = {r.id for r in store.templates(strategy=q.strategy) if r.track.video_id == q.track.video_id}
        sims, ids = index.search(q.array, k + len(own))
        hits = []
        for sim, tid in zip(sims[0], ids[0]):
            if tid < 0 or int(tid) in own or len(hits) == k:
                continue
            row = store.template(int(tid))
            if row is None:
                raise click.ClickException(
                    f"index holds template {tid}, the database does not: run 'vidfiqa index rebuild'"
                )
            hits.append({"rank": len(hits) + 1, **_describe(row), "similarity": round(float(sim), 6)})
        out.append({"query": _describe(q), "results": hits})
    _echo_json(out)


@cli.command()
@click.argument("a")
@click.argument("b")
@_store_options
@click.option("--strategy", help="Template strategy for videos given by path [default: any].")
@click.option("--threshold", type=float, help="Decision threshold on cosine [default: the embedder's].")
def verify(a: str, b: str, db: str, index_path: str, strategy: str | None, threshold: float | None) -> None:
    """Compare A and B (template ids or processed videos' paths): similarity and decision.

    A video stands for its longest track's template. The decision is "same" when the cosine
    similarity is at least the threshold: by default the embedder's documented one (dlib-resnet:
    0.92, see vidfiqa/models/dlib_models.py).

    Example:

        vidfiqa verify 1 2
    """
    from vidfiqa.models import registry

    store, _ = _open_store(db, index_path)
    ta = _resolve_template(store, a, strategy)
    tb = _resolve_template(store, b, strategy or ta.strategy)
    if (ta.model, ta.strategy, ta.scorer) != (tb.model, tb.strategy, tb.scorer):
        raise click.ClickException(
            f"templates {ta.id} and {tb.id} were made differently ({ta.model}/{ta.strategy} vs "
            f"{tb.model}/{tb.strategy}); pass --strategy"
        )
    if threshold is None:
        threshold = registry.embedder_threshold(ta.model)
    sim = float(ta.array @ tb.array)
    _echo_json(
        {
            "a": _describe(ta),
            "b": _describe(tb),
            "similarity": round(sim, 6),
            "threshold": threshold,
            "same": sim >= threshold,
        }
    )


@cli.command()
@click.argument("ref")
@click.option("--label", required=True, help="Name of the person.")
@_store_options
def enroll(ref: str, label: str, db: str, index_path: str) -> None:
    """Give a stored track a person's name; REF is track:ID, template:ID or a template id.

    Example:

        vidfiqa enroll track:1 --label "Eileen Collins"
    """
    from vidfiqa.store import StoreError

    store, _ = _open_store(db, index_path)
    kind, _, ident = ref.rpartition(":")
    if not ident.isdigit() or kind not in ("", "track", "template"):
        raise click.UsageError(f"REF must be track:ID, template:ID or an id, got {ref!r}")
    track_id = int(ident) if kind == "track" else _resolve_template(store, ident, None).track_id
    try:
        store.label_track(track_id, label)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    _echo_json({"track_id": track_id, "label": label})


@cli.command()
@_db_option
def runs(db: str) -> None:
    """List the runs that wrote to the store, as JSON: command, start and finish times, and
    the ids and statuses of the videos each stored ('vidfiqa report run:ID' shows them).

    Example:

        vidfiqa runs
    """
    from vidfiqa.store import Store, StoreError

    try:
        _echo_json(Store(db, create=False).runs())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@_store_options
@click.option("--video-id", type=int, help="Only this video's tracks.")
def tracks(db: str, index_path: str, video_id: int | None) -> None:
    """List stored tracks as JSON.

    Example:

        vidfiqa tracks --video-id 1
    """
    store, _ = _open_store(db, index_path)
    _echo_json(store.tracks(video_id))


@cli.command()
@_store_options
@click.option("--strategy", help="Only templates of this strategy.")
def templates(db: str, index_path: str, strategy: str | None) -> None:
    """List stored templates (without vectors) as JSON.

    Example:

        vidfiqa templates --strategy best
    """
    store, _ = _open_store(db, index_path)
    _echo_json(
        [
            {
                **_describe(r),
                "scorer": r.scorer,
                "model": r.model,
                "dim": r.dim,
                "frames": r.frames,
                "weights": [round(w, 6) for w in r.weights],
            }
            for r in store.templates(strategy=strategy)
        ]
    )


@cli.group()
def index() -> None:
    """Check or rebuild the FAISS index from the database."""


@index.command("check")
@_store_options
def index_check(db: str, index_path: str) -> None:
    """Compare the index with the database; exit 1 if they differ.

    Example:

        vidfiqa index check
    """
    from vidfiqa.index import IndexFileError, Space

    store, index_dir = _open_store(db, index_path)
    report = {}
    try:
        for space in (Space(*s) for s in store.spaces()):
            ids, _ = store.vectors(space.model, space.strategy, space.scorer)
            report[space.filename] = index_dir.check(space, ids)
    except IndexFileError as exc:
        raise click.ClickException(f"{exc}; run 'vidfiqa index rebuild'") from None
    _echo_json(report)
    if any(v["missing"] or v["extra"] for v in report.values()):
        raise click.ClickException("index and database differ: run 'vidfiqa index rebuild'")


@index.command("rebuild")
@_store_options
@_index_kind_option
def index_rebuild(db: str, index_path: str, index_kind: str) -> None:
    """Rebuild every index space from the templates in the database.

    Example:

        vidfiqa index rebuild --index-kind hnsw
    """
    from vidfiqa.process import sync_index

    store, index_dir = _open_store(db, index_path, index_kind)
    _writable_dir(index_path, "index folder")
    _echo_json(_sync(lambda: sync_index(store, index_dir, rebuild=True)))


@cli.group()
def models() -> None:
    """Published model files: where they are looked for, whether they are there."""


@models.command("list")
@click.option("--model-root", type=click.Path(file_okay=False), help="Model folder to look in.")
def models_list(model_root: str | None) -> None:
    """List every published model vidfiqa can use, with its file and whether it is present.

    Example:

        vidfiqa models list --model-root ~/models
    """
    from vidfiqa.models.files import MODEL_FILES
    from vidfiqa.models.files import model_root as root_of

    root = root_of(model_root)
    _echo_json(
        [
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


def _model_name(fn: Callable[..., Any]) -> Callable[..., Any]:
    """NAME (one of the known model files) and --model-root, for the models sub-commands."""
    fn = click.option("--model-root", type=click.Path(file_okay=False), help="Model folder to look in.")(fn)
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
    _echo_json(info)


@models.command("verify")
@_model_name
def models_verify(name: str, model_root: str | None) -> None:
    """Load model NAME as the scorer that uses it would; exit 1 with the reason if it cannot be used.

    Example:

        vidfiqa models verify ediffiqa-s
    """
    from vidfiqa.models import registry

    try:
        _build(registry.create, "quality", MODEL_FILES[name].scorer or name, model_root=model_root)
    except RuntimeError as exc:  # torch: the state dict does not fit the network
        first = str(exc).strip().splitlines()[0]
        raise click.ClickException(f"{name}: the file does not fit the network ({first[:150]})") from None
    _echo_json({"name": name, "ok": True})


@cli.group()
def train() -> None:
    """Train quality models."""


def _training_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--out and the optimiser settings shared by the train sub-commands."""
    options = [
        click.option(
            "--out",
            "out_path",
            type=click.Path(dir_okay=False),
            required=True,
            help="Checkpoint to write (.pth).",
        ),
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="Passes over the data per branch.",
        ),
        click.option(
            "--batch-size", type=click.IntRange(min=2), default=16, show_default=True, help="Images per step."
        ),
        click.option(
            "--lr",
            type=click.FloatRange(min=0, min_open=True),
            default=1e-3,
            show_default=True,
            help="Adam learning rate.",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(min=0),
            default=1.0,
            show_default=True,
            help="Weight of 1 - Pearson in the loss.",
        ),
        click.option(
            "--val-fraction",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.2,
            show_default=True,
            help="Share of images held out for SRCC/PLCC.",
        ),
        click.option(
            "--seed", type=int, default=0, show_default=True, help="Random seed (split, order, flips)."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _train_and_save(images: Any, labels: Any, out_path: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Train the lightweight ensemble, save it, and return the per-branch reports."""
    import torch

    from vidfiqa.train import TrainError, train_lightweight

    try:
        result = train_lightweight(images, labels, log=lambda line: click.echo(line, err=True), **settings)
    except TrainError as exc:
        raise click.ClickException(str(exc)) from None
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.model.state_dict(), out_path)
    return {
        name: {"loss": r.losses, "val_srcc": r.srcc, "val_plcc": r.plcc} for name, r in result.reports.items()
    }


@train.command("lightweight")
@click.option("--images", type=click.Path(file_okay=False), required=True, help="Folder of face images.")
@click.option(
    "--labels", type=click.Path(dir_okay=False), required=True, help="CSV of file,score (header optional)."
)
@_training_options
def train_lightweight_cmd(images: str, labels: str, out_path: str, **settings: Any) -> None:
    """Train the MobileNetV3-Small + ShuffleNetV2 x0.5 ensemble on labelled face images.

    Each branch is trained with MSE + alpha (1 - Pearson); SRCC and PLCC on the held-out split
    are printed after every epoch and written as JSON at the end. Save the checkpoint as
    lightweight.pth in the model folder to use it as the 'lightweight' scorer.

    Example:

        vidfiqa train lightweight --images faces/ --labels labels.csv --out models/lightweight.pth
    """
    from vidfiqa.train import TrainError, load_images, read_labels

    try:
        files, scores = read_labels(Path(images), Path(labels))
        pixels = load_images(files)
    except TrainError as exc:
        raise click.ClickException(str(exc)) from None
    _echo_json(_train_and_save(pixels, scores, out_path, settings))


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
@click.option("--model-root", type=click.Path(file_okay=False), help="Folder of published model files.")
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
@_training_options
def train_distill_cmd(
    teacher: str,
    images: str,
    model_root: str | None,
    embedder: str,
    detect: bool,
    beta: float,
    epsilon: float,
    min_per_identity: int,
    labels_out: str | None,
    out_path: str,
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
    from tqdm import tqdm

    from vidfiqa.distill import describe_images, face_images, optimise_labels
    from vidfiqa.models import registry
    from vidfiqa.train import TrainError

    if teacher not in QUALITY_SCORERS and not teacher.startswith("factors:"):
        raise click.ClickException(f"unknown teacher {teacher!r}; one of {', '.join(QUALITY_SCORERS)}")
    try:
        files, identities = face_images(Path(images))
        scorer = _build(registry.quality_scorer, teacher, model_root=model_root)
        embed_options = {"model_root": model_root} if embedder == "arcface" else {}
        with tqdm(total=len(files), desc="faces", unit="image", leave=False, dynamic_ncols=True) as bar:
            faces = describe_images(
                files,
                landmarker=registry.create("landmarker", "dlib68"),
                embedder=_build(registry.create, "embedder", embedder, **embed_options),
                teacher=scorer,
                detector=registry.create("detector", "dlib-hog", upsample=1) if detect else None,
                progress=bar.update,
            )
        ids = [identities[i] for i in faces.index]
        opt = optimise_labels(
            faces.scores, faces.embeddings, ids, beta=beta, epsilon=epsilon, min_per_identity=min_per_identity
        )
        if opt.keep.sum() < 4:
            raise TrainError(
                f"only {int(opt.keep.sum())} images left after dropping identities with fewer than "
                f"{min_per_identity} high-quality images; lower --min-per-identity"
            )
    except TrainError as exc:
        raise click.ClickException(str(exc)) from None
    if labels_out:
        with Path(labels_out).open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "teacher", "label", "used"])
            for j, i in enumerate(faces.index):
                rel = files[i].relative_to(images).as_posix()
                writer.writerow([rel, f"{faces.scores[j]:.6g}", f"{opt.labels[j]:.6g}", int(opt.keep[j])])
    reports = _train_and_save(faces.batch.crops[opt.keep], opt.labels[opt.keep], out_path, settings)
    _echo_json(
        {
            "teacher": teacher,
            "images": len(files),
            "faces": len(faces.index),
            "trained_on": int(opt.keep.sum()),
            "quality_threshold": round(opt.threshold, 6),
            "identities": len(opt.identities),
            "dropped_identities": opt.dropped,
            "branches": reports,
        }
    )


_eval_scorers_option = click.option(
    "--scorer",
    "scorers",
    multiple=True,
    help="Quality scorer, repeatable: factors, factors:<component>, stability, lightweight, "
    "ediffiqa-s|m|l, crfiqa-s|l, magface-r100|r50|r18, clib-fiqa [default: factors].",
)


_eval_report_option = click.option(
    "--report", is_flag=True, help="Also write results.html: the table and both plots in one page."
)


@cli.group("eval")
def eval_group() -> None:
    """Evaluate FIQA scorers and template strategies on video benchmarks."""


@eval_group.command("ytf")
@_eval_report_option
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
@_eval_scorers_option
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
@click.option(
    "--edc-fmr",
    type=click.FloatRange(0, 1, min_open=True),
    help="FMR of the EDC's fixed threshold [default: 1e-2 restricted, 1e-3 all-pairs].",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def eval_ytf(
    root: str,
    protocol: str,
    splits: str | None,
    scorers: tuple[str, ...],
    strategies: tuple[str, ...],
    max_frames: int | None,
    detect: bool,
    aligned: bool,
    halves: bool,
    cache: str | None,
    edc_fmr: float | None,
    out_dir: str,
    progress: bool,
    report: bool,
) -> None:
    """Reproduce the YouTube Faces video protocols for FIQA scorers and template strategies.

    Per-frame embeddings (dlib ResNet) and qualities are computed once and cached, templates are
    built per scorer and strategy, and the protocol's metrics written to OUT/results.json, a
    Markdown table OUT/results.md and plots OUT/roc.png and OUT/edc.png.

    Example:

        vidfiqa eval ytf --root ../shared/data/ytf_mini --protocol all-pairs --halves --out ytf/
    """
    from vidfiqa.aggregate import Strategy
    from vidfiqa.eval.ytf import (
        FeatureExtractor,
        YtfError,
        YtfPair,
        drop_missing_frames,
        extract_all,
        load_aligned,
        load_ytf,
        make_templates,
        read_splits,
        split_halves,
    )
    from vidfiqa.models import registry

    try:
        chosen = [Strategy.parse(s) for s in strategies or ("best", "mean", "softmax:0.05")]
        scorer_map = {n: _build(registry.quality_scorer, n) for n in scorers or ("factors",)}
        listed = load_aligned(root) if aligned else load_ytf(root)
        videos = drop_missing_frames(listed)
        detect = detect or aligned
        if halves:
            videos = split_halves(videos)
        pairs: list[YtfPair] = []
        if protocol == "restricted":
            if splits is None:
                candidates = [Path(root) / "splits.txt", Path(root) / "meta_data" / "meta_and_splits.mat"]
                splits = next((str(c) for c in candidates if c.exists()), None)
                if splits is None:
                    raise YtfError(f"{root}: no splits.txt or meta_data/meta_and_splits.mat; pass --splits")
            pairs = read_splits(splits)
    except (YtfError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    out = _writable_dir(out_dir, "output folder")
    _report_missing_frames(listed)
    extractor = FeatureExtractor(
        landmarker=registry.create("landmarker", "dlib68"),
        embedder=registry.create("embedder", "dlib-resnet"),
        scorers=scorer_map,
        detector=registry.create("detector", "dlib-hog", upsample=1) if detect else None,
        max_frames=max_frames,
        cache=Path(cache) if cache else out / "cache",
    )
    bar = _progress_bar(progress, "videos", len(videos))
    features, empty = extract_all(videos, extractor, bar.update)
    bar.close()
    for name in empty:
        click.echo(f"warning: {name}: no face found; its pairs count as missing", err=True)
    if not features:
        raise click.ClickException("no video has a face: nothing to evaluate")
    people = {name: videos[name].person for name in features}
    _evaluate_and_report(
        lambda scorer, strategy: make_templates(features, scorer, strategy),
        scorer_map,
        chosen,
        pairs if protocol == "restricted" else None,
        people,
        edc_fmr or (1e-2 if protocol == "restricted" else 1e-3),
        out,
        {
            "title": f"YouTube Faces, {protocol}",
            "root": str(Path(root).resolve()),
            "protocol": protocol,
            "videos_without_faces": empty,
            "missing_frames": sum(v.missing_frames for v in listed.values()),
            "videos_without_frames": sorted(n for n, v in listed.items() if not v.frames),
            "frames_per_video": max_frames or "all",
            "faces_from": "detector" if detect else "database boxes",
            "images": "aligned_images_DB" if aligned else "frame_images_DB",
            "embedder": "dlib-resnet",
            "videos": len(features),
        },
        html=report,
    )


@eval_group.command("lfw")
@_eval_report_option
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    required=True,
    help="LFW folder: pairs.txt and images/<Person>/<Person>_<NNNN>.jpg.",
)
@click.option("--pairs", "pairs_file", type=click.Path(dir_okay=False), help="[default: ROOT/pairs.txt].")
@_eval_scorers_option
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
@click.option(
    "--edc-fmr",
    type=click.FloatRange(0, 1, min_open=True),
    default=1e-2,
    show_default=True,
    help="FMR of the EDC's fixed threshold.",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def eval_lfw(
    root: str,
    pairs_file: str | None,
    scorers: tuple[str, ...],
    folds: int | None,
    cache: str | None,
    edc_fmr: float,
    out_dir: str,
    progress: bool,
    report: bool,
) -> None:
    """Face verification on LFW View 2: 10-fold accuracy, AUC, EER and EDC per quality scorer.

    Each image's largest face (dlib HOG, upsampled once) is embedded with dlib's ResNet; pairs
    naming an absent image are reported and left out, as missing videos are in 'eval ytf'.

    Example:

        vidfiqa eval lfw --root ../shared/data/lfw --folds 2 --out lfw_eval/
    """
    from vidfiqa.aggregate import Strategy
    from vidfiqa.eval.lfw import pair_images, read_pairs
    from vidfiqa.eval.ytf import FeatureExtractor, YtfError, extract_all, make_templates
    from vidfiqa.models import registry

    try:
        pairs = read_pairs(pairs_file or Path(root) / "pairs.txt")
        if folds is not None:
            pairs = [p for p in pairs if p.split <= folds]
        videos, absent = pair_images(root, pairs)
        scorer_map = {n: _build(registry.quality_scorer, n) for n in scorers or ("factors",)}
    except (YtfError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    out = _writable_dir(out_dir, "output folder")
    if absent:
        hit = sum(p.a in absent or p.b in absent for p in pairs)
        click.echo(
            f"warning: {len(absent)} images the pairs name are absent; their {hit} pairs count as missing",
            err=True,
        )
    extractor = FeatureExtractor(
        landmarker=registry.create("landmarker", "dlib68"),
        embedder=registry.create("embedder", "dlib-resnet"),
        scorers=scorer_map,
        detector=registry.create("detector", "dlib-hog", upsample=1),
        cache=Path(cache) if cache else out / "cache",
    )
    bar = _progress_bar(progress, "images", len(videos))
    features, empty = extract_all(videos, extractor, bar.update)
    bar.close()
    if empty:
        click.echo(f"warning: no face found in {len(empty)} images; their pairs count as missing", err=True)
    if not features:
        raise click.ClickException("no image has a face: nothing to evaluate")
    _evaluate_and_report(
        lambda scorer, strategy: make_templates(features, scorer, strategy),
        scorer_map,
        [Strategy.parse("best")],
        pairs,
        {},
        edc_fmr,
        out,
        {
            "title": "LFW View 2",
            "root": str(Path(root).resolve()),
            "folds": folds or max(p.split for p in pairs),
            "absent_images": absent,
            "images_without_faces": empty,
            "faces_from": "dlib-hog, largest face",
            "embedder": "dlib-resnet",
            "images": len(features),
        },
        html=report,
    )


def _report_missing_frames(videos: dict[str, Any]) -> None:
    """One warning for the frames a YTF list names that are absent, one for the videos left
    with none (their pairs count as missing)."""
    missing = sum(v.missing_frames for v in videos.values())
    if not missing:
        return
    listed = missing + sum(len(v.frames) for v in videos.values())
    hit = sum(v.missing_frames > 0 for v in videos.values())
    click.echo(
        f"warning: {missing} of the {listed} listed frames are missing (in {hit} videos); "
        "those videos are evaluated from the frames present",
        err=True,
    )
    empty = sorted(n for n, v in videos.items() if not v.frames)
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        click.echo(
            f"warning: {len(empty)} videos have none of their frames ({shown}); their pairs count as missing",
            err=True,
        )


def _evaluate_and_report(
    build: Callable[[str, Any], Any],
    scorers: Any,
    strategies: list,
    pairs: list | None,
    people: dict[str, str],
    edc_fmr: float,
    out: Path,
    meta: dict[str, Any],
    fars: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1),
    html: bool = False,
) -> None:
    """Templates per scorer and strategy (``build(scorer, strategy)``), the protocol's metrics,
    and the report files.

    ``pairs`` given: listed pairs (k-fold accuracy when they carry several folds); ``None``: all
    pairs of templates, genuine when ``people`` agree.
    """
    from vidfiqa.eval.metrics import UndefinedMetricWarning
    from vidfiqa.eval.protocols import all_pairs, listed_pairs
    from vidfiqa.eval.report import write_report

    results = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        try:
            for scorer in scorers:
                for strategy in strategies:
                    templates = build(scorer, strategy)
                    if pairs is not None:
                        results[(scorer, strategy.label)] = listed_pairs(
                            templates, pairs, edc_fmr=edc_fmr, fars=fars
                        )
                    else:
                        ids = [people[n] for n in templates.names]
                        results[(scorer, strategy.label)] = all_pairs(templates, ids, edc_fmr=edc_fmr)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        first = next(iter(results.values()))
        if first.missing:
            click.echo(
                f"warning: {len(first.missing)} of {len(pairs)} pairs name videos without features", err=True
            )
        columns = (
            ["accuracy", "auc", "eer", "tar@far=0.001", "tar@far=0.01", "pauc20", "pauc30"]
            if pairs is not None
            else ["tar@far=0.0001", "tar@far=0.001", "auc", "eer", "pauc20", "pauc30"]
        )
        if len(fars) > 4:  # IJB: the TAR@FAR ladder is the table
            columns = [f"tar@far={f:g}" for f in fars] + ["auc", "pauc20"]
        meta = {**meta, "pairs": int(first.metrics["pairs"]), "edc_fmr": edc_fmr}
        paths = write_report(out, meta, results, columns, html=html)
    for message in sorted({str(w.message) for w in caught}):
        click.echo(f"note: {message} (n/a in the table)", err=True)
    click.echo((out / "results.md").read_text())
    click.echo(f"written: {', '.join(str(p) for p in paths.values())}", err=True)


@eval_group.command("pairs")
@_eval_report_option
@click.option(
    "--pairs",
    "pair_list",
    type=click.Path(dir_okay=False),
    required=True,
    help="CSV of video_a,video_b,label[,fold] (videos or folders of frames; header optional).",
)
@_store_options
@click.option(
    "--factor",
    "factors",
    multiple=True,
    type=click.Choice(["sharpness", "pose", "exposure", "contrast", "size", "confidence", "visibility"]),
    help="Also evaluate this quality component alone as a scorer (factors:<component>), repeatable.",
)
@click.option(
    "--strategy", "strategies", multiple=True, help="Template strategy, repeatable [default: best, mean]."
)
@click.option(
    "--edc-fmr",
    type=click.FloatRange(0, 1, min_open=True),
    default=1e-2,
    show_default=True,
    help="FMR of the EDC.",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@_run_options
def eval_pairs(
    pair_list: str,
    db: str,
    index_path: str,
    factors: tuple[str, ...],
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
    read as image sequences (largest detected face per image). Writes OUT/results.json,
    OUT/results.md, OUT/roc.png and OUT/edc.png; with a fold column, also k-fold accuracy.

    Example:

        vidfiqa eval pairs --pairs pairs.csv --stride 3 --out pairs_eval/
    """
    from vidfiqa.aggregate import Strategy
    from vidfiqa.eval.pairs import frame_folder, read_pair_list, video_features_from_store
    from vidfiqa.eval.ytf import FeatureExtractor, YtfError, make_templates
    from vidfiqa.models import registry
    from vidfiqa.pipeline import stage_options
    from vidfiqa.process import Processor

    try:
        rows = read_pair_list(pair_list)
        chosen = [Strategy.parse(s) for s in strategies or ("best", "mean")]
    except (YtfError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    config = _config_from_options(config_path, video_opts, {"templates.embed": "all"})
    scorer_names = [config.quality.scorer, *(f"factors:{f}" for f in factors)]
    scorer_map = {
        n: _build(registry.quality_scorer, n, model_root=config.quality.model_root) for n in scorer_names
    }
    out = _writable_dir(out_dir, "output folder")
    items = sorted({r.a for r in rows} | {r.b for r in rows})
    _writable_dir(index_path, "index folder")
    store, index_dir = _open_store(db, index_path, create=True)
    processor = None
    extractor = None
    features = {}
    for item in items:
        if Path(item).is_dir():
            if extractor is None:
                extractor = FeatureExtractor(
                    landmarker=registry.create(
                        "landmarker", config.landmarks.name, **stage_options(config, config.landmarks.name)
                    ),
                    embedder=registry.create(
                        "embedder", config.embedder.name, **stage_options(config, config.embedder.name)
                    ),
                    scorers=scorer_map,
                    detector=registry.create(
                        "detector",
                        config.detector.name,
                        upsample=1,
                        **stage_options(config, config.detector.name),
                    ),
                    max_frames=config.video.max_frames,
                    cache=out / "cache",
                )
            try:
                f = extractor.features(frame_folder(item))
            except YtfError as exc:
                click.echo(f"error: {exc}", err=True)
                continue
        else:
            processor = processor or _build(Processor, config, store, index_dir, command="eval pairs")
            with _frame_progress(progress, item, config) as bar:
                outcome = _build(processor.process, item, progress=bar.update, on_open=bar.opened)
            if outcome.status == "failed":
                click.echo(f"error: {outcome.reason}", err=True)
                continue
            try:
                f = video_features_from_store(
                    store, outcome.video_id, config.embedder.name, scorer_names, config.quality.scorer
                )
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
        if f is None:
            click.echo(f"warning: {item}: no face found; its pairs count as missing", err=True)
        else:
            features[item] = f
    if processor is not None:
        processor.finish()
    if not features:
        raise click.ClickException("no video has a face: nothing to evaluate")
    _evaluate_and_report(
        lambda scorer, strategy: make_templates(features, scorer, strategy),
        scorer_map,
        chosen,
        [r.as_pair() for r in rows],
        {},
        edc_fmr,
        out,
        {
            "title": "Video pairs",
            "pair_list": str(Path(pair_list).resolve()),
            "embedder": config.embedder.name,
        },
        html=report,
    )


@eval_group.command("ijb")
@_eval_report_option
@click.option(
    "--images", type=click.Path(file_okay=False), required=True, help="Folder of the images (loose_crop)."
)
@click.option(
    "--meta", "meta_dir", type=click.Path(file_okay=False), required=True, help="Folder of the meta files."
)
@click.option("--prefix", default="ijbc", show_default=True, help="Meta file prefix (ijbc, ijbb).")
@_eval_scorers_option
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Media pooling strategy, repeatable [default: mean, softmax:0.05].",
)
@click.option(
    "--edc-fmr",
    type=click.FloatRange(0, 1, min_open=True),
    default=1e-3,
    show_default=True,
    help="FMR of the EDC.",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def eval_ijb(
    images: str,
    meta_dir: str,
    prefix: str,
    scorers: tuple[str, ...],
    strategies: tuple[str, ...],
    edc_fmr: float,
    out_dir: str,
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
    from vidfiqa.eval.ijb import IJB_FARS, image_features, pool_templates, read_meta, template_pairs
    from vidfiqa.eval.ytf import YtfError
    from vidfiqa.models import registry

    try:
        meta = read_meta(meta_dir, prefix)
        chosen = [Strategy.parse(s) for s in strategies or ("mean", "softmax:0.05")]
        scorer_map = {n: _build(registry.quality_scorer, n) for n in scorers or ("factors",)}
        bar = _progress_bar(progress, "images", len(meta.images))
        feats = image_features(
            Path(images),
            meta,
            registry.create("landmarker", "dlib68"),
            registry.create("embedder", "dlib-resnet"),
            scorer_map,
            None if meta.landmarks is not None else registry.create("detector", "dlib-hog", upsample=1),
            bar.update,
        )
        bar.close()
    except (YtfError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _evaluate_and_report(
        lambda scorer, strategy: pool_templates(meta, feats, scorer, strategy),
        scorer_map,
        chosen,
        template_pairs(meta),
        {},
        edc_fmr,
        Path(out_dir),
        {
            "title": f"{prefix.upper()} template verification",
            "images": len(meta.images),
            "images_without_face": int((~feats.found).sum()),
            "templates": len(np.unique(meta.templates)),
            "faces_from": "5-point file" if meta.landmarks is not None else "detector",
            "embedder": "dlib-resnet",
        },
        fars=IJB_FARS,
        html=report,
    )


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


_STORED_REF = re.compile(r"(run|video):(\d+|last)")


def _stored_videos(store: Any, ref: str) -> list[int]:
    """Video ids named by ``run:ID``, ``run:last`` or ``video:ID``."""
    kind, ident = _STORED_REF.fullmatch(ref).groups()
    if kind == "video":
        if ident == "last":
            raise click.UsageError("video:last is not a reference; use video:ID or run:last")
        return [int(ident)]
    run_id = store.last_run_id() if ident == "last" else int(ident)
    if run_id is None:
        raise click.ClickException("no runs in the database yet; run 'vidfiqa process' first")
    if not store.run_exists(run_id):
        raise click.ClickException(f"no run {ident} in the database; see 'vidfiqa runs'")
    ids = store.video_ids_of_run(run_id)
    if not ids:
        raise click.ClickException(
            f"run {run_id} stored no videos (all were stored before it); see 'vidfiqa runs'"
        )
    return ids


def _report_file(out: str, count: int) -> Path | None:
    """The file ``--out`` names for a single page, or ``None`` when it is a folder of pages."""
    if Path(out).suffix.lower() not in (".html", ".htm"):
        return None
    if count > 1:
        raise click.ClickException(
            f"{count} videos to report: give --out a folder for one page each, not {out}"
        )
    return Path(out)


def _write_page(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"report: {path}")


@cli.command()
@click.argument("ref", metavar="VIDEO_OR_RUN")
@click.option(
    "--out",
    type=click.Path(),
    required=True,
    help="HTML file to write, or a folder for one page per video (needed when a run stored several).",
)
@_db_option
@click.option("--top-k", type=click.IntRange(min=1), help="Best frames shown per track [default: 5].")
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="Template strategy, repeatable [default: the config's, best and topk:5; stored: all].",
)
@_run_options
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
    the contact sheet, each best frame's crop, factor breakdown and reasons, and which frames
    built each template with what weight. Images are inline: the file opens anywhere, offline.
    A stored video's page is made from the database alone (qualities, factors, templates as
    stored, best frames selected with the run's settings); only the crops are cut from the file,
    when it is still there and unchanged.

    Example:

    \b
        vidfiqa report sample_videos/group_walk.mp4 --out report.html
        vidfiqa process sample_videos/group_walk.mp4
        vidfiqa report run:last --out reports/
    """
    from vidfiqa.export import safe_name

    if not Path(ref).exists() and _STORED_REF.fullmatch(ref):
        given = [n for n, v in video_opts.items() if v is not None] + (["config"] if config_path else [])
        if given:
            option = "--" + given[0].replace("_", "-")
            raise click.UsageError(
                f"{option} applies to a video file; {ref} keeps the settings it was run with"
            )
        from vidfiqa.report import stored_video_report
        from vidfiqa.store import Store, StoreError

        try:
            store = Store(db, create=False)
            ids = _stored_videos(store, ref)
            single = _report_file(out, len(ids))
            for video_id in ids:  # one page at a time: a run's pages need not fit in memory
                video = store.stored_video(video_id)
                if video is None:
                    raise click.ClickException(f"no video {video_id} in the database; see 'vidfiqa runs'")
                text = stored_video_report(video, top_k=top_k, strategies=list(strategies))
                name = f"video{video_id}_{safe_name(Path(video.path).stem)}.html"
                _write_page(single or Path(out) / name, text)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        single = _report_file(out, 1)
        text = _fresh_report(ref, top_k, strategies, config_path, video_opts)
        _write_page(single or Path(out) / f"{safe_name(Path(ref).stem)}.html", text)


def _fresh_report(
    video: str,
    top_k: int | None,
    strategies: tuple[str, ...],
    config_path: str | None,
    video_opts: dict[str, Any],
) -> str:
    from vidfiqa.aggregate import Strategy
    from vidfiqa.models import registry
    from vidfiqa.pipeline import Stages, stage_options
    from vidfiqa.report import video_report

    config = _config_from_options(
        config_path, video_opts, {"select.top_k": top_k, "templates.strategies": list(strategies) or None}
    )
    stages = _build(Stages.from_config, config)
    embedder = _build(
        registry.create, "embedder", config.embedder.name, **stage_options(config, config.embedder.name)
    )
    try:
        return video_report(
            video, config, stages, embedder, [Strategy.parse(s) for s in config.templates.strategies]
        )
    except VideoError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
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
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML config of the tuned run."
)
def bench(
    video: str, out: str | None, compare_frames: int, stage_frames: int, config_path: str | None
) -> None:
    """Measure speeds on VIDEO in one process and print them as JSON.

    Decode-only frames/s (PyAV, decord), the default pipeline, each stage (HOG and CNN
    detection, landmarks, dlib's embedder and its torch port at batch 32) and, on the first
    --compare-frames frames, the naive pipeline (dlib's models on every frame) against the tuned
    one (the config: detection every few frames, decode thread, embedding only what templates
    need), with their ratios and the cosine between the two templates of each track. Compare
    ratios across machines, not frames/s.

    Example:

        vidfiqa bench ../shared/data/videos/talking_head_a.mp4 --out bench.json
    """
    from vidfiqa.benchmark import run_benchmark

    tuned = _load(config_path) if config_path else None
    try:
        result = run_benchmark(
            Path(video), stage_frames=stage_frames, compare_frames=compare_frames or None, tuned_config=tuned
        )
    except VideoError as exc:
        raise click.ClickException(str(exc)) from None
    text = json.dumps(result, indent=1)
    if out:
        Path(out).write_text(text + "\n")
    else:
        click.echo(text)


def main() -> None:
    cli()
