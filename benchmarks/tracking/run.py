"""Tracker accuracy (IDF1, MOTA) for several detection intervals, as a JSON table.

Clips with a ground-truth JSON beside them (the sample clips) are scored against it. Other clips
are scored against a reference run that detects on every frame, which measures what detecting
less often (and interpolating) costs, not absolute accuracy.

    python benchmarks/tracking/run.py sample_videos/group_walk.mp4 \
        ../shared/data/videos/multi_face_walk_1080p.mp4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vidfiqa.build import build_stages
from vidfiqa.config import load_config
from vidfiqa.eval.tracking import frames_from_ground_truth, frames_from_tracks, mot_metrics
from vidfiqa.pipeline.analyse import analyse_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--every", type=int, nargs="+", default=[1, 2, 3, 5])
    args = parser.parse_args()
    stages = build_stages(load_config(None))
    rows = []
    for video in args.videos:
        truth_path = video.with_suffix(".json")
        reference = "ground truth"
        if truth_path.is_file():
            truth = frames_from_ground_truth(json.loads(truth_path.read_text()))
        else:
            reference = "detect every frame"
            dense = analyse_video(video, load_config(None, {"detector.every": 1}), stages)
            truth = frames_from_tracks(dense.tracks)
        for every in args.every:
            analysis = analyse_video(video, load_config(None, {"detector.every": every}), stages)
            m = mot_metrics(truth, frames_from_tracks(analysis.tracks))
            rows.append(
                {
                    "video": video.name,
                    "reference": reference,
                    "detect_every": every,
                    "tracks": len(analysis.tracks),
                    **{k: round(v, 4) for k, v in m.items()},
                }
            )
            print(json.dumps(rows[-1]))


if __name__ == "__main__":
    main()
