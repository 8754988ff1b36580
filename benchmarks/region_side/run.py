"""How the size regions are detected at moves the quality scores: on one-face, one-shot clips
with the default schedule (a key frame every 2nd frame, every 2nd key frame whole), the mean
quality of whole-frame key frames, region key frames and interpolated frames, the median rank of
each among the track's frames, how many of the 10 best frames are whole-frame key frames (a
quarter of the frames are), and the frames/s, for each ``detector.region_side``.

    python benchmarks/region_side/run.py VIDEO... --out benchmarks/region_side/result.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from vidfiqa.build import build_stages
from vidfiqa.config import load_config
from vidfiqa.pipeline.analyse import analyse_video
from vidfiqa.pipeline.benchmark import machine_load, warm_stages

SIDES = (256, 384, 512)


def measure(path: Path, side: int) -> dict[str, Any]:
    config = load_config(None, {"detector.region_side": side, "detector.full_every": 2, "detector.every": 2})
    stages = warm_stages(path, config)
    start = time.perf_counter()
    analysis = analyse_video(path, config, stages)
    seconds = time.perf_counter() - start
    track = max(analysis.tracks, key=len)
    detected = ~track.interpolated
    kinds = {
        "whole": detected & (track.frames % 4 == 0),
        "region": detected & (track.frames % 4 == 2),
        "interpolated": track.interpolated,
    }
    rank = np.argsort(np.argsort(-track.qualities))
    best = np.argsort(-track.qualities)[:10]
    return {
        "fps": round(analysis.frames_read / seconds, 1),
        "faces": len(track),
        **{f"mean_quality_{k}": round(float(track.qualities[m].mean()), 4) for k, m in kinds.items()},
        **{f"median_rank_{k}": int(np.median(rank[m])) for k, m in kinds.items()},
        "whole_in_best_10": int(kinds["whole"][best].sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    build_stages(load_config(None))  # thread counts set once, as a run sets them
    result: dict[str, Any] = {"load_before": machine_load(), "videos": {}}
    for path in args.videos:
        result["videos"][path.name] = {str(side): measure(path, side) for side in SIDES}
        print(path.name, result["videos"][path.name], flush=True)
    result["load_after"] = machine_load()
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
