"""The shipped ``distilled`` scorer against LightQNet on the LFW validation people, with the
score's multipliers switched on and off one at a time.

The validation samples are those of ``vidfiqa train distill`` (people of View 2 folds 8-10, each
photo as a template of ten samples, 70% degraded; found, aligned and embedded by the configured
pipeline, SFace by default), read from the sample cache that the training run filled. Every
row is measured by :func:`vidfiqa.learn.recipe.measure`: best-frame and quality-weighted EER and
TAR@FAR over all template pairs, EDC pAUC, Spearman with recognition utility. Speed is faces/s at
batch 64 on real validation crops, each scorer alone in this process.

    python benchmarks/quality_sface/run.py --lfw ../shared/data/lfw --model-root ../shared/models \
        --out benchmarks/quality_sface/quality_sface.json [--checkpoint student.pt]

With ``--checkpoint student.pt --one-row`` only that student's default score is measured (one
row, as the shipped row of the full table), and timed beside the shipped weights in the same
process, so that an ablation's student is compared under the same load:

    python benchmarks/quality_sface/run.py --lfw ../shared/data/lfw --model-root ../shared/models \
        --checkpoint student.pt --one-row --out benchmarks/quality_sface/quality_sface_X_scored.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from vidfiqa.build import build_scorer
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
from vidfiqa.pipeline.benchmark import faces_per_second
from vidfiqa.quality.distilled import DistilledScorer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", required=True)
    ap.add_argument("--model-root", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--checkpoint", default=None, help="a student to measure instead of the shipped one")
    ap.add_argument(
        "--one-row",
        action="store_true",
        help="only the --checkpoint's default score, timed beside the shipped",
    )
    args = ap.parse_args()
    if args.one_row and args.checkpoint is None:
        ap.error("--one-row needs --checkpoint")

    config = load_config(None, {"quality.model_root": args.model_root, "quality.checkpoint": args.checkpoint})
    split = split_lfw(args.lfw)
    val = side_samples(split, SampleModels.of(config), "val", seed=0, cache=SAMPLE_CACHE)
    plan = validation(val, split.val_pairs)
    speed_batch = val.batch(np.arange(64))
    table: dict = {
        "command": "python benchmarks/quality_sface/run.py --lfw LFW --model-root MODELS --out "
        + str(args.out)
        + (f" --checkpoint {args.checkpoint} --one-row" if args.one_row else ""),
        "embedder": val.embedder if isinstance(val.embedder, str) else str(val.embedder),
        "samples": len(val.source),
        "load_average": round(os.getloadavg()[0], 2),
    }
    if args.one_row:
        student = build_scorer("distilled", config)
        shipped = build_scorer("distilled", load_config(None, {"quality.model_root": args.model_root}))
        table["distilled"] = {"weights": student.record.get("command")}
        table["distilled (default score: learned x visibility)"] = measure(
            val, plan, score_samples(student, val).scores
        ) | {"faces_per_s": faces_per_second(student, speed_batch)}
        table["shipped distilled-sface.pt, same process"] = {
            "faces_per_s": faces_per_second(shipped, speed_batch)
        }
        args.out.write_text(json.dumps(table, indent=2) + "\n")
        print(json.dumps(table, indent=2))
        return

    for name in ("lightqnet-dm100", "lightqnet-dm050", "lightqnet-dm025"):
        s = build_scorer(name, config)
        table[name] = measure(val, plan, score_samples(s, val).scores) | {
            "faces_per_s": faces_per_second(s, speed_batch)
        }
    shipped = build_scorer("distilled", config)
    table["distilled"] = {"weights": shipped.record.get("command")}
    result = score_samples(shipped, val)
    f = result.factors
    levels = np.stack([f[k] for k in f if k.endswith("_level")], axis=1)
    learned = np.clip(f["learned"], 0, 1)
    calibration = np.prod(1 - np.clip(levels, 0, 1), axis=1)
    variants = {
        "distilled (default score: learned x visibility)": result.scores,
        "learned head alone": learned,
        "learned x factor levels x visibility x eyes_open (the dlib weights' score)": learned
        * calibration
        * f["visibility"]
        * f["eyes_open"],
        "learned x factor levels": learned * calibration,
        "learned x factor levels x visibility": learned * calibration * f["visibility"],
        "learned x factor levels x eyes_open": learned * calibration * f["eyes_open"],
        "learned x visibility x eyes_open (no factor levels)": learned * f["visibility"] * f["eyes_open"],
    }
    for label, q in variants.items():
        table[label] = measure(val, plan, q)
    table["distilled (default score: learned x visibility)"]["faces_per_s"] = faces_per_second(
        shipped, speed_batch
    )
    table["distilled with flip TTA"] = measure(
        val,
        plan,
        score_samples(DistilledScorer(checkpoint=args.checkpoint, flip_tta=True, device="cpu"), val).scores,
    )
    table["baselines"] = baselines(val, plan)
    args.out.write_text(json.dumps(table, indent=2) + "\n")
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
