"""Best-frame selection: the top-k observations of a track, spread in time, with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Only components are ranked in reasons; other factors (yaw, raw values) are diagnostics.
from vidfiqa.aggregate import eligible
from vidfiqa.quality.factors import COMPONENTS, MULTIPLIERS
from vidfiqa.quality.track_factors import flagged
from vidfiqa.types import FaceObservation, Track, finite_or_none

#: Learned factor levels (0 none .. 1 severe) below this are not worth a reason.
LEVEL_SHOWN = 0.15


@dataclass(slots=True)
class Selection:
    """One chosen observation.

    Attributes:
        track_id: the track.
        rank: 1 for the best.
        position: the chosen observation's row in the track.
        observation: that row.
        reasons: short human-readable statements of why it was chosen and what limits it.
    """

    track_id: int
    rank: int
    position: int
    observation: FaceObservation
    reasons: list[str] = field(default_factory=list)


def _reasons(obs: FaceObservation, place: int, n: int, median: float, relaxed: bool) -> list[str]:
    # A component not measured (detector5's eyes: NaN, or null once stored) is no reason.
    comps = {k: obs.factors[k] for k in COMPONENTS if finite_or_none(obs.factors.get(k)) is not None}
    out = [f"quality {obs.quality:.3f} (track median {median:.3f}), #{place} of {n} frames"]
    if len(comps) > len(MULTIPLIERS):
        ordered = sorted(comps.items(), key=lambda kv: kv[1], reverse=True)
        out.append("strongest: " + ", ".join(f"{k} {v:.2f}" for k, v in ordered[:2]))
        out.append("weakest: " + ", ".join(f"{k} {v:.2f}" for k, v in ordered[-2:][::-1]))
    elif any(v < 1 for v in comps.values()):
        # Only the multipliers (a learned scorer): strongest and weakest would name the same two.
        out.append("limited by: " + ", ".join(f"{k} {v:.2f}" for k, v in comps.items() if v < 1))
    levels = {k.removesuffix("_level"): v for k, v in obs.factors.items() if k.endswith("_level")}
    if levels:
        worst = sorted(((v, k) for k, v in levels.items() if v >= LEVEL_SHOWN), reverse=True)[:2]
        out.append(
            "learned degradation: " + ", ".join(f"{k} {v:.2f}" for v, k in worst)
            if worst
            else f"learned degradation: none above {LEVEL_SHOWN}"
        )
    relative = []
    if np.isfinite(obs.factors.get("eye_ratio", np.nan)):
        relative.append(f"eyes {obs.factors['eye_ratio']:.2f} of the track's open level")
    if "sharpness_relative" in obs.factors:
        relative.append(f"sharpness {obs.factors['sharpness_relative']:.2f} of its sharpest")
    if relative:
        out.append("against its track: " + ", ".join(relative))
    if "yaw" in obs.factors:
        out.append(
            f"head pose yaw {obs.factors['yaw']:+.0f} deg, pitch {obs.factors.get('pitch', 0):+.0f} deg"
        )
    if obs.interpolated:
        out.append("box interpolated between detections")
    if obs.landmarks_estimated:
        out.append("mouth landmarks estimated")
    if relaxed:
        out.append("closer than min_gap to another pick: the track has too few spread-out frames")
    return out


def select_best(
    track: Track, k: int, *, min_gap: int = 0, floor: float = 0.0, low: float = 0.0
) -> list[Selection]:
    """The ``k`` highest-quality observations of ``track``, at least ``min_gap`` frames apart,
    none below ``floor`` of the track's best quality.

    Observations are ranked by quality, ties broken by earlier frame. Picks are greedy: the
    best remaining observation that is at least ``min_gap`` frames from every pick so far. If
    that leaves fewer than ``k``, the best of the rest fill up, and their reasons say so. Only
    observations whose quality is at least ``floor`` times the track's best (both counted from
    ``low``, the bottom of the scorer's range) are picked, so a track gives fewer than ``k``
    picks rather than one far below its best (a face leaving the frame, a blink). NaN
    qualities rank last, and with a ``floor`` are never picked. A track the track gate flagged as
    no face (:func:`vidfiqa.quality.track_factors.flagged`) gives none.

    Returns:
        Up to ``k`` selections in rank order.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not len(track) or flagged(track):  # no face (the track gate): nothing worth showing
        return []
    frames = track.frames
    q = track.qualities.astype(np.float64)
    ok = eligible(q, floor, low) if floor > 0 else np.ones(len(q), bool)
    q = np.where(np.isnan(q), -np.inf, q)
    order = np.lexsort((frames, -q))
    order = order[ok[order]]
    picked: list[int] = []
    for i in order:
        if len(picked) == k:
            break
        if all(abs(frames[i] - frames[j]) >= min_gap for j in picked):
            picked.append(int(i))
    spread = len(picked)
    for i in order:
        if len(picked) == k:
            break
        if i not in picked:
            picked.append(int(i))
    place = {int(i): p + 1 for p, i in enumerate(np.lexsort((frames, -q)))}
    median = float(np.nanmedian(track.qualities))
    out = []
    for r, i in enumerate(picked):
        obs = track.observation(i)
        reasons = _reasons(obs, place[i], len(track), median, relaxed=r >= spread)
        out.append(Selection(track.track_id, r + 1, i, obs, reasons))
    return out
