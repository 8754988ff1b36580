"""Commands on the store: search, verify, enroll, runs, tracks, templates, index check|rebuild."""

from __future__ import annotations

from pathlib import Path
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


def _stored_strategy(store: Any, strategy: str | None) -> str | None:
    """``strategy`` in its stored spelling, after checking that some template has it: a strategy
    never stored is an error naming those that are, not a filter that silently matches nothing."""
    from vidfiqa.aggregate import Strategy

    if strategy is None:
        return None
    try:
        label = Strategy.parse(strategy).label
    except ValueError as exc:
        raise click.UsageError(f"--strategy: {exc}") from None
    stored = store.strategies()
    if label not in stored:
        raise click.ClickException(
            f"no templates of strategy {label} are stored; stored strategies: {', '.join(stored) or 'none'}"
        )
    return label


def _templates_of(store: Any, ref: str, strategy: str | None, embedder: str) -> list:
    """The template with id ``ref``, or the ``embedder``'s templates of a stored video's longest
    track."""
    if ref.isdigit():
        row = store.template(int(ref))
        if row is None:
            raise click.ClickException(f"no template {ref}; see 'vidfiqa templates'")
        return [row]
    path = str(Path(ref).resolve())
    rows = store.longest_track_templates(path, strategy, model=embedder)
    if not rows:
        _other_embedders(store, ref, path, strategy, embedder)
        raise click.ClickException(
            f"{ref}: no stored templates{f' for strategy {strategy}' if strategy else ''}; "
            "run 'vidfiqa process' on it first"
        )
    return rows


def _other_embedders(store: Any, ref: str, path: str, strategy: str | None, embedder: str) -> None:
    """Stop with one line when the video's templates exist, but from another embedder: their
    vectors live in another space, so comparing them with ``embedder``'s would mean nothing."""
    models = sorted({r.model for r in store.longest_track_templates(path, strategy)})
    if models:
        raise click.ClickException(
            f"{ref}: its templates were made with {', '.join(models)}, not {embedder}; pass "
            f"--embedder {models[0]}, or re-embed it with 'vidfiqa process {ref} --force'"
        )


def _far(model: str, similarity: float) -> float | None:
    """The share of the embedder's calibration impostor pairs that ``similarity`` accepts."""
    from vidfiqa.models.thresholds import calibration

    record = calibration(model)
    return None if record is None else float(f"{record.far_at(similarity):.3g}")


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
    from vidfiqa.store.index import IndexFileError, Space

    store, index_dir = open_store(db, index_path)
    strategy = _stored_strategy(store, strategy)
    if query.isdigit():
        queries = _templates_of(store, query, None, embedder)
        if strategy is not None and queries[0].strategy != strategy:
            q = queries[0]
            queries = store.templates(track_id=q.track_id, strategy=strategy, scorer=q.scorer, model=q.model)
            if not queries:
                raise click.ClickException(
                    f"template {query}'s track has no template of strategy {strategy}; "
                    "see 'vidfiqa templates'"
                )
    else:
        path = str(Path(query).resolve())
        queries = [
            r for r in store.templates(strategy=strategy, model=embedder) if r.track.video.path == path
        ]
        if not queries:
            _templates_of(store, query, strategy, embedder)  # raises the explanatory error
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
        # Every copy of the same file, not only this row: a file processed with two configs is
        # stored twice, and its other copy is no neighbour worth finding.
        own = set(store.template_ids_of_file(q.track.video.sha256))
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
            hits.append(
                {
                    "rank": len(hits) + 1,
                    **_describe(row),
                    "similarity": round(float(sim), 6),
                    "far": _far(q.model, float(sim)),
                }
            )
        out.append({"query": _describe(q), "results": hits})
    echo_json(out)


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
    from vidfiqa.models import registry

    store, _ = open_store(db, index_path)
    strategy = _stored_strategy(store, strategy)
    ta = _templates_of(store, a, strategy, embedder)[0]
    tb = _templates_of(store, b, strategy or ta.strategy, ta.model)[0]
    if ta.model != tb.model:
        raise click.ClickException(
            f"templates {ta.id} and {tb.id} come from different embedders ({ta.model} vs {tb.model}): "
            "their similarity means nothing"
        )
    if (ta.strategy, ta.scorer) != (tb.strategy, tb.scorer):
        made = f"{ta.model}/{ta.strategy}/{ta.scorer} vs {tb.model}/{tb.strategy}/{tb.scorer}"
        # --strategy picks a video's template; a template id is one template, whatever it says.
        advice = (
            "pass --strategy"
            if not (a.isdigit() or b.isdigit())
            else "compare templates of one model, strategy and scorer (see 'vidfiqa templates')"
        )
        raise click.ClickException(f"templates {ta.id} and {tb.id} were made differently ({made}); {advice}")
    if threshold is None:
        try:
            threshold, threshold_far = registry.embedder_threshold(ta.model, far)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        threshold_far = _far(ta.model, threshold)
    sim = float(ta.array @ tb.array)
    echo_json(
        {
            "a": _describe(ta),
            "b": _describe(tb),
            "embedder": ta.model,
            "similarity": round(sim, 6),
            "far": _far(ta.model, sim),
            "threshold": round(threshold, 6),
            "threshold_far": threshold_far,
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
    from vidfiqa.store.db import StoreError

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
    from vidfiqa.store.index import IndexFileError, Space

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
    from vidfiqa.store.index import IndexFileError
    from vidfiqa.store.sync import sync_index

    store, index_dir = open_store(db, index_path, index_kind)
    writable_dir(index_path, "index folder")
    try:
        echo_json(sync_index(store, index_dir, rebuild=True))
    except (OSError, IndexFileError) as exc:
        raise click.ClickException(f"{index_path}: cannot write the index ({exc})") from None
