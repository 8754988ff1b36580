"""LightQNet's speed on real LFW faces: faces/s of each published width at batch 64, whole
(preprocessing included) and the network alone, and of the preprocessing alone; each the best of
7 timed runs after a warm-up, in one process (was a printing test of ``tests/test_lightqnet.py``).

The faces: the first image of 30 evenly spaced LFW identities, the largest face dlib HOG finds
in each with dlib's 68 points (the project's path from an image to a FaceBatch), repeated to 64.

    python benchmarks/lightqnet/run.py --lfw ../shared/data/lfw --model-root ../shared/models \\
        --out benchmarks/lightqnet/result.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from vidfiqa.models import registry
from vidfiqa.models.lightqnet import WIDTHS, LightQNetScorer
from vidfiqa.pipeline.benchmark import machine_load, study_context, write_result
from vidfiqa.pipeline.faces import describe_faces
from vidfiqa.pipeline.features import read_rgb
from vidfiqa.types import FaceBatch

PEOPLE = 30
BATCH = 64


def lfw_faces(images: Path) -> FaceBatch:
    """The largest dlib-HOG face of the first image of ``PEOPLE`` evenly spaced identities."""
    detector = registry.create("detector", "dlib-hog", upsample=1)
    landmarker = registry.create("landmarker", "dlib68")
    people = sorted(p for p in images.iterdir() if p.is_dir())
    paths = [sorted(p.glob("*.jpg"))[0] for p in people[:: max(1, len(people) // PEOPLE)][:PEOPLE]]
    batches = []
    for path in paths:
        image = read_rgb(path)
        found = detector.detect([image])[0]
        if len(found):
            found = found[[int(np.argmax(np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)))]]
            batches.append(describe_faces(image, found, landmarker))
    return FaceBatch.concat(batches)


def best_seconds(fn, repeats: int = 7) -> float:
    """The fastest of ``repeats`` timed calls after one warm-up: what the code costs rather than
    what the neighbours on shared cores took."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", required=True, type=Path, help="LFW root (its images/ folder)")
    parser.add_argument("--model-root", required=True, type=Path, help="holds lightqnet/")
    parser.add_argument("--out", type=Path, help="JSON file (default: stdout)")
    args = parser.parse_args()
    faces = lfw_faces(args.lfw / "images")
    names = ("crops", "landmarks", "boxes", "confidence", "landmarks_estimated", "visible")
    index = np.arange(BATCH) % len(faces)
    big = FaceBatch(**{n: getattr(faces, n)[index] for n in names})
    scorers = {w: LightQNetScorer(width=w, model_root=args.model_root, device="cpu") for w in WIDTHS}
    before = machine_load()
    inputs = scorers["dm100"].preprocess(big)
    rates = {"preprocessing": round(BATCH / best_seconds(lambda: scorers["dm100"].preprocess(big)), 1)}
    for width, scorer in scorers.items():
        rates[f"lightqnet-{width}"] = round(BATCH / best_seconds(lambda s=scorer: s.score(big)), 1)
        rates[f"lightqnet-{width} network alone"] = round(
            BATCH / best_seconds(lambda s=scorer: s.run(inputs)), 1
        )
        print(width, rates[f"lightqnet-{width}"], rates[f"lightqnet-{width} network alone"], flush=True)
    result = {
        "command": "python benchmarks/lightqnet/run.py --lfw LFW --model-root MODELS",
        "faces": len(faces),
        "batch": BATCH,
        **study_context(before),
        "faces_per_second": rates,
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
