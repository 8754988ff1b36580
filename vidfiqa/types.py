"""Plain data passed between pipeline stages.

Conventions (see ARCHITECTURE.md): frames are RGB ``uint8`` ``(H, W, 3)``; boxes are ``xyxy`` float32
pixels of the original frame; landmarks follow the ArcFace 5-point order (image-left eye,
image-right eye, nose tip, image-left mouth corner, image-right mouth corner); embeddings are
float32 and L2-normalised; quality is higher-is-better.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    """One face of one track in one frame, after landmarks, alignment and quality.

    Attributes:
        frame_index: index of the frame in the stream.
        time: seconds.
        box: float32 ``(4,)`` xyxy in original-frame pixels.
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
    """A face followed through consecutive frames of one shot.

    Attributes:
        track_id: unique within a video; never reused.
        shot: index of the shot the track lives in.
        observations: one per frame, in frame order.
    """

    track_id: int
    shot: int
    observations: list[FaceObservation] = field(default_factory=list)

    @property
    def qualities(self) -> np.ndarray:
        """float32 ``(len(observations),)`` quality per observation."""
        return np.array([o.quality for o in self.observations], dtype=np.float32)
