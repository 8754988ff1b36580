"""Measure decode, stage and pipeline speeds on one clip, in one process, and write JSON
(``vidfiqa bench`` does the same; the measurements are in ``vidfiqa/pipeline/benchmark.py``).

    python scripts/bench.py ../shared/data/videos/talking_head_a.mp4 --compare --out bench.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vidfiqa.config import load_config
from vidfiqa.pipeline.benchmark import run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--out", type=Path, help="JSON file (default: stdout)")
    parser.add_argument("--stage-frames", type=int, default=20, help="frames for the per-stage timings")
    parser.add_argument("--batch", type=int, default=32, help="embedder batch size")
    parser.add_argument("--compare", action="store_true", help="also run naive vs tuned (slow)")
    parser.add_argument("--compare-frames", type=int, default=150, help="frames for --compare")
    parser.add_argument("--tuned-config", type=Path, help="YAML config of the tuned run (default: defaults)")
    args = parser.parse_args()
    result = run_benchmark(
        args.video,
        stage_frames=args.stage_frames,
        batch=args.batch,
        compare_frames=args.compare_frames if args.compare else None,
        tuned_config=load_config(args.tuned_config) if args.tuned_config else None,
    )
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
