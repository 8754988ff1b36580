"""Recall / speed trade-off of the detector settings, measured in one process.

For each setting (detector, longest side the detector sees, detect every n frames, every how
many key frames the whole frame is detected, landmarks) the pipeline
analyses each clip (decode, detect, track, landmarks, quality; no templates) and is scored on
- recall: the share of the consensus faces of ``benchmarks/detector_consensus/consensus_<clip>.json`` (made by
  ``benchmarks/detector_consensus/run.py``, HOG not voting) that an observation box of the same frame
  covers with IoU >= 0.4;
- speed: analysed frames/s, and that over the clip's decode-only frames/s measured in the same
  run (the ratio is what compares across machines).

``--speed-only PATH`` adds clips without a consensus, timed but not scored: the 720p talking
head of issue 15's speed targets is one (``tests/fixtures/make_talking_head_720p.py``).

    python tests/fixtures/make_talking_head_720p.py ../shared/data/videos/talking_head_a.mp4 \
        /tmp/talking_head_a_720p.mp4
    python benchmarks/detectors/run.py --out benchmarks/detectors/result.json \
        --speed-only /tmp/talking_head_a_720p.mp4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vidfiqa.build import build_stages
from vidfiqa.config import load_config
from vidfiqa.eval.detection import boxes_by_frame, recall
from vidfiqa.pipeline.analyse import analyse_video
from vidfiqa.pipeline.benchmark import decode_fps, machine_load

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "videos"
CLIPS = {
    "multi_face_walk_1080p": SHARED / "multi_face_walk_1080p.mp4",
    "talking_head_a": SHARED / "talking_head_a.mp4",
    "group_walk": ROOT / "sample_videos" / "group_walk.mp4",
    "tears_of_steel_clip": SHARED / "tears_of_steel_clip.mp4",
}


def _timed(seconds: float, skip: int) -> dict:
    return {"detector.full_seconds": seconds, "detector.skip_steady": skip}


#: (detector, max_side, every, full_every, landmarks[, other settings]): the old default (HOG),
#: the last release's (RetinaFace at native size every 2nd frame, dlib's 68 points), the same
#: with the detector's five points and dlib's eye openness on key frames, then with every 2nd or
#: 4th key frame detected only around the tracked faces, the fast grid (the five points alone;
#: the previous fast presets are 960/4/1 and 960/3/3), and this release's schedules in time.
SETTINGS = [
    ("dlib-hog", None, 2, 1, "dlib68"),
    ("retinaface", None, 2, 1, "dlib68"),
    ("retinaface", None, 2, 1, "detector5-eyes"),
    ("retinaface", None, 2, 2, "detector5-eyes"),
    ("retinaface", None, 2, 3, "detector5-eyes"),
    ("retinaface", None, 2, 4, "detector5-eyes"),
    ("retinaface", None, 4, 2, "detector5-eyes"),
    ("retinaface", 1280, 2, 2, "detector5-eyes"),
    ("retinaface", 960, 2, 2, "detector5-eyes"),
    ("retinaface", 960, 4, 1, "detector5"),
    ("retinaface", 960, 3, 3, "detector5"),
    ("retinaface", 960, 4, 3, "detector5"),
    ("retinaface", 960, 4, 2, "detector5"),
    ("retinaface", 960, 4, 4, "detector5"),
    ("retinaface", 640, 4, 2, "detector5"),
    # Speed v2: whole frames on a schedule in time (full_every None: a key frame every
    # full_seconds detected whole) and region key frames skipped while every tracked face is
    # steady (skip_steady), beside the default (row 3) and the fast preset (row 10), which keep
    # their key-frame schedules.
    ("retinaface", None, 2, 2, "detector5-eyes", {"detector.skip_steady": 1}),
    ("retinaface", None, 2, None, "detector5-eyes", _timed(0.25, 0)),
    ("retinaface", None, 2, None, "detector5-eyes", _timed(0.5, 0)),
    ("retinaface", None, 2, None, "detector5-eyes", _timed(0.25, 1)),
    ("retinaface", None, 2, None, "detector5-eyes", _timed(0.5, 1)),
    ("retinaface", None, 2, None, "detector5-eyes", _timed(0.5, 2)),
    ("retinaface", None, 2, None, "detector5-eyes", _timed(1.0, 2)),
    ("retinaface", 960, 3, None, "detector5", _timed(0.5, 2)),
    ("retinaface", 960, 3, None, "detector5", _timed(1.0, 2)),
    # Speed v3: the fast grid's schedule in time without skips (a region key frame whose regions
    # hold as many pixels as the whole frame is now detected whole).
    ("retinaface", 960, 3, None, "detector5", _timed(0.5, 0)),
    ("retinaface", 960, 3, None, "detector5", _timed(1.0, 0)),
    # The default with regions at up to 512 px.
    ("retinaface", None, 2, 2, "detector5-eyes", {"detector.region_side": 512}),
]


def measure(
    clip: Path,
    reference: dict | None,
    detector: str,
    max_side: int | None,
    every: int,
    full_every: int,
    landmarks: str,
    extra: dict | None = None,
) -> dict:
    config = load_config(
        None,
        {
            "detector.name": detector,
            "detector.max_side": max_side,
            "detector.every": every,
            "detector.full_every": full_every,
            "landmarks.name": landmarks,
            # Rows without extra settings are the last release's: no key frame skipped.
            "detector.skip_steady": 0,
            **(extra or {}),
        },
    )
    stages = build_stages(config)
    start = time.perf_counter()
    analysis = analyse_video(clip, config, stages)
    seconds = time.perf_counter() - start
    return {
        "detector": detector,
        "max_side": max_side,
        "every": every,
        "full_every": full_every,
        "landmarks": landmarks,
        **({"extra": extra} if extra else {}),
        "key_frames": analysis.detections,
        "fps": analysis.frames_read / seconds,
        "tracks": len(analysis.tracks),
        "stage_seconds": analysis.seconds,
        **(recall(reference, boxes_by_frame(analysis.tracks)) if reference else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--speed-only", nargs="*", type=Path, default=[], metavar="PATH")
    parser.add_argument(
        "--settings",
        nargs="*",
        type=int,
        metavar="N",
        help="only these rows of SETTINGS (0-based) [default: all]",
    )
    args = parser.parse_args()
    if any(not 0 <= i < len(SETTINGS) for i in args.settings or []):
        parser.error(f"--settings: rows are 0-{len(SETTINGS) - 1}")
    settings = [SETTINGS[i] for i in args.settings] if args.settings else SETTINGS
    command = "python benchmarks/detectors/run.py --out " + str(args.out)
    command += "".join(f" --speed-only {p}" for p in args.speed_only)
    command += f" --settings {' '.join(map(str, args.settings))}" if args.settings else ""
    result = {"command": command, "load_before": machine_load(), "clips": {}}
    clips = {name: CLIPS[name] for name in args.clips} | {p.stem: p for p in args.speed_only}
    for path in args.speed_only:
        if not path.is_file():
            parser.error(f"--speed-only: no such file: {path}")
    for name, path in clips.items():
        consensus = ROOT / "benchmarks" / "detector_consensus" / f"consensus_{name}.json"
        reference = json.loads(consensus.read_text()) if name in CLIPS else None
        decode = decode_fps(path, "pyav")["fps"]
        rows = []
        for setting in settings:
            row = measure(path, reference, *setting)
            row["over_decode"] = row["fps"] / decode
            rows.append(row)
            scored = f"recall {row['recall']:.3f}" if reference else "(speed only)"
            print(name, *setting, scored, f"{row['fps']:.1f} fps", flush=True)
        result["clips"][name] = {"video": str(path), "decode_fps": decode, "settings": rows}
    result["load_after"] = machine_load()
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
