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


def _as_bool(name: str, value: np.ndarray) -> np.ndarray:
    """``value`` as a bool array; a flag column of other values than 0 and 1 is an error."""
    array = np.asarray(value)
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be bool, got {array.dtype} values other than 0 and 1")
    return array.astype(bool, copy=False)


#: Per-row fields a :class:`Detections` carries itself: they may not hide in its ``data``.
_DETECTION_FIELDS = ("confidence", "interpolated", "landmarks_estimated")


@dataclass(slots=True)
class Detections:
    """Faces found in one frame, as parallel arrays with ``n`` rows.

    Attributes:
        boxes: float32 ``(n, 4)`` xyxy in original-frame pixels.
        scores: float32 ``(n,)`` raw detector scores (scale depends on the detector).
        landmarks: float32 ``(n, 5, 2)`` in ArcFace order, or ``None`` before landmarking.
        tracker_id: int64 ``(n,)`` track ids, or ``None`` before tracking.
        confidence: float32 ``(n,)`` detector score mapped to [0, 1] (each detector says how);
            ``scores`` clipped to [0, 1] when not given.
        interpolated: bool ``(n,)``; box interpolated between detections rather than detected
            (all false when not given).
        landmarks_estimated: bool ``(n,)``; mouth corners estimated rather than measured (all
            false when not given).
        data: model-specific extra per-row arrays whose first dimension is ``n`` (for example
            ``"dlib5"``: dlib's own five points; ``"eye_openness"``, ``"eye_aspect"``).

    Index with an int (one row, as a one-row :class:`Detections`), an integer array or list,
    a boolean mask or a slice. Detections are values: stages return new ones and leave their
    input as it was.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None
    tracker_id: np.ndarray | None = None
    confidence: np.ndarray | None = None
    interpolated: np.ndarray | None = None
    landmarks_estimated: np.ndarray | None = None
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
        if self.confidence is None:
            self.confidence = np.clip(self.scores, 0.0, 1.0)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        _check_shape("confidence", self.confidence, (n,))
        for name in ("interpolated", "landmarks_estimated"):
            value = getattr(self, name)
            setattr(self, name, np.zeros(n, bool) if value is None else _as_bool(name, value))
            _check_shape(name, getattr(self, name), (n,))
        data = {}
        for key, value in self.data.items():
            if key in _DETECTION_FIELDS:
                raise ValueError(f"{key!r} is a field of Detections, not a data key: pass {key}=...")
            value = np.asarray(value)
            if value.ndim == 0 or len(value) != n:
                raise ValueError(
                    f"data[{key!r}] must have {n} rows, got {len(value) if value.ndim else 'a scalar'}"
                )
            data[key] = value
        self.data = data  # a dict of its own: a copy (dataclasses.replace) never shares it

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        """No faces: zero rows with the documented dtypes."""
        return cls(boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32))

    def __getitem__(self, index: int | np.integer | np.ndarray | slice | list[int]) -> Detections:
        """Rows selected by an int (a one-row :class:`Detections`, as ``supervision`` gives),
        an integer array or list, a boolean mask or a slice."""
        if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"row {index} out of range for {n} detections")
            index = [int(index)]
        return Detections(
            boxes=self.boxes[index],
            scores=self.scores[index],
            landmarks=None if self.landmarks is None else self.landmarks[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            confidence=self.confidence[index],
            interpolated=self.interpolated[index],
            landmarks_estimated=self.landmarks_estimated[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """Concatenate rows, in order; parts without rows are left out.

        Raises:
            ValueError: the parts with rows disagree on an optional field: some carry
                ``landmarks``, ``tracker_id`` or a ``data`` key and others do not (all or none).
        """
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        for name in ("landmarks", "tracker_id"):
            have = [getattr(p, name) is not None for p in parts]
            if any(have) and not all(have):
                raise ValueError(
                    f"cannot merge detections with and without {name} ({sum(have)} of {len(have)} have it)"
                )
        keys = set(parts[0].data)
        for p in parts[1:]:
            if set(p.data) != keys:
                odd = sorted(keys ^ set(p.data))
                raise ValueError(f"cannot merge detections with and without data keys {odd}")

        def cat(name: str) -> np.ndarray | None:
            values = [getattr(p, name) for p in parts]
            return None if values[0] is None else np.concatenate(values)

        return cls(
            boxes=cat("boxes"),
            scores=cat("scores"),
            landmarks=cat("landmarks"),
            tracker_id=cat("tracker_id"),
            confidence=cat("confidence"),
            interpolated=cat("interpolated"),
            landmarks_estimated=cat("landmarks_estimated"),
            data={k: np.concatenate([p.data[k] for p in parts]) for k in parts[0].data},
        )


#: The side of an ArcFace-aligned crop (:data:`vidfiqa.align.ARCFACE_112`).
CROP_SIZE = 112
#: Shape of each :class:`FaceBatch` column after its first dimension ``B``.
_FACE_BATCH_SHAPES = {
    "crops": (CROP_SIZE, CROP_SIZE, 3),
    "landmarks": (5, 2),
    "boxes": (4,),
    "confidence": (),
    "landmarks_estimated": (),
    "visible": (),
    "eye_openness": (),
}


@dataclass(frozen=True, slots=True)
class FaceBatch:
    """What a quality scorer sees of ``B`` faces.

    Attributes:
        crops: uint8 ``(B, 112, 112, 3)`` ArcFace-aligned RGB crops.
        landmarks: float32 ``(B, 5, 2)`` ArcFace-order points in original-frame pixels.
        boxes: float32 ``(B, 4)`` xyxy in original-frame pixels.
        confidence: float32 ``(B,)`` detector confidence in [0, 1].
        landmarks_estimated: bool ``(B,)``; mouth corners estimated, not measured.
        visible: float32 ``(B,)`` fraction of the face region of each crop inside the frame
            (see :func:`vidfiqa.align.visible_fraction`).
        eye_openness: float32 ``(B,)`` eye aspect ratio (see
            :func:`vidfiqa.models.dlib_models.eye_aspect_ratio`), NaN where no landmarker
            measured the eye contours (all NaN when not given).
    """

    crops: np.ndarray
    landmarks: np.ndarray
    boxes: np.ndarray
    confidence: np.ndarray
    landmarks_estimated: np.ndarray
    visible: np.ndarray
    eye_openness: np.ndarray | None = None

    def __post_init__(self) -> None:
        crops = np.asarray(self.crops)
        if crops.dtype != np.uint8:
            raise ValueError(f"crops must be uint8, got {crops.dtype}")
        b = len(crops) if crops.ndim else 0
        _check_shape("crops", crops, (b, CROP_SIZE, CROP_SIZE, 3))
        eyes = np.full(b, np.nan, np.float32) if self.eye_openness is None else self.eye_openness
        columns = {
            "crops": crops,
            "landmarks": np.asarray(self.landmarks, np.float32),
            "boxes": np.asarray(self.boxes, np.float32),
            "confidence": np.asarray(self.confidence, np.float32),
            "landmarks_estimated": _as_bool("landmarks_estimated", self.landmarks_estimated),
            "visible": np.asarray(self.visible, np.float32),
            "eye_openness": np.asarray(eyes, np.float32),
        }
        for name, value in columns.items():
            _check_shape(name, value, (b, *_FACE_BATCH_SHAPES[name]))
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.crops)

    @classmethod
    def concat(cls, parts: list[FaceBatch]) -> FaceBatch:
        """Rows of several batches, in order."""
        names = (
            "crops",
            "landmarks",
            "boxes",
            "confidence",
            "landmarks_estimated",
            "visible",
            "eye_openness",
        )
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})


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
        extras: a model family's own values of this row (see :attr:`Track.extras`).
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
    extras: dict[str, np.ndarray] = field(default_factory=dict)


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
        extras: a model family's own per-row arrays, first dimension ``n`` (for example
            ``"dlib5"``: float32 ``(n, 5, 2)`` dlib's own five points, eye corners and nose base,
            which dlib's embedder aligns with; absent when the landmarker was not dlib's).
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
    extras: dict[str, np.ndarray] = field(default_factory=dict)

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
        self.extras = {k: np.asarray(v) for k, v in self.extras.items()}
        for key, value in self.extras.items():
            if value.ndim == 0 or len(value) != n:
                raise ValueError(f"extras[{key!r}] must have {n} rows, got shape {value.shape}")

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
            extras={k: v[i].copy() for k, v in self.extras.items()},
        )

    @classmethod
    def from_observations(cls, track_id: int, shot: int, observations: list[FaceObservation]) -> Track:
        """A track from rows (stored rows, tests); rows are sorted by frame."""
        rows = sorted(observations, key=lambda o: o.frame_index)
        names = sorted({k for o in rows for k in o.factors})
        # A model family's values, where every row has them.
        extras = [k for k in (rows[0].extras if rows else {}) if all(k in o.extras for o in rows)]
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
            extras={k: np.stack([o.extras[k] for o in rows]) for k in extras},
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
