"""What the landmarker costs the quality pipeline: the LFW validation table of the shipped
``distilled`` scorer with its samples aligned by each landmarker.

Each landmarker changes every sample's ArcFace crop (what the scorer sees), its dlib chip (what the
embedder sees, so the templates themselves) and, for ``detector5-eyes`` against ``dlib68``, where
eye openness comes from. The scorer was trained on ``dlib68`` samples. Samples are built (or read
from the cache) exactly as ``benchmarks/quality_lfw/run.py`` builds them. ``distilled`` is the default
scorer (no flip TTA); ``distilled_flip_tta`` averages it with the mirrored crop's, as the
lightweight ensemble was published and as ``distilled`` scored before.

    python benchmarks/quality_alignment/run.py --lfw ../shared/data/lfw \
        --out benchmarks/quality_alignment/result.json dlib68 detector5-eyes
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vidfiqa.config import load_config
from vidfiqa.learn.recipe import (
    SampleModels,
    baselines,
    measure,
    score_samples,
    side_samples,
    validation,
)
from vidfiqa.learn.settings import SAMPLE_CACHE
from vidfiqa.learn.split import split_lfw
from vidfiqa.quality.distilled import DistilledScorer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("landmarkers", nargs="+")
    args = ap.parse_args()
    cache = SAMPLE_CACHE
    split = split_lfw(args.lfw)
    command = "python benchmarks/quality_alignment/run.py " + " ".join(args.landmarkers)
    table: dict[str, dict] = {"command": command}
    for name in args.landmarkers:
        config = load_config(None, {"landmarks.name": name})
        models = SampleModels.of(config)
        t = time.perf_counter()
        val = side_samples(split, models, "val", seed=0, cache=cache)
        plan = validation(val, split.val_pairs)
        table[name] = {
            "samples": len(val.source),
            "build_or_load_s": round(time.perf_counter() - t, 1),
            "distilled": measure(val, plan, score_samples(DistilledScorer(device="cpu"), val).scores),
            "distilled_flip_tta": measure(
                val, plan, score_samples(DistilledScorer(device="cpu", flip_tta=True), val).scores
            ),
            "distilled_quality_head": measure(
                val, plan, score_samples(DistilledScorer(device="cpu", calibrate=False), val).scores
            ),
            **baselines(val, plan),
        }
        args.out.write_text(json.dumps(table, indent=1) + "\n")
        print(name, json.dumps(table[name]), flush=True)


if __name__ == "__main__":
    main()
