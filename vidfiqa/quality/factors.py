"""Training-free, interpretable face quality from component measures.

Every component is a number in [0, 1] (1 = ideal) with a documented formula, so a user can read
*why* a frame scored low. The overall score is their weighted geometric mean::

    Q = visibility * eyes_open * prod_i c_i ** (w_i / sum(w))

A geometric rather than arithmetic mean because the components fail independently and any one of
them can make a face useless for recognition: a profile face stays poor however sharp it is. It
keeps the range [0, 1], is monotone in every component, and a component at 1 costs nothing.
Visibility multiplies rather than joins the mean: a face partly outside the frame has lost that
part outright, and inside a seven-way geometric mean even a half-missing face lost only ~10%.

The components (sharpness, pose, exposure, contrast, size, visibility, confidence, eyes_open),
their formulas and constants: docs/models.md (`factors`: the formulas); each function below
states its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from vidfiqa.types import FaceBatch, QualityResult

#: Component weights of the geometric mean (normalised by their sum).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "sharpness": 0.30,
    "pose": 0.25,
    "exposure": 0.15,
    "contrast": 0.10,
    "size": 0.10,
    "confidence": 0.10,
}
#: Every component reported, in the order reasons list them.
#: Components that multiply the weighted geometric mean instead of joining it.
MULTIPLIERS = ("visibility", "eyes_open")
COMPONENTS = (*DEFAULT_WEIGHTS, *MULTIPLIERS)
#: Eye aspect ratios of closed and of fully open eyes (``eyes_open`` ramps between them).
EYES_CLOSED, EYES_OPEN = 0.15, 0.22

#: ``r`` at which sharpness reads 0.5: sharp, in-focus faces of the sample and shared clips have
#: r = 0.03-0.06 (0.6-0.75), a sigma=4 Gaussian blur brings r to ~0.006 (0.23).
SHARPNESS_R0 = 0.02
YAW_SIGMA = 25.0
PITCH_SIGMA = 30.0
NOSE_DEPTH_IOD = 0.55
NOSE_DEPTH_EYE_MOUTH = 0.5
#: Where the nose tip sits between the eye line and the mouth line, as a fraction, in a frontal
#: face: the median over the 62 mostly frontal portraits of shared/data's deepface set with
#: dlib's 68-point landmarks. The ArcFace template's own 0.495 would read them as 5 degrees down.
FRONTAL_NOSE_RATIO = 0.54
TEMPLATE_IOD = 35.0
EXPOSURE_MID, EXPOSURE_WIDTH = 120.0, 60.0
CONTRAST_SCALE = 20.0
#: Central region of the 112x112 ArcFace crop: brows to chin, cheek to cheek.
CENTRE = (slice(28, 104), slice(20, 92))
#: The face proper in the 112x112 crop, for visibility: forehead to chin, ear to ear.
FACE_REGION = (slice(12, 112), slice(8, 104))
_FLOOR = 1e-3


def visibility(visible: np.ndarray) -> np.ndarray:
    """The ``visibility`` component, float32 ``(B,)``, of the visible face fractions ``(B,)``."""
    return np.clip(2 * np.asarray(visible, np.float32) - 1, 0, 1)


def eyes_open(eye_openness: np.ndarray) -> np.ndarray:
    """The ``eyes_open`` component, float32 ``(B,)``, of eye aspect ratios ``(B,)``; NaN where
    they were not measured (``detector5`` landmarks), which outputs report as null: a face
    never looked at is not a face with open eyes. Scores count it as open (:func:`as_factor`)."""
    r = np.asarray(eye_openness, np.float32)
    return np.clip((r - EYES_CLOSED) / (EYES_OPEN - EYES_CLOSED), 0, 1)


def as_factor(component: np.ndarray) -> np.ndarray:
    """A component as a score uses it: an unmeasured one (NaN, :func:`eyes_open`) is neutral, 1."""
    return np.nan_to_num(np.asarray(component, np.float32), nan=1.0)


def head_pose(landmarks: np.ndarray, *, use_pitch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch in degrees from ArcFace-order landmarks.

    Args:
        landmarks: float ``(B, 5, 2)`` in frame pixels.
        use_pitch: bool ``(B,)``; where False, pitch is reported as 0.

    Returns:
        ``(yaw, pitch)``, float32 ``(B,)`` each; positive yaw = nose towards the image right,
        positive pitch = nose lower than frontal (looking down).
    """
    p = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    left, right, nose = p[:, 0], p[:, 1], p[:, 2]
    eyes_mid = (left + right) / 2
    mouth_mid = (p[:, 3] + p[:, 4]) / 2
    across = right - left
    iod = np.maximum(np.linalg.norm(across, axis=1), 1e-6)
    ux = across / iod[:, None]
    uy = np.stack([-ux[:, 1], ux[:, 0]], axis=1)  # down the face, perpendicular to the eye line

    def coords(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = q - eyes_mid
        return (d * ux).sum(1), (d * uy).sum(1)

    nose_x, nose_y = coords(nose)
    mouth_x, mouth_y = coords(mouth_mid)
    mouth_y = np.maximum(mouth_y, 1e-6)
    # Midline at the nose's height, interpolated between eye midpoint and mouth midpoint.
    midline_x = mouth_x * np.clip(nose_y / mouth_y, 0, 1)
    yaw = np.degrees(np.arctan((nose_x - midline_x) / (NOSE_DEPTH_IOD * iod)))
    pitch = np.degrees(np.arctan((nose_y / mouth_y - FRONTAL_NOSE_RATIO) / NOSE_DEPTH_EYE_MOUTH))
    if use_pitch is not None:
        pitch = np.where(use_pitch, pitch, 0.0)
    return yaw.astype(np.float32), pitch.astype(np.float32)


def _grey(crops: np.ndarray) -> np.ndarray:
    # ITU-R BT.601 luma, as cv2.COLOR_RGB2GRAY uses.
    return crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def sharpness_ratio(crops: np.ndarray) -> np.ndarray:
    """``var(LoG) / var(I)`` of the central region, float32 ``(B,)`` (see module docs)."""
    grey = _grey(crops)
    out = np.zeros(len(grey), np.float32)
    for i, g in enumerate(grey):
        smooth = cv2.GaussianBlur(g, (0, 0), 1.0)
        lap = cv2.Laplacian(smooth, cv2.CV_32F)[CENTRE]
        out[i] = lap.var() / max(float(g[CENTRE].var()), 1e-6)
    return out


class FactorQuality:
    """The training-free factor scorer (name ``factors``); scores in [0, 1].

    Args:
        weights: component -> weight; missing components get weight 0.
    """

    name = "factors"
    score_range = (0.0, 1.0)

    @classmethod
    def from_name(cls, name: str) -> FactorQuality:
        """``factors`` (the full score) or ``factors:<component>`` (one component alone, e.g.
        ``factors:sharpness``, for comparing components as quality measures)."""
        base, _, component = name.partition(":")
        if base != "factors":
            raise ValueError(f"not a factor scorer: {name!r}")
        if not component:
            return cls()
        if component not in COMPONENTS:
            raise ValueError(f"unknown quality component {component!r}; known: {', '.join(COMPONENTS)}")
        if component in MULTIPLIERS:
            scorer = cls({}, multipliers=(component,))
        else:
            scorer = cls({component: 1.0}, multipliers=("visibility",))
        scorer.name = name
        return scorer

    def __init__(
        self, weights: Mapping[str, float] | None = None, *, multipliers: tuple[str, ...] = MULTIPLIERS
    ):
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(
                f"unknown quality components {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}"
            )
        if any(w < 0 for w in weights.values()):
            raise ValueError(f"quality weights must be >= 0, got {weights}")
        self.weights = weights
        self.multipliers = multipliers

    def components(self, batch: FaceBatch) -> dict[str, np.ndarray]:
        """Every component in [0, 1] (:data:`COMPONENTS`), plus ``yaw`` and ``pitch`` (degrees)
        and ``sharpness_raw``."""
        crops = np.asarray(batch.crops)
        centre = _grey(crops)[:, CENTRE[0], CENTRE[1]].reshape(len(crops), -1)
        raw = sharpness_ratio(crops)
        yaw, pitch = head_pose(batch.landmarks, use_pitch=~np.asarray(batch.landmarks_estimated))
        lm = np.asarray(batch.landmarks, np.float32)
        iod = np.linalg.norm(lm[:, 1] - lm[:, 0], axis=1)
        mean = centre.mean(1)
        clipped = ((centre <= 5) | (centre >= 250)).mean(1)
        pose = np.exp(-0.5 * (yaw / YAW_SIGMA) ** 2) * np.exp(-0.5 * (pitch / PITCH_SIGMA) ** 2)
        comps = {
            "sharpness": raw / (raw + SHARPNESS_R0),
            "pose": pose,
            "exposure": np.exp(-0.5 * ((mean - EXPOSURE_MID) / EXPOSURE_WIDTH) ** 2) * (1 - clipped),
            "contrast": 1 - np.exp(-centre.std(1) / CONTRAST_SCALE),
            "size": np.minimum(1.0, iod / TEMPLATE_IOD),
            "visibility": visibility(batch.visible),
            "confidence": np.clip(np.asarray(batch.confidence, np.float32), 0, 1),
            "eyes_open": eyes_open(batch.eye_openness),
        }
        out = {k: np.asarray(v, np.float32) for k, v in comps.items()}
        out.update(yaw=yaw, pitch=pitch, sharpness_raw=raw)
        return out

    def score(self, batch: FaceBatch) -> QualityResult:
        factors = self.components(batch)
        total = sum(self.weights.values()) or 1.0  # no weights: the multipliers alone
        log_q = np.zeros(len(batch), np.float64)
        for name, w in self.weights.items():
            log_q += (w / total) * np.log(np.maximum(as_factor(factors[name]), _FLOOR))
        q = np.prod([as_factor(factors[m]) for m in self.multipliers], axis=0) * np.exp(log_q)
        return QualityResult(scores=q.astype(np.float32), factors=factors)
