"""Embedder speed: faces/s of each embedded embedder on real LFW faces, at batch 32 and 64, in
one process, with the machine's load average beside the numbers.

SFace runs twice: with float32 weights (dequantised at load, the default) and with the shipped
int8 weights and their DequantizeLinear nodes.

    python benchmarks/embedders/run.py --lfw ../shared/data/lfw --out benchmarks/embedders/result.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from vidfiqa.align import align_arcface, embedder_chips
from vidfiqa.models.dlib_torch import TorchDlibEmbedder
from vidfiqa.models.retinaface import RetinaFaceDetector
from vidfiqa.models.sface import SFaceEmbedder
from vidfiqa.pipeline.features import read_rgb


def faces(lfw: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """ArcFace crops uint8 ``(count, 112, 112, 3)`` and dlib chips ``(count, 150, 150, 3)`` of the
    first ``count`` LFW photos (largest face, RetinaFace's points)."""
    detector = RetinaFaceDetector(device="cpu")
    crops, chips = [], []
    for path in sorted((lfw / "images").glob("*/*.jpg"))[:count]:
        image = read_rgb(path)
        found = detector.detect([image])[0]
        i = int(np.argmax(np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)))
        crops.append(align_arcface(image, found.landmarks[i : i + 1])[0])
        chips.append(embedder_chips("dlib150", image, found.landmarks[i : i + 1], None)[0])
    return np.stack(crops), np.stack(chips)


def rate(embed, inputs: np.ndarray, repeats: int = 3) -> float:
    embed(inputs[:8])
    t = time.perf_counter()
    for _ in range(repeats):
        embed(inputs)
    return round(repeats * len(inputs) / (time.perf_counter() - t), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--faces", type=int, default=256)
    args = ap.parse_args()
    crops, chips = faces(args.lfw, args.faces)
    load_before = os.getloadavg()
    table: dict[str, dict[str, float]] = {}
    for batch in (32, 64):
        models = {
            "sface (float32 weights, default)": (SFaceEmbedder(device="cpu", batch_size=batch), crops),
            "sface (int8 weights as shipped)": (
                SFaceEmbedder(device="cpu", batch_size=batch, dequantize=False),
                crops,
            ),
            "dlib-resnet (torch port)": (TorchDlibEmbedder(device="cpu", batch_size=batch), chips),
        }
        for name, (model, inputs) in models.items():
            table.setdefault(name, {})[f"faces_per_s@batch{batch}"] = rate(model.embed, inputs)
    import torch

    result = {
        "command": "python benchmarks/embedders/run.py --lfw LFW --out " + str(args.out),
        "faces": len(crops),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "torch_threads": torch.get_num_threads(),
        "cpus": len(os.sched_getaffinity(0)),
        "embedders": table,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
