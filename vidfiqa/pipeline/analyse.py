"""Wires the stages: decode -> detect (every n frames) -> track -> interpolate -> landmarks ->
align -> quality, one video at a time, holding at most the frames of ``detector.batch`` whole
key frames' segments in memory.

Detection runs on key frames only; the boxes of the frames in between are interpolated linearly
between the two key frames that bracket them, for tracks present in both, and every tracked face
in every frame then gets landmarks (with ``detector5-eyes`` the detector's points, interpolated
like the boxes, and eye openness measured on key frames, and on the frames between them where
the eyes move: :meth:`_VideoRun.measure_moving_eyes`) and a quality score, the faces scored
``QUALITY_BATCH`` at a time across key segments. Once the tracks are known, the track-level
quality (the blink gate and native-resolution sharpness, relative to each track:
:mod:`vidfiqa.quality.track_factors`) multiplies the scores, and tracks that are no face are
flagged (:func:`gate_tracks`). Every ``detector.full_every``-th key frame (or, with
``detector.full_seconds``, one every so many seconds of video) is detected whole; the others
only in regions around the faces tracked so far (:mod:`vidfiqa.pipeline.regions`), and with
``detector.skip_steady`` a region key frame whose faces are all steady is not detected at all.
At a shot cut the previous shot is closed with a detection on its last frame, the tracker is
reset, and the cut frame is detected whole.

Which frames are key frames, and which of them are detected whole, depends only on the frames
themselves (their count, times, shot cuts and sizes), never on what is detected, so the run
looks ahead: it plans the steps of up to ``detector.batch`` whole key frames, detects all of
them in one detector call, then replays the tracking and interpolation in frame order, exactly
as if each key frame had been detected alone (a region key frame is detected, or skipped, in its
turn: it needs the tracks so far). With ``detector.thread`` that runs on a thread of its own, up
to :data:`SEGMENTS_AHEAD` segments ahead of landmarks and quality; these start the landmarker's
work on the next :data:`LANDMARKS_AHEAD` key frames (dlib's eye measures, in its child process)
before observing the frames before them.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vidfiqa.build import Stages, build_stages
from vidfiqa.config import Config
from vidfiqa.pipeline.faces import eye_bands, face_batch
from vidfiqa.pipeline.regions import (
    detect_in_regions,
    expected_faces,
    face_regions,
    region_sides,
    whole_frame_pixels,
)
from vidfiqa.pipeline.shots import ShotDetector
from vidfiqa.pipeline.track import IouTracker
from vidfiqa.quality.track_factors import (
    TrackFactorSettings,
    apply_track_factors,
    junk_reason,
    native_sharpness,
)
from vidfiqa.types import Detections, FaceBatch, Frame, Track
from vidfiqa.video import Backend, ReadOptions, VideoInfo, open_video, prefetch


@dataclass(frozen=True, slots=True)
class VideoSource:
    """Where an analysis' frames came from and how they were read, so that later stages (crops,
    embeddings) decode exactly the same frames without the whole configuration.

    Attributes:
        path: the video file.
        read: stride, time window, frame limit and decoder threads.
        backend: the decoder.
        prefetch: frames decoded ahead on a thread (0: none).
    """

    path: Path
    read: ReadOptions
    backend: Backend = "pyav"
    prefetch: int = 8

    @classmethod
    def of(cls, path: str | Path, config: Config) -> VideoSource:
        return cls(Path(path), read_options(config), config.video.backend, config.video.prefetch)


@dataclass(slots=True)
class VideoAnalysis:
    """Everything one pass over a video found (no pixels are kept).

    Attributes:
        source: the file and read options, for decoding the same frames again.
        info: what the container says.
        tracks: confirmed tracks with at least ``select.min_track_length`` observations,
            ordered by track id.
        frames_read: frames yielded by the reader (after stride and time window).
        shot_starts: frame index at which each shot starts.
        decode_errors: damaged packets skipped by the decoder.
        damaged_frames: frames the decoder flagged corrupt (concealed lost slices), skipped.
        sizes: ``(first frame index, width, height)`` of each run of frames of one size; more
            than one entry when the stream changes resolution (each frame's boxes are in its
            own pixels, and a size change starts a new shot).
        short_tracks: tracks dropped for having fewer than ``select.min_track_length``
            observations.
        seconds: wall time per stage (``decode``, ``detect``, ``landmarks``, ``quality``); with
            the decode thread (``video.prefetch`` > 0) ``decode`` is the time spent waiting for
            frames, not the decoder's own time; with the detection thread (``detector.thread``)
            ``detect`` overlaps the others, so the stages add up to more than the wall time.
        detections: number of key frames detected.
        detector_calls: number of detector calls (up to ``detector.batch`` key frames each).
        junk_tracks: tracks flagged by the track gate (``select.min_confidence``,
            ``select.min_track_quality``): no face; kept in ``tracks``, but they give no best
            frames and no template (``factors["track_gate"]`` 0).
        score_range: the scorer's range of qualities (the floor of picks counts from its bottom).
    """

    source: VideoSource
    info: VideoInfo
    tracks: list[Track]
    frames_read: int
    shot_starts: list[int]
    decode_errors: int
    damaged_frames: int = 0
    sizes: list[tuple[int, int, int]] = field(default_factory=list)
    short_tracks: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    detections: int = 0
    detector_calls: int = 0
    junk_tracks: int = 0
    score_range: tuple[float, float] = (0.0, 1.0)


def read_options(config: Config) -> ReadOptions:
    v = config.video
    return ReadOptions(stride=v.stride, start=v.start, end=v.end, max_frames=v.max_frames, threads=v.threads)


def revisit(source: VideoSource, indices: set[int]) -> Iterator[Frame]:
    """Decode ``source`` again, yielding only the frames at ``indices`` and stopping after the
    last; analysis keeps no pixels, later stages use this."""
    if not indices:
        return
    last = max(indices)
    with (
        open_video(source.path, source.read, backend=source.backend) as reader,
        closing(prefetch(iter(reader), source.prefetch)) as frames,
    ):
        for frame in frames:
            if frame.index in indices:
                yield frame
            if frame.index >= last:
                return


#: Faces scored together (see ``_VideoRun.score``); independent of the detector's batch, so
#: results do not depend on it.
QUALITY_BATCH = 64


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()  # detection and quality add from two threads

    def add(self, stage: str, since: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - since


def _timed_frames(frames: Iterator[Frame], timer: _Timer) -> Iterator[Frame]:
    while True:
        t = time.perf_counter()
        try:
            frame = next(frames)
        except StopIteration:
            timer.add("decode", t)
            return
        timer.add("decode", t)
        yield frame


def _interpolate(start: tuple[Frame, Detections], end: tuple[Frame, Detections], frame: Frame) -> Detections:
    """Boxes at ``frame`` for tracks present at both key frames, linear in frame index."""
    (f0, d0), (f1, d1) = start, end
    if not len(d0) or not len(d1):
        return Detections.empty()
    common, i0, i1 = np.intersect1d(d0.tracker_id, d1.tracker_id, return_indices=True)
    if not len(common):
        return Detections.empty()
    a = (frame.index - f0.index) / (f1.index - f0.index)
    # Eye openness in between is the key frames' blend unless the eyes move there; then the
    # pipeline measures it on the frame itself (``_VideoRun.measure_moving_eyes``).
    mixed = [k for k in ("eye_openness", "eye_aspect") if k in d0.data and k in d1.data]
    mix = {k: (1 - a) * d0.data[k][i0] + a * d1.data[k][i1] for k in mixed}
    # A detector's own landmarks move with its boxes (dlib's predictor replaces them per frame).
    both = d0.landmarks is not None and d1.landmarks is not None
    return Detections(
        boxes=(1 - a) * d0.boxes[i0] + a * d1.boxes[i1],
        scores=(1 - a) * d0.scores[i0] + a * d1.scores[i1],
        landmarks=(1 - a) * d0.landmarks[i0] + a * d1.landmarks[i1] if both else None,
        tracker_id=common,
        confidence=(1 - a) * d0.confidence[i0] + a * d1.confidence[i1],
        interpolated=np.ones(len(common), bool),
        data=mix,
    )


@dataclass(slots=True)
class _Key:
    """Detect ``frame`` (the whole of it, or only around the faces tracked so far when not
    ``full``), then interpolate ``between`` (the frames since the shot's previous key frame) and
    observe them and ``frame``."""

    frame: Frame
    between: list[Frame]
    full: bool = True


@dataclass(slots=True)
class _Cut:
    """A new shot starts at frame ``index``: the tracker starts afresh."""

    index: int


@dataclass(slots=True)
class _Segment:
    """A key frame's tracked faces (``end``), the frames since the previous key frame of the
    shot (``between``) and that key frame (``start``, ``None`` at a shot's first)."""

    shot: int
    start: tuple[Frame, Detections] | None
    between: list[Frame]
    end: tuple[Frame, Detections]


#: Observed batches merged into one block of arrays once scored (:meth:`_VideoRun.score`): each
#: batch's ~25 small arrays took ~7 KB a frame of one face in object headers and allocator
#: overhead, ~300 MiB over a 30-minute video (``benchmarks/memory``).
ROWS_BLOCK = 512


def _merged(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One dict of the columns of ``rows`` (the first one's keys), concatenated in order."""
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


#: Segments that detection and tracking may run ahead of landmarks and quality.
SEGMENTS_AHEAD = 8
#: Segments whose key frames' landmarks are started before the one being observed (:meth:`_VideoRun.run`).
LANDMARKS_AHEAD = 4

#: A tracked face is steady when found at a key frame where the tracker predicted it (IoU) with
#: at least this detector confidence: then a region key frame may be skipped (``skip_steady``).
STEADY_IOU = 0.8
STEADY_CONFIDENCE = 0.9


class _VideoRun:
    """State of one pass: tracker, shot detector and the observations found so far."""

    def __init__(self, config: Config, stages: Stages, timer: _Timer, *, min_hits: int, still: bool = False):
        t = config.tracker
        self.config = config
        #: A still image's faces have no track to compare with: their scorer sees the absolute
        #: eye openness, and no track-level measures are taken.
        self.still = still
        self.stages = stages
        self.timer = timer
        self.tracker = IouTracker(
            iou_threshold=t.iou_threshold, min_hits=min_hits, max_misses=t.max_misses, max_shift=t.max_shift
        )
        self.shots = ShotDetector(threshold=t.shot_threshold)
        #: The shot being detected, and the shot of the segment being observed (detection may
        #: run ahead on its own thread: :meth:`run`).
        self.shot = self.observed_shot = 0
        self.shot_starts = [0]
        #: Per observed batch, its rows: the arrays :meth:`tracks` groups by track id; once
        #: :data:`ROWS_BLOCK` of them are scored, merged into one of ``blocks``.
        self.rows: list[dict[str, np.ndarray]] = []
        self.blocks: list[dict[str, np.ndarray]] = []
        #: Observed faces not scored yet, with the rows their qualities go into (see :meth:`score`).
        self.unscored: list[tuple[dict[str, np.ndarray], FaceBatch]] = []
        #: The last key frame of the current shot and its tracked detections.
        self.last_key: tuple[Frame, Detections] | None = None
        self.frames_read = 0
        self.detector_calls = 0
        self.key_frames = 0
        #: Region key frames skipped in a row since the last detected one.
        self.skips = 0

    def detect(self, frames: list[Frame]) -> list[Detections]:
        """Faces of ``frames`` in one detector call, those smaller than ``tracker.min_face``
        dropped."""
        if not frames:
            return []
        t = time.perf_counter()
        found = self.stages.detector.detect([f.image for f in frames])
        self.timer.add("detect", t)
        self.detector_calls += 1
        self.key_frames += len(frames)
        return [self._kept(d) for d in found]

    def detect_regions(self, frame: Frame) -> Detections:
        """The tracked faces of ``frame``, each looked for around where its track is expected
        (:mod:`vidfiqa.pipeline.regions`), in one detector call; or the whole frame where the
        regions hold as many pixels as it (a crowd), which costs no more and finds new faces."""
        predicted = self.tracker.predicted_boxes()
        regions = face_regions(predicted)
        whole = whole_frame_pixels(frame.image.shape, getattr(self.stages.detector, "max_side", None))
        side = self.config.detector.region_side
        if sum(s * s for s in region_sides(regions, max_input=side)) >= whole:
            return self.detect([frame])[0]
        t = time.perf_counter()
        found = detect_in_regions(self.stages.detector, frame.image, regions, max_input=side)
        faces = expected_faces(found, predicted)
        self.timer.add("detect", t)
        self.detector_calls += bool(len(predicted))
        self.key_frames += 1
        return self._kept(faces)

    def _kept(self, d: Detections) -> Detections:
        """``d`` without faces smaller than ``tracker.min_face``, marked detected."""
        sides = np.minimum(d.boxes[:, 2] - d.boxes[:, 0], d.boxes[:, 3] - d.boxes[:, 1])
        d = d[sides >= self.config.tracker.min_face]
        data = dict(d.data)
        if not self.still:  # asks the landmarker for the track gate's eye measure
            data["eye_aspect"] = np.full(len(d), np.nan, np.float32)
        return replace(d, interpolated=np.zeros(len(d), bool), data=data)

    def observe(
        self, items: list[tuple[Frame, Detections]], started: Any = None
    ) -> list[tuple[Frame, Detections]]:
        """Landmarks and alignment for every tracked face of ``items``; their quality follows
        once :data:`QUALITY_BATCH` faces wait (:meth:`score`). Returns ``items`` with the
        detections the landmarker returned (what it measured, eye openness included).
        ``started``: what the landmarker's ``start`` began for the one item of ``items``."""
        if not any(len(d) for _, d in items):
            return items
        t = time.perf_counter()
        landmarker = self.stages.landmarker
        if started is not None:
            [(frame, d)] = items
            observed = [(frame, landmarker.landmark(frame.image, d, started))]
        else:
            observed = [(f, landmarker.landmark(f.image, d) if len(d) else d) for f, d in items]
        items = [(f, d) for f, d in observed if len(d)]
        batch = FaceBatch.concat([face_batch(f.image, d) for f, d in items])
        self.timer.add("landmarks", t)
        dets = [d for _, d in items]

        def cat(get) -> np.ndarray:
            return np.concatenate([get(d) for d in dets])

        rows = {
            "frames": np.concatenate([np.full(len(d), f.index, np.int64) for f, d in items]),
            "times": np.concatenate([np.full(len(d), f.time, np.float64) for f, d in items]),
            "track_ids": cat(lambda d: d.tracker_id),
            "boxes": cat(lambda d: d.boxes),
            "landmarks": cat(lambda d: d.landmarks),
            "detector_scores": cat(lambda d: d.scores),
            "interpolated": cat(lambda d: d.interpolated),
            "landmarks_estimated": cat(lambda d: d.landmarks_estimated),
        }
        rows["shots"] = np.full(len(rows["frames"]), self.observed_shot, np.int64)
        if all("dlib5" in d.data for d in dets):  # what dlib's embedder aligns with (Track.extras)
            rows["extra:dlib5"] = cat(lambda d: d.data["dlib5"])
        if not self.still:
            # Raw per-frame measures that only mean something against the rest of the track
            # (vidfiqa.quality.track_factors); the scorer rates the face without them, so its
            # per-image eyes_open multiplier stays 1 and the track's blink gate replaces it.
            t = time.perf_counter()
            # The aligned measure (detector5-eyes); a landmarker that leaves it unmeasured (dlib68
            # measures every face with its own points) gives its per-image one.
            nan = np.full(len(rows["frames"]), np.nan, np.float32)
            aligned = cat(lambda d: d.data.get("eye_aspect", nan[: len(d)])).astype(np.float32)
            own = cat(lambda d: d.data.get("eye_openness", nan[: len(d)])).astype(np.float32)
            rows["factor:eye_aspect"] = np.where(np.isfinite(aligned), aligned, own)
            rows["factor:sharpness_native"] = np.concatenate(
                [native_sharpness(f.image, d.landmarks) for f, d in items]
            )
            batch = replace(batch, eye_openness=None)
            self.timer.add("landmarks", t)
        # The detector's confidence in [0, 1] (raw scores are SVM margins for dlib's detectors),
        # for the track gate.
        rows["factor:detector_confidence"] = np.asarray(batch.confidence, np.float32)
        self.rows.append(rows)
        self.unscored.append((rows, batch))
        if sum(len(b) for _, b in self.unscored) >= QUALITY_BATCH:
            self.score()
        return observed

    def score(self) -> None:
        """Quality of the faces observed since the last call, in one scorer call: a key segment
        holds a few faces, and a learned scorer runs several times faster on a batch of 64 than
        on batches of 2 (``distilled``: ~700 against ~200 faces/s on 2 CPU cores)."""
        if not self.unscored:
            return
        t = time.perf_counter()
        result = self.stages.scorer.score(FaceBatch.concat([b for _, b in self.unscored]))
        self.timer.add("quality", t)
        lo = 0
        for rows, batch in self.unscored:
            hi = lo + len(batch)
            rows["qualities"] = result.scores[lo:hi]
            rows |= {f"factor:{k}": v[lo:hi] for k, v in result.factors.items()}
            lo = hi
        self.unscored = []
        if len(self.rows) >= ROWS_BLOCK:  # all scored now: merged into one block of arrays
            self.blocks.append(_merged(self.rows))
            self.rows = []

    def tracks(self, keep: set[int], min_len: int) -> tuple[list[Track], int]:
        """The observations gathered, as one :class:`Track` per id in ``keep`` with at least
        ``min_len`` rows (ordered by id), and how many tracks were too short."""
        if not self.blocks and not self.rows:
            return [], 0
        table = _merged(self.blocks + self.rows)
        ids = table.pop("track_ids")
        shots = table.pop("shots")
        out, short = [], 0
        for track_id in sorted(set(np.unique(ids).tolist()) & keep):
            rows = np.flatnonzero(ids == track_id)
            rows = rows[np.argsort(table["frames"][rows], kind="stable")]
            if len(rows) < min_len:
                short += 1
                continue
            columns = {k: v[rows] for k, v in table.items()}
            names = [k for k in columns if k.startswith("factor:")]
            factors = {k.removeprefix("factor:"): columns.pop(k) for k in names}
            extras = {
                k.removeprefix("extra:"): columns.pop(k) for k in list(columns) if k.startswith("extra:")
            }
            out.append(
                Track(track_id=track_id, shot=int(shots[rows[0]]), factors=factors, extras=extras, **columns)
            )
        return out, short

    def close_segment(
        self,
        start: tuple[Frame, Detections] | None,
        between: list[Frame],
        end: tuple[Frame, Detections],
        started: Any = None,
    ) -> tuple[Frame, Detections]:
        """Observe the key frame ``end`` and the frames ``between`` it and ``start`` (the shot's
        previous key frame as observed, ``None`` at a shot's first); ``end`` as observed, the
        next segment's ``start``. ``started``: what the landmarker began on ``end`` (:meth:`run`)."""
        # The key frame first: what its landmarker measured (eye openness) is interpolated too.
        [end] = self.observe([end], started)
        if start:
            items = [(f, _interpolate(start, end, f)) for f in between]
            self.observe(self.measure_moving_eyes(start, end, items))
        return end

    def measure_moving_eyes(
        self,
        start: tuple[Frame, Detections],
        end: tuple[Frame, Detections],
        items: list[tuple[Frame, Detections]],
    ) -> list[tuple[Frame, Detections]]:
        """Measure the eye openness of the frames between two key frames (``items``, their
        interpolated faces) for the tracks whose eyes move there, instead of blending the key
        frames' values: where the key frames' eye aspect ratios differ by more than
        ``landmarks.eye_motion``, and where a frame's eye region differs from both key frames'
        by more than ``landmarks.eye_change`` grey levels (a blink that opens again before the
        next key frame leaves both key frames open). Returns ``items`` with the detections the
        landmarker measured (new values)."""
        measure = getattr(self.stages.landmarker, "measure_eyes", None)
        (f0, d0), (f1, d1) = start, end
        if measure is None or not items or "eye_aspect" not in d0.data or "eye_aspect" not in d1.data:
            return items
        t = time.perf_counter()
        # The interpolated faces are the tracks present at both key frames, in this order.
        _, i0, i1 = np.intersect1d(d0.tracker_id, d1.tracker_id, return_indices=True)
        change_keys = np.abs(d1.data["eye_aspect"][i1] - d0.data["eye_aspect"][i0])
        moving = change_keys > self.config.landmarks.eye_motion
        out = []
        for frame, d in items:
            if not len(d):
                out.append((frame, d))
                continue
            # All three frames are cut at this frame's points: the key frames' own points may
            # differ from each other by more than a blink moves (a whole-frame and a region
            # detection), and a still face must read no change.
            bands = eye_bands(frame.image, d.landmarks)
            bands0, bands1 = eye_bands(f0.image, d.landmarks), eye_bands(f1.image, d.landmarks)
            change = np.minimum(np.abs(bands - bands0).mean((1, 2)), np.abs(bands - bands1).mean((1, 2)))
            out.append((frame, measure(frame.image, d, moving | (change > self.config.landmarks.eye_change))))
        self.timer.add("landmarks", t)
        return out

    def plan(self, frames: Iterator[Frame], progress: Callable[[int], None] | None) -> Iterator[_Key | _Cut]:
        """The steps of a run over ``frames``, in order; needs no detection result. Feeds the
        shot detector and counts ``frames_read``."""
        d = self.config.detector
        every, full_every, full_seconds = d.every, d.full_every, d.full_seconds
        if getattr(self.stages.detector, "on_gpu", False):  # see DetectorConfig.full_every
            full_every, full_seconds = 1, None
        open_shot = False  # a key frame of the current shot has been planned
        keys = 0  # key frames planned in the current shot
        last_whole: float | None = None  # time of the shot's last whole key frame
        pending: list[Frame] = []
        size = None

        def key(frame: Frame, between: list[Frame]) -> _Key:
            nonlocal last_whole
            if full_seconds is None:
                full = keys % full_every == 0
            else:
                full = last_whole is None or frame.time - last_whole >= full_seconds
            if full:
                last_whole = frame.time
            return _Key(frame, between, full=full)

        for frame in frames:
            self.frames_read += 1
            resized = size is not None and frame.image.shape != size
            size = frame.image.shape
            # A new frame size is a new shot: boxes of frames of different sizes are in different
            # pixels, so they must neither be matched nor interpolated across.
            if (self.shots.update(frame.image) or resized) and open_shot:
                if pending:  # close the shot with a detection on its last frame
                    yield key(pending[-1], pending[:-1])
                    pending = []
                yield _Cut(frame.index)
                open_shot, keys, last_whole = False, 0, None
            if not open_shot or len(pending) + 1 >= every:
                yield key(frame, pending)
                open_shot, pending, keys = True, [], keys + 1
            else:
                pending.append(frame)
            if progress:
                progress(1)
        if pending:
            yield key(pending[-1], pending[:-1])

    def execute(self, steps: list[_Key | _Cut]) -> Iterator[_Segment]:
        """Detect the full key frames of ``steps`` in one call, then track step by step (a key
        frame detected around its tracked faces is detected then: it needs the tracks of the
        steps before it); the segments to observe, in order."""
        found = iter(self.detect([s.frame for s in steps if isinstance(s, _Key) and s.full]))
        skipped: list[Frame] = []  # frames of region key frames skipped since the last detected one
        for i, step in enumerate(steps):
            if isinstance(step, _Cut):
                self.tracker.reset()
                self.shot += 1
                self.shot_starts.append(step.index)
                self.last_key = None
            elif self._skippable(steps, i):
                self.tracker.coast()
                self.skips += 1
                skipped += [*step.between, step.frame]
            else:
                detections = next(found) if step.full else self.detect_regions(step.frame)
                key = step.frame, self.tracker.update(detections)
                yield _Segment(self.shot, self.last_key, skipped + step.between, key)
                self.last_key, skipped, self.skips = key, [], 0

    def _skippable(self, steps: list[_Key | _Cut], i: int) -> bool:
        """Whether the region key frame ``steps[i]`` may go undetected (``detector.skip_steady``):
        every face tracked at the last key frame is steady, found where the tracker predicted it
        (IoU >= :data:`STEADY_IOU`) with confidence >= :data:`STEADY_CONFIDENCE` and no face new
        (:attr:`IouTracker.fit`), and a key frame of the same shot follows in ``steps``: the
        frames it leaves need a detected key frame after them, and only a later step of this
        list is sure to come before any cut."""
        step = steps[i]
        if step.full or self.skips >= self.config.detector.skip_steady or self.last_key is None:
            return False
        if i + 1 == len(steps) or not isinstance(steps[i + 1], _Key):
            return False
        faces = self.last_key[1]
        return (
            len(faces) > 0
            and self.tracker.fit >= STEADY_IOU
            and bool((faces.confidence >= STEADY_CONFIDENCE).all())
        )

    def segments(self, frames: Iterator[Frame], progress: Callable[[int], None] | None) -> Iterator[_Segment]:
        """Detection and tracking of ``frames``, up to ``detector.batch`` key frames per detector
        call: the segments between key frames, in order."""
        batch = self.config.detector.batch or getattr(self.stages.detector, "preferred_batch", 1)
        steps: list[_Key | _Cut] = []
        keys = 0
        for step in self.plan(frames, progress):
            steps.append(step)
            keys += isinstance(step, _Key) and step.full
            if keys == batch:
                yield from self.execute(steps)
                steps, keys = [], 0
        yield from self.execute(steps)

    def run(self, frames: Iterator[Frame], progress: Callable[[int], None] | None) -> int:
        """Analyse ``frames``: detection and tracking (on a thread of their own with
        ``detector.thread``), then landmarks, eyes and quality segment by segment, in order; the
        number of frames read."""
        ahead = SEGMENTS_AHEAD if self.config.detector.thread else 0
        start = getattr(self.stages.landmarker, "start", None)
        with closing(prefetch(self.segments(frames, progress), ahead, name="vidfiqa-detect")) as segments:
            observed = None  # the last key frame as observed (landmarked)
            # Segments taken ahead, their key frames' landmarks started (dlib's eye model in its
            # own process), so that the child measures them while this thread observes the ones
            # before: the same numbers, with the wait off this thread. One ahead left the child
            # idle while this thread finished each segment whose measure had just come.
            waiting: collections.deque[tuple[_Segment, Any]] = collections.deque()
            for segment in itertools.chain(segments, [None]):
                if segment is not None:
                    frame, faces = segment.end
                    waiting.append((segment, start(frame.image, faces) if start and len(faces) else None))
                while waiting and (segment is None or len(waiting) > LANDMARKS_AHEAD):
                    taken, started = waiting.popleft()
                    self.observed_shot = taken.shot
                    # A segment's start is the shot's previous key frame: the previous segment's end.
                    begin = None if taken.start is None else observed
                    observed = self.close_segment(begin, taken.between, taken.end, started)
        self.score()
        return self.frames_read


def analyse_video(
    path: str | Path,
    config: Config,
    stages: Stages | Callable[[], Stages] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    on_open: Callable[[VideoInfo], None] | None = None,
) -> VideoAnalysis:
    """Detect, track and score every face of one video.

    Args:
        path: the video file.
        config: run configuration.
        stages: models to use, or a function that builds them (called once the file has opened
            as a video, so a bad file costs no model loading); built from ``config`` when
            ``None``.
        progress: called with the number of frames just read.
        on_open: called once with the container's info once the models are loaded, before
            decoding starts (to start a progress bar, whose clock must not count the loading).

    Raises:
        VideoError: the file cannot be opened or holds no decodable frame.
    """
    timer = _Timer()
    source = VideoSource.of(path, config)
    with open_video(source.path, source.read, backend=source.backend) as reader:
        info = reader.info
        if stages is None:
            stages = build_stages(config)
        elif not isinstance(stages, Stages):
            stages = stages()
        if on_open:  # after the loading: a bar's first tick and rate must be of frames alone
            on_open(info)
        # A still image is one frame: every face in it is a track of one observation.
        min_hits = 1 if info.still else config.tracker.min_hits
        min_len = 1 if info.still else config.select.min_track_length
        run = _VideoRun(config, stages, timer, min_hits=min_hits, still=info.still)
        # Closed before the reader is, so the decode thread never outlives the container.
        with closing(prefetch(iter(reader), source.prefetch)) as frames:
            read = run.run(_timed_frames(frames, timer), progress)
    tracks, short = run.tracks(set(run.tracker.confirmed_ids), min_len)
    score_range = tuple(getattr(stages.scorer, "score_range", (0.0, 1.0)))
    tracks, junk = gate_tracks(tracks, config, score_range, still=info.still)
    return VideoAnalysis(
        source=source,
        info=info,
        tracks=tracks,
        frames_read=read,
        shot_starts=run.shot_starts,
        decode_errors=reader.errors,
        damaged_frames=reader.damaged_frames,
        sizes=list(reader.sizes),
        short_tracks=short,
        seconds=timer.seconds,
        detections=run.key_frames,
        detector_calls=run.detector_calls,
        junk_tracks=junk,
        score_range=score_range,
    )


def gate_tracks(
    tracks: list[Track], config: Config, score_range: tuple[float, float], *, still: bool = False
) -> tuple[list[Track], int]:
    """The track-level quality (:func:`vidfiqa.quality.track_factors.apply_track_factors`, not
    for a still image's faces), then the track gate, which flags the tracks that are no face
    (``factors["track_gate"]`` 0 on their rows, 1 on the others'): all the tracks, and how many
    were flagged."""
    q = config.quality
    settings = TrackFactorSettings(
        eyes_closed_ratio=q.eyes_closed_ratio,
        eyes_open_ratio=q.eyes_open_ratio,
        eyes_closed_penalty=q.eyes_closed_penalty,
        sharpness_power=q.sharpness_power,
    )
    junk = 0
    for track in tracks:
        if not still:
            apply_track_factors(track, settings, low=score_range[0])
        why = junk_reason(
            track,
            min_confidence=config.select.min_confidence,
            min_quality=config.select.min_track_quality,
            score_range=score_range,
        )
        track.factors["track_gate"] = np.full(len(track), why is None, np.float32)
        junk += why is not None
    return tracks, junk
