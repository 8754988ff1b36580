"""Time FAISS template search over a gallery of random unit vectors, per index kind, as JSON.

Random vectors are the hard case for approximate indexes (no cluster structure), so the
recall figures are a floor; real face templates cluster by identity.

    python benchmarks/index/run.py --n 100000 --dim 128 --out benchmarks/index/result.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import faiss
import numpy as np

from vidfiqa.store.index import INDEX_KINDS, SpaceIndex


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    gallery = unit(rng, args.n, args.dim)
    # Queries near gallery items, as a probe of an enrolled person would be.
    picks = rng.integers(0, args.n, args.queries)
    queries = gallery[picks] + 0.05 * unit(rng, args.queries, args.dim)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ids = np.arange(args.n, dtype=np.int64)
    result = {
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "k": args.k,
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "kinds": {},
    }
    exact = None
    for kind in INDEX_KINDS:
        t = time.perf_counter()
        index = SpaceIndex.build(ids, gallery, kind=kind)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        _, found = index.search(queries, args.k)
        batch_s = time.perf_counter() - t
        t = time.perf_counter()
        for q in queries[:100]:
            index.search(q, args.k)
        single_ms = (time.perf_counter() - t) * 10
        if exact is None:
            exact = found
        result["kinds"][kind] = {
            "build_s": round(build_s, 3),
            "batch_ms_per_query": round(1000 * batch_s / args.queries, 4),
            "single_query_ms": round(single_ms, 3),
            "recall_at_1_vs_flat": float((found[:, 0] == exact[:, 0]).mean()),
            "true_match_at_1": float((found[:, 0] == picks).mean()),
        }
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
