"""Build the synthetic clips of ``sample_videos/`` with exact ground truth.

The faces come from images that ship inside installed packages, so anyone can rebuild the clips
offline: ``skimage.data.astronaut()`` (NASA portrait of Eileen Collins, public domain) and
insightface's bundled ``t1.jpg`` (a group of six) and ``Tom_Hanks_54745.png``. Each frame is
rendered by warping a still through a known affine "camera" transform, so the ground-truth box of
every face is the still's face box mapped through that transform. Face boxes in the stills are
dlib HOG detections on the stills (upsample 1), written down below.

Clips:

- ``blur_ramp.mp4`` (480x360, 75 frames): the astronaut under a slow pan and zoom, with a
  Gaussian blur whose sigma rises linearly from 0 to 4. Nothing else degrades: the quality score
  must fall in the order of the blur.
- ``group_walk.mp4`` (960x540, 150 frames, 2 shots): the group of six under a pan and zoom with
  noise (frames 20-45), a lighting dip (50-80) and a grey occluder sliding over one face (60-85);
  a hard cut at frame 100 to a second scene with the astronaut and Tom Hanks moving apart.

Ground truth per clip (``<clip>.json``): size, fps, identities, shots (inclusive frame ranges) and,
per frame, the applied degradation and every visible face's identity, xyxy box (clipped to the
frame) and the fraction of the box the occluder covers.

    python scripts/make_sample_videos.py [--out sample_videos] [--seed 0]

The rendered frames and the ground truth are the same on every run; the encoded bytes of the
larger clip are not always (x264 output varied between runs here, even single-threaded).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import insightface
import numpy as np
import skimage.data

from vidfiqa.video import write_video

FPS = 25
IMAGES = Path(os.path.dirname(insightface.__file__)) / "data" / "images"

#: dlib HOG (upsample 1) face boxes on the stills, xyxy, named by x order.
T1_FACES = {
    "t1_a": (67, 283, 175, 390),
    "t1_b": (275, 176, 364, 265),
    "t1_c": (450, 295, 557, 402),
    "t1_d": (724, 367, 832, 474),
    "t1_e": (870, 67, 999, 196),
    "t1_f": (1118, 283, 1226, 390),
}
ASTRONAUT_FACE = (175, 76, 265, 166)
TOM_HANKS_FACE = (6, 26, 96, 116)


@dataclass
class Layer:
    """A still placed into the frame by a per-frame 2x3 affine transform."""

    image: np.ndarray
    faces: dict[str, tuple[float, float, float, float]]
    transform: Callable[[float], np.ndarray]  # t in [0, 1] -> 2x3 matrix, still -> frame


@dataclass
class Shot:
    frames: int
    layers: list[Layer]
    background: np.ndarray
    degrade: Callable[[int], dict[str, float]] = lambda i: {}
    occluder: Callable[[int], tuple[float, float, float, float] | None] = lambda i: None
    identities: dict[str, str] = field(default_factory=dict)


def similarity(scale: float, centre: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
    """Scale about ``centre`` of the still and move it to ``target`` in the frame."""
    (cx, cy), (tx, ty) = centre, target
    return np.array([[scale, 0, tx - scale * cx], [0, scale, ty - scale * cy]])


def map_box(m: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64)
    p = corners @ m[:, :2].T + m[:, 2]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


def covered(box: np.ndarray, occ: tuple[float, float, float, float] | None) -> float:
    if occ is None:
        return 0.0
    w = max(0.0, min(box[2], occ[2]) - max(box[0], occ[0]))
    h = max(0.0, min(box[3], occ[3]) - max(box[1], occ[1]))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return float(w * h / area) if area > 0 else 0.0


def ramp(i: int, start: int, end: int) -> float:
    """0 before ``start``, 1 after ``end``, linear between."""
    return float(np.clip((i - start) / max(end - start, 1), 0, 1))


def render(
    shots: list[Shot], size: tuple[int, int], rng: np.random.Generator
) -> tuple[list[np.ndarray], dict]:
    w, h = size
    frames, truth_frames, shot_ranges, identities = [], [], [], {}
    index = 0
    for s, shot in enumerate(shots):
        shot_ranges.append({"start": index, "end": index + shot.frames - 1})
        identities.update(shot.identities)
        for i in range(shot.frames):
            t = i / max(shot.frames - 1, 1)
            canvas = shot.background.astype(np.float32).copy()
            faces = []
            for layer in shot.layers:
                m = layer.transform(t)
                warped = cv2.warpAffine(layer.image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
                ones = np.ones(layer.image.shape[:2], np.float32)
                mask = cv2.warpAffine(ones, m, (w, h), flags=cv2.INTER_LINEAR)
                canvas = canvas * (1 - mask[..., None]) + warped.astype(np.float32) * mask[..., None]
                for name, box in layer.faces.items():
                    b = map_box(m, box)
                    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
                    if 0 <= cx < w and 0 <= cy < h:
                        faces.append((name, np.clip(b, 0, [w, h, w, h])))
            occ = shot.occluder(i)
            if occ is not None:
                x1, y1, x2, y2 = (round(v) for v in occ)
                canvas[y1:y2, x1:x2] = 128
            d = {"blur_sigma": 0.0, "noise_std": 0.0, "gain": 1.0, **shot.degrade(i)}
            canvas *= d["gain"]
            if d["blur_sigma"] > 0:
                canvas = cv2.GaussianBlur(canvas, (0, 0), d["blur_sigma"])
            if d["noise_std"] > 0:
                canvas += rng.normal(0, d["noise_std"], canvas.shape)
            frames.append(np.clip(canvas, 0, 255).round().astype(np.uint8))
            truth_frames.append(
                {
                    "index": index,
                    "time": round(index / FPS, 6),
                    "shot": s,
                    "degradation": {k: round(v, 4) for k, v in d.items()},
                    "faces": [
                        {
                            "identity": name,
                            "box": [round(float(v), 2) for v in b],
                            "occluded_fraction": round(covered(b, occ), 4),
                        }
                        for name, b in faces
                    ],
                }
            )
            index += 1
    truth = {
        "fps": FPS,
        "width": w,
        "height": h,
        "num_frames": index,
        "identities": identities,
        "shots": shot_ranges,
        "frames": truth_frames,
    }
    return frames, truth


def gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    a = np.linspace(0, 1, h)[:, None, None]
    return ((1 - a) * np.array(top) + a * np.array(bottom)) * np.ones((h, w, 3))


def blur_ramp() -> tuple[list[Shot], tuple[int, int]]:
    w, h, n = 480, 360, 75
    astronaut = skimage.data.astronaut()
    centre = ((ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 2, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 2 + 20)

    def camera(t: float) -> np.ndarray:
        return similarity(1.5 + 0.15 * t, centre, (w / 2 - 20 + 40 * t, h / 2 - 10 + 10 * t))

    shot = Shot(
        frames=n,
        layers=[Layer(astronaut, {"astronaut": ASTRONAUT_FACE}, camera)],
        background=np.zeros((h, w, 3)),
        degrade=lambda i: {"blur_sigma": 4.0 * i / (n - 1)},
        identities={"astronaut": "skimage.data.astronaut()"},
    )
    return [shot], (w, h)


def group_walk() -> tuple[list[Shot], tuple[int, int]]:
    w, h = 960, 540
    t1 = cv2.cvtColor(cv2.imread(str(IMAGES / "t1.jpg")), cv2.COLOR_BGR2RGB)
    hanks = cv2.cvtColor(cv2.imread(str(IMAGES / "Tom_Hanks_54745.png")), cv2.COLOR_BGR2RGB)
    astronaut = skimage.data.astronaut()

    def pan(t: float) -> np.ndarray:
        # From the left half of the group to the right half while zooming in from 0.92 to 1.2.
        scale = 0.92 + 0.28 * t
        return similarity(scale, (520 + 240 * t, 300), (w / 2, h / 2))

    def occluder(i: int) -> tuple[float, float, float, float] | None:
        if not 60 <= i <= 85:
            return None
        box = map_box(pan(i / 99), T1_FACES["t1_c"])
        # Slides in from the face's left edge, covering up to 60% of its width, then out.
        reach = 0.6 * np.sin(np.pi * (i - 60) / 25)
        return (box[0], box[1] - 10, box[0] + reach * (box[2] - box[0]), box[3] + 10)

    def degrade(i: int) -> dict[str, float]:
        noise = 12 * (ramp(i, 20, 32) - ramp(i, 33, 45))
        gain = 1 - 0.55 * (ramp(i, 50, 65) - ramp(i, 65, 80))
        return {"noise_std": noise, "gain": gain}

    first = Shot(
        frames=100,
        layers=[Layer(t1, T1_FACES, pan)],
        background=np.zeros((h, w, 3)),
        degrade=degrade,
        occluder=occluder,
        identities={name: "insightface/data/images/t1.jpg" for name in T1_FACES},
    )
    second = Shot(
        frames=50,
        layers=[
            Layer(
                astronaut,
                {"astronaut": ASTRONAUT_FACE},
                lambda t: similarity(1.6, (220, 130), (300 - 60 * t, 270)),
            ),
            Layer(
                hanks,
                {"tom_hanks": TOM_HANKS_FACE},
                lambda t: similarity(1.6, (51, 71), (660 + 60 * t, 260 + 20 * t)),
            ),
        ],
        background=gradient(w, h, (40, 90, 60), (200, 210, 170)),
        identities={
            "astronaut": "skimage.data.astronaut()",
            "tom_hanks": "insightface/data/images/Tom_Hanks_54745.png",
        },
    )
    return [first, second], (w, h)


CLIPS = {"blur_ramp": blur_ramp, "group_walk": group_walk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crf", type=int, default=26, help="x264 quality (lower: larger, sharper)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for name, build in CLIPS.items():
        shots, size = build()
        frames, truth = render(shots, size, rng)
        write_video(
            args.out / f"{name}.mp4", frames, fps=FPS, options={"crf": str(args.crf), "preset": "medium"}
        )
        header = {"video": f"{name}.mp4", "generator": "scripts/make_sample_videos.py", "seed": args.seed}
        (args.out / f"{name}.json").write_text(json.dumps(header | truth, separators=(",", ":")) + "\n")
        size_kb = (args.out / f"{name}.mp4").stat().st_size / 1024
        print(f"{name}.mp4: {len(frames)} frames, {size_kb:.0f} KiB")


if __name__ == "__main__":
    main()
