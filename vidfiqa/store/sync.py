"""Keeps the FAISS index folder holding exactly the templates the database stores."""

from __future__ import annotations

from vidfiqa.store.db import Store
from vidfiqa.store.index import IndexDir, Space, SpaceIndex


def sync_index(store: Store, index_dir: IndexDir, *, rebuild: bool = False) -> dict[str, dict[str, int]]:
    """Make the index hold exactly the stored templates, space by space.

    Runs under the index folder's lock and reads the database inside it: two runs finishing at
    once sync one after the other, and the second sees everything the first did and more, so a
    slower sync can never write back an older state over a newer one.
    """
    with index_dir.lock():
        return _sync_locked(store, index_dir, rebuild)


def _sync_locked(store: Store, index_dir: IndexDir, rebuild: bool) -> dict[str, dict[str, int]]:
    spaces = {Space(*s) for s in store.spaces()}
    on_disk = {f.name for f in index_dir.path.glob("*.faiss")} if index_dir.path.is_dir() else set()
    changes = {}
    for space in sorted(spaces, key=lambda s: s.filename):
        ids, vectors = store.vectors(space.model, space.strategy, space.scorer)
        if rebuild:
            index_dir.rebuild(space, ids, vectors)
            changes[space.filename] = {"added": len(ids), "removed": 0}
        else:
            changes[space.filename] = index_dir.sync(space, ids, vectors)
        on_disk.discard(space.filename)
    for stale in sorted(on_disk):  # spaces whose templates are all gone
        path = index_dir.path / stale
        changes[stale] = {"added": 0, "removed": len(SpaceIndex.load(path))}
        path.unlink()
    return changes
