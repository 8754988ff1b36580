"""LightQNet: a lightweight face-quality regressor, run through onnxruntime.

Chen, Yi, Lv, "LightQNet: Lightweight Deep Face Quality Assessment for Risk-Controlled Face
Recognition", IEEE Signal Processing Letters 28, 2021: a MobileNetV3 backbone with a one-unit
sigmoid head (graph scopes ``UncertaintyModule/MobilenetV3``, ``UncertaintyModule/Sigmoid``). MIT licence,
(c) 2021 Kaen Chan. Three widths are released: ``dm100``, ``dm050`` and ``dm025`` (depth multiplier
1.0 / 0.5 / 0.25).

Provenance of the weights: the frozen TensorFlow graphs ``lightqnet-dm*.pb`` of
github.com/KaenChan/lightqnet, converted unchanged to ONNX with tf2onnx::

    python -m tf2onnx.convert --graphdef lightqnet-dm100.pb --inputs input:0 \
        --outputs confidence_st:0 --output lightqnet-dm100.onnx

The files live in ``<model root>/lightqnet/lightqnet-<width>.onnx`` and are checked against the
sha256 of that conversion (their records in :mod:`vidfiqa.models.records`).

Network contract (the official ``tf_face_quality_model.py``): input ``input:0`` float32 NHWC
``(N, 96, 96, 3)``, BGR (the demo feeds OpenCV images), ``(pixel - 128) / 128``; output
``confidence_st:0`` float32 ``(N, 1)``, a sigmoid, higher is better.

Alignment. The official ``face_normalizer.py`` warps the frame with the similarity transform of
three points (left eye, right eye, mouth centre = mean of the mouth corners) onto
:data:`TEMPLATE_160` in a 160x160 crop, which ``cv2.resize`` (bilinear) then shrinks to 96x96. A
quality scorer here only sees the 112x112 ArcFace crop, but the two templates frame a face almost
identically (the ArcFace -> LightQNet transform of the templates themselves is a pure scale of
1.4286 = 160/112 with < 0.02 px offset), so the crop holds nearly all the official crop shows (on
60 LFW faces 0.4% of the 96x96 input on average, 2.4% at most, falls outside it and is black). The
landmarks are mapped into crop coordinates with the transform :func:`vidfiqa.align.align_arcface`
used, the three-point transform is fitted there, and the crop is warped to 160 and resized to 96
with ``cv2.resize`` as officially. The warp of the crop is bicubic: the crop was already resampled
once, and a second bilinear pass blurs it more than the official single warp does.

Its agreement with the official frame path is measured in docs/models.md (Published scorers).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidfiqa.align import ARCFACE_112, similarity_transform, similarity_transforms
from vidfiqa.types import FaceBatch, QualityResult

WIDTHS = ("dm100", "dm050", "dm025")

#: The official three-point template (left eye, right eye, mouth centre) in a 160x160 crop.
TEMPLATE_160 = np.array([[34.19, 46.16], [65.65, 45.98], [50.12, 82.40]], dtype=np.float64) / 100 * 160
CROP_SIZE = 160
INPUT_SIZE = 96
INPUT_NAME = "input:0"
OUTPUT_NAME = "confidence_st:0"


def locate_checked(name: str, root: str | Path | None = None) -> Path:
    """Path of model ``name`` in the model folder, checked against its sha256.

    Raises:
        ModelFileError: one line naming the path, what is wrong and where to get the file.
    """
    from vidfiqa.models.files import MODEL_FILES, ModelFileError, locate, sha256_of

    spec = MODEL_FILES[name]
    path = locate(name, root)
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise ModelFileError(
            f"{name}: cannot read {path} ({exc.strerror or exc}); get it from {spec.source}"
        ) from None
    if spec.sha256 is not None and digest != spec.sha256:
        raise ModelFileError(
            f"{name}: {path} is not the known LightQNet ONNX file (sha256 differs); get it from {spec.source}"
        )
    return path


def _three_points(points: np.ndarray) -> np.ndarray:
    """float64 ``(3, 2)``: left eye, right eye, mouth centre of ArcFace-order ``(5, 2)`` points."""
    p = np.asarray(points, np.float64)
    return np.stack([p[0], p[1], p[3:5].mean(0)])


# For rows whose landmarks give no usable transform: the crop is then taken as perfectly
# ArcFace-aligned, and the template's own points are fitted.
_TEMPLATE_TRANSFORM = similarity_transform(_three_points(ARCFACE_112), TEMPLATE_160)


def crop_transforms(landmarks: np.ndarray) -> np.ndarray:
    """Affine maps from the 112x112 ArcFace crop to LightQNet's 160x160 crop.

    Args:
        landmarks: float ``(B, 5, 2)`` ArcFace-order points in original-frame pixels (as in
            :class:`~vidfiqa.types.FaceBatch`).

    Returns:
        float64 ``(B, 2, 3)``. Each is the three-point similarity of the official alignment,
        fitted to the points carried into the crop by the five-point transform
        :func:`vidfiqa.align.align_arcface` made the crop with. Rows with non-finite or
        degenerate landmarks get the map of the ArcFace template itself.
    """
    pts = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    finite = np.isfinite(pts).all((1, 2))
    pts = np.where(finite[:, None, None], pts, ARCFACE_112)
    to_crop = similarity_transforms(pts, ARCFACE_112)
    in_crop = np.einsum("bkj,bij->bki", pts, to_crop[:, :, :2]) + to_crop[:, None, :, 2]
    three = np.stack([in_crop[:, 0], in_crop[:, 1], in_crop[:, 3:5].mean(1)], axis=1)
    out = similarity_transforms(three, TEMPLATE_160)
    # Coincident eyes (all points equal) carry no scale or rotation to fit.
    usable = finite & (np.linalg.norm(three[:, 1] - three[:, 0], axis=1) > 1.0)
    out[~usable] = _TEMPLATE_TRANSFORM
    return out


class LightQNetScorer:
    """Scorer ``lightqnet-<width>`` on the released LightQNet weights.

    Args:
        width: ``dm100`` (1.7 MB file), ``dm050`` (0.5 MB) or ``dm025`` (0.2 MB).
        model_root: model folder holding ``lightqnet/lightqnet-<width>.onnx`` (default: the
            project's model root, see :func:`vidfiqa.models.files.model_root`).
        device: ``cpu``, ``cuda`` or ``cuda:<index>``; by default CUDA when onnxruntime has the
            CUDA provider, else CPU.

    Attributes:
        score_range: ``(0, 1)``, the network's sigmoid. On real faces the values crowd high:
            0.43-0.65 on clean LFW faces, 0.04-0.5 once blurred (Gaussian, sigma 4), about
            0.002-0.02 on a black or grey image.

    Raises:
        ModelFileError: the file is missing, unreadable, not the known one or not loadable.
        ValueError: unknown ``width`` or ``device``.
    """

    score_range = (0.0, 1.0)

    def __init__(
        self, *, width: str = "dm100", model_root: str | Path | None = None, device: str | None = None
    ):
        from vidfiqa.models.files import ModelFileError
        from vidfiqa.models.onnx_session import open_session, providers

        if width not in WIDTHS:
            raise ValueError(f"LightQNet width must be one of {', '.join(WIDTHS)}, got {width!r}")
        self.name = f"lightqnet-{width}"
        self.width = width
        providers(device, self.name)  # an unusable device fails before the file is read
        path = locate_checked(self.name, model_root)
        try:
            self.session = open_session(str(path), device=device, name=self.name)
        except Exception as exc:  # onnxruntime raises its own types for any unreadable graph
            reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{self.name}: cannot load {path} ({reason})") from None

    def preprocess(self, batch: FaceBatch) -> np.ndarray:
        """Network input of a batch: float32 ``(B, 96, 96, 3)``, BGR, ``(pixel - 128) / 128``.

        Args:
            batch: uint8 ``(B, 112, 112, 3)`` RGB ArcFace crops with their ``(B, 5, 2)`` landmarks.
        """
        crops = np.asarray(batch.crops)
        if crops.ndim != 4 or crops.shape[1:] != (112, 112, 3) or crops.dtype != np.uint8:
            raise ValueError(f"LightQNet needs uint8 (B, 112, 112, 3) crops, got {crops.dtype} {crops.shape}")
        if np.shape(batch.landmarks) != (len(crops), 5, 2):
            raise ValueError(
                f"LightQNet needs ({len(crops)}, 5, 2) landmarks, got {np.shape(batch.landmarks)}"
            )
        out = np.empty((len(crops), INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
        bgr = np.ascontiguousarray(crops[..., ::-1])
        for i, (crop, m) in enumerate(zip(bgr, crop_transforms(batch.landmarks))):
            # Warp to 160 and then resize, as the official pipeline does: the resize's own
            # (non-antialiased) sampling is part of what the network was trained on. Bicubic
            # for the warp: see the module docstring.
            big = cv2.warpAffine(crop, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_CUBIC, borderValue=0)
            out[i] = cv2.resize(big, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        return (out.astype(np.float32) - 128.0) / 128.0

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Raw confidences float32 ``(B,)`` of prepared inputs float32 ``(B, 96, 96, 3)``, in one
        onnxruntime call."""
        if not len(inputs):
            return np.zeros(0, np.float32)
        feed = {INPUT_NAME: np.ascontiguousarray(inputs, np.float32)}
        (confidence,) = self.session.run([OUTPUT_NAME], feed)
        return np.asarray(confidence, np.float32).reshape(-1)

    def score(self, batch: FaceBatch) -> QualityResult:
        """Quality of each face: the network's raw confidence, float32 ``(B,)`` in (0, 1).

        No rescaling is applied, so ``scores`` is the raw value and ``factors`` is empty.
        """
        return QualityResult(scores=self.run(self.preprocess(batch)), factors={})
