"""Measure decode and stage speeds on one clip, in one process, and write JSON.

Ratios between numbers of the same run are what to compare across machines; absolute frames/s
depend on the machine and its load.

    python scripts/bench.py ../shared/data/videos/talking_head_a.mp4 --out bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from vidfiqa.align import align_dlib_chip
from vidfiqa.config import load_config
from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker, DlibResNetEmbedder
from vidfiqa.pipeline import Stages, analyse_video
from vidfiqa.video import ReadOptions, open_video


def decode_fps(path: Path, backend: str) -> dict:
    t = time.perf_counter()
    with open_video(path, backend=backend) as reader:
        n = sum(1 for _ in reader)
    seconds = time.perf_counter() - t
    return {"frames": n, "seconds": seconds, "fps": n / seconds}


def stage_speeds(path: Path, frames: int, batch: int) -> dict:
    """Detector ms/frame, landmarks ms/face and embedder ms/face at ``batch``."""
    with open_video(path, ReadOptions(max_frames=frames)) as reader:
        images = [f.image for f in reader]
    detector, landmarker, embedder = DlibHogDetector(), DlibLandmarker(), DlibResNetEmbedder()
    t = time.perf_counter()
    found = detector.detect(images)
    detect_s = time.perf_counter() - t
    faces = sum(len(d) for d in found)
    t = time.perf_counter()
    chips = [
        align_dlib_chip(im, landmarker.landmark(im, d).data["dlib5"])
        for im, d in zip(images, found)
        if len(d)
    ]
    landmark_s = time.perf_counter() - t
    out = {"frames": len(images), "faces": faces, "detect_ms_per_frame": 1000 * detect_s / len(images)}
    if faces:
        stack = np.concatenate(chips)
        reps = np.resize(stack, (max(batch, len(stack)), *stack.shape[1:]))[:batch]
        t = time.perf_counter()
        embedder.embed(reps)
        embed_s = time.perf_counter() - t
        out |= {
            "landmarks_align_ms_per_face": 1000 * landmark_s / faces,
            "embed_ms_per_face": 1000 * embed_s / len(reps),
            "embed_batch": len(reps),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--out", type=Path, help="JSON file (default: stdout)")
    parser.add_argument("--stage-frames", type=int, default=20, help="frames for the per-stage timings")
    parser.add_argument("--batch", type=int, default=32, help="embedder batch size")
    args = parser.parse_args()

    decode = {
        b: decode_fps(args.video, b)
        for b in ("pyav", "decord")
        if b == "pyav" or args.video.suffix != ".h264"
    }
    config = load_config(None)
    stages = Stages.from_config(config)
    t = time.perf_counter()
    analysis = analyse_video(args.video, config, stages)
    seconds = time.perf_counter() - t
    result = {
        "video": str(args.video),
        "size": [analysis.info.width, analysis.info.height],
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "decode": decode,
        "pipeline": {
            "config": "default (dlib-hog, dlib68, factors, detect every 2)",
            "frames": analysis.frames_read,
            "fps": analysis.frames_read / seconds,
            "tracks": len(analysis.tracks),
            "faces": sum(len(t.observations) for t in analysis.tracks),
            "stage_seconds": analysis.seconds,
            "ratio_to_decode_pyav": (analysis.frames_read / seconds) / decode["pyav"]["fps"],
        },
        "stages": stage_speeds(args.video, args.stage_frames, args.batch),
    }
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
