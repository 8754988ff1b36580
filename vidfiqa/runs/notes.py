"""The words a run uses for what it met: damage skipped, resolution changes, tracks flagged or
dropped, and why a video counts as partial. ``process``, ``best-frames`` and ``report`` say the
same things in the same words."""

from __future__ import annotations

from vidfiqa.config import Config
from vidfiqa.pipeline.analyse import VideoAnalysis
from vidfiqa.types import plural


def damage_notes(packets: int, frames: int) -> list[str]:
    """The damage a read skipped, one phrase per kind; empty for an intact stream."""
    notes = []
    if packets:
        notes.append(f"{packets} damaged packets skipped")
    if frames:
        notes.append(f"{frames} damaged frames skipped")
    return notes


def sizes_note(sizes: list) -> list[str]:
    """The resolution changes of ``sizes`` (``(first frame, width, height)`` runs), if any."""
    if len(sizes) < 2:
        return []
    return ["resolution changes: " + ", ".join(f"{w}x{h} from frame {i}" for i, w, h in sizes)]


def summary_notes(analysis: VideoAnalysis, config: Config) -> list[str]:
    """What a person reading a one-line summary of ``analysis`` should know beyond the counts:
    damage skipped, resolution changes, and why faces seen made no track."""
    notes = damage_notes(analysis.decode_errors, analysis.damaged_frames) + sizes_note(analysis.sizes)
    if analysis.junk_tracks:
        notes.append(
            f"{analysis.junk_tracks} tracks flagged as no face, without best frames or templates "
            f"(detector confidence below select.min_confidence={config.select.min_confidence:g} "
            f"or quality below select.min_track_quality={config.select.min_track_quality:g} "
            "all along)"
        )
    if analysis.short_tracks:
        n = config.select.min_track_length
        notes.append(
            f"{plural(analysis.short_tracks, 'face track')} shorter than select.min_track_length={n} "
            "observations dropped"
        )
    return notes


def partial_reason(analysis: VideoAnalysis, config: Config) -> str:
    """Why a video that decoded counts as partial (damage skipped, fewer frames than the
    container lists); empty if it does not. ``process`` and ``best-frames`` say the same."""
    problems = damage_notes(analysis.decode_errors, analysis.damaged_frames)
    v = config.video
    whole_file = v.stride == 1 and v.start is None and v.end is None
    listed = analysis.info.num_frames
    if (
        whole_file
        and listed
        and analysis.frames_read < listed
        and (v.max_frames or listed) > analysis.frames_read
    ):
        # The container's index lists frames the stream no longer holds: cut or damaged.
        problems.append(f"decoded {analysis.frames_read} of the {listed} frames the container lists")
    return "; ".join(problems)
