"""Peak memory of ``vidfiqa process`` against video length: a clip looped into a 1-minute and a
30-minute video (same frames, same size), each processed in a fresh process into a fresh store;
peak resident set size (``ru_maxrss``) and wall time of each, and their ratio.

    python benchmarks/memory/run.py ../shared/data/videos/talking_head_a.mp4 --side 240 \
        --out benchmarks/memory/result.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

from vidfiqa.pipeline.benchmark import machine_load
from vidfiqa.video import open_video, write_video


def looped(source: Path, out: Path, minutes: float, side: int) -> int:
    """Write ``source``'s frames, resized to ``side`` x ``side`` and looped, as ``minutes`` of
    25 frames/s H.264; the number of frames written."""
    with open_video(source) as reader:
        frames = [cv2.resize(f.image, (side, side), interpolation=cv2.INTER_AREA) for f in reader]
    total = round(minutes * 60 * 25)
    write_video(out, (frames[i % len(frames)] for i in range(total)), fps=25)
    return total


def processed(video: Path, work: Path) -> dict:
    """Peak RSS (MiB) and seconds of ``vidfiqa process VIDEO`` in a child process of its own."""
    script = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "print(json.dumps({'rc': rc, 'seconds': time.perf_counter() - t,"
        " 'peak_rss_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
    )
    command = [
        sys.executable, "-c", script, sys.executable, "-m", "vidfiqa", "process", str(video),
        "--db", f"sqlite:///{work / 'v.db'}", "--index", str(work / "idx"), "--no-progress",
    ]  # fmt: skip
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--side", type=int, default=240, help="frame side of the looped videos")
    parser.add_argument("--minutes", type=float, nargs=2, default=[1.0, 30.0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result: dict = {"source": str(args.source), "side": args.side, "load_before": machine_load(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            video = Path(tmp) / f"loop_{minutes:g}min.mp4"
            frames = looped(args.source, video, minutes, args.side)
            work = Path(tmp) / f"store_{minutes:g}"
            work.mkdir()
            run = {"frames": frames, **processed(video, work)}
            run["fps"] = frames / run["seconds"]
            result["runs"][f"{minutes:g} min"] = run
            print(f"{minutes:g} min", run, flush=True)
    short, long = (result["runs"][f"{m:g} min"] for m in args.minutes)
    result["peak_rss_long_over_short"] = long["peak_rss_mib"] / short["peak_rss_mib"]
    result["load_after"] = machine_load()
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
