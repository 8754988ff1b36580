from pathlib import Path

import numpy as np
import pytest

from vidfiqa.store.index import IndexDir, IndexFileError, Space, SpaceIndex


def vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_search_finds_exact_neighbours(kind: str) -> None:
    v = vectors(2000)
    ids = np.arange(100, 2100)
    index = SpaceIndex.build(ids, v, kind=kind)
    sims, found = index.search(v[:20], 3)
    # The flat index is exact: every query finds itself and its true top 3, in order.
    least = 1.0 if kind == "flat" else 0.9
    assert (found[:, 0] == ids[:20]).mean() >= least
    if kind == "flat":
        np.testing.assert_array_equal(found, ids[np.argsort(-(v[:20] @ v.T), axis=1, kind="stable")[:, :3]])
    exact = (v[:20] @ v.T).max(1)
    np.testing.assert_allclose(sims[found[:, 0] == ids[:20], 0], exact[found[:, 0] == ids[:20]], atol=1e-5)


def test_fewer_templates_than_k() -> None:
    index = SpaceIndex.build(np.array([7]), vectors(1))
    sims, ids = index.search(vectors(1), 3)
    assert ids[0].tolist() == [7, -1, -1] and np.isinf(sims[0, 1])


def test_sync_check_and_atomic_save(tmp_path: Path) -> None:
    d = IndexDir(tmp_path / "idx")
    space = Space("m", "topk:5", "factors")
    v = vectors(10)
    assert d.sync(space, np.arange(10), v) == {"added": 10, "removed": 0}
    assert d.sync(space, np.arange(10), v) == {"added": 0, "removed": 0}
    assert d.sync(space, np.arange(2, 12), vectors(12)[2:]) == {"added": 2, "removed": 2}
    assert d.load(space).ids().tolist() == list(range(2, 12))
    assert d.check(space, np.arange(0, 12)) == {"missing": 2, "extra": 0}
    assert [p.name for p in (tmp_path / "idx").iterdir()] == ["m__topk-5__factors.faiss"]


def test_corrupt_index_file_is_a_clear_error(tmp_path: Path) -> None:
    d = IndexDir(tmp_path)
    space = Space("m", "best", "factors")
    d.file(space).write_bytes(b"garbage")
    with pytest.raises(IndexFileError, match="cannot read FAISS index"):
        d.load(space)


def test_dimension_mismatch_is_refused() -> None:
    index = SpaceIndex.build(np.arange(3), vectors(3))
    with pytest.raises(IndexFileError, match="query has 8 dimensions, the index 16"):
        index.search(vectors(1, 8), 1)
