"""One self-contained HTML page per video: its tracks, a quality timeline per track with the
chosen best frames marked, each quality factor over the track's frames, a full frame with the
track's box drawn (where it is), the contact sheet, each best frame's factor breakdown and
reasons, and which frames built each template with what weight; and for a run, an index page
(:func:`run_index`) summarising the run and linking each video's page.

A page is made either from a video file analysed now (:func:`video_report`) or from what a
``vidfiqa process`` run stored (:func:`stored_video_report`): the observations, qualities and
templates come from the database, only the best frames' pixels from the file, if it is still
there unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw
from pydantic import ValidationError

from vidfiqa.aggregate import Strategy
from vidfiqa.build import Stages, build_embedder, build_stages
from vidfiqa.config import Config
from vidfiqa.html import esc, figure_uri, img, page, png_uri, table
from vidfiqa.models.base import Embedder
from vidfiqa.models.files import sha256_of
from vidfiqa.pipeline.analyse import VideoSource, analyse_video, revisit
from vidfiqa.pipeline.export import CropJob, Crops, _font, contact_sheet, safe_name
from vidfiqa.pipeline.select import Selection, select_best
from vidfiqa.pipeline.templates import TemplateJob
from vidfiqa.runs.notes import damage_notes, sizes_note
from vidfiqa.runs.rows import track_from_row
from vidfiqa.store.db import Store, StoreError, Video
from vidfiqa.types import Frame, Track, finite_or_none
from vidfiqa.video import VideoError

_WEIGHTS_SHOWN = 12  # frames listed per template; the rest are summed in one line
#: Widest a track's "where" frame is drawn: a full-size frame per track would make pages huge.
WHERE_WIDTH = 480


@dataclass(frozen=True, slots=True)
class TemplateUse:
    """Which frames built one template, and with what weight.

    Attributes:
        strategy: the strategy's label (``best``, ``softmax:0.05``...).
        frames: frame indices of the contributing observations.
        weights: their weights, in the same order (they sum to 1).
        template_id: the stored template's id, if it is stored.
    """

    strategy: str
    frames: list[int]
    weights: list[float]
    template_id: int | None = None


@dataclass(slots=True)
class TrackSection:
    """What the page shows of one track: its observations, picks and templates.

    ``ref`` names the track in the store (``track:17``) when it is stored.
    """

    track: Track
    picks: list[Selection]
    templates: list[TemplateUse]
    ref: str = ""


def _detector_line(config: Config) -> str:
    d = config.detector
    if d.full_seconds is not None:
        whole = f", the whole frame every {d.full_seconds:g} s"
    elif d.full_every == 1:
        whole = ""
    else:
        whole = f", the whole frame every {d.full_every} key frames"
    return f"{d.name}, every {d.every} frames{whole}"


def _timeline(track: Track, picks: list[Selection]) -> str:
    fig = Figure(figsize=(8, 1.9))
    ax = fig.subplots()
    ax.plot(track.frames, track.qualities, lw=1.2, color="#3465a4")
    for s in picks:
        ax.plot(s.observation.frame_index, s.observation.quality, "o", color="#cc0000", ms=6)
        point = (s.observation.frame_index, s.observation.quality)
        ax.annotate(str(s.rank), point, textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set(xlabel="frame", ylabel="quality")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return figure_uri(fig)


def _factor_series(track: Track) -> str | None:
    """Each quality factor over the track's frames, one line per factor (``None`` without any)."""
    if not track.factors:
        return None
    fig = Figure(figsize=(8, 2.2))
    ax = fig.subplots()
    for name in sorted(track.factors):
        ax.plot(track.frames, track.factors[name], lw=1.0, label=name)
    ax.set(xlabel="frame", ylabel="factor")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return figure_uri(fig)


