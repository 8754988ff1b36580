"""Writes best-frame results: aligned and context crops, manifests and contact sheets.

Pixels are not kept during analysis; the chosen frames are decoded again here (decoding costs a
few percent of analysis time) and cropped from the stored landmarks and boxes, so the crops are
exactly those that were scored.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidfiqa.align import align_arcface, context_crop
from vidfiqa.pipeline.analyse import VideoAnalysis, VideoSource, revisit
from vidfiqa.pipeline.select import Selection
from vidfiqa.types import Frame, finite_or_none, plural

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
    """A file-name-safe, traversal-free version of ``text``: letters and digits of any script
    (``Gesichtsprüfung`` stays readable), ``._-``; at most 80 characters and 200 UTF-8 bytes
    (file systems limit names to 255 bytes)."""
    text = unicodedata.normalize("NFC", text)
    name = re.sub(r"[^\w.-]+", "_", text).strip("._")[:80]
    while len(name.encode()) > 200:
        name = name[:-1]
    return name or "video"


def video_folders(videos: list[str]) -> list[str]:
    """An output folder name per video: its file name's stem (:func:`safe_name`), or, when
    different files share that stem, the stem and a short hash of the file's absolute path, so
    that the names do not depend on the order the videos were given in."""
    stems = [safe_name(Path(v).stem) for v in videos]
    paths: dict[str, set[str]] = {}
    for stem, video in zip(stems, videos):
        paths.setdefault(stem, set()).add(str(Path(video).resolve()))
    return [
        f"{stem}_{hashlib.sha256(str(Path(v).resolve()).encode()).hexdigest()[:8]}"
        if len(paths[stem]) > 1
        else stem
        for stem, v in zip(stems, videos)
    ]


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
        # An unmeasured factor (detector5's eyes) is null, an empty CSV cell: not a made-up 1.0.
        row.update({f"factor_{k}": finite_or_none(v, 6) for k, v in o.factors.items()})
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
    counts = f"{plural(len(analysis.tracks), 'track')}, {plural(analysis.frames_read, 'frame')}"
    title = f"{Path(video).name}: {counts}"
    contact_sheet(selections, crops, title=title).save(base / "contact_sheet.png")
    return manifest_rows(video, analysis, selections, files)


#: The video folders a best-frames run wrote, beside its manifest: what the next run into the
#: same folder may clear (the manifest lists only the crops of videos that had picks).
FOLDERS_RECORD = ".vidfiqa-folders.json"
#: Names of the files best-frames writes in a video folder; only these are ever removed.
_TRACK_DIR = re.compile(r"track_\d{4,}")
_OUR_FILE = re.compile(r"contact_sheet\.png|track_\d{4,}/rank\d{2,}_frame\d{6,}(_context)?\.png")


def clear_previous_run(out_dir: Path, folders: list[str], rows: list[dict]) -> list[str]:
    """Remove what an earlier best-frames run into ``out_dir`` wrote and this one (``folders``,
    ``rows``) did not: so a rerun does not leave the earlier run's videos or picks mixed in.

    Only the folders the earlier run recorded (its manifest's crops, and its folder record) are
    looked in, only files with the names best-frames gives are removed, and a folder is removed
    only once empty: a user's own files stay.

    Returns:
        The earlier run's folders that are gone now.
    """
    old_folders: set[str] = set()
    old_files: set[str] = set()
    with contextlib.suppress(OSError, ValueError, TypeError):  # no record, or not ours: none
        old_folders |= set(json.loads((out_dir / FOLDERS_RECORD).read_text()))
    try:
        for row in json.loads((out_dir / "manifest.json").read_text()):
            old_files |= {row[k] for k in ("crop", "context") if isinstance(row.get(k), str) and row[k]}
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    old_folders |= {Path(f).parts[0] for f in old_files if len(Path(f).parts) == 3}
    kept = {row[k] for row in rows for k in ("crop", "context") if row.get(k)}
    removed = []
    for folder in sorted(old_folders):
        base = out_dir / folder
        if safe_name(folder) != folder or base.is_symlink() or not base.is_dir():
            continue  # not a folder best-frames would write
        # Only real files and folders directly under it, never through a link.
        tracks = [
            d for d in base.iterdir() if _TRACK_DIR.fullmatch(d.name) and not d.is_symlink() and d.is_dir()
        ]
        candidates = [base / "contact_sheet.png", *(f for d in tracks for f in d.iterdir())]
        for path in candidates:
            name = path.relative_to(base).as_posix()
            if path.is_symlink() or not path.is_file() or not _OUR_FILE.fullmatch(name):
                continue
            if str(path.relative_to(out_dir)) in kept:
                continue
            if folder not in folders or name != "contact_sheet.png":  # this run's sheet stays
                path.unlink()
        for d in tracks:
            if not any(d.iterdir()):
                d.rmdir()
        if folder not in folders and not any(base.iterdir()):
            base.rmdir()
            removed.append(folder)
    return removed


def write_manifest(out_dir: Path, rows: list[dict], folders: list[str] | None = None) -> tuple[Path, Path]:
    """``manifest.json`` and ``manifest.csv`` (lists as JSON text in CSV cells), and the record of
    the video ``folders`` written (see :data:`FOLDERS_RECORD`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if folders is not None:
        (out_dir / FOLDERS_RECORD).write_text(json.dumps(sorted(set(folders))))
    json_path, csv_path = out_dir / "manifest.json", out_dir / "manifest.csv"
    json_path.write_text(json.dumps(rows, indent=1))
    factor_cols = sorted({k for r in rows for k in r if k.startswith("factor_")})
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*MANIFEST_FIELDS, *factor_cols])
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
    return json_path, csv_path
