"""Hard shot-cut detection from colour-histogram change, against the last few frames."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

Histograms = tuple[np.ndarray, np.ndarray]


class ShotDetector:
    """Flags a cut when a frame's colour histograms differ from those of each of the last
    ``memory`` frames, and sharply more than consecutive frames of the shot have been differing.

    The distance is Bhattacharyya's (0 = identical, 1 = disjoint) between 16x8 hue-saturation
    histograms of a 64-px-wide thumbnail, or between 8-bin value histograms when that is larger,
    so that cuts between grey scenes are seen too. A frame starts a shot when its distance to the
    most similar of the last ``memory`` frames is above ``threshold`` and above ``ratio`` times
    the median distance between the recent consecutive frames.

    Why two rules and a memory: a cut between two scenes of the same colours (a street after a
    close-up in front of the same street: 0.36 in Tears of Steel, where noise and motion give
    0.05-0.15) needs a threshold well below the 0.7 of a cut between unlike scenes; the ratio
    keeps that low threshold from firing on long gradual changes (a lighting dip with noise:
    0.2-0.26 between every two frames); and the memory keeps a flickering light or a flash from
    cutting at every change: a frame like one of the last few is no new shot (the same clip's
    hologram flickers every two frames at 0.55-0.61, which fired seven cuts where there is none).
    Its first change still cuts. A shot lasts ``min_length`` frames at least, as in
    PySceneDetect, since right after a cut there is no history to compare with. Cheap (~0.1 ms a
    frame at any size) and blind to gradual transitions.

    Args:
        threshold: least distance of a cut.
        ratio: least multiple of the recent consecutive distances' median.
        memory: frames a new frame is compared with.
        window: recent consecutive distances whose median is the shot's own change.
        min_length: frames of the shortest shot.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.3,
        ratio: float = 2.5,
        memory: int = 4,
        window: int = 8,
        min_length: int = 4,
    ):
        if not 1 <= min_length <= window + 1:
            # The shot's length is read off its recorded steps, which keep ``window``.
            raise ValueError(f"min_length must be within 1..window + 1, got {min_length}")
        self.threshold = threshold
        self.ratio = ratio
        self.min_length = min_length
        self._recent: deque[Histograms] = deque(maxlen=memory)
        #: Distances between the consecutive frames of the current shot (its frames less one).
        self._steps: deque[float] = deque(maxlen=window)

    @staticmethod
    def _histograms(image: np.ndarray) -> Histograms:
        h, w = image.shape[:2]
        # Every s-th pixel first (s keeps at least 128 columns): area averaging of the whole
        # frame took 9 ms a 1080p frame, longer than the rest of the detector, for a histogram.
        s = max(1, w // 128)
        thumb = cv2.resize(image[::s, ::s], (64, max(1, round(64 * h / w))), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
        hs = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        v = cv2.calcHist([hsv], [2], None, [8], [0, 256])
        return hs, v

    @staticmethod
    def distance(a: Histograms, b: Histograms) -> float:
        """The larger of the hue-saturation and the value histograms' Bhattacharyya distances."""
        return max(
            cv2.compareHist(a[0], b[0], cv2.HISTCMP_BHATTACHARYYA),
            cv2.compareHist(a[1], b[1], cv2.HISTCMP_BHATTACHARYYA),
        )

    def update(self, image: np.ndarray) -> bool:
        """Whether ``image`` (RGB uint8) starts a new shot; the first frame never does."""
        current = self._histograms(image)
        distances = [self.distance(h, current) for h in self._recent]
        self._recent.append(current)
        if not distances:
            return False
        long_enough = len(self._steps) + 1 >= self.min_length
        usual = float(np.median(self._steps)) if self._steps else 0.0
        cut = long_enough and min(distances) > max(self.threshold, self.ratio * usual)
        if cut:  # the new shot's own change is measured afresh; the frames before stay remembered
            self._steps.clear()
        else:
            self._steps.append(distances[-1])
        return cut
