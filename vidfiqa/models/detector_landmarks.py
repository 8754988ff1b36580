"""The detector's own five points as the landmarks: no landmark model runs.

RetinaFace (and SCRFD) regress the five ArcFace points with each box. Between key frames the
pipeline interpolates them with the boxes. On LFW View 2 these points, mapped into dlib's chip by
:data:`vidfiqa.align.FIVE_POINTS_IN_DLIB_CHIP`, gave dlib's ResNet 98.79% 10-fold accuracy
(EER 1.04%) against 97.75% (EER 2.12%) for dlib's 68-point predictor on the same boxes, at 0.2 ms
instead of 6 ms a face (``benchmarks/lfw_alignment.json``). What it lacks: the 68 points' eye
contours (no eye openness) and dlib's own five points.
"""

from __future__ import annotations

import numpy as np

from vidfiqa.types import Detections


class DetectorLandmarks:
    """Landmarker ``detector5``: keeps the landmarks the detector (or interpolation) gave."""

    name = "detector5"

    def landmark(self, image: np.ndarray, detections: Detections) -> Detections:
        """The same rows, their detector landmarks kept and marked measured.

        Raises:
            ValueError: the detector gives no landmarks (dlib's HOG and MMOD do not).
        """
        if detections.landmarks is None:
            if len(detections):
                raise ValueError("landmarks 'detector5' need a detector that gives them (retinaface, scrfd)")
            detections.landmarks = np.zeros((0, 5, 2), np.float32)
        detections.data["landmarks_estimated"] = np.zeros(len(detections), bool)
        return detections
