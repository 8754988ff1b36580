"""dlib's eye model beside the detection thread: on the calling thread (holding the GIL) or in a
child process, alone and together, then the analysis with each (the child's measures taken as
each key frame is observed, or started ahead), quiet and with one and two cores held busy, in
one process.

    python benchmarks/eye_process/run.py VIDEO --out benchmarks/eye_process/result.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from vidfiqa.config import load_config
from vidfiqa.device import set_cpu_threads
from vidfiqa.models.detector_landmarks import DetectorLandmarks
from vidfiqa.models.dlib_models import DlibLandmarker
from vidfiqa.models.dlib_process import DlibProcessLandmarker
from vidfiqa.models.retinaface import RetinaFaceDetector
from vidfiqa.pipeline.benchmark import decode_fps, load_test, machine_load, thread_settings, warm_stages
from vidfiqa.video import open_video

STEPS: dict[str, dict[str, Any]] = {
    "eyes on the calling thread (stop 30 default)": {"landmarks.eye_process": False},
    "eyes in a child process, measured as each key frame is observed (stop 31 default)": {},
    "eyes in a child process, started 4 key frames ahead (default)": {},
}
#: The step that measures the way stop 31 did: nothing started ahead.
NOT_STARTED = "eyes in a child process, measured as each key frame is observed (stop 31 default)"


def _per_call_ms(call, items: list, seconds: float = 3.0) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call(items[done % len(items)])
        done += 1
    return (time.perf_counter() - start) / done * 1000


def _measure_until(
    eyes, frames: list[np.ndarray], landmarks: np.ndarray, stop: threading.Event, calls: list[int]
) -> None:
    while not stop.is_set():
        eyes.eye_openness(frames[calls[0] % len(frames)], landmarks)
        calls[0] += 1


def detection_beside_eyes(frames: list[np.ndarray]) -> dict[str, float]:
    """RetinaFace on whole frames (ms a frame) alone, and beside a thread that measures the first
    frame's faces' eyes without pause, in process and through the child; the eye calls' ms. One
    runtime thread, as the pipeline's detection thread has on 2 CPUs."""
    set_cpu_threads(1)
    detector = RetinaFaceDetector(max_side=None)
    landmarks = detector.detect(frames[:1])[0].landmarks
    out = {"faces": len(landmarks), "detect_alone_ms": _per_call_ms(lambda f: detector.detect([f]), frames)}
    for name, eyes in (("thread", DlibLandmarker(points=68)), ("process", DlibProcessLandmarker())):
        eyes.eye_openness(frames[0], landmarks)  # loaded
        out[f"eyes_{name}_alone_ms"] = _per_call_ms(partial(eyes.eye_openness, landmarks=landmarks), frames)
        stop, calls = threading.Event(), [0]
        worker = threading.Thread(target=_measure_until, args=(eyes, frames, landmarks, stop, calls))
        start = time.perf_counter()
        worker.start()
        out[f"detect_beside_eyes_{name}_ms"] = _per_call_ms(lambda f: detector.detect([f]), frames)
        stop.set()
        worker.join()
        out[f"eyes_{name}_beside_detect_ms"] = (time.perf_counter() - start) / calls[0] * 1000
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


@contextlib.contextmanager
def _nothing_started(on: bool) -> Iterator[None]:
    """With ``on``, landmarkers start nothing ahead (the pipeline then measures each key frame's
    eyes when it observes it)."""
    start = DetectorLandmarks.start
    if on:
        DetectorLandmarks.start = lambda self, image, detections: None
    try:
        yield
    finally:
        DetectorLandmarks.start = start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=150, help="frames of each run (from the start)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each step, interleaved; medians")
    args = parser.parse_args()
    result: dict[str, Any] = {"video": args.video.name, "frames": args.frames, "load_before": machine_load()}
    with open_video(args.video) as reader:
        frames = [f.image for _, f in zip(range(20), reader)]
    result["detection_beside_eyes"] = detection_beside_eyes(frames)
    print(result["detection_beside_eyes"], flush=True)
    decode = decode_fps(args.video, "pyav")["fps"]
    result["decode_fps"] = round(decode, 1)
    result["repeats"] = args.repeats
    result["steps"] = {}
    # Every step's models loaded first, then the steps' runs interleaved, repeat by repeat, and
    # each figure the median of its repeats: this machine's speed drifts by more than the
    # differences measured here between runs a minute apart.
    configs = {name: load_config(None, overrides) for name, overrides in STEPS.items()}
    stages = {name: warm_stages(args.video, config) for name, config in configs.items()}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in STEPS}
    for _ in range(args.repeats):
        for name, config in configs.items():
            with _nothing_started(name == NOT_STARTED):
                runs[name].append(load_test(args.video, config, stages[name], args.frames))
    for name, overrides in STEPS.items():
        quiet, one, two = (
            float(np.median([r[load]["fps"] for r in runs[name]])) for load in ("quiet", "loaded", "two_busy")
        )
        row = {
            "overrides": overrides,
            "threads": thread_settings(stages[name]),
            "quiet_fps": round(quiet, 1),
            "one_busy_fps": round(one, 1),
            "two_busy_fps": round(two, 1),
            "quiet_over_decode": round(quiet / decode, 3),
            "one_busy_over_quiet": round(one / quiet, 3),
            "two_busy_over_quiet": round(two / quiet, 3),
            "quiet_fps_of_each_repeat": [round(r["quiet"]["fps"], 1) for r in runs[name]],
        }
        result["steps"][name] = row
        print(name, {k: v for k, v in row.items() if k not in ("threads", "overrides")}, flush=True)
    result["load_after"] = machine_load()
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
