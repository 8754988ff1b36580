"""The pipeline on a CUDA device against decoding, in one process: decode-only frames/s, end-to-end
frames/s (analysis and templates) of the default schedule and of detection on every whole frame,
each model's throughput, and the cosine between CUDA and CPU templates of the same frames.

RetinaFace and SFace run by torch (vidfiqa.models.onnx_torch) where onnxruntime has no CUDA
provider; the distilled scorer is torch. Landmarks are the detector's five points (`detector5`):
the default's eye measurement uses dlib's 68-point model, a CPU-only model whose wheel is not
on the GPU machine (see README.md here).

    python benchmarks/gpu/run.py VIDEO... --out benchmarks/gpu/result.json [--frames 600]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidfiqa.aggregate import Strategy
from vidfiqa.build import build_embedder, build_stages
from vidfiqa.config import Config, load_config
from vidfiqa.pipeline.analyse import analyse_video
from vidfiqa.pipeline.templates import build_templates
from vidfiqa.video import ReadOptions, open_video

STRATEGY = "topk:5"
SCHEDULES = {
    # The default config's schedule: detect every 2nd frame, every 2nd key frame whole.
    "default": {},
    # Every frame detected whole: the most detector work, what a GPU should absorb.
    "every_frame": {"detector.every": 1, "detector.full_every": 1},
}


def config_for(device: str, frames: int, extra: dict[str, Any]) -> Config:
    return load_config(
        None,
        {
            "quality.device": device,
            "landmarks.name": "detector5",
            "video.max_frames": frames,
            "templates.strategies": [STRATEGY],
            **extra,
        },
    )


def decode_fps(path: Path, frames: int) -> dict[str, float]:
    t = time.perf_counter()
    with open_video(path, ReadOptions(max_frames=frames)) as reader:
        n = sum(1 for _ in reader)
    seconds = time.perf_counter() - t
    return {"frames": n, "seconds": round(seconds, 3), "fps": round(n / seconds, 1)}


def end_to_end(path: Path, config: Config) -> tuple[dict[str, Any], dict[int, np.ndarray]]:
    stages, embedder = build_stages(config), build_embedder(config)
    t = time.perf_counter()
    analysis = analyse_video(path, config, stages)
    analysed = time.perf_counter() - t
    results = build_templates(
        analysis,
        embedder,
        [Strategy.parse(STRATEGY)],
        min_gap=config.select.min_gap,
        floor=config.select.relative_floor,
    )
    seconds = time.perf_counter() - t
    vectors = {i: r.templates[STRATEGY].vector for i, r in enumerate(results) if r.templates}
    return {
        "frames": analysis.frames_read,
        "fps": round(analysis.frames_read / seconds, 1),
        "analyse_seconds": round(analysed, 3),
        "template_seconds": round(seconds - analysed, 3),
        "tracks": len(analysis.tracks),
        "faces_scored": sum(len(track) for track in analysis.tracks),
        "stage_seconds": {k: round(v, 3) for k, v in analysis.seconds.items()},
        "detector_calls": analysis.detector_calls,
    }, vectors


def model_speeds(path: Path, config: Config) -> dict[str, Any]:
    """Detector frames/s on whole native frames at batches 1, 8 and 16; scorer and embedder
    faces/s at batches 64 and 256 on crops of those frames' faces."""
    with open_video(path, ReadOptions(max_frames=16)) as reader:
        images = [f.image for f in reader]
    stages, embedder = build_stages(config), build_embedder(config)
    detector = stages.detector
    out: dict[str, Any] = {"frame_shape": list(images[0].shape)}
    for batch in (1, 8, 16):
        detector.batch_size = batch
        detector.detect(images[:batch])  # warm-up: kernels chosen for this shape
        _sync()
        t = time.perf_counter()
        detector.detect(images)
        _sync()
        out[f"detect_batch{batch}_fps"] = round(len(images) / (time.perf_counter() - t), 1)
    crops = np.random.default_rng(0).integers(0, 255, (256, 112, 112, 3), dtype=np.uint8)
    for name, run in (("embed", embedder.embed), ("score", _score_fn(stages.scorer))):
        for batch in (64, 256):
            run(crops[:batch])
            _sync()
            t = time.perf_counter()
            for _ in range(3):
                run(crops[:batch])
            _sync()
            out[f"{name}_batch{batch}_faces_per_s"] = round(3 * batch / (time.perf_counter() - t), 1)
    return out


def _score_fn(scorer: Any) -> Any:
    from vidfiqa.types import FaceBatch

    def score(crops: np.ndarray) -> Any:
        n = len(crops)
        boxes = np.tile(np.array([[0, 0, 112, 112]], np.float32), (n, 1))
        batch = FaceBatch(
            crops=crops,
            boxes=boxes,
            landmarks=np.zeros((n, 5, 2), np.float32),
            confidence=np.ones(n, np.float32),
            landmarks_estimated=np.zeros(n, bool),
            visible=np.ones(n, np.float32),
        )
        return scorer.score(batch)

    return score


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=600, help="frames of each video (from its start)")
    parser.add_argument("--cpu-frames", type=int, default=60, help="frames of the CPU template check")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "command": "python benchmarks/gpu/run.py " + " ".join(str(v) for v in args.videos),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_before": round(os.getloadavg()[0], 2),
        "videos": {},
    }
    # CUDA's context, cuDNN and the kernels of the padded batch shapes load once, not in a timing.
    end_to_end(args.videos[0], config_for(args.device, 16, {}))
    for path in args.videos:
        row: dict[str, Any] = {"decode": decode_fps(path, args.frames)}
        for name, extra in SCHEDULES.items():
            report, _ = end_to_end(path, config_for(args.device, args.frames, extra))
            report["over_decode"] = round(report["fps"] / row["decode"]["fps"], 3)
            row[name] = report
        row["models"] = model_speeds(path, config_for(args.device, args.frames, {}))
        # Templates of the same first frames on CUDA and on the CPU (onnxruntime there): with
        # CUDA's default look-ahead of 8 key frames a detector call, and with the CPU's 1.
        _, on_cpu = end_to_end(path, config_for("cpu", args.cpu_frames, {}))
        row["cuda_vs_cpu"] = {"frames": args.cpu_frames}
        for name, extra in (("default_batch", {}), ("batch1", {"detector.batch": 1})):
            _, on_gpu = end_to_end(path, config_for(args.device, args.cpu_frames, extra))
            # Each CUDA template against the CPU template of the same person (its best match):
            # track numbers need not agree between runs.
            cpu = np.stack(list(on_cpu.values())) if on_cpu else np.zeros((0, 128), np.float32)
            cosines = [float((cpu @ v).max()) for v in on_gpu.values() if len(cpu)]
            row["cuda_vs_cpu"][name] = {
                "tracks": [len(on_gpu), len(on_cpu)],
                "template_cosine_min": round(min(cosines, default=-1.0), 5),
            }
        result["videos"][path.name] = row
        print(json.dumps({path.name: row}, indent=1), flush=True)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
