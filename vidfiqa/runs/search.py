"""Questions asked of a store: nearest templates (:func:`search`), one-to-one decisions
(:func:`verify`), naming a track (:func:`enroll`), listing templates and checking the index.

Every function returns plain JSON-ready data and raises :class:`SearchError` with a one-line
message a person can act on; the ``search``, ``verify``, ``enroll``, ``templates`` and
``index check`` commands print what they return.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidfiqa.aggregate import Strategy
from vidfiqa.models import registry
from vidfiqa.models.thresholds import calibration
from vidfiqa.store.db import Store, StoreError, TemplateRow
from vidfiqa.store.index import IndexDir, IndexFileError, Space


class SearchError(Exception):
    """A question the store cannot answer as asked; the message says why and what to do."""


def stored_strategy(store: Store, strategy: str | None) -> str | None:
    """``strategy`` in its stored spelling, after checking that some template has it: a strategy
    never stored is an error naming those that are, not a filter that silently matches nothing.

    Raises:
        ValueError: ``strategy`` is no strategy at all.
        SearchError: no template of it is stored.
    """
    if strategy is None:
        return None
    label = Strategy.parse(strategy).label
    stored = store.strategies()
    if label not in stored:
        raise SearchError(
            f"no templates of strategy {label} are stored; stored strategies: {', '.join(stored) or 'none'}"
        )
    return label


def templates_of(store: Store, ref: str, strategy: str | None, embedder: str) -> list[TemplateRow]:
    """The template with id ``ref``, or the ``embedder``'s templates of a stored video's longest
    track (``ref`` its path)."""
    if ref.isdigit():
        row = store.template(int(ref))
        if row is None:
            raise SearchError(f"no template {ref}; see 'vidfiqa templates'")
        return [row]
    path = str(Path(ref).resolve())
    rows = store.longest_track_templates(path, strategy, model=embedder)
    if rows:
        return rows
    # Templates of another embedder live in another space: comparing them would mean nothing.
    models = sorted({r.model for r in store.longest_track_templates(path, strategy)})
    if models:
        raise SearchError(
            f"{ref}: its templates were made with {', '.join(models)}, not {embedder}; pass "
            f"--embedder {models[0]}, or re-embed it with 'vidfiqa process {ref} --force'"
        )
    raise SearchError(
        f"{ref}: no stored templates{f' for strategy {strategy}' if strategy else ''}; "
        "run 'vidfiqa process' on it first"
    )


def far_at(model: str, similarity: float) -> float | None:
    """The share of the embedder's calibration impostor pairs that ``similarity`` accepts (None
    for an embedder without a calibration)."""
    record = calibration(model)
    return None if record is None else float(f"{record.far_at(similarity):.3g}")


def describe(row: TemplateRow) -> dict[str, Any]:
    """A template as the commands print it: ids, video, label, strategy and its faces' quality."""
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


def _queries(store: Store, query: str, strategy: str | None, embedder: str) -> list[TemplateRow]:
    if query.isdigit():
        queries = templates_of(store, query, None, embedder)
        q = queries[0]
        if strategy is None or q.strategy == strategy:
            return queries
        queries = store.templates(track_id=q.track_id, strategy=strategy, scorer=q.scorer, model=q.model)
        if not queries:
            raise SearchError(
                f"template {query}'s track has no template of strategy {strategy}; see 'vidfiqa templates'"
            )
        return queries
    path = str(Path(query).resolve())
    queries = [r for r in store.templates(strategy=strategy, model=embedder) if r.track.video.path == path]
    if not queries:
        templates_of(store, query, strategy, embedder)  # raises the explanatory error
    return [q for q in queries if q.strategy == queries[0].strategy]


def search(
    store: Store, index_dir: IndexDir, query: str, *, k: int = 5, strategy: str | None = None, embedder: str
) -> list[dict[str, Any]]:
    """The ``k`` nearest stored templates to ``query`` (a template id or a processed video's
    path: then every track's template of ``embedder`` is a query), leaving out the templates of
    every stored copy of the query's file. One ``{"query", "results"}`` per query."""
    strategy = stored_strategy(store, strategy)
    out = []
    for q in _queries(store, query, strategy, embedder):
        space = Space(q.model, q.strategy, q.scorer)
        try:
            index = index_dir.load(space)
        except IndexFileError as exc:
            raise SearchError(str(exc)) from None
        if index is None:
            raise SearchError(f"no index for {space.filename}; run 'vidfiqa index rebuild'")
        # Every copy of the same file, not only this row: a file processed with two configs is
        # stored twice, and its other copy is no neighbour worth finding.
        own = set(store.template_ids_of_file(q.track.video.sha256))
        sims, ids = index.search(q.array, k + len(own))
        hits: list[dict[str, Any]] = []
        for sim, tid in zip(sims[0], ids[0]):
            if tid < 0 or int(tid) in own or len(hits) == k:
                continue
            row = store.template(int(tid))
            if row is None:
                raise SearchError(
                    f"index holds template {tid}, the database does not: run 'vidfiqa index rebuild'"
                )
            hits.append(
                {
                    "rank": len(hits) + 1,
                    **describe(row),
                    "similarity": round(float(sim), 6),
                    "far": far_at(q.model, float(sim)),
                }
            )
        out.append({"query": describe(q), "results": hits})
    return out


