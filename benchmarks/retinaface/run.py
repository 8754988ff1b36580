"""RetinaFace-MobileNet0.25's speed and faces per frame on the 1080p walk, at the longest sides
the presets use (640, 960) and at native size: ms a frame at batch 8 after a warm-up run, and the
faces found in each frame, in one process (was a printing test of ``tests/test_retinaface.py``).

    python benchmarks/retinaface/run.py ../shared/data/videos/multi_face_walk_1080p.mp4 \\
        --out benchmarks/retinaface/result.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vidfiqa.models.onnx_session import cpu_threads
from vidfiqa.models.retinaface import RetinaFaceDetector
from vidfiqa.pipeline.benchmark import machine_load, study_context, write_result
from vidfiqa.video import ReadOptions, open_video

MAX_SIDES = (640, 960, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--out", type=Path, help="JSON file (default: stdout)")
    parser.add_argument("--stride", type=int, default=12, help="every n-th frame [12]")
    parser.add_argument("--frames", type=int, default=8, help="frames timed [8]")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with open_video(args.video, ReadOptions(stride=args.stride, max_frames=args.frames)) as reader:
        frames = [f.image for f in reader]
    before = machine_load()
    rows = []
    for max_side in MAX_SIDES:
        detector = RetinaFaceDetector(max_side=max_side, device="cpu", batch_size=args.batch)
        detector.detect(frames[:1])  # warm-up: the first run allocates the arena for this size
        start = time.perf_counter()
        found = detector.detect(frames)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "max_side": max_side,
                "ms_per_frame": round(1000 * seconds / len(frames), 1),
                "faces_per_frame": [len(d) for d in found],
                "provider": detector._session.get_providers()[0],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "command": "python benchmarks/retinaface/run.py "
        + " ".join(
            [
                str(args.video),
                "--stride",
                str(args.stride),
                "--frames",
                str(args.frames),
                "--batch",
                str(args.batch),
            ]
        ),
        "video": args.video.name,
        "frames": len(frames),
        "size": [frames[0].shape[1], frames[0].shape[0]],
        "batch": args.batch,
        "onnxruntime_threads": cpu_threads(),
        **study_context(before),
        "settings": rows,
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
