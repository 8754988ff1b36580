"""Wall time of `vidfiqa process` on several clips: the local executor, and Ray with 1 and 2
workers (a local Ray instance), each into a fresh SQLite database; JSON with the speed-ups.

    python scripts/bench_ray.py --out benchmarks/ray_speedup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = [
    ROOT / "sample_videos" / "blur_ramp.mp4",
    ROOT / "sample_videos" / "single_face_motion.mp4",
    ROOT / "sample_videos" / "group_walk.mp4",
    ROOT.parent / "shared" / "data" / "videos" / "talking_head_a.mp4",
    ROOT.parent / "shared" / "data" / "videos" / "talking_head_b.mp4",
    ROOT.parent / "shared" / "data" / "videos" / "multi_face_walk_1080p.mp4",
]


def timed(extra: list[str], clips: list[Path]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "vidfiqa", "process", *map(str, clips), "--no-progress"]
        cmd += ["--db", f"sqlite:///{tmp}/v.db", "--index", f"{tmp}/idx", *extra]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    clips = [c for c in CLIPS if c.is_file()]
    seconds = {
        "local": timed([], clips),
        "ray_1_worker": timed(["--executor", "ray", "--workers", "1"], clips),
        "ray_2_workers": timed(["--executor", "ray", "--workers", "2"], clips),
    }
    result = {
        "clips": [c.name for c in clips],
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "seconds": seconds,
        "speedup_2_vs_1_worker": seconds["ray_1_worker"] / seconds["ray_2_workers"],
        "speedup_2_workers_vs_local": seconds["local"] / seconds["ray_2_workers"],
        "note": "wall time including start-up (Ray start, model loading per worker); local uses 2 torch "
        "threads, each Ray worker 1",
    }
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
