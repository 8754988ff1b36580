"""The quality-model table of the README: every scorer on the LFW validation people.

Trains the student once per teacher (the same recipe as ``vidfiqa train distill``), then measures
on the validation samples: the ``factors`` scorer and each of its components, ``lightqnet`` (all
widths, with ../shared/models), ``stability`` (on a subset: it runs ~3 faces/s), and every
student and the shipped model with and without flip TTA and each branch alone; speed in
faces/s at batch 64. ``--teachers ""`` trains no student and builds only the validation samples;
``--landmarks NAME`` builds them with another landmarker (the alignment every scorer then sees).

    python benchmarks/quality_lfw/run.py --lfw ../shared/data/lfw --model-root ../shared/models \
        --out benchmarks/quality_lfw/quality_lfw.json --students /tmp/students
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vidfiqa.build import build_scorer
from vidfiqa.config import load_config
from vidfiqa.eval.fiqa import scenario, utility_correlation
from vidfiqa.learn.recipe import (
    SampleModels,
    baselines,
    distill_lfw,
    measure,
    sample_sets,
    score_samples,
    side_samples,
    validation,
)
from vidfiqa.learn.samples import FaceSamples
from vidfiqa.learn.settings import SAMPLE_CACHE, DistillSettings, TrainSettings
from vidfiqa.learn.split import split_lfw
from vidfiqa.models.lightweight import load_checkpoint
from vidfiqa.pipeline.benchmark import faces_per_second
from vidfiqa.quality.distilled import DistilledScorer, packaged

ARRAYS = ("source", "variant", "levels", "degraded", "detected", "embeddings")

TEACHERS = ("utility", "lightqnet", "utility+lightqnet")


def progress(side: str, n: int):
    """A per-photo callback that prints every 200 photos."""
    done = iter(range(1, n + 1))

    def step(_: int) -> None:
        i = next(done)
        if i % 200 == 0 or i == n:
            print(f"{side} samples: {i}/{n} photos", flush=True)

    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", required=True)
    ap.add_argument("--model-root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--students", required=True, help="folder for the per-teacher checkpoints")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--stability-templates", type=int, default=100)
    ap.add_argument("--teachers", default=",".join(TEACHERS), help='"": no students')
    ap.add_argument("--landmarks", default=None, help="landmarker of the samples (default: the config's)")
    args = ap.parse_args()
    teachers = [t for t in args.teachers.split(",") if t]

    overrides = {"quality.model_root": args.model_root}
    if args.landmarks:
        overrides["landmarks.name"] = args.landmarks
    config = load_config(None, overrides)
    models = SampleModels.of(config)
    cache = SAMPLE_CACHE
    split = split_lfw(args.lfw)
    if teachers:
        val = sample_sets(split, models, seed=0, cache=cache, progress=progress).val
    else:
        val = side_samples(split, models, "val", seed=0, cache=cache, progress=progress)
    plan = validation(val, split.val_pairs)
    speed_batch = val.batch(np.arange(64))
    table: dict[str, dict] = {
        "samples": {"landmarker": models.landmarker.name, "photos": len(val.keys), "samples": len(val.source)}
    }
    out = Path(args.out)

    def save() -> None:
        out.write_text(json.dumps(table, indent=2) + "\n")

    def scorer(name: str):
        return build_scorer(name, config)

    factors = scorer("factors")
    result = score_samples(factors, val)
    table["factors"] = measure(val, plan, result.scores) | {
        "faces_per_s": faces_per_second(factors, speed_batch)
    }
    for name in (
        "sharpness",
        "pose",
        "exposure",
        "contrast",
        "size",
        "confidence",
        "visibility",
        "eyes_open",
    ):
        table[f"factors:{name}"] = measure(val, plan, result.factors[name])
    for width in ("lightqnet", "lightqnet-dm100", "lightqnet-dm050", "lightqnet-dm025"):
        s = scorer(width)
        table[width] = measure(val, plan, score_samples(s, val).scores) | {
            "faces_per_s": faces_per_second(s, speed_batch)
        }
    save()
    student = TrainSettings(epochs=args.epochs, batch_size=64, lr=2e-3, alpha=1.0, factor_weight=1.0,
                            input_size=96, val_fraction=0.1)  # fmt: skip
    Path(args.students).mkdir(parents=True, exist_ok=True)
    networks = {}
    for teacher in teachers:
        path = Path(args.students) / f"distilled-{teacher.replace('+', '-')}.pt"
        if not path.is_file():
            distill_lfw(
                args.lfw, path, DistillSettings(teacher=teacher, student=student), models=models,
                scorer_for=scorer, cache=cache, command=f"benchmarks/quality_lfw/run.py (teacher {teacher})",
                log=print,
            )  # fmt: skip
        networks[f"distilled[{teacher}]"] = load_checkpoint(path)[0]
    # The shipped weights, made by 'vidfiqa train distill' (see their record).
    networks["distilled (shipped)"] = load_checkpoint(packaged(config.embedder.name))[0]
    for name, model in networks.items():
        for label, kwargs in (
            ("", {}),
            (" no-TTA", {"flip_tta": False}),
            (" mobilenet", {"branches": ("mobilenet",)}),
            (" shufflenet", {"branches": ("shufflenet",)}),
        ):
            model.flip_tta = kwargs.pop("flip_tta", True)
            s = DistilledScorer(model=model, device="cpu", **kwargs)
            row = measure(val, plan, score_samples(s, val).scores)
            table[f"{name}{label}"] = row | {"faces_per_s": faces_per_second(s, speed_batch)}
        model.flip_tta = True
        save()
    table["baselines"] = baselines(val, plan)
    save()
    # stability embeds every face four more times (~3 faces/s here): a subset of templates,
    # with the other scorers on the same subset beside it.
    subset = np.flatnonzero((plan.template >= 0) & (plan.template < args.stability_templates))
    names = {"stability": None, "factors": factors, "lightqnet": scorer("lightqnet")}
    names |= {name: DistilledScorer(model=model, device="cpu") for name, model in networks.items()}
    part = FaceSamples(
        **{f: getattr(val, f) for f in ("keys", "identities", "embedder")},
        **{f: getattr(val, f)[subset] for f in ARRAYS},
        faces=val.batch(subset),
    )
    for name, s in names.items():
        s = s or scorer(name)
        t = time.perf_counter()
        q = score_samples(s, part).scores
        seconds = time.perf_counter() - t
        people = plan.template_person[: args.stability_templates]
        res = scenario(part.embeddings, plan.template[subset], people, q, "best")
        table[f"subset:{name}"] = {
            "templates": args.stability_templates, "faces": len(subset),
            "spearman_utility": round(utility_correlation(q, plan.utility[subset]), 4),
            "best_eer": round(res.eer, 5), "best_tar@0.001": round(res.tar[1e-3], 4),
            "faces_per_s": round(len(subset) / seconds, 1),
        }  # fmt: skip
        save()
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
