"""Faces per second of every quality scorer on this machine, as JSON.

Model-backed scorers run with random weights: speed depends on the architecture, not the
weights, so no published file is needed to measure it.

    python scripts/bench_scorers.py --out benchmarks/scorers.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from vidfiqa.models.base import FaceBatch
from vidfiqa.models.crfiqa import CRFIQA, crfiqa_scorer
from vidfiqa.models.dlib_models import DlibResNetEmbedder
from vidfiqa.models.ediffiqa import EDifFIQA, ediffiqa_scorer
from vidfiqa.models.lightweight import LightweightEnsemble, LightweightScorer
from vidfiqa.quality.factors import FactorQuality
from vidfiqa.quality.stability import StabilityQuality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.faces
    lm = np.tile(
        np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]], np.float32),
        (n, 1, 1),
    )
    batch = FaceBatch(
        rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8),
        lm,
        np.zeros((n, 4), np.float32),
        np.ones(n, np.float32),
        np.zeros(n, bool),
        np.ones(n, np.float32),
    )
    scorers = {
        "factors": FactorQuality(),
        "stability": StabilityQuality(DlibResNetEmbedder()),
        "lightweight": LightweightScorer(model=LightweightEnsemble(), device="cpu"),
        **{f"ediffiqa-{s}": ediffiqa_scorer(size=s, model=EDifFIQA(size=s), device="cpu") for s in "sml"},
        **{f"crfiqa-{s}": crfiqa_scorer(size=s, model=CRFIQA(size=s), device="cpu") for s in "sl"},
    }
    result = {
        "faces": n,
        "torch_threads": torch.get_num_threads(),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "faces_per_second": {},
    }
    for name, scorer in scorers.items():
        scorer.score(FaceBatch(*(getattr(batch, k)[:2] for k in batch.__slots__)))  # warm-up
        t = time.perf_counter()
        scorer.score(batch)
        result["faces_per_second"][name] = round(n / (time.perf_counter() - t), 2)
        print(name, result["faces_per_second"][name])
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
