"""Plain data passed between pipeline stages.

Conventions (see ARCHITECTURE.md): frames are RGB ``uint8`` ``(H, W, 3)``; boxes are ``xyxy`` float32
pixels of the original frame; landmarks follow the ArcFace 5-point order (image-left eye,
image-right eye, nose tip, image-left mouth corner, image-right mouth corner); embeddings are
float32 and L2-normalised; quality is higher-is-better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def finite_or_none(value: float | None, digits: int | None = None) -> float | None:
    """``value`` as JSON can hold it: ``None`` (null) for a factor not measured (NaN)."""
    if value is None or not np.isfinite(value):
        return None
    return float(value) if digits is None else round(float(value), digits)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 track``, ``2 tracks`` (``many``: an irregular plural)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame.

    Attributes:
        index: 0-based position of the frame in the decoded stream (before any stride).
        time: presentation time in seconds (``pts * time_base``; ``index / fps`` when the
            stream carries no timestamps, as raw H.264 does).
        image: RGB ``uint8`` array of shape ``(H, W, 3)``, rotation metadata already applied.
    """

    index: int
    time: float
    image: np.ndarray


def _check_shape(name: str, array: np.ndarray, expected: tuple[int | None, ...]) -> None:
    actual = array.shape
    if len(actual) != len(expected) or any(e is not None and e != a for e, a in zip(expected, actual)):
        shown = tuple("n" if e is None else e for e in expected)
        raise ValueError(f"{name} must have shape {shown}, got {actual}")


