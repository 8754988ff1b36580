"""Detection on its own thread against one thread, quiet and with one and two cores held busy by
spinning processes, in one process: frames/s of the analysis (decode, detection, tracking,
landmarks, quality; no templates) and each ratio to the quiet run and to decode-only.

    python benchmarks/stage_threads/run.py VIDEO... --out benchmarks/stage_threads/result.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vidfiqa.build import build_stages
from vidfiqa.config import load_config
from vidfiqa.device import usable_cpus
from vidfiqa.pipeline.benchmark import decode_fps, load_test, machine_load, thread_settings

VARIANTS: dict[str, dict[str, Any]] = {
    # This release's default: detection and tracking on a thread, 1 runtime thread each on 2 CPUs.
    "detection thread (default)": {},
    # The previous default: one thread of stages, torch and onnxruntime on every usable CPU.
    "one thread, all CPUs each (previous default)": {
        "detector.thread": False,
        "quality.cpu_threads": usable_cpus(),
    },
    "one thread, 1 CPU each": {"detector.thread": False, "quality.cpu_threads": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=150, help="frames of each run (from the start)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every variant"
    )
    args = parser.parse_args()
    common = dict(item.split("=", 1) for item in args.set)
    result: dict[str, Any] = {"overrides": common, "load_before": machine_load(), "videos": {}}
    for path in args.videos:
        decode = decode_fps(path, "pyav")
        row: dict[str, Any] = {"decode_fps": round(decode["fps"], 1)}
        for name, overrides in VARIANTS.items():
            config = load_config(None, {**common, **overrides})
            stages = build_stages(config)
            runs = load_test(path, config, stages, args.frames)
            row[name] = {
                "threads": thread_settings(stages),
                "quiet_fps": round(runs["quiet"]["fps"], 1),
                "one_busy_fps": round(runs["loaded"]["fps"], 1),
                "two_busy_fps": round(runs["two_busy"]["fps"], 1),
                "one_busy_over_quiet": round(runs["loaded_over_quiet"], 3),
                "two_busy_over_quiet": round(runs["two_busy_over_quiet"], 3),
                "quiet_over_decode": round(runs["quiet"]["fps"] / decode["fps"], 3),
            }
            print(name, path.name, {k: v for k, v in row[name].items() if k != "threads"}, flush=True)
        result["videos"][path.name] = row
    result["load_after"] = machine_load()
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
