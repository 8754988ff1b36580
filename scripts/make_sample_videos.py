"""Build the synthetic clips of ``sample_videos/`` with exact ground truth.

The faces come from images that ship inside installed packages, so anyone can rebuild the clips
offline and the clips may be redistributed like those packages: ``skimage.data.astronaut()``
(NASA portrait of Eileen Collins, public domain) and insightface's bundled
``data/images/t1.jpg`` (a group of six) and ``data/images/Tom_Hanks_54745.png`` (a 112x112
aligned face). Each frame is rendered by warping stills through a known affine "camera" transform
(``cv2.warpAffine``, bilinear), so the ground-truth box of every face is the still's face box
mapped through that transform. The face boxes in the stills are dlib HOG detections on the stills
(upsample 1), written down below.

Clips:

- ``blur_ramp.mp4`` (480x360, 75 frames): the astronaut (face ~135-150 px wide) under a slow pan
  and zoom, with a Gaussian blur whose sigma rises linearly from 0 to 4. Nothing else degrades:
  the quality score must fall in the order of the blur.
- ``group_walk.mp4`` (960x540, 150 frames, 2 shots): the group of six under a pan and a zoom
  from 0.92 to 1.2, with noise (std up to 12, frames 20-45), a lighting dip (gain down to 0.45,
  frames 50-80) and a grey occluder sliding over up to 60% of ``t1_c``'s face (frames 60-85);
  a hard cut at frame 100 to a second scene, the astronaut and Tom Hanks (faces ~144 px) side by
  side on a gradient, moving apart. Tests detection, tracking across a cut and the quality factors.
- ``single_face_motion.mp4`` (320x240, 60 frames): the astronaut moving in a circle while the
  scale swings between 0.8 and 1.3 of its mean (faces ~100-165 px), no degradation. Tests
  tracking and box accuracy under motion and scale change.

Ground truth per clip (``<clip>.json``): size, fps, identities, shots (inclusive frame ranges) and,
per frame, the applied degradation and every visible face's identity, xyxy box (clipped to the
frame; a face whose box centre is outside the frame is left out) and the fraction of the box the
occluder covers.

    python scripts/make_sample_videos.py [--out sample_videos] [--seed 0]

The frames and the ground truth depend only on ``--seed``; on one machine the encoded bytes are
the same on every run too (see ``X264``).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import insightface
import numpy as np
import skimage.data

from vidfiqa.video import write_video

FPS = 25
IMAGES = Path(os.path.dirname(insightface.__file__)) / "data" / "images"
#: x264 options besides ``crf``. Macroblock-tree rate control is off: with it, the bytes (and the
#: decoded pixels) of PyAV 18's libx264 varied from run to run on identical frames on an AVX-512
#: CPU, even single-threaded. It costs ~20% in size here.
X264 = {"preset": "medium", "x264-params": "mbtree=0"}

Box = tuple[float, float, float, float]

#: dlib HOG (upsample 1) face boxes on the stills, xyxy, named by x order.
T1_FACES: dict[str, Box] = {
    "t1_a": (67, 283, 175, 390),
    "t1_b": (275, 176, 364, 265),
    "t1_c": (450, 295, 557, 402),
    "t1_d": (724, 367, 832, 474),
    "t1_e": (870, 67, 999, 196),
    "t1_f": (1118, 283, 1226, 390),
}
ASTRONAUT_FACE: Box = (175, 76, 265, 166)  # the other HOG box on the still is a false positive
TOM_HANKS_FACE: Box = (6, 26, 96, 116)

T1 = "insightface/data/images/t1.jpg"
ASTRONAUT = "skimage.data.astronaut()"
TOM_HANKS = "insightface/data/images/Tom_Hanks_54745.png"


@dataclass
class Layer:
    """A still placed into the frame by a per-frame 2x3 affine transform."""

    image: np.ndarray
    faces: dict[str, Box]
    transform: Callable[[float], np.ndarray]  # t in [0, 1] over the shot -> 2x3 matrix, still -> frame


@dataclass
class Shot:
    """Layers over a background, with per-frame degradations and an optional occluder (frame xyxy)."""

    frames: int
    layers: list[Layer]
    background: np.ndarray
    degrade: Callable[[int], dict[str, float]] = lambda i: {}
    occluder: Callable[[int], Box | None] = lambda i: None
    identities: dict[str, str] = field(default_factory=dict)


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8."""
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def similarity(scale: float, centre: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
    """Scale about ``centre`` of the still and move it to ``target`` in the frame."""
    (cx, cy), (tx, ty) = centre, target
    return np.array([[scale, 0, tx - scale * cx], [0, scale, ty - scale * cy]])


def map_box(m: np.ndarray, box: Box) -> np.ndarray:
    """The axis-aligned bounds of ``box`` mapped through the 2x3 affine ``m``."""
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64)
    p = corners @ m[:, :2].T + m[:, 2]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


def covered(box: np.ndarray, occ: Box | None) -> float:
    """Fraction of ``box``'s area inside the occluder ``occ``."""
    if occ is None:
        return 0.0
    w = max(0.0, min(box[2], occ[2]) - max(box[0], occ[0]))
    h = max(0.0, min(box[3], occ[3]) - max(box[1], occ[1]))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return float(w * h / area) if area > 0 else 0.0


