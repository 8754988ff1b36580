"""FAISS search over stored templates, one index per embedding space.

A *space* is one ``(model, strategy, scorer)``: only templates made the same way are comparable.
The index directory holds one FAISS file per space, named from the space, each mapping FAISS
ids to template ids of the SQL store (``IndexIDMap2``). Vectors are unit length, so inner
product is cosine similarity.

Kinds: ``flat`` (exact inner product, the default), ``hnsw`` (graph, approximate, no training)
and ``ivf`` (inverted lists, approximate, trained on the vectors present when it is built; use it
for galleries of 100k+). Searches run on the GPU when faiss-gpu finds one.

Saving is atomic: each file is written to a temporary name and renamed over the old one.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

try:
    import fcntl
except ImportError:  # Windows: no flock; concurrent runs there must not share an index folder
    fcntl = None  # type: ignore[assignment]

import faiss
import numpy as np

IndexKind = Literal["flat", "hnsw", "ivf"]
INDEX_KINDS: tuple[IndexKind, ...] = ("flat", "hnsw", "ivf")


class IndexFileError(Exception):
    """An index that cannot be read, written or used; the message is one line."""


@dataclass(frozen=True, slots=True)
class Space:
    model: str
    strategy: str
    scorer: str

    @property
    def filename(self) -> str:
        safe = "__".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p) for p in (self.model, self.strategy, self.scorer))
        return f"{safe}.faiss"


def _new_index(dim: int, kind: IndexKind, n_train: int) -> faiss.Index:
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    elif kind == "ivf":
        # ~sqrt(n) lists, at least 39 training points per list as FAISS recommends.
        nlist = max(1, min(int(np.sqrt(max(n_train, 1))), n_train // 39 or 1))
        inner = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        inner.nprobe = min(nlist, 16)
    else:
        raise IndexFileError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    return faiss.IndexIDMap2(inner)


class SpaceIndex:
    """The index of one space."""

    def __init__(self, index: faiss.Index):
        self.index = index

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, *, kind: IndexKind = "flat") -> SpaceIndex:
        """An index over ``vectors`` float32 ``(n, d)`` with template ``ids`` int64 ``(n,)``."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        index = _new_index(vectors.shape[1], kind, len(vectors))
        if not index.is_trained:
            index.train(vectors)
        index.add_with_ids(vectors, np.ascontiguousarray(ids, np.int64))
        return cls(index)

    @property
    def dim(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        return self.index.ntotal

    def ids(self) -> np.ndarray:
        """Template ids held, int64, sorted."""
        return np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(
            np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64)
        )

    def remove(self, ids: np.ndarray) -> int:
        return int(self.index.remove_ids(np.ascontiguousarray(ids, np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarities float32 ``(q, k)`` and template ids int64 ``(q, k)``, best first.

        Fewer than ``k`` templates leave id -1 and similarity -inf in the missing places.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        if queries.shape[1] != self.dim:
            raise IndexFileError(f"query has {queries.shape[1]} dimensions, the index {self.dim}")
        index = _on_gpu(self.index)
        sims, ids = index.search(queries, k)
        sims = np.where(ids < 0, -np.inf, sims)
        return sims.astype(np.float32), ids.astype(np.int64)

    def save(self, path: Path) -> None:
        """Write atomically: a temporary file in the same folder, then a rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            faiss.write_index(self.index, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path) -> SpaceIndex:
        try:
            return cls(faiss.read_index(str(path)))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise IndexFileError(f"{path}: cannot read FAISS index ({first})") from None


def _on_gpu(index: faiss.Index) -> faiss.Index:
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


class IndexDir:
    """The folder of per-space index files.

    Args:
        path: the folder (created on first save).
        kind: index kind for newly built spaces.
    """

    def __init__(self, path: str | Path, *, kind: IndexKind = "flat"):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise IndexFileError(f"{self.path}: exists and is not a folder")
        self.kind = kind

    def file(self, space: Space) -> Path:
        return self.path / space.filename

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock file exclusively (``flock``), so that processes syncing one
        index folder do so one at a time. Waits for the holder; released on exit or death."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a") as fh:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def load(self, space: Space) -> SpaceIndex | None:
        f = self.file(space)
        return SpaceIndex.load(f) if f.exists() else None

    def rebuild(self, space: Space, ids: np.ndarray, vectors: np.ndarray) -> SpaceIndex | None:
        """Replace a space's index with one over exactly ``ids``; remove it if empty."""
        if not len(ids):
            self.file(space).unlink(missing_ok=True)
            return None
        index = SpaceIndex.build(ids, vectors, kind=self.kind)
        index.save(self.file(space))
        return index

    def sync(self, space: Space, ids: np.ndarray, vectors: np.ndarray) -> dict[str, int]:
        """Make a space's index hold exactly ``ids``: add what is missing, drop what is extra.

        Returns:
            Counts ``added`` and ``removed``; the file is written only if something changed.
        """
        index = self.load(space)
        if index is None or index.dim != (vectors.shape[1] if len(ids) else index.dim):
            if not len(ids) and index is None:
                return {"added": 0, "removed": 0}
            self.rebuild(space, ids, vectors)
            return {"added": len(ids), "removed": 0 if index is None else len(index)}
        have = index.ids()
        extra = np.setdiff1d(have, ids)
        missing = np.isin(ids, have, invert=True)
        if len(extra):
            index.remove(extra)
        if missing.any():
            index.add(ids[missing], vectors[missing])
        if len(extra) or missing.any():
            if len(index):
                index.save(self.file(space))
            else:
                self.file(space).unlink(missing_ok=True)
        return {"added": int(missing.sum()), "removed": len(extra)}

    def check(self, space: Space, ids: np.ndarray) -> dict[str, int]:
        """Compare a space's index with the store's ``ids``: counts ``missing`` and ``extra``."""
        index = self.load(space)
        have = index.ids() if index is not None else np.zeros(0, np.int64)
        return {
            "missing": int(np.isin(ids, have, invert=True).sum()),
            "extra": int(np.isin(have, ids, invert=True).sum()),
        }
