"""Wall time of `vidfiqa process` on several clips: the local executor, and Ray with 1 and 2
workers (a local Ray instance), each into a fresh SQLite database; JSON with the speed-ups.

    python benchmarks/ray/run.py --out benchmarks/ray/result.json
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

ROOT = Path(__file__).resolve().parents[2]
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
    ray = ["--executor", "ray", "--workers"]
    modes = {
        "local": [],
        "ray_1_worker": [*ray, "1"],
        "ray_1_worker_2_cpus": [*ray, "1", "--cpus-per-worker", "2"],
        "ray_2_workers": [*ray, "2"],
    }
    seconds = {name: timed(extra, clips) for name, extra in modes.items()}
    # The fixed cost of each mode (imports, Ray's start, models loaded in every worker): the same
    # command on one frame of one clip.
    startup = {name: timed([*extra, "--max-frames", "1"], clips[:1]) for name, extra in modes.items()}
    net = {name: seconds[name] - startup[name] for name in modes}
    result = {
        "clips": [c.name for c in clips],
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "seconds": seconds,
        "startup_seconds": startup,
        "speedup_2_vs_1_worker": seconds["ray_1_worker"] / seconds["ray_2_workers"],
        "speedup_2_workers_vs_1_worker_2_cpus": seconds["ray_1_worker_2_cpus"] / seconds["ray_2_workers"],
        "speedup_2_workers_vs_local": seconds["local"] / seconds["ray_2_workers"],
        "net_of_startup": {
            "speedup_2_vs_1_worker": net["ray_1_worker"] / net["ray_2_workers"],
            "speedup_2_workers_vs_local": net["local"] / net["ray_2_workers"],
        },
        "note": "wall time of one `vidfiqa process` each, including start-up; net_of_startup subtracts "
        "startup_seconds. local uses 2 torch threads, each Ray worker as many as its --cpus-per-worker "
        "(default 1). Ray hands out the largest files first.",
    }
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
