"""Detector, landmarks and embedder from an insightface model pack, run through onnxruntime.

A pack is a folder of ONNX files such as ``buffalo_l`` (SCRFD-10GF detector ``det_10g.onnx``,
ArcFace iResNet50 ``w600k_r50.onnx``, ...). vidfiqa looks for ``<model root>/<pack>`` and then
insightface's own ``~/.insightface/models/<pack>``; nothing is downloaded. Each file's role is
read from its graph (a detector has 6, 9, 10 or 15 outputs; a recogniser one ``(N, d)`` output and
a 112x112 input), so renamed files and other packs work too. insightface's ``SCRFD`` and
``ArcFaceONNX`` classes do the pre- and post-processing; onnxruntime picks the CUDA provider when
it is installed with one.

- detector ``scrfd``: boxes, scores and the five SCRFD keypoints (ArcFace order);
- landmarker ``scrfd5``: SCRFD run again on a crop around each tracked box (tracked boxes between
  detections have no keypoints of their own);
- embedder ``arcface``: 112x112 ArcFace-aligned crops -> L2-normalised features.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidfiqa.align import ARCFACE_112
from vidfiqa.geometry import box_iou
from vidfiqa.models.files import ModelFileError, model_root
from vidfiqa.types import Detections

DEFAULT_PACK = "buffalo_l"
_DETECTOR_OUTPUTS = (6, 9, 10, 15)


@dataclass(frozen=True, slots=True)
class Pack:
    """The ONNX files of one pack, by role."""

    folder: Path
    detector: Path | None
    recognizer: Path | None


def find_pack(pack: str = DEFAULT_PACK, root: str | None = None) -> Pack:
    """Locate ``pack`` and sort its ONNX files by role.

    Raises:
        ModelFileError: no such folder, or no ONNX file in it.
    """
    import onnxruntime

    candidates = [model_root(root) / pack, Path("~/.insightface/models").expanduser() / pack]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        raise ModelFileError(
            f"insightface pack {pack!r} not found in {' or '.join(map(str, candidates))}; "
            "unpack it there (e.g. buffalo_l.zip from the insightface model zoo)"
        )
    detector = recognizer = None
    for path in sorted(folder.glob("*.onnx")):
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for any unreadable graph
            raise ModelFileError(f"{pack}: cannot load {path} ({str(exc).splitlines()[0][:120]})") from None
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(outputs) in _DETECTOR_OUTPUTS and detector is None:
            detector = path
        elif len(outputs) == 1 and list(inputs[0].shape[2:]) == [112, 112] and recognizer is None:
            recognizer = path
    if detector is None and recognizer is None:
        raise ModelFileError(f"{pack}: {folder} holds no SCRFD detector or ArcFace recogniser ONNX file")
    return Pack(folder, detector, recognizer)


def _required(pack: Pack, role: str) -> Path:
    path = getattr(pack, role)
    if path is None:
        raise ModelFileError(f"insightface pack {pack.folder} has no {role} ONNX file")
    return path


class ScrfdDetector:
    """SCRFD face detector of an insightface pack.

    Args:
        pack: pack folder name.
        model_root: folder to look in before ``~/.insightface/models``.
        det_size: square network input; frames are letterboxed into it.
        threshold: score threshold.
    """

    name = "scrfd"

    def __init__(
        self,
        pack: str = DEFAULT_PACK,
        model_root: str | None = None,
        det_size: int = 640,
        threshold: float = 0.5,
        **_: object,
    ):
        from insightface.model_zoo.scrfd import SCRFD

        self.model = SCRFD(str(_required(find_pack(pack, model_root), "detector")))
        self.det_size = det_size
        self.threshold = threshold

    def detect_one(self, image: np.ndarray, size: int | None = None) -> Detections:
        """Faces in one RGB uint8 ``(H, W, 3)`` image, with keypoints as ``landmarks``."""
        size = size or self.det_size
        boxes, kps = self.model.detect(
            np.ascontiguousarray(image[..., ::-1]), input_size=(size, size), det_thresh=self.threshold
        )
        scores = boxes[:, 4].astype(np.float32)
        kps = np.zeros((len(boxes), 5, 2), np.float32) if kps is None else kps.astype(np.float32)
        return Detections(
            boxes=boxes[:, :4],
            scores=scores,
            landmarks=kps,
            confidence=np.clip(scores, 0, 1),
            landmarks_estimated=np.zeros(len(boxes), bool),
        )

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces in each RGB image; ``confidence`` is SCRFD's score."""
        return [self.detect_one(image) for image in images]


class ScrfdLandmarker:
    """Five points for each box: SCRFD on a square crop of twice the box's size around it, taking
    the detection that overlaps the box most. Where SCRFD finds nothing there, the ArcFace
    template is placed in the box and the row is marked ``landmarks_estimated``.
    """

    name = "scrfd5"
    crop_size = 192  # network input for a crop; a multiple of SCRFD's largest stride (32)

    def __init__(self, pack: str = DEFAULT_PACK, model_root: str | None = None, **_: object):
        self.detector = ScrfdDetector(pack, model_root, det_size=self.crop_size, threshold=0.3)

    def landmark(self, image: np.ndarray, detections: Detections) -> Detections:
        n = len(detections)
        points = np.zeros((n, 5, 2), np.float32)
        estimated = np.zeros(n, bool)
        h, w = image.shape[:2]
        for i, box in enumerate(detections.boxes):
            centre = (box[:2] + box[2:]) / 2
            half = max(box[2] - box[0], box[3] - box[1])
            x0, y0 = np.floor(np.maximum(centre - half, 0)).astype(int)
            x1, y1 = np.ceil(np.minimum(centre + half, (w, h))).astype(int)
            found = self.detector.detect_one(image[y0:y1, x0:x1]) if x1 > x0 and y1 > y0 else None
            if found is not None and len(found):
                shifted = found.boxes + np.array([x0, y0, x0, y0], np.float32)
                points[i] = found.landmarks[np.argmax(box_iou(box[None], shifted)[0])] + (x0, y0)
            else:
                points[i] = box[:2] + ARCFACE_112 / 112.0 * (box[2:] - box[:2])
                estimated[i] = True
        return replace(detections, landmarks=points, landmarks_estimated=estimated)


class ArcFaceEmbedder:
    """ArcFace recogniser of an insightface pack on 112x112 ArcFace-aligned crops.

    ``threshold`` is a common operating point for insightface's ArcFace models (cosine 0.3),
    not one measured here; calibrate it on your data with ``vidfiqa eval pairs``.
    """

    name = "arcface"
    alignment = "arcface112"
    threshold = 0.3

    def __init__(self, pack: str = DEFAULT_PACK, model_root: str | None = None, batch_size: int = 64):
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX

        self.model = ArcFaceONNX(str(_required(find_pack(pack, model_root), "recognizer")))
        self.dim = int(self.model.output_shape[-1])
        self.batch_size = batch_size

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(B, dim)`` L2-normalised features of uint8 ``(B, 112, 112, 3)`` RGB crops."""
        out = [np.zeros((0, self.dim), np.float32)]
        for lo in range(0, len(crops), self.batch_size):
            bgr = [np.ascontiguousarray(c[..., ::-1]) for c in crops[lo : lo + self.batch_size]]
            out.append(np.asarray(self.model.get_feat(bgr), np.float32).reshape(len(bgr), -1))
        feats = np.concatenate(out)
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