def ramp(i: int, start: int, end: int) -> float:
    """0 before ``start``, 1 after ``end``, linear between."""
    return float(np.clip((i - start) / max(end - start, 1), 0, 1))


def crop(image: np.ndarray, faces: dict[str, Box], region: Box) -> tuple[np.ndarray, dict[str, Box]]:
    """Cut ``region`` (xyxy, integers) out of a still, with its face boxes moved along."""
    x1, y1, x2, y2 = (int(v) for v in region)
    moved = {name: (b[0] - x1, b[1] - y1, b[2] - x1, b[3] - y1) for name, b in faces.items()}
    return image[y1:y2, x1:x2], moved


def gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A vertical colour gradient background, float RGB."""
    a = np.linspace(0, 1, h)[:, None, None]
    return ((1 - a) * np.array(top) + a * np.array(bottom)) * np.ones((h, w, 3))


def render(
    shots: list[Shot], size: tuple[int, int], rng: np.random.Generator
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Render the shots back to back into RGB frames and their ground truth (less the header).

    Per frame: composite the warped layers, paint the occluder mid-grey, then apply the gain, the
    Gaussian blur and the additive Gaussian noise, in that order.
    """
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


def blur_ramp() -> tuple[list[Shot], tuple[int, int]]:
    """The astronaut under a slow pan and zoom, Gaussian blur sigma 0 -> 4 linearly."""
    w, h, n = 480, 360, 75
    centre = ((ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 2, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 2 + 20)

    def camera(t: float) -> np.ndarray:
        return similarity(1.5 + 0.15 * t, centre, (w / 2 - 20 + 40 * t, h / 2 - 10 + 10 * t))

    shot = Shot(
        frames=n,
        layers=[Layer(skimage.data.astronaut(), {"astronaut": ASTRONAUT_FACE}, camera)],
        background=np.zeros((h, w, 3)),
        degrade=lambda i: {"blur_sigma": 4.0 * i / (n - 1)},
        identities={"astronaut": ASTRONAUT},
    )
    return [shot], (w, h)


def group_walk() -> tuple[list[Shot], tuple[int, int]]:
    """The group of six with noise, a lighting dip and an occluder; a cut to two faces on a gradient."""
    w, h = 960, 540

    def pan(t: float) -> np.ndarray:
        # From the left half of the group to the right half while zooming in from 0.92 to 1.2.
        return similarity(0.92 + 0.28 * t, (520 + 240 * t, 300), (w / 2, h / 2))

    def occluder(i: int) -> Box | None:
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
        layers=[Layer(read_rgb(IMAGES / "t1.jpg"), T1_FACES, pan)],
        background=np.zeros((h, w, 3)),
        degrade=degrade,
        occluder=occluder,
        identities=dict.fromkeys(T1_FACES, T1),
    )
    # Head and shoulders of the astronaut; her face centre is at (110, 111) in the crop.
    head, head_faces = crop(skimage.data.astronaut(), {"astronaut": ASTRONAUT_FACE}, (110, 10, 330, 280))
    second = Shot(
        frames=50,
        layers=[
            Layer(head, head_faces, lambda t: similarity(1.6, (110, 111), (300 - 60 * t, 260))),
            Layer(
                read_rgb(IMAGES / "Tom_Hanks_54745.png"),
                {"tom_hanks": TOM_HANKS_FACE},
                lambda t: similarity(1.6, (51, 71), (660 + 60 * t, 260 + 20 * t)),
            ),
        ],
        background=gradient(w, h, (40, 90, 60), (200, 210, 170)),
        identities={"astronaut": ASTRONAUT, "tom_hanks": TOM_HANKS},
    )
    return [first, second], (w, h)


def single_face_motion() -> tuple[list[Shot], tuple[int, int]]:
    """The astronaut circling the frame centre while zooming between 0.8 and 1.3 of scale 1.4."""
    w, h = 320, 240
    centre = ((ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 2, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 2)

    def camera(t: float) -> np.ndarray:
        angle = 2 * np.pi * t
        scale = 1.4 * (1.05 - 0.25 * np.cos(angle))
        return similarity(scale, centre, (w / 2 + 30 * np.cos(angle), h / 2 + 20 * np.sin(angle)))

    shot = Shot(
        frames=60,
        layers=[Layer(skimage.data.astronaut(), {"astronaut": ASTRONAUT_FACE}, camera)],
        background=np.zeros((h, w, 3)),
        identities={"astronaut": ASTRONAUT},
    )
    return [shot], (w, h)


CLIPS = {"blur_ramp": blur_ramp, "group_walk": group_walk, "single_face_motion": single_face_motion}


def main() -> None:
    """Render, encode and describe every clip of ``CLIPS``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crf", type=int, default=26, help="x264 quality (lower: larger, sharper)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    total = 0
    for name, build in CLIPS.items():
        shots, size = build()
        frames, truth = render(shots, size, rng)
        video = write_video(args.out / f"{name}.mp4", frames, fps=FPS, options={"crf": str(args.crf), **X264})
        header = {"video": video.name, "generator": "scripts/make_sample_videos.py", "seed": args.seed}
        (args.out / f"{name}.json").write_text(json.dumps(header | truth, separators=(",", ":")) + "\n")
        total += video.stat().st_size
        print(f"{video.name}: {len(frames)} frames, {video.stat().st_size / 1024:.0f} KiB")
    print(f"all clips: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
