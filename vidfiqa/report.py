"""One self-contained HTML page per video: its tracks, a quality timeline per track with the
chosen best frames marked, the contact sheet, each best frame's factor breakdown and reasons, and
which frames built each template with what weight.

A page is made either from a video file analysed now (:func:`video_report`) or from what a
``vidfiqa process`` run stored (:func:`stored_video_report`): the observations, qualities and
templates come from the database, only the best frames' pixels from the file, if it is still
there unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from vidfiqa.aggregate import Strategy  # noqa: E402
from vidfiqa.build import Stages  # noqa: E402
from vidfiqa.config import Config  # noqa: E402
from vidfiqa.export import CropJob, Crops, contact_sheet, extract_crops  # noqa: E402
from vidfiqa.html import esc, figure_uri, img, page, png_uri, table  # noqa: E402
from vidfiqa.models.base import Embedder  # noqa: E402
from vidfiqa.pipeline import VideoSource, analyse_video, damage_notes, revisit, sizes_note  # noqa: E402
from vidfiqa.process import file_sha256  # noqa: E402
from vidfiqa.select import Selection, select_best  # noqa: E402
from vidfiqa.store import Store, StoreError, Video  # noqa: E402
from vidfiqa.store_rows import track_from_row  # noqa: E402
from vidfiqa.templates import TemplateJob  # noqa: E402
from vidfiqa.types import Track  # noqa: E402
from vidfiqa.video import VideoError  # noqa: E402

_WEIGHTS_SHOWN = 12  # frames listed per template; the rest are summed in one line


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
    whole = "" if d.full_every == 1 else f", the whole frame every {d.full_every} key frames"
    return f"{d.name}, every {d.every} frames{whole}"


def _timeline(track: Track, picks: list[Selection]) -> str:
    fig, ax = plt.subplots(figsize=(8, 1.9))
    ax.plot(track.frames, track.qualities, lw=1.2, color="#3465a4")
    for s in picks:
        ax.plot(s.observation.frame_index, s.observation.quality, "o", color="#cc0000", ms=6)
        point = (s.observation.frame_index, s.observation.quality)
        ax.annotate(str(s.rank), point, textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set(xlabel="frame", ylabel="quality")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return figure_uri(fig)


def _best_frames_table(picks: list[Selection], crops: dict[tuple[int, int], Crops]) -> str:
    rows = []
    for s in picks:
        o = s.observation
        crop = crops.get((s.track_id, o.frame_index))
        factors = "<br>".join(f"{esc(k)} {v:.3f}" for k, v in sorted(o.factors.items()))
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
) -> str:
    """The page of one video.

    Args:
        title: the page's heading (the video's file name).
        summary: column -> value of the one-row table at the top (plain text, escaped here).
        sections: one per track, in track order.
        crops: ``(track_id, frame_index)`` -> pixels of the picks; picks without crops are shown
            without a face, and no contact sheet is drawn when there are none.
        notes: lines shown under the summary (why something is missing).
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
            + "<h3>Best frames</h3>"
            + _best_frames_table(section.picks, crops)
            + "<h3>Templates</h3>"
            + _templates_table(section.templates)
        )
    return page(f"vidfiqa report: {title}", "".join(parts))


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
    for frame in revisit(analysis.source, templates.frames | crops.frames):
        templates.add(frame)
        crops.add(frame)
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
    return render(Path(video).name, summary, sections, crops.crops)


def _stored_crops(
    video: Video, config: Config, picks: list[Selection]
) -> tuple[dict[tuple[int, int], Crops], str]:
    """The picks' pixels from the video file, or none and the reason."""
    if not picks:
        return {}, ""
    without = "best frames shown without their faces"
    try:
        changed = file_sha256(video.path) != video.sha256
    except OSError:
        return {}, f"{video.path} cannot be read any more: {without}."
    if changed:
        return {}, f"{video.path} has changed since it was processed: {without}."
    try:
        return extract_crops(VideoSource.of(video.path, config), picks), ""
    except VideoError as exc:
        return {}, f"{exc}: {without}."


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
    crops, missing = _stored_crops(video, config, [s for section in sections for s in section.picks])
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
    return render(Path(video.path).name, summary, sections, crops, notes=[missing] if missing else [])


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
