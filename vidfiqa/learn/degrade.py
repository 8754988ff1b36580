"""Synthetic face-image degradations at known levels, for training and testing quality models.

Each applied factor has a level in [0, 1] (0: untouched, 1: the most severe this module makes),
scaled to the face's size so that a level means the same for a 40-pixel and a 400-pixel face:

- ``blur``: Gaussian blur, sigma up to 6% of the face box's width (defocus, motion averaged);
- ``lowres``: the face sampled down to 1/8 of its width at most, then back up (distance, zoom);
- ``noise``: sensor noise (Gaussian, sigma up to 40 grey levels) or JPEG compression (quality
  down to 5), one of the two by chance: the CLIB-FIQA "noise/compression" factor;
- ``occlusion``: a rectangle covering up to half the face box (hands, objects, other people);
- ``exposure``: under- or over-exposure, contrast squeezed towards black or white.

They are applied in the order light meets a camera: occluder and exposure in the scene, then
optics (blur), sampling (resolution), sensor noise and compression.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

#: Factors this module applies, in the column order of a levels array.
APPLIED: tuple[str, ...] = ("blur", "lowres", "noise", "occlusion", "exposure")

_MAX_BLUR = 0.06  # sigma as a share of face width
_MAX_DOWNSCALE = 8.0
_MAX_NOISE = 40.0
_MIN_JPEG = 5
_MAX_OCCLUDED = 0.5  # share of the face box
_MAX_EXPOSURE = 0.85  # share of the range lost towards black or white


def sample_levels(
    rng: np.random.Generator, *, max_factors: int = 3, low: float = 0.1, high: float = 1.0
) -> np.ndarray:
    """float32 ``(len(APPLIED),)``: 1 to ``max_factors`` factors at levels uniform in
    ``[low, high]``, the others 0."""
    levels = np.zeros(len(APPLIED), np.float32)
    chosen = rng.choice(len(APPLIED), size=int(rng.integers(1, max_factors + 1)), replace=False)
    levels[chosen] = rng.uniform(low, high, size=len(chosen))
    return levels


def degrade(image: np.ndarray, box: np.ndarray, levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` with the factors of ``levels`` applied around the face ``box``.

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        box: xyxy float ``(4,)``, the face in ``image``'s pixels (sets the scale of blur,
            resolution and the occluder's place).
        levels: float ``(len(APPLIED),)`` in [0, 1].
        rng: chooses the occluder, exposure direction, noise and noise-or-JPEG.

    Returns:
        RGB uint8 ``(H, W, 3)``, a new array.
    """
    blur, lowres, noise, occlusion, exposure = np.clip(np.asarray(levels, np.float64), 0, 1)
    out = image.astype(np.float32)
    x0, y0, x1, y1 = (float(v) for v in box)
    face_w, face_h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    if occlusion > 0:
        out = _occlude(out, (x0, y0, face_w, face_h), occlusion * _MAX_OCCLUDED, rng)
    if exposure > 0:
        keep = 1.0 - exposure * _MAX_EXPOSURE
        out = out * keep if rng.random() < 0.5 else 255.0 - (255.0 - out) * keep
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=max(blur * _MAX_BLUR * face_w, 0.3))
    if lowres > 0:
        h, w = out.shape[:2]
        scale = 1.0 / (1.0 + lowres * (_MAX_DOWNSCALE - 1.0))
        small = cv2.resize(
            out, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.clip(out, 0, 255)
    if noise > 0:
        if rng.random() < 0.5:
            out = np.clip(out + rng.normal(0.0, noise * _MAX_NOISE, out.shape), 0, 255)
        else:
            return _jpeg(np.round(out).astype(np.uint8), round(95 - noise * (95 - _MIN_JPEG)))
    return np.round(out).astype(np.uint8)


def _occlude(
    image: np.ndarray, face: tuple[float, float, float, float], share: float, rng: np.random.Generator
) -> np.ndarray:
    x0, y0, w, h = face
    aspect = rng.uniform(0.5, 2.0)
    ow = min(w, np.sqrt(share * w * h * aspect))
    oh = min(h, share * w * h / max(ow, 1.0))
    ox = x0 + rng.uniform(0, max(w - ow, 0))
    oy = y0 + rng.uniform(0, max(h - oh, 0))
    r0, r1 = max(int(round(oy)), 0), min(int(round(oy + oh)), image.shape[0])
    c0, c1 = max(int(round(ox)), 0), min(int(round(ox + ow)), image.shape[1])
    out = image.copy()
    if r1 > r0 and c1 > c0:
        colour = rng.uniform(0, 255, 3)
        texture = rng.normal(0, 20, (r1 - r0, c1 - c0, 1))
        out[r0:r1, c0:c1] = np.clip(colour + texture, 0, 255)
    return out


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))
