"""How far the detection schedule moves the templates: each clip's topk:5 SFace templates under a
schedule, against those of a reference run that detects every frame whole, matched track to
track by box overlap (cosine, min and mean over the matched tracks).

    python benchmarks/schedule_templates/run.py /tmp/talking_head_a_720p.mp4 \
        ../shared/data/videos/talking_head_b.mp4 sample_videos/group_walk.mp4 \
        --out benchmarks/schedule_templates/result.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vidfiqa.config import load_config
from vidfiqa.pipeline.benchmark import end_to_end, machine_load, match_tracks

REFERENCE = {"detector.every": 1, "detector.full_every": 1, "detector.skip_steady": 0}
SCHEDULES = {
    "every 2nd key frame whole, no skips (previous default)": {
        "detector.full_every": 2,
        "detector.skip_steady": 0,
    },
    "whole every 0.5 s, steady skips 1 (default)": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result: dict = {"load_before": machine_load(), "reference": REFERENCE, "videos": {}}
    for path in args.videos:
        _, reference, ref_templates = end_to_end(path, load_config(None, REFERENCE), "topk:5", "top")
        rows = {}
        for name, overrides in SCHEDULES.items():
            _, analysis, templates = end_to_end(path, load_config(None, overrides), "topk:5", "top")
            pairs = match_tracks(reference, analysis)
            cos = [
                float(templates[j] @ ref_templates[i])
                for j, i in pairs.items()
                if j in templates and i in ref_templates
            ]
            rows[name] = {
                "tracks": len(analysis.tracks),
                "reference_tracks": len(reference.tracks),
                "matched": len(cos),
                "cosine_min": min(cos) if cos else None,
                "cosine_mean": float(np.mean(cos)) if cos else None,
            }
            print(path.name, name, rows[name], flush=True)
        result["videos"][path.name] = rows
    result["load_after"] = machine_load()
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