@dataclass(slots=True)
class Detections:
    """Faces found in one frame, as parallel arrays with ``n`` rows.

    Attributes:
        boxes: float32 ``(n, 4)`` xyxy in original-frame pixels.
        scores: float32 ``(n,)`` raw detector scores (scale depends on the detector).
        landmarks: float32 ``(n, 5, 2)`` in ArcFace order, or ``None`` before landmarking.
        tracker_id: int64 ``(n,)`` track ids, or ``None`` before tracking.
        data: extra per-row arrays whose first dimension is ``n`` (for example
            ``"confidence"``: detector score mapped to [0, 1]; ``"interpolated"``: bool, box
            interpolated between detections rather than detected; ``"landmarks_estimated"``:
            bool, mouth corners estimated rather than measured).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None
    tracker_id: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        _check_shape("scores", self.scores, (n,))
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
            _check_shape("landmarks", self.landmarks, (n, 5, 2))
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64)
            _check_shape("tracker_id", self.tracker_id, (n,))
        for key, value in self.data.items():
            value = np.asarray(value)
            if len(value) != n:
                raise ValueError(f"data[{key!r}] must have {n} rows, got {len(value)}")
            self.data[key] = value

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        """No faces: zero rows with the documented dtypes."""
        return cls(boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32))

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Rows selected by an integer array, boolean mask or slice."""
        return Detections(
            boxes=self.boxes[index],
            scores=self.scores[index],
            landmarks=None if self.landmarks is None else self.landmarks[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """Concatenate rows; every part must carry the same optional fields."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        first = parts[0]
        return cls(
            boxes=np.concatenate([p.boxes for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            landmarks=None if first.landmarks is None else np.concatenate([p.landmarks for p in parts]),
            tracker_id=None if first.tracker_id is None else np.concatenate([p.tracker_id for p in parts]),
            data={k: np.concatenate([p.data[k] for p in parts]) for k in first.data},
        )


@dataclass(frozen=True, slots=True)
class QualityResult:
    """Output of a quality scorer for a batch of ``B`` faces.

    Attributes:
        scores: float32 ``(B,)``, higher is better; the scorer documents its range.
        factors: component name -> float32 ``(B,)`` (each documented by the scorer).
    """

    scores: np.ndarray
    factors: dict[str, np.ndarray]


@dataclass(slots=True)
class FaceObservation:
    """One row of a :class:`Track`: one face in one frame (a view for reading, made by
    :meth:`Track.observation`; tracks store their rows as arrays).

    Attributes:
        frame_index: index of the frame in the stream.
        time: seconds.
        box: float32 ``(4,)`` xyxy in the pixels of its own frame.
        landmarks: float32 ``(5, 2)`` ArcFace order.
        detector_score: raw detector score (interpolated between detections when
            ``interpolated``).
        quality: overall quality of the active scorer.
        factors: component name -> value.
        interpolated: the box came from interpolation between two detections.
        landmarks_estimated: mouth corners were estimated, not measured.
        dlib5: float32 ``(5, 2)`` dlib's own five points (eye corners, nose base), which dlib's
            embedder aligns with; ``None`` when the landmarker was not dlib's.
    """

    frame_index: int
    time: float
    box: np.ndarray
    landmarks: np.ndarray
    detector_score: float
    quality: float = float("nan")
    factors: dict[str, float] = field(default_factory=dict)
    interpolated: bool = False
    landmarks_estimated: bool = False
    dlib5: np.ndarray | None = None


@dataclass(slots=True)
class Track:
    """A face followed through consecutive frames of one shot: ``n`` observations as parallel
    arrays in frame order, as :class:`Detections` holds the faces of one frame.

    Attributes:
        track_id: unique within a video; never reused.
        shot: index of the shot the track lives in.
        frames: int64 ``(n,)`` frame indices, increasing.
        times: float64 ``(n,)`` seconds.
        boxes: float32 ``(n, 4)`` xyxy in the pixels of each observation's frame.
        landmarks: float32 ``(n, 5, 2)`` ArcFace order.
        detector_scores: float32 ``(n,)``.
        qualities: float32 ``(n,)`` quality of the active scorer.
        factors: component name -> float32 ``(n,)``.
        interpolated: bool ``(n,)``; box interpolated between detections.
        landmarks_estimated: bool ``(n,)``; mouth corners estimated.
        dlib5: float32 ``(n, 5, 2)`` dlib's own points, or ``None`` (another landmarker).
    """

    track_id: int
    shot: int
    frames: np.ndarray
    times: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    detector_scores: np.ndarray
    qualities: np.ndarray
    factors: dict[str, np.ndarray] = field(default_factory=dict)
    interpolated: np.ndarray | None = None
    landmarks_estimated: np.ndarray | None = None
    dlib5: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, np.int64).reshape(-1)
        n = len(self.frames)
        self.times = np.asarray(self.times, np.float64)
        _check_shape("times", self.times, (n,))
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        _check_shape("boxes", self.boxes, (n, 4))
        self.landmarks = np.asarray(self.landmarks, np.float32).reshape(-1, 5, 2)
        _check_shape("landmarks", self.landmarks, (n, 5, 2))
        for name in ("detector_scores", "qualities"):
            setattr(self, name, np.asarray(getattr(self, name), np.float32))
            _check_shape(name, getattr(self, name), (n,))
        for name in ("interpolated", "landmarks_estimated"):
            value = getattr(self, name)
            setattr(self, name, np.zeros(n, bool) if value is None else np.asarray(value, bool))
            _check_shape(name, getattr(self, name), (n,))
        self.factors = {k: np.asarray(v, np.float32) for k, v in self.factors.items()}
        for key, value in self.factors.items():
            _check_shape(f"factors[{key!r}]", value, (n,))
        if self.dlib5 is not None:
            self.dlib5 = np.asarray(self.dlib5, np.float32)
            _check_shape("dlib5", self.dlib5, (n, 5, 2))

    def __len__(self) -> int:
        return len(self.frames)

    def observation(self, i: int) -> FaceObservation:
        """Row ``i`` as a :class:`FaceObservation` (copies)."""
        return FaceObservation(
            frame_index=int(self.frames[i]),
            time=float(self.times[i]),
            box=self.boxes[i].copy(),
            landmarks=self.landmarks[i].copy(),
            detector_score=float(self.detector_scores[i]),
            quality=float(self.qualities[i]),
            factors={k: float(v[i]) for k, v in self.factors.items()},
            interpolated=bool(self.interpolated[i]),
            landmarks_estimated=bool(self.landmarks_estimated[i]),
            dlib5=None if self.dlib5 is None else self.dlib5[i].copy(),
        )

    @classmethod
    def from_observations(cls, track_id: int, shot: int, observations: list[FaceObservation]) -> Track:
        """A track from rows (stored rows, tests); rows are sorted by frame."""
        rows = sorted(observations, key=lambda o: o.frame_index)
        names = sorted({k for o in rows for k in o.factors})
        with_dlib5 = bool(rows) and all(o.dlib5 is not None for o in rows)
        return cls(
            track_id=track_id,
            shot=shot,
            frames=[o.frame_index for o in rows],
            times=[o.time for o in rows],
            boxes=[o.box for o in rows],
            landmarks=[o.landmarks for o in rows],
            detector_scores=[o.detector_score for o in rows],
            qualities=[o.quality for o in rows],
            factors={k: [o.factors.get(k, np.nan) for o in rows] for k in names},
            interpolated=[o.interpolated for o in rows],
            landmarks_estimated=[o.landmarks_estimated for o in rows],
            dlib5=[o.dlib5 for o in rows] if with_dlib5 else None,
        )


@dataclass(frozen=True, slots=True)
class ImageFrame:
    """One image of an image sequence (a YouTube Faces frame, an LFW photo, a frame folder).

    Attributes:
        path: the image file.
        number: its frame number in the sequence.
        box: float32 ``(4,)`` xyxy face box given with the data, or ``None``: find it.
    """

    path: Path
    number: int
    box: np.ndarray | None


@dataclass(slots=True)
class ImageSequence:
    """A video given as images: ``name`` (e.g. ``Person/vid``), ``person`` (``""`` unknown),
    ``frames`` in frame-number order; ``missing_frames`` counts frames its list names whose
    files are absent (left out of ``frames``)."""

    name: str
    person: str
    frames: list[ImageFrame]
    missing_frames: int = 0


@dataclass(slots=True)
class VideoFeatures:
    """Per-frame features of one video or image sequence, for evaluation.

    Attributes:
        frames: int64 ``(n,)`` frame numbers used.
        embeddings: float32 ``(n, d)`` unit vectors.
        qualities: scorer name -> float32 ``(n,)``.
    """

    frames: np.ndarray
    embeddings: np.ndarray
    qualities: dict[str, np.ndarray]


@dataclass(slots=True)
class ImageFeatures:
    """Per-image features of a list of images: ``found`` bool ``(n,)`` (a face was found), and
    for the ``k`` found images ``embeddings`` float32 ``(k, d)`` and ``qualities`` scorer ->
    float32 ``(k,)``."""

    found: np.ndarray
    embeddings: np.ndarray
    qualities: dict[str, np.ndarray]
