"""Commands on the store: search, verify, enroll, runs, tracks, templates, index check|rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vidfiqa.cli_options import (
    db_option,
    echo_json,
    index_kind_option,
    open_store,
    store_options,
    writable_dir,
)


def _templates_of(store: Any, ref: str, strategy: str | None) -> list:
    """The template with id ``ref``, or the templates of a stored video's longest track."""
    if ref.isdigit():
        row = store.template(int(ref))
        if row is None:
            raise click.ClickException(f"no template {ref}; see 'vidfiqa templates'")
        return [row]
    rows = store.longest_track_templates(str(Path(ref).resolve()), strategy)
    if not rows:
        raise click.ClickException(
            f"{ref}: no stored templates{f' for strategy {strategy}' if strategy else ''}; "
            "run 'vidfiqa process' on it first"
        )
    return rows


def _describe(row: Any) -> dict[str, Any]:
    return {
        "template_id": row.id,
        "track_id": row.track_id,
        "video": row.track.video.path,
        "label": row.track.label.name if row.track.label else None,
        "strategy": row.strategy,
        # How good the faces behind the template are: a low one is a weak match whatever its
        # similarity (a face leaving the frame, a blurred one).
        **row.quality(),
    }


@click.command()
@click.argument("query")
@store_options
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

    store, index_dir = open_store(db, index_path)
    if query.isdigit():
        queries = _templates_of(store, query, None)
    else:
        path = str(Path(query).resolve())
        queries = [r for r in store.templates(strategy=strategy) if r.track.video.path == path]
        if not queries:
            _templates_of(store, query, strategy)  # raises the explanatory error
        queries = [q for q in queries if q.strategy == queries[0].strategy]
    out = []
    for q in queries:
        space = Space(q.model, q.strategy, q.scorer)
        try:
            index = index_dir.load(space)
        except IndexFileError as exc:
            raise click.ClickException(str(exc)) from None
        if index is None:
            raise click.ClickException(f"no index for {space.filename}; run 'vidfiqa index rebuild'")
        own = set(store.template_ids_of_video(q.track.video_id))
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
    echo_json(out)


@click.command()
@click.argument("a")
@click.argument("b")
@store_options
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

    store, _ = open_store(db, index_path)
    ta = _templates_of(store, a, strategy)[0]
    tb = _templates_of(store, b, strategy or ta.strategy)[0]
    if (ta.model, ta.strategy, ta.scorer) != (tb.model, tb.strategy, tb.scorer):
        raise click.ClickException(
            f"templates {ta.id} and {tb.id} were made differently ({ta.model}/{ta.strategy} vs "
            f"{tb.model}/{tb.strategy}); pass --strategy"
        )
    if threshold is None:
        threshold = registry.embedder_threshold(ta.model)
    sim = float(ta.array @ tb.array)
    echo_json(
        {
            "a": _describe(ta),
            "b": _describe(tb),
            "similarity": round(sim, 6),
            "threshold": threshold,
            "same": sim >= threshold,
        }
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
    from vidfiqa.store import StoreError

    store, _ = open_store(db, index_path)
    kind, _, ident = ref.rpartition(":")
    if not ident.isdigit() or kind not in ("", "track", "template"):
        raise click.UsageError(f"REF must be track:ID, template:ID or an id, got {ref!r}")
    track_id = int(ident) if kind == "track" else _templates_of(store, ident, None)[0].track_id
    try:
        store.label_track(track_id, label)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    echo_json({"track_id": track_id, "label": label})


@click.command()
@db_option
def runs(db: str) -> None:
    """List the runs that wrote to the store, as JSON: command, start and finish times, and
    the ids and statuses of the videos each stored ('vidfiqa report run:ID' shows them).

    Example:

        vidfiqa runs
    """
    from vidfiqa.store import Store, StoreError

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
    store, _ = open_store(db, index_path)
    echo_json(
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
    from vidfiqa.index import IndexFileError, Space

    store, index_dir = open_store(db, index_path)
    report = {}
    try:
        for space in (Space(*s) for s in store.spaces()):
            ids, _ = store.vectors(space.model, space.strategy, space.scorer)
            report[space.filename] = index_dir.check(space, ids)
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
    from vidfiqa.index import IndexFileError
    from vidfiqa.process import sync_index

    store, index_dir = open_store(db, index_path, index_kind)
    writable_dir(index_path, "index folder")
    try:
        echo_json(sync_index(store, index_dir, rebuild=True))
    except (OSError, IndexFileError) as exc:
        raise click.ClickException(f"{index_path}: cannot write the index ({exc})") from None
