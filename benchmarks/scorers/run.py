"""Faces per second of every quality scorer on this machine, as JSON.

Model-backed scorers run with random weights: speed depends on the architecture, not the
weights, so no published file is needed to measure it. CLIB-FIQA's prompts get random token ids
of the real prompts' length (its vocabulary file is not needed either); their text features are
computed in the warm-up, once, as the scorer does.

    python benchmarks/scorers/run.py --out benchmarks/scorers/result.json
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

from vidfiqa.models.clibfiqa import ClibFIQA, clibfiqa_scorer, prompts
from vidfiqa.models.crfiqa import CRFIQA, crfiqa_scorer
from vidfiqa.models.dlib_models import DlibResNetEmbedder
from vidfiqa.models.ediffiqa import EDifFIQA, ediffiqa_scorer
from vidfiqa.models.lightweight import LightweightEnsemble, LightweightScorer
from vidfiqa.models.magface import MagFace, magface_scorer
from vidfiqa.quality.factors import FactorQuality
from vidfiqa.quality.stability import StabilityQuality
from vidfiqa.types import FaceBatch


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
        **{
            f"magface-{s}": magface_scorer(size=s, model=MagFace(depth=d), device="cpu")
            for s, d in (("r100", 100), ("r50", 50), ("r18", 18))
        },
        "clib-fiqa": clibfiqa_scorer(model=ClibFIQA(_prompt_like_tokens(rng)), device="cpu"),
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


def _prompt_like_tokens(rng: np.random.Generator) -> torch.Tensor:
    # Start, 25 words, end: the length of the longest real prompt's token list.
    ids = np.zeros((len(prompts()), 77), np.int64)
    ids[:, 0], ids[:, 1:26], ids[:, 26] = 49406, rng.integers(256, 49000, (len(ids), 25)), 49407
    return torch.from_numpy(ids)


if __name__ == "__main__":
    main()
