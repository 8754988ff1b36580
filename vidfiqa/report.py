"""One self-contained HTML page per video: its tracks, a quality timeline per track with the
chosen best frames marked, the contact sheet, each best frame's factor breakdown and reasons, and
which frames built each template with what weight."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402

from vidfiqa.aggregate import Strategy  # noqa: E402
from vidfiqa.config import Config  # noqa: E402
from vidfiqa.export import contact_sheet, extract_crops  # noqa: E402
from vidfiqa.html import esc, figure_uri, img, page, png_uri, table  # noqa: E402
from vidfiqa.models.base import Embedder  # noqa: E402
from vidfiqa.pipeline import Stages, VideoAnalysis, analyse_video  # noqa: E402
from vidfiqa.select import Selection, select_best  # noqa: E402
from vidfiqa.templates import TrackTemplates, build_templates  # noqa: E402
from vidfiqa.types import Track  # noqa: E402

_WEIGHTS_SHOWN = 12  # frames listed per template; the rest are summed in one line


def _timeline(track: Track, picks: list[Selection]) -> str:
    frames = [o.frame_index for o in track.observations]
    fig, ax = plt.subplots(figsize=(8, 1.9))
    ax.plot(frames, track.qualities, lw=1.2, color="#3465a4")
    for s in picks:
        ax.plot(s.observation.frame_index, s.observation.quality, "o", color="#cc0000", ms=6)
        point = (s.observation.frame_index, s.observation.quality)
        ax.annotate(str(s.rank), point, textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set(xlabel="frame", ylabel="quality")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return figure_uri(fig)


def _best_frames_table(picks: list[Selection], crops: dict) -> str:
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


def _templates_table(track: Track, result: TrackTemplates | None) -> str:
    if result is None or not result.templates:
        return "<p class=meta>No template (nothing embedded).</p>"
    rows = []
    for label, agg in result.templates.items():
        order = sorted(zip(agg.frames.tolist(), agg.weights.tolist()), key=lambda fw: -fw[1])
        shown = ", ".join(f"{track.observations[f].frame_index} ({w:.3f})" for f, w in order[:_WEIGHTS_SHOWN])
        rest = order[_WEIGHTS_SHOWN:]
        if rest:
            shown += f", and {len(rest)} more frames ({sum(w for _, w in rest):.3f} in all)"
        rows.append([esc(label), str(len(order)), esc(shown)])
    return table(["strategy", "frames", "frame (weight), by weight"], rows, numeric={1})


def render(
    video: str,
    config: Config,
    analysis: VideoAnalysis,
    picks: list[Selection],
    crops: dict,
    templates: list[TrackTemplates],
) -> str:
    """The page for one analysed video."""
    info = analysis.info
    by_track: dict[int, list[Selection]] = {}
    for s in picks:
        by_track.setdefault(s.track_id, []).append(s)
    results = {r.track_position: r for r in templates}
    summary = table(
        ["video", "size", "fps", "frames read", "shots", "tracks", "quality scorer", "detector"],
        [
            [
                esc(video),
                f"{info.width}x{info.height}",
                f"{info.fps:.2f}",
                str(analysis.frames_read),
                str(len(analysis.shot_starts)),
                str(len(analysis.tracks)),
                esc(config.quality.scorer),
                esc(f"{config.detector.name}, every {config.detector.every} frames"),
            ]
        ],
    )
    parts = [summary]
    if picks:
        sheet = contact_sheet(picks, crops, title=Path(video).name)
        parts.append("<h2>Contact sheet</h2>" + img(png_uri(sheet), "contact sheet"))
    else:
        parts.append("<p class=meta>No face track in this video.</p>")
    for position, track in enumerate(analysis.tracks):
        mine = by_track.get(track.track_id, [])
        first, last = track.observations[0], track.observations[-1]
        parts.append(
            f"<h2>Track {track.track_id}</h2><p class=meta>shot {track.shot}, frames "
            f"{first.frame_index}-{last.frame_index}, {len(track.observations)} faces, quality "
            f"{track.qualities.min():.3f}-{track.qualities.max():.3f}</p>"
            + img(_timeline(track, mine), f"quality timeline of track {track.track_id}")
            + "<h3>Best frames</h3>"
            + _best_frames_table(mine, crops)
            + "<h3>Templates</h3>"
            + _templates_table(track, results.get(position))
        )
    return page(f"vidfiqa report: {Path(video).name}", "".join(parts))


def video_report(
    video: str, config: Config, stages: Stages, embedder: Embedder, strategies: list[Strategy]
) -> str:
    """Analyse ``video`` and return its report page.

    Raises:
        VideoError: the video cannot be read.
    """
    analysis = analyse_video(video, config, stages)
    picks = [
        s
        for track in analysis.tracks
        for s in select_best(track, config.select.top_k, min_gap=config.select.min_gap)
    ]
    crops = extract_crops(video, config, picks)
    templates = build_templates(video, config, analysis, embedder, strategies, embed=config.templates.embed)
    return render(video, config, analysis, picks, crops, templates)
