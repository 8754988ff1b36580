"""Commands on the store: search, verify, enroll, runs, tracks, templates, index check|rebuild."""

from __future__ import annotations

from typing import Any

import click

from vidfiqa.cli.options import (
    db_option,
    echo_json,
    embedder_choice,
    index_kind_option,
    open_store,
    store_options,
    writable_dir,
)


def _asked(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a :mod:`vidfiqa.runs.search` function, turning its errors into one-line exits."""
    from vidfiqa.runs.search import SearchError

    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise click.UsageError(f"--strategy: {exc}") from None
    except SearchError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("query")
@store_options
@click.option(
    "--k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Neighbours per query."
)
@click.option("--strategy", help="Template strategy to search with [default: the first stored].")
@embedder_choice
def search(query: str, db: str, index_path: str, k: int, strategy: str | None, embedder: str) -> None:
    """Nearest stored templates to QUERY, a template id or a processed video's path.

    For a video, every track's template of --embedder is a query. The templates of the query's
    file are left out of the results: of every stored copy of it (the same content, processed
    with any configuration). With --strategy, a template id's track is searched by its template
    of that strategy. Similarity is cosine (templates are unit vectors); "far" is the share of
    the embedder's LFW impostor pairs that score at least as high (see 'vidfiqa models
    calibrate'). Prints JSON.

    Example:

        vidfiqa search sample_videos/blur_ramp.mp4 --k 3
    """
    from vidfiqa.runs.search import search as search_store

    store, index_dir = open_store(db, index_path)
    echo_json(_asked(search_store, store, index_dir, query, k=k, strategy=strategy, embedder=embedder))


@click.command()
@click.argument("a")
@click.argument("b")
@store_options
@click.option("--strategy", help="Template strategy for videos given by path [default: any].")
@embedder_choice
@click.option(
    "--threshold", type=float, help="Decision threshold on cosine [default: the embedder's at --far]."
)
@click.option(
    "--far",
    type=click.FloatRange(0, 1, min_open=True),
    help="False accept rate of the default threshold: 1e-3 or 1e-4 (any calibrated one) [default: 1e-3].",
)
def verify(
    a: str,
    b: str,
    db: str,
    index_path: str,
    strategy: str | None,
    embedder: str,
    threshold: float | None,
    far: float | None,
) -> None:
    """Compare A and B (template ids or processed videos' paths): similarity and decision.

    A video stands for its longest track's template of --embedder. The decision is "same" when
    the cosine similarity is at least the threshold: by default the embedder's calibrated one at
    FAR 1e-3 (the cosine that 1 in 1000 impostor pairs of LFW reaches; 'vidfiqa models
    calibrate'). "far" is the share of those impostor pairs that the similarity itself accepts,
    "threshold_far" the FAR the threshold stands for.

    Example:

        vidfiqa verify 1 2
    """
    from vidfiqa.runs.search import verify as verify_pair

    store, _ = open_store(db, index_path)
    echo_json(
        _asked(verify_pair, store, a, b, strategy=strategy, embedder=embedder, threshold=threshold, far=far)
    )


@click.command()
@click.argument("ref")
@click.option("--label", required=True, help="Name of the person.")
@store_options
def enroll(ref: str, label: str, db: str, index_path: str) -> None:
    """Give a stored track a person's name; REF is track:ID, template:ID or a template id.

    Example:

        vidfiqa enroll track:1 --label "Eileen Collins"
    """
    from vidfiqa.runs.search import SearchError
    from vidfiqa.runs.search import enroll as enroll_track

    store, _ = open_store(db, index_path)
    try:
        echo_json(enroll_track(store, ref, label))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except SearchError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@db_option
def runs(db: str) -> None:
    """List the runs that wrote to the store, as JSON: command, status (running, finished, or
    interrupted by Ctrl-C; null for a run killed before schema version 3), start and finish
    times, and the ids and statuses of the videos each stored ('vidfiqa report run:ID' shows
    them).

    Example:

        vidfiqa runs
    """
    from vidfiqa.store.db import Store, StoreError

    try:
        echo_json(Store(db, create=False).runs())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@store_options
@click.option("--video-id", type=int, help="Only this video's tracks.")
def tracks(db: str, index_path: str, video_id: int | None) -> None:
    """List stored tracks as JSON.

    Example:

        vidfiqa tracks --video-id 1
    """
    store, _ = open_store(db, index_path)
    echo_json(store.tracks(video_id))


@click.command()
@store_options
@click.option("--strategy", help="Only templates of this strategy.")
def templates(db: str, index_path: str, strategy: str | None) -> None:
    """List stored templates (without vectors) as JSON.

    Example:

        vidfiqa templates --strategy best
    """
    from vidfiqa.runs.search import list_templates

    store, _ = open_store(db, index_path)
    echo_json(list_templates(store, strategy))


@click.group()
def index() -> None:
    """Check or rebuild the FAISS index from the database."""


@index.command("check")
@store_options
def index_check(db: str, index_path: str) -> None:
    """Compare the index with the database; exit 1 if they differ.

    Example:

        vidfiqa index check
    """
    from vidfiqa.runs.search import check_index
    from vidfiqa.store.index import IndexFileError

    store, index_dir = open_store(db, index_path)
    try:
        report = check_index(store, index_dir)
    except IndexFileError as exc:
        raise click.ClickException(f"{exc}; run 'vidfiqa index rebuild'") from None
    echo_json(report)
    if any(v["missing"] or v["extra"] for v in report.values()):
        raise click.ClickException("index and database differ: run 'vidfiqa index rebuild'")


@index.command("rebuild")
@store_options
@index_kind_option
def index_rebuild(db: str, index_path: str, index_kind: str) -> None:
    """Rebuild every index space from the templates in the database.

    Example:

        vidfiqa index rebuild --index-kind hnsw
    """
    from vidfiqa.store.index import IndexFileError
    from vidfiqa.store.sync import sync_index

    store, index_dir = open_store(db, index_path, index_kind)
    writable_dir(index_path, "index folder")
    try:
        echo_json(sync_index(store, index_dir, rebuild=True))
    except (OSError, IndexFileError) as exc:
        raise click.ClickException(f"{index_path}: cannot write the index ({exc})") from None