def where_frame(section: TrackSection) -> int:
    """The frame a track is shown whole in: its first-ranked pick's, else its middle one."""
    if section.picks:
        return min(section.picks, key=lambda s: s.rank).observation.frame_index
    return int(section.track.frames[len(section.track) // 2])


class WhereJob:
    """Draws, for each track, the full frame of :func:`where_frame` with that track's box (red)
    and the boxes of the other tracks seen in it (grey), each labelled, scaled to at most
    :data:`WHERE_WIDTH` pixels wide. ``images`` maps track id -> RGB uint8 ``(H, W, 3)``; only
    these small images are kept, never the frames."""

    def __init__(self, sections: list[TrackSection]):
        self._sections = sections
        self._wanted: dict[int, list[int]] = {}
        for section in sections:
            self._wanted.setdefault(where_frame(section), []).append(section.track.track_id)
        self.images: dict[int, np.ndarray] = {}

    @property
    def frames(self) -> set[int]:
        return set(self._wanted)

    def add(self, frame: Frame) -> None:
        for track_id in self._wanted.get(frame.index, []):
            self.images[track_id] = self._draw(frame, track_id)

    def _draw(self, frame: Frame, track_id: int) -> np.ndarray:
        image = Image.fromarray(frame.image)
        scale = min(1.0, WHERE_WIDTH / image.width)
        if scale < 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
        draw = ImageDraw.Draw(image)
        font = _font(12)
        shown = [s.track for s in self._sections if frame.index in s.track.frames]
        for track in sorted(shown, key=lambda t: t.track_id == track_id):  # this track on top
            i = int(np.searchsorted(track.frames, frame.index))
            box = [float(v) * scale for v in track.boxes[i]]
            color = (220, 0, 0) if track.track_id == track_id else (170, 170, 170)
            draw.rectangle(box, outline=color, width=3 if track.track_id == track_id else 1)
            draw.text((box[0] + 2, max(0.0, box[1] - 14)), f"track {track.track_id}", fill=color, font=font)
        return np.asarray(image)


def _best_frames_table(picks: list[Selection], crops: dict[tuple[int, int], Crops]) -> str:
    rows = []
    for s in picks:
        o = s.observation
        crop = crops.get((s.track_id, o.frame_index))
        factors = "<br>".join(
            f"{esc(k)} {'not measured' if finite_or_none(v) is None else f'{v:.3f}'}"
            for k, v in sorted(o.factors.items())
        )
        rows.append(
            [
                str(s.rank),
                img(png_uri(crop.aligned), f"track {s.track_id} frame {o.frame_index}") if crop else "",
                f"{o.frame_index}<br>{o.time:.2f} s",
                f"{o.quality:.3f}",
                factors,
                "<br>".join(esc(r) for r in s.reasons),
            ]
        )
    return table(["rank", "face", "frame", "quality", "factors", "why"], rows, numeric={0, 3})


def _templates_table(templates: list[TemplateUse]) -> str:
    if not templates:
        return "<p class=meta>No template (nothing embedded).</p>"
    stored = any(t.template_id is not None for t in templates)
    rows = []
    for t in templates:
        order = sorted(zip(t.frames, t.weights), key=lambda fw: -fw[1])
        shown = ", ".join(f"{f} ({w:.3f})" for f, w in order[:_WEIGHTS_SHOWN])
        rest = order[_WEIGHTS_SHOWN:]
        if rest:
            shown += f", and {len(rest)} more frames ({sum(w for _, w in rest):.3f} in all)"
        row = [esc(t.strategy), str(len(order)), esc(shown)]
        rows.append([f"template:{t.template_id}", *row] if stored else row)
    headers = ["strategy", "frames", "frame (weight), by weight"]
    return table(["stored as", *headers] if stored else headers, rows, numeric={2 if stored else 1})


def render(
    title: str,
    summary: dict[str, str],
    sections: list[TrackSection],
    crops: dict[tuple[int, int], Crops],
    *,
    notes: list[str] | None = None,
    where: dict[int, np.ndarray] | None = None,
) -> str:
    """The page of one video.

    Args:
        title: the page's heading (the video's file name).
        summary: column -> value of the one-row table at the top (plain text, escaped here).
        sections: one per track, in track order.
        crops: ``(track_id, frame_index)`` -> pixels of the picks; picks without crops are shown
            without a face, and no contact sheet is drawn when there are none.
        notes: lines shown under the summary (why something is missing).
        where: track id -> the full frame with its box drawn (see :class:`WhereJob`); tracks
            without one (the video file is gone) are shown without it.
    """
    parts = [table(list(summary), [[esc(v) for v in summary.values()]])]
    parts += [f"<p class=meta>{esc(n)}</p>" for n in notes or []]
    picks = [s for section in sections for s in section.picks]
    if not sections:
        parts.append("<p class=meta>No face track in this video.</p>")
    elif crops:
        sheet = contact_sheet(picks, crops, title=title)
        parts.append("<h2>Contact sheet</h2>" + img(png_uri(sheet), "contact sheet"))
    for section in sections:
        track = section.track
        first, last = track.frames[0], track.frames[-1]
        ref = f"{esc(section.ref)}, " if section.ref else ""
        parts.append(
            f"<h2>Track {track.track_id}</h2><p class=meta>{ref}shot {track.shot}, frames "
            f"{first}-{last}, {len(track)} faces, quality "
            f"{track.qualities.min():.3f}-{track.qualities.max():.3f}</p>"
            + img(_timeline(track, section.picks), f"quality timeline of track {track.track_id}")
            + _factors_and_where(section, (where or {}).get(track.track_id))
            + "<h3>Best frames</h3>"
            + _best_frames_table(section.picks, crops)
            + "<h3>Templates</h3>"
            + _templates_table(section.templates)
        )
    return page(f"vidfiqa report: {title}", "".join(parts))


def _factors_and_where(section: TrackSection, where: np.ndarray | None) -> str:
    track = section.track
    html = ""
    series = _factor_series(track)
    if series:
        html += "<h3>Quality factors</h3>" + img(series, f"quality factors of track {track.track_id}")
    if where is not None:
        frame = where_frame(section)
        html += (
            f"<h3>Where</h3><p class=meta>frame {frame}: track {track.track_id} in red, other tracks "
            "in that frame in grey</p>" + img(png_uri(where), f"frame {frame} with track {track.track_id}")
        )
    return html


def decoding_summary(packets: int, frames: int, sizes: list) -> str:
    """The damage a read skipped and the resolution changes it met, or ``clean``."""
    return "; ".join(damage_notes(packets, frames) + sizes_note(sizes)) or "clean"


def video_report(
    video: str, config: Config, stages: Stages, embedder: Embedder, strategies: list[Strategy]
) -> str:
    """Analyse ``video`` now and return its report page. The video is decoded twice: once to
    analyse it, once for the pixels of both the templates' and the best frames' faces.

    Raises:
        VideoError: the video cannot be read.
    """
    analysis = analyse_video(video, config, stages)
    sections = [
        TrackSection(
            track,
            select_best(
                track,
                config.select.top_k,
                min_gap=config.select.min_gap,
                floor=config.select.relative_floor,
                low=analysis.score_range[0],
            ),
            [],
        )
        for track in analysis.tracks
    ]
    templates = TemplateJob(
        analysis,
        embedder,
        strategies,
        embed=config.templates.embed,
        min_gap=config.select.min_gap,
        floor=config.select.relative_floor,
    )
    crops = CropJob([s for section in sections for s in section.picks])
    where = WhereJob(sections)
    for frame in revisit(analysis.source, templates.frames | crops.frames | where.frames):
        templates.add(frame)
        crops.add(frame)
        where.add(frame)
    for section, result in zip(sections, templates.finish()):
        section.templates = [
            TemplateUse(label, section.track.frames[agg.frames].tolist(), agg.weights.astype(float).tolist())
            for label, agg in result.templates.items()
        ]
    info = analysis.info
    summary = {
        "video": video,
        "size": f"{info.width}x{info.height}",
        "fps": f"{info.fps:.2f}",
        "frames read": str(analysis.frames_read),
        "decoding": decoding_summary(analysis.decode_errors, analysis.damaged_frames, analysis.sizes),
        "shots": str(len(analysis.shot_starts)),
        "tracks": str(len(analysis.tracks)),
        "quality scorer": config.quality.scorer,
        "detector": _detector_line(config),
    }
    return render(Path(video).name, summary, sections, crops.crops, where=where.images)


def _stored_pixels(
    video: Video, config: Config, sections: list[TrackSection]
) -> tuple[dict[tuple[int, int], Crops], dict[int, np.ndarray], str]:
    """The picks' crops and the tracks' "where" frames from the video file (one pass), or none
    and the reason."""
    picks = [s for section in sections for s in section.picks]
    if not sections:
        return {}, {}, ""
    without = "best frames shown without their faces"
    try:
        changed = sha256_of(video.path) != video.sha256
    except OSError:
        return {}, {}, f"{video.path} cannot be read any more: {without}."
    if changed:
        return {}, {}, f"{video.path} has changed since it was processed: {without}."
    crops, where = CropJob(picks), WhereJob(sections)
    try:
        for frame in revisit(VideoSource.of(video.path, config), crops.frames | where.frames):
            crops.add(frame)
            where.add(frame)
    except VideoError as exc:
        return {}, {}, f"{exc}: {without}."
    return crops.crops, where.images, ""


def stored_video_report(
    video: Video, *, top_k: int | None = None, strategies: list[str] | None = None
) -> str:
    """The report page of a stored video, as :meth:`Store.stored_video` loads it.

    Best frames are selected from the stored qualities with the run's own selection settings
    (``top_k`` overrides the number); templates are those stored (``strategies`` keeps only
    those labels). Crops are cut from the video file when it is still there and unchanged
    (same sha256); otherwise the page says so and shows the rest.

    Raises:
        StoreError: the video's run stored a configuration this vidfiqa cannot read.
    """
    try:
        config = Config.model_validate(video.run.config)
    except ValidationError as exc:
        reason = str(exc).splitlines()[0]
        raise StoreError(
            f"run {video.run_id} stored a configuration this vidfiqa cannot read ({reason})"
        ) from None
    k = top_k or config.select.top_k
    sections = []
    for row in video.tracks:
        track = track_from_row(row)
        templates = [
            TemplateUse(t.strategy, list(t.frames), list(t.weights), t.id)
            for t in sorted(row.templates, key=lambda t: t.id)
            if not strategies or t.strategy in strategies
        ]
        # Stored qualities already hold the track-level factors; the floor counts from 0 (the
        # bottom of every shipped scorer's range but stability's).
        picks = select_best(track, k, min_gap=config.select.min_gap, floor=config.select.relative_floor)
        label = f" ({row.label.name})" if row.label else ""
        sections.append(TrackSection(track, picks, templates, ref=f"track:{row.id}{label}"))
    crops, where, missing = _stored_pixels(video, config, sections)
    summary = {
        "video": video.path,
        "stored as": f"video:{video.id}, run:{video.run_id}",
        "status": video.status + (f" ({video.reason})" if video.reason else ""),
        "size": f"{video.width}x{video.height}" if video.width else "?",
        "fps": f"{video.fps:.2f}" if video.fps else "?",
        "frames listed": str(video.frame_count) if video.frame_count else "?",
        "decoding": decoding_summary(video.damaged_packets, video.damaged_frames, video.sizes or []),
        "tracks": str(len(sections)),
        "quality scorer": config.quality.scorer,
        "detector": _detector_line(config),
        "processed": f"{video.created_at:%Y-%m-%d %H:%M:%S}",
    }
    return render(
        Path(video.path).name, summary, sections, crops, notes=[missing] if missing else [], where=where
    )


def index_row(video: Video, page: str) -> dict[str, Any]:
    """What the run's index shows of one stored video, linking its ``page`` (a file name)."""
    return {
        "page": page,
        "id": video.id,
        "video": video.path,
        "status": video.status + (f" ({video.reason})" if video.reason else ""),
        "size": f"{video.width}x{video.height}" if video.width else "?",
        "frames listed": str(video.frame_count) if video.frame_count else "?",
        "tracks": str(len(video.tracks)),
        "labels": ", ".join(sorted({t.label.name for t in video.tracks if t.label})) or "",
    }


def run_index(run: dict[str, Any], rows: list[dict[str, Any]], config: dict[str, Any] | None = None) -> str:
    """The summary page of a run (``index.html``): when and how it ran, its videos' statuses,
    and a table of its videos, each linking its page.

    Args:
        run: the run as :meth:`Store.runs` lists it.
        rows: one :func:`index_row` per video, in order.
        config: the run's stored configuration (its detector and scorer are shown).
    """
    settings = {
        "run": f"run:{run['run_id']}",
        "command": run["command"],
        "started": run["started_at"],
        "finished": run["finished_at"] or "not finished",
        "videos": ", ".join(f"{n} {status}" for status, n in run["statuses"].items()) or "none",
    }
    if config:
        try:
            cfg = Config.model_validate(config)
            settings |= {"quality scorer": cfg.quality.scorer, "detector": _detector_line(cfg)}
        except ValidationError:
            pass
    parts = [table(list(settings), [[esc(v) for v in settings.values()]])]
    heads = ["video", "stored as", "status", "size", "frames listed", "tracks", "labels"]
    cells = [
        [
            f'<a href="{esc(r["page"])}">{esc(Path(r["video"]).name)}</a>',
            f"video:{r['id']}",
            esc(r["status"]),
            esc(r["size"]),
            esc(r["frames listed"]),
            esc(r["tracks"]),
            esc(r["labels"]),
        ]
        for r in rows
    ]
    parts.append("<h2>Videos</h2>" + table(heads, cells, numeric={4, 5}))
    return page(f"vidfiqa run {run['run_id']}", "".join(parts))


STORED_REF = re.compile(r"(run|video):(\d+|last)")


def stored_video_ids(store: Store, ref: str) -> list[int]:
    """Video ids named by ``run:ID``, ``run:last`` or ``video:ID``.

    Raises:
        ValueError: ``video:last``, which names nothing.
        StoreError: no such run, no runs, or a run that stored no video.
    """
    kind, ident = STORED_REF.fullmatch(ref).groups()
    if kind == "video":
        if ident == "last":
            raise ValueError("video:last is not a reference; use video:ID or run:last")
        return [int(ident)]
    run_id = store.last_run_id() if ident == "last" else int(ident)
    if run_id is None:
        raise StoreError("no runs in the database yet; run 'vidfiqa process' first")
    if not store.run_exists(run_id):
        raise StoreError(f"no run {ident} in the database; see 'vidfiqa runs'")
    ids = store.video_ids_of_run(run_id)
    if not ids:
        raise StoreError(f"run {run_id} stored no videos (all were stored before it); see 'vidfiqa runs'")
    return ids


class ReportError(Exception):
    """The pages asked for cannot be written as asked; the message says why."""


def page_file(out: str | Path, count: int) -> Path | None:
    """The file ``out`` names for a single page, or ``None`` when it is a folder of pages.

    Raises:
        ReportError: ``count`` pages for one file.
    """
    if Path(out).suffix.lower() not in (".html", ".htm"):
        return None
    if count > 1:
        raise ReportError(f"{count} videos to report: give --out a folder for one page each, not {out}")
    return Path(out)


def write_page(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def report_stored(
    store: Store,
    ref: str,
    out: str | Path,
    *,
    top_k: int | None = None,
    strategies: list[str] | None = None,
    on_page: Callable[[Path], None] | None = None,
) -> list[Path]:
    """The pages of the videos ``ref`` names (``run:ID``, ``run:last``, ``video:ID``), from the
    database alone, one at a time (a run's pages need not fit in memory), written to ``out`` (a
    ``.html`` file for one video, else a folder, where a run also gets ``index.html``).

    Raises:
        ValueError: ``video:last``.
        StoreError: nothing stored under ``ref``.
        ReportError: several pages for one file.
    """
    ids = stored_video_ids(store, ref)
    single = page_file(out, len(ids))
    paths, rows, run_config, run_id = [], [], None, None
    for video_id in ids:
        video = store.stored_video(video_id)
        if video is None:
            raise StoreError(f"no video {video_id} in the database; see 'vidfiqa runs'")
        text = stored_video_report(video, top_k=top_k, strategies=list(strategies or []))
        path = single or Path(out) / f"video{video_id}_{safe_name(Path(video.path).stem)}.html"
        paths.append(write_page(path, text))
        if on_page:
            on_page(path)
        rows.append(index_row(video, path.name))
        run_config, run_id = video.run.config, video.run_id
    if not single and ref.startswith("run:"):
        run = next(r for r in store.runs() if r["run_id"] == run_id)
        paths.append(write_page(Path(out) / "index.html", run_index(run, rows, run_config)))
        if on_page:
            on_page(paths[-1])
    return paths


def report_file(path: str | Path, config: Config, out: str | Path) -> Path:
    """The page of the video file ``path``, analysed now with ``config``, written to ``out`` (a
    ``.html`` file, else a folder).

    Raises:
        VideoError: the video cannot be read.
        ModelFileError: the models cannot be loaded.
    """
    single = page_file(out, 1)
    text = video_report(
        path,
        config,
        build_stages(config),
        build_embedder(config),
        [Strategy.parse(s) for s in config.templates.strategies],
    )
    return write_page(single or Path(out) / f"{safe_name(Path(path).stem)}.html", text)
