"""Writes best-frame results: aligned and context crops, manifests and contact sheets.

Pixels are not kept during analysis; the chosen frames are decoded again here (decoding costs a
few percent of analysis time) and cropped from the stored landmarks and boxes, so the crops are
exactly those that were scored.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidfiqa.align import align_arcface, context_crop
from vidfiqa.pipeline import VideoAnalysis, VideoSource, revisit
from vidfiqa.select import Selection
from vidfiqa.types import Frame

#: Fixed manifest columns; one ``factor_<name>`` column per quality factor follows them.
MANIFEST_FIELDS = (
    "video",
    "track_id",
    "shot",
    "rank",
    "frame_index",
    "time",
    "box",
    "landmarks",
    "quality",
    "detector_score",
    "interpolated",
    "landmarks_estimated",
    "crop",
    "context",
    "reasons",
)


@dataclass(slots=True)
class Crops:
    """Pixels of one selection: aligned uint8 ``(112, 112, 3)`` and context uint8 ``(224, 224, 3)``."""

    aligned: np.ndarray
    context: np.ndarray


def safe_name(text: str) -> str:
    """A file-name-safe, traversal-free version of ``text`` (letters, digits, ``._-``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "video"
    return name[:80]


class CropJob:
    """Cuts the crops of ``selections`` from frames handed to :meth:`add` (any pass over the
    video: its own, or one shared with embedding); ``crops`` maps ``(track_id, frame_index)``
    to them."""

    def __init__(self, selections: list[Selection]):
        self._wanted: dict[int, list[Selection]] = {}
        for s in selections:
            self._wanted.setdefault(s.observation.frame_index, []).append(s)
        self.crops: dict[tuple[int, int], Crops] = {}

    @property
    def frames(self) -> set[int]:
        return set(self._wanted)

    def add(self, frame: Frame) -> None:
        for s in self._wanted.get(frame.index, []):
            obs = s.observation
            self.crops[(s.track_id, frame.index)] = Crops(
                aligned=align_arcface(frame.image, obs.landmarks[None])[0],
                context=context_crop(frame.image, obs.box),
            )


def extract_crops(source: VideoSource, selections: list[Selection]) -> dict[tuple[int, int], Crops]:
    """Decode ``source`` again and crop every selection: ``(track_id, frame_index)`` -> crops."""
    job = CropJob(selections)
    for frame in revisit(source, job.frames):
        job.add(frame)
    return job.crops


def manifest_rows(
    video: str,
    analysis: VideoAnalysis,
    selections: list[Selection],
    files: dict[tuple[int, int], tuple[str, str]],
) -> list[dict]:
    """One JSON-ready row per selection (see :data:`MANIFEST_FIELDS`)."""
    shots = {t.track_id: t.shot for t in analysis.tracks}
    rows = []
    for s in selections:
        o = s.observation
        crop, context = files.get((s.track_id, o.frame_index), ("", ""))
        row = {
            "video": video,
            "track_id": s.track_id,
            "shot": shots[s.track_id],
            "rank": s.rank,
            "frame_index": o.frame_index,
            "time": round(o.time, 6),
            "box": [round(float(v), 2) for v in o.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in o.landmarks],
            "quality": round(o.quality, 6),
            "detector_score": round(o.detector_score, 6),
            "interpolated": o.interpolated,
            "landmarks_estimated": o.landmarks_estimated,
            "crop": crop,
            "context": context,
            "reasons": s.reasons,
        }
        row.update({f"factor_{k}": round(v, 6) for k, v in o.factors.items()})
        rows.append(row)
    return rows


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def frame_label(frame_index: int, time: float) -> str:
    """``#4  0.16 s``: the frame number and the time apart, so that neither reads into the
    other ("f4 0.16s" looked like "f40.16s" at 1x)."""
    return f"#{frame_index}  {time:.2f} s"


def contact_sheet(
    selections: list[Selection], crops: dict[tuple[int, int], Crops], *, title: str, cell: int = 112
) -> Image.Image:
    """Tracks as rows, best frames left to right, quality and frame under each crop."""
    by_track: dict[int, list[Selection]] = {}
    for s in selections:
        by_track.setdefault(s.track_id, []).append(s)
    cols = max((len(v) for v in by_track.values()), default=1)
    label_w, text_h, pad, head = 90, 30, 6, 28
    width = label_w + cols * (cell + pad) + pad
    height = head + max(1, len(by_track)) * (cell + text_h + pad) + pad
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    small, big = _font(12), _font(14)
    draw.text((pad, 6), title, fill=(0, 0, 0), font=big)
    if not by_track:
        draw.text((pad, head + 10), "no face tracks found", fill=(160, 0, 0), font=big)
    for r, (track_id, picks) in enumerate(sorted(by_track.items())):
        y = head + r * (cell + text_h + pad)
        draw.text((pad, y + cell // 2 - 7), f"track {track_id}", fill=(0, 0, 0), font=big)
        for c, s in enumerate(sorted(picks, key=lambda p: p.rank)):
            x = label_w + pad + c * (cell + pad)
            crop = crops.get((track_id, s.observation.frame_index))
            if crop is not None:
                sheet.paste(Image.fromarray(crop.aligned).resize((cell, cell)), (x, y))
            o = s.observation
            draw.text((x, y + cell + 2), f"q={o.quality:.3f}", fill=(0, 0, 0), font=small)
            draw.text((x, y + cell + 15), frame_label(o.frame_index, o.time), fill=(90, 90, 90), font=small)
    return sheet


def write_best_frames(
    out_dir: Path, video: str, folder: str, analysis: VideoAnalysis, selections: list[Selection]
) -> list[dict]:
    """Crops, context crops and the contact sheet of one video (``video``: its name in the
    manifest) under ``out_dir/folder``.

    Returns:
        The video's manifest rows (paths relative to ``out_dir``).
    """
    crops = extract_crops(analysis.source, selections)
    base = out_dir / folder
    base.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[int, int], tuple[str, str]] = {}
    for s in selections:
        key = (s.track_id, s.observation.frame_index)
        if key not in crops:
            continue
        track_dir = base / f"track_{s.track_id:04d}"
        track_dir.mkdir(exist_ok=True)
        stem = f"rank{s.rank:02d}_frame{s.observation.frame_index:06d}"
        Image.fromarray(crops[key].aligned).save(track_dir / f"{stem}.png")
        Image.fromarray(crops[key].context).save(track_dir / f"{stem}_context.png")
        files[key] = (
            str((track_dir / f"{stem}.png").relative_to(out_dir)),
            str((track_dir / f"{stem}_context.png").relative_to(out_dir)),
        )
    title = f"{Path(video).name}: {len(analysis.tracks)} tracks, {analysis.frames_read} frames"
    contact_sheet(selections, crops, title=title).save(base / "contact_sheet.png")
    return manifest_rows(video, analysis, selections, files)


def write_manifest(out_dir: Path, rows: list[dict]) -> tuple[Path, Path]:
    """``manifest.json`` and ``manifest.csv`` (lists as JSON text in CSV cells)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / "manifest.json", out_dir / "manifest.csv"
    json_path.write_text(json.dumps(rows, indent=1))
    factor_cols = sorted({k for r in rows for k in r if k.startswith("factor_")})
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*MANIFEST_FIELDS, *factor_cols])
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
    return json_path, csv_path