def verify(
    store: Store,
    a: str,
    b: str,
    *,
    strategy: str | None = None,
    embedder: str,
    threshold: float | None = None,
    far: float | None = None,
) -> dict[str, Any]:
    """Compare ``a`` and ``b`` (template ids or processed videos' paths, a video standing for its
    longest track): cosine similarity, and "same" when it reaches ``threshold`` (by default the
    embedder's calibrated one at ``far``, 1e-3 unless given)."""
    strategy = stored_strategy(store, strategy)
    ta = templates_of(store, a, strategy, embedder)[0]
    tb = templates_of(store, b, strategy or ta.strategy, ta.model)[0]
    if ta.model != tb.model:
        raise SearchError(
            f"templates {ta.id} and {tb.id} come from different embedders ({ta.model} vs {tb.model}): "
            "their similarity means nothing"
        )
    if (ta.strategy, ta.scorer) != (tb.strategy, tb.scorer):
        made = f"{ta.model}/{ta.strategy}/{ta.scorer} vs {tb.model}/{tb.strategy}/{tb.scorer}"
        # A strategy picks a video's template; a template id is one template, whatever it says.
        advice = (
            "pass --strategy"
            if not (a.isdigit() or b.isdigit())
            else "compare templates of one model, strategy and scorer (see 'vidfiqa templates')"
        )
        raise SearchError(f"templates {ta.id} and {tb.id} were made differently ({made}); {advice}")
    if threshold is None:
        try:
            threshold, threshold_far = registry.embedder_threshold(ta.model, far)
        except ValueError as exc:
            raise SearchError(str(exc)) from None
    else:
        threshold_far = far_at(ta.model, threshold)
    sim = float(ta.array @ tb.array)
    return {
        "a": describe(ta),
        "b": describe(tb),
        "embedder": ta.model,
        "similarity": round(sim, 6),
        "far": far_at(ta.model, sim),
        "threshold": round(threshold, 6),
        "threshold_far": threshold_far,
        "same": sim >= threshold,
    }


def enroll(store: Store, ref: str, label: str) -> dict[str, Any]:
    """Name the track ``ref`` points at (``track:ID``, ``template:ID`` or a template id).

    Raises:
        ValueError: ``ref`` is none of those forms.
        SearchError: no such track or template.
    """
    kind, _, ident = ref.rpartition(":")
    if not ident.isdigit() or kind not in ("", "track", "template"):
        raise ValueError(f"REF must be track:ID, template:ID or an id, got {ref!r}")
    if kind == "track":
        track_id = int(ident)
    else:
        row = store.template(int(ident))
        if row is None:
            raise SearchError(f"no template {ident}; see 'vidfiqa templates'")
        track_id = row.track_id
    try:
        store.label_track(track_id, label)
    except StoreError as exc:
        raise SearchError(str(exc)) from None
    return {"track_id": track_id, "label": label}


def list_templates(store: Store, strategy: str | None = None) -> list[dict[str, Any]]:
    """Every stored template (``strategy``'s only, if given) without its vector."""
    return [
        {
            **describe(r),
            "scorer": r.scorer,
            "model": r.model,
            "dim": r.dim,
            "frames": r.frames,
            "weights": [round(w, 6) for w in r.weights],
        }
        for r in store.templates(strategy=strategy)
    ]


def check_index(store: Store, index_dir: IndexDir) -> dict[str, dict[str, Any]]:
    """Per index space, the template ids the database holds and the index lacks (``missing``)
    or the other way round (``extra``).

    Raises:
        IndexFileError: an index file cannot be read.
    """
    report = {}
    for space in (Space(*s) for s in store.spaces()):
        ids, _ = store.vectors(space.model, space.strategy, space.scorer)
        report[space.filename] = index_dir.check(space, ids)
    return report
