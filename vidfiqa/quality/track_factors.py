"""Track-level quality: what a frame's own pixels cannot say, read against the rest of its track.

Any scorer rates one face image at a time. Three things a person picking best frames sees are
relative to the person and the shot, not absolute, so they are applied here, after tracking, to
the qualities of every scorer alike (single images, which have no track, keep their scorer's
score unchanged):

- ``eyes_open``, a blink gate. The eye aspect ratio (EAR, dlib's 68 points on a chip aligned by
  the five points: :func:`vidfiqa.models.dlib_models.eye_openness_aligned`) is divided by the
  track's own open-eye level, the 90th percentile of its measured EARs (at least
  :data:`EYES_LEVEL_MIN`): people's open eyes differ (0.25-0.34 on the two talking heads of
  shared/data), their blinks read 0.11-0.17. The gate is 1 at a ratio of ``open_ratio`` or more
  (no effect), ``closed_penalty`` at ``closed_ratio`` or less, linear between; unmeasured frames
  count as open.
- ``sharpness_relative``: a sharpness measured on the face at its native resolution in the
  original frame (:func:`native_sharpness`), divided by the track's 95th percentile and capped
  at 1, raised to ``sharpness_power``. A learned scorer sees a 96-112 px crop, so blur on a
  150+ px face is invisible to it; absolute sharpness depends on the face and the camera, so it
  is only compared within the track.
- the track gate (:func:`junk_reason`): a track whose detector confidence never reaches
  ``min_confidence`` or whose quality never reaches ``min_quality`` of the scorer's range is no
  face worth keeping (a blurred background, a poster, a head only ever seen from behind). It is
  kept (what was detected and tracked stays measurable) but flagged, ``factors["track_gate"]``
  0 on every row (1 on the others), which is stored with it: a flagged track gives no best
  frames and no template, so it never becomes searchable.

The multipliers act on the quality measured from the bottom of the scorer's range, ``low + (q -
low) * m``, so a gate lowers a score on any scale (``stability``'s runs from -1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidfiqa.types import Track

#: Percentile of a track's measured EARs taken as its own open-eye level.
LEVEL_PERCENTILE = 90.0
#: Percentile of a track's native sharpness taken as its own "sharp": near the top, so that the
#: few sharpest frames of a short track still rank among themselves, but not its maximum, which
#: one odd frame (a compression burst) could set.
SHARP_PERCENTILE = 95.0
#: Least open-eye level: a track whose eyes never read above this (closed all along, or a
#: landmarker that never finds the lids) is not taken as open at its own closed level.
EYES_LEVEL_MIN = 0.2
#: The central face region for :func:`native_sharpness`, in inter-ocular distances (IOD) around
#: the five points: brows to below the mouth, cheek to cheek.
SHARP_SIDE, SHARP_ABOVE, SHARP_BELOW = 0.35, 0.45, 0.25
#: Faces with a larger IOD are measured shrunk to it: bounds the cost on very large faces and
#: keeps a blur of a few pixels visible (a 720p talking head has an IOD of ~100 px).
SHARP_MAX_IOD = 128.0


@dataclass(frozen=True, slots=True)
class TrackFactorSettings:
    """The track-level settings (``quality.*`` in the config; see :class:`vidfiqa.config.QualityConfig`)."""

    eyes_closed_ratio: float = 0.6
    eyes_open_ratio: float = 0.75
    eyes_closed_penalty: float = 0.05
    sharpness_power: float = 2.0


def eyes_gate(
    ear: np.ndarray, *, closed_ratio: float = 0.6, open_ratio: float = 0.75, penalty: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """The blink gate of one track.

    Args:
        ear: float ``(n,)`` eye aspect ratios of the track's observations, NaN where unmeasured.

    Returns:
        ``(ratio, gate)``, float32 ``(n,)`` each: EAR over the track's open-eye level (NaN where
        unmeasured) and the multiplier (1 open .. ``penalty`` closed; 1 where unmeasured).
    """
    ear = np.asarray(ear, np.float64)
    seen = ear[np.isfinite(ear)]
    if not len(seen):
        return np.full(len(ear), np.nan, np.float32), np.ones(len(ear), np.float32)
    level = max(float(np.percentile(seen, LEVEL_PERCENTILE)), EYES_LEVEL_MIN)
    ratio = ear / level
    ramp = np.clip((ratio - closed_ratio) / max(open_ratio - closed_ratio, 1e-6), 0, 1)
    gate = np.where(np.isfinite(ratio), penalty + (1 - penalty) * ramp, 1.0)
    return ratio.astype(np.float32), gate.astype(np.float32)


def relative_sharpness(raw: np.ndarray) -> np.ndarray:
    """float32 ``(n,)``: ``raw`` native sharpness over the track's 95th percentile, capped at 1
    (1 where unmeasured or the track has no detail at all)."""
    raw = np.asarray(raw, np.float64)
    seen = raw[np.isfinite(raw)]
    if not len(seen) or np.percentile(seen, SHARP_PERCENTILE) <= 0:
        return np.ones(len(raw), np.float32)
    rel = np.clip(raw / np.percentile(seen, SHARP_PERCENTILE), 0, 1)
    return np.nan_to_num(rel, nan=1.0).astype(np.float32)


def native_sharpness(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Sharpness of each face at its native resolution, float32 ``(n,)``: the mean squared Sobel
    gradient (Tenengrad) over the grey-level variance of the central face region of the original
    frame (dividing by the variance makes it blind to contrast and exposure). On a 720p still
    face blurred with a Gaussian of sigma 0.6, 1.2 and 2.5 px it falls to 0.94, 0.67 and 0.36 of
    the unblurred frame's, where the 112 px crop a scorer sees barely changes.

    Args:
        image: RGB uint8 ``(H, W, 3)`` frame.
        landmarks: float ``(n, 5, 2)`` ArcFace-order points in its pixels.
    """
    points = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    out = np.full(len(points), np.nan, np.float32)
    if not len(points):
        return out
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    for i, p in enumerate(points):
        iod = float(np.linalg.norm(p[1] - p[0]))
        if not np.isfinite(iod) or iod < 4:
            continue
        x0 = max(0, int(p[:, 0].min() - SHARP_SIDE * iod))
        x1 = min(w, int(np.ceil(p[:, 0].max() + SHARP_SIDE * iod)))
        y0 = max(0, int(p[:2, 1].min() - SHARP_ABOVE * iod))
        y1 = min(h, int(np.ceil(p[3:, 1].max() + SHARP_BELOW * iod)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        region = grey[y0:y1, x0:x1].astype(np.float32)
        if iod > SHARP_MAX_IOD:
            k = SHARP_MAX_IOD / iod
            region = cv2.resize(region, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        gx = cv2.Sobel(region, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(region, cv2.CV_32F, 0, 1)
        out[i] = float((gx**2 + gy**2).mean()) / max(float(region.var()), 1e-6)
    return out


def apply_track_factors(track: Track, settings: TrackFactorSettings, *, low: float = 0.0) -> None:
    """Apply the blink gate and relative sharpness to ``track``'s qualities, in place.

    Reads ``track.factors["eye_aspect"]`` and ``["sharpness_native"]`` (raw per-frame values
    the pipeline measured; either may be absent, or NaN where not measured) and adds
    ``frame_quality`` (the scorer's own score), ``eye_ratio``, ``eyes_open`` (the gate, replacing
    the scorer's per-image one) and ``sharpness_relative`` (the multiplier). No factor is left
    NaN: unmeasured frames read as the track's own level.

    Args:
        low: the bottom of the scorer's range, from which the multipliers shrink a score.
    """
    n = len(track)
    factors = track.factors
    q = track.qualities.astype(np.float64)
    factors["frame_quality"] = track.qualities.astype(np.float32).copy()
    mult = np.ones(n)
    # Stored factors are JSON (PostgreSQL's refuses NaN): a measure taken nowhere is dropped, and
    # where it is missing on some frames it reads as the track's own level (ratio 1).
    for name in ("eye_aspect", "sharpness_native"):
        if name in factors and not np.isfinite(factors[name]).any():
            del factors[name]
    if "eye_aspect" in factors:
        ear = factors["eye_aspect"]
        ratio, gate = eyes_gate(
            ear,
            closed_ratio=settings.eyes_closed_ratio,
            open_ratio=settings.eyes_open_ratio,
            penalty=settings.eyes_closed_penalty,
        )
        level = np.nanmedian(np.where(np.isfinite(ratio) & (ratio > 0), ear / ratio, np.nan))
        factors["eye_aspect"] = np.where(np.isfinite(ear), ear, level).astype(np.float32)
        factors["eye_ratio"] = np.nan_to_num(ratio, nan=1.0)
        factors["eyes_open"] = gate
        mult *= gate
    if "sharpness_native" in factors:
        raw = factors["sharpness_native"]
        sharp = relative_sharpness(raw) ** settings.sharpness_power
        reference = np.percentile(raw[np.isfinite(raw)], SHARP_PERCENTILE)
        factors["sharpness_native"] = np.where(np.isfinite(raw), raw, reference).astype(np.float32)
        factors["sharpness_relative"] = sharp.astype(np.float32)
        mult *= sharp
    track.qualities = (low + (q - low) * mult).astype(np.float32)


def flagged(track: Track) -> bool:
    """Whether ``track`` was flagged as no face by the track gate (see the module docs)."""
    gate = track.factors.get("track_gate")
    return gate is not None and len(gate) > 0 and not gate[0]


def junk_reason(
    track: Track, *, min_confidence: float, min_quality: float, score_range: tuple[float, float]
) -> str | None:
    """Why ``track`` is no face worth keeping, or ``None`` to keep it.

    Args:
        min_confidence: the least best detector confidence in [0, 1] a face track reaches
            somewhere (``factors["detector_confidence"]``, which the pipeline records; the raw
            detector scores when absent).
        min_quality: the least best quality, as a fraction of the scorer's ``score_range``;
            0 turns this test off (a scorer outside its documented range, random weights).
    """
    conf = track.factors.get("detector_confidence")
    if conf is None:
        conf = track.detector_scores
    best_conf = float(np.nanmax(conf)) if len(conf) else float("nan")
    if best_conf < min_confidence:
        return f"detector confidence never above {best_conf:.2f} (< {min_confidence:g})"
    lo, hi = score_range
    q = track.qualities.astype(np.float64)
    best = float(np.nanmax(q)) if np.isfinite(q).any() else lo
    if min_quality > 0 and hi > lo and (best - lo) / (hi - lo) < min_quality:
        return f"quality never above {best:.3f} (< {min_quality:g} of the scorer's range)"
    return None
