"""Face alignment: similarity transforms onto fixed landmark templates.

Two templates matter here: the 112x112 ArcFace template that almost every modern recogniser and
FIQA model (eDifFIQA, CLIB-FIQA, CR-FIQA) is trained on, and dlib's face-chip template that
dlib's ResNet embedder was trained on (150x150, padding 0.25).
"""

from __future__ import annotations

import cv2
import numpy as np

#: ArcFace 5-point template for 112x112 crops (insightface ``arcface_dst``): image-left eye,
#: image-right eye, nose tip, image-left and image-right mouth corners.
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

#: dlib's 5-point template on the unit square (``get_face_chip_details`` in
#: dlib/image_transforms/interpolation.h), in the order of dlib's 5-point predictor:
#: image-right eye outer and inner corner, image-left eye outer and inner corner, nose base.
DLIB_5_UNIT = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
    dtype=np.float64,
)


def dlib_chip_template(size: int = 150, padding: float = 0.25) -> np.ndarray:
    """dlib's template in chip pixels, float64 ``(5, 2)``, as ``get_face_chip`` builds it."""
    return (padding + DLIB_5_UNIT) / (2 * padding + 1) * size


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` to ``dst``.

    The optimum of Umeyama's "Least-squares estimation of transformation parameters between two
    point patterns" (IEEE TPAMI 13(4), 1991) without reflection; see :func:`similarity_transforms`.

    Args:
        src: float ``(k, 2)`` points, ``k >= 2``.
        dst: float ``(k, 2)`` corresponding points.

    Returns:
        float64 ``(2, 3)`` affine matrix ``M`` with ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two (k, 2) point sets with k >= 2, got {src.shape} and {dst.shape}")
    return similarity_transforms(src[None], dst)[0]


def similarity_transforms(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """:func:`similarity_transform` of many point sets at once.

    In the plane a rotation with scale is multiplication by one complex number ``z``, and the
    ``z`` minimising ``sum |d_k - z s_k|^2`` over centred points is ``sum conj(s_k) d_k /
    sum |s_k|^2``: Umeyama's SVD solution in closed form (a tenth of its time a face). Point sets
    with no spread map by the identity rotation, as Umeyama's does.

    Args:
        src: float ``(B, k, 2)`` points.
        dst: float ``(k, 2)`` template, or ``(B, k, 2)``.

    Returns:
        float64 ``(B, 2, 3)``.
    """
    src = np.asarray(src, np.float64)
    dst = np.broadcast_to(np.asarray(dst, np.float64), src.shape)
    mu_s, mu_d = src.mean(1), dst.mean(1)
    s, d = src - mu_s[:, None], dst - mu_d[:, None]
    spread = (s**2).sum((1, 2))
    re = (s * d).sum((1, 2))
    im = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(1)
    flat = spread <= 0
    spread = np.where(flat, 1.0, spread)
    a, b = np.where(flat, 1.0, re / spread), np.where(flat, 0.0, im / spread)
    out = np.empty((len(src), 2, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = a, -b, b, a
    out[:, :, 2] = mu_d - np.einsum("bij,bj->bi", out[:, :, :2], mu_s)
    return out


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Sample a ``size`` x ``size`` crop of ``image`` (uint8 ``(H, W, 3)``) through ``matrix``.

    Areas outside the frame are black, as in insightface's ``norm_crop`` and dlib's chips.
    """
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)


def align_arcface(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Aligned ArcFace crops.

    Args:
        image: RGB uint8 ``(H, W, 3)`` frame.
        landmarks: float ``(n, 5, 2)`` ArcFace-order points in frame pixels.
        size: output side; the template scales with it (112 is the native size).

    Returns:
        uint8 ``(n, size, size, 3)``.
    """
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    if not len(landmarks):
        return np.zeros((0, size, size, 3), np.uint8)
    matrices = similarity_transforms(landmarks, ARCFACE_112 * (size / 112.0))
    return np.stack([warp(image, m, size) for m in matrices])


def visible_fraction(
    landmarks: np.ndarray, frame_shape: tuple[int, ...], region: tuple[slice, slice], size: int = 112
) -> np.ndarray:
    """Fraction of a region of each aligned ArcFace crop that lies inside the frame.

    A face cut by the frame edge aligns to a crop with a black area; this measures it without
    warping pixels, by mapping a 16x16 grid of the region back into the frame.

    Args:
        landmarks: float ``(n, 5, 2)`` ArcFace-order points in frame pixels.
        frame_shape: ``(H, W, ...)`` of the frame.
        region: rows and columns of the ``size`` crop to measure.

    Returns:
        float32 ``(n,)`` in [0, 1].
    """
    h, w = frame_shape[:2]
    rows, cols = (np.arange(size)[s] for s in region)
    gy, gx = np.meshgrid(
        np.linspace(rows[0], rows[-1], 16), np.linspace(cols[0], cols[-1], 16), indexing="ij"
    )
    grid = np.stack([gx.ravel(), gy.ravel()])
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    if not len(landmarks):
        return np.zeros(0, np.float32)
    # The grid back into the frame through each frame -> crop map [A | t]: A^-1 (grid - t).
    m = similarity_transforms(landmarks, ARCFACE_112 * (size / 112.0))
    inverse = np.linalg.inv(m[:, :, :2])
    x, y = np.moveaxis(inverse @ (grid - m[:, :, 2:]), 1, 0)
    inside = (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)
    return inside.mean(1).astype(np.float32)


def align_dlib_chip(
    image: np.ndarray, dlib_points: np.ndarray, size: int = 150, padding: float = 0.25
) -> np.ndarray:
    """Face chips as dlib's ``get_face_chip`` makes them for its ResNet embedder.

    Args:
        image: RGB uint8 ``(H, W, 3)`` frame.
        dlib_points: float ``(n, 5, 2)`` points in dlib's 5-point order (see
            :data:`DLIB_5_UNIT`), frame pixels.

    Returns:
        uint8 ``(n, size, size, 3)``.
    """
    dst = dlib_chip_template(size, padding)
    crops = [warp(image, similarity_transform(p, dst), size) for p in np.asarray(dlib_points)]
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)


def context_crop(image: np.ndarray, box: np.ndarray, *, scale: float = 2.0, size: int = 224) -> np.ndarray:
    """Unaligned square crop around a face box, showing its surroundings.

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        box: float ``(4,)`` xyxy.
        scale: side of the square relative to the box's longer side.
        size: output side in pixels.

    Returns:
        uint8 ``(size, size, 3)``; parts outside the frame are black.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * scale / 2
    k = size / (2 * half)
    m = np.array([[k, 0, size / 2 - k * cx], [0, k, size / 2 - k * cy]])
    return warp(image, m, size)


#: Where RetinaFace's five points (ArcFace order) fall in dlib's 150 px face chip (padding 0.25):
#: their mean position in the chips dlib's own 5-point predictor makes, over the 3777 LFW images of
#: View 2 folds 1-5 (``benchmarks/lfw_alignment/run.py``, ``benchmarks/lfw_alignment/result.json``).
#: Chips made from it gave dlib's ResNet 98.86% on the held-out folds 6-10, against 98.02% for the
#: chips of dlib's 68-point predictor on the same boxes.
FIVE_POINTS_IN_DLIB_CHIP = np.array(
    [[46.836, 46.055], [102.608, 45.616], [73.58, 77.75], [50.526, 104.095], [97.543, 103.875]],
    dtype=np.float64,
)


def align_dlib_chip_5(image: np.ndarray, landmarks: np.ndarray, size: int = 150) -> np.ndarray:
    """dlib-style 150 px face chips from ArcFace-order five points (a detector's), via
    :data:`FIVE_POINTS_IN_DLIB_CHIP`; uint8 ``(n, size, size, 3)``."""
    dst = FIVE_POINTS_IN_DLIB_CHIP * size / 150
    crops = [warp(image, similarity_transform(p, dst), size) for p in np.asarray(landmarks, np.float64)]
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)


def embedder_chips(
    alignment: str, image: np.ndarray, landmarks: np.ndarray, dlib5: np.ndarray | None
) -> np.ndarray:
    """The crops an embedder of ``alignment`` takes of faces in ``image``: ``arcface112`` crops
    from the ArcFace-order ``landmarks`` (n, 5, 2), or ``dlib150`` chips: from dlib's own five
    points ``dlib5`` (n, 5, 2) where dlib's predictor gave them, else from ``landmarks`` through
    :data:`FIVE_POINTS_IN_DLIB_CHIP`."""
    if alignment != "dlib150":
        return align_arcface(image, landmarks)
    if dlib5 is None:
        return align_dlib_chip_5(image, landmarks)
    return align_dlib_chip(image, dlib5)
