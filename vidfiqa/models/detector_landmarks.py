"""The detector's own five points as the landmarks, optionally with eye openness from dlib.

RetinaFace (and SCRFD) regress the five ArcFace points with each box. Between key frames the
pipeline interpolates them with the boxes. On LFW View 2 these points, mapped into dlib's chip by
:data:`vidfiqa.align.FIVE_POINTS_IN_DLIB_CHIP`, gave dlib's ResNet 98.79% 10-fold accuracy
(EER 1.04%) against 97.75% (EER 2.12%) for dlib's 68-point predictor on the same boxes, at 0.2 ms
instead of 4-6 ms a face (``benchmarks/lfw_alignment/result.json``). What the five points lack is the 68
points' eye contours, so ``detector5`` measures no eye openness; ``detector5-eyes`` runs dlib's
68-point predictor on the faces of key frames for their eye aspect ratio only, on a chip the five
points align (seven starts, ~6 ms a face: :func:`vidfiqa.models.dlib_models.eye_openness_aligned`);
the pipeline interpolates it between key frames like the boxes, or measures it there too where
the eyes move (:meth:`DetectorLandmarks.measure_eyes`), and still aligns by the detector's points.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from vidfiqa.types import Detections


class DetectorLandmarks:
    """Landmarker ``detector5`` (``eyes=False``) or ``detector5-eyes``: keeps the landmarks the
    detector (or interpolation) gave.

    Args:
        eyes: measure eye openness on detected rows (``interpolated`` false): when the
            detections come with a ``data["eye_aspect"]`` column (the video pipeline's), that
            one (float32 ``(n,)``, the less open eye's aspect ratio on a chip the five points
            align: :func:`vidfiqa.models.dlib_models.eye_openness_aligned`; the track gate's);
            otherwise ``data["eye_openness"]`` (dlib's 68 points' eye aspect ratio on the
            detector's box, what the scorers' per-image ``eyes_open`` reads). Interpolated rows keep the value
            interpolation gave them, or NaN (not measured). Boxes that come
            without points (a dataset's labelled faces, dlib's detectors) then get dlib's 68
            points, alignment included.
        process: with ``eyes``, run dlib in a child process
            (:class:`~vidfiqa.models.dlib_process.DlibProcessLandmarker`, same results) rather
            than on the calling thread, where it holds the GIL that a detection thread needs;
            on Linux only (elsewhere on the calling thread).
    """

    def __init__(self, *, eyes: bool = False, process: bool = False):
        self.name = "detector5-eyes" if eyes else "detector5"
        self._dlib = None
        if eyes:
            from vidfiqa.models import dlib_process

            if process and dlib_process.available():
                self._dlib = dlib_process.DlibProcessLandmarker()
            else:
                from vidfiqa.models.dlib_models import DlibLandmarker

                self._dlib = DlibLandmarker(points=68)

    def start(self, image: np.ndarray, detections: Detections) -> Any:
        """Start measuring what :meth:`landmark` of the same ``image`` and ``detections`` will
        measure, where that can run beside the caller (the eye measure of the video pipeline,
        in dlib's child process): a handle to give :meth:`landmark` as ``started``, or ``None``
        when there is nothing to start."""
        start = getattr(self._dlib, "start_eye_openness", None)
        if start is None or detections.landmarks is None or "eye_aspect" not in detections.data:
            return None
        rows = ~detections.interpolated  # those landmark() measures
        return start(image, detections.landmarks[rows]) if rows.any() else None

    def landmark(self, image: np.ndarray, detections: Detections, started: Any = None) -> Detections:
        """New detections of the same rows, their detector landmarks kept and marked measured
        (``detections`` is left as it was); ``started``: :meth:`start`'s handle for the same
        ``image`` and ``detections``, whose measure is then used rather than taken again.

        Raises:
            ValueError: the detector gives no landmarks (dlib's HOG and MMOD do not).
        """
        n = len(detections)
        if detections.landmarks is None and n and self._dlib is not None:
            # Boxes without points (a dataset's labelled boxes, dlib's detectors): dlib's 68
            # points align them, as the dlib68 landmarker would.
            return self._dlib.landmark(image, detections)
        if detections.landmarks is None and n:
            raise ValueError(f"landmarks '{self.name}' need a detector that gives them (retinaface, scrfd)")
        landmarks = np.zeros((0, 5, 2), np.float32) if detections.landmarks is None else detections.landmarks
        data = dict(detections.data)
        if self._dlib is not None:
            # One measure or the other: where the caller asks for it by giving the column (the
            # video pipeline, whose scorer never reads the per-image one), the stable one the
            # track-level blink gate reads (aligned chip, seven predictor runs); otherwise the
            # per-image one the scorers' absolute eyes_open was set on (dlib's points on the
            # detector's box; single images and evaluations keep their scores).
            measured = ~detections.interpolated
            if "eye_aspect" in detections.data:
                aspect = np.asarray(detections.data["eye_aspect"], np.float32).copy()
                if started is not None:
                    aspect[measured] = started.result()
                elif measured.any():
                    aspect[measured] = self._dlib.eye_openness(image, landmarks[measured])
                data["eye_aspect"] = aspect
            else:
                eyes = np.asarray(detections.data.get("eye_openness", np.full(n, np.nan)), np.float32).copy()
                if measured.any():
                    eyes[measured] = self._dlib.landmark(image, detections[measured]).data["eye_openness"]
                data["eye_openness"] = eyes
        return replace(detections, landmarks=landmarks, landmarks_estimated=np.zeros(n, bool), data=data)

    def measure_eyes(self, image: np.ndarray, detections: Detections, rows: np.ndarray) -> Detections:
        """``detections`` with ``data["eye_aspect"]`` (the track gate's measure, see
        :meth:`landmark`) of ``rows`` (bool ``(n,)``) measured on ``image``, interpolated rows
        included (new detections; ``detections`` is left as it was): the pipeline asks for this
        on frames between key frames where a track's eyes move. ``detections`` itself for
        ``detector5``, no rows or no landmarks."""
        rows = np.asarray(rows, bool)
        if self._dlib is None or not rows.any() or detections.landmarks is None:
            return detections
        n = len(detections)
        aspect = np.asarray(detections.data.get("eye_aspect", np.full(n, np.nan)), np.float32).copy()
        # Interpolated points lag a moving face: the eyes are found again before measuring.
        aspect[rows] = self._dlib.eye_openness(image, detections.landmarks[rows], refine=True)
        return replace(detections, data={**detections.data, "eye_aspect": aspect})
