"""A 720p talking head for the speed benchmark, made from ``talking_head_a.mp4`` (480x480).

Issue 15 sets its speed targets on a 720p talking head, and the shared data has none. This
scales every frame to 720x720 (Lanczos) and widens it to 1280x720 by repeating the edge pixels of
the plain studio wall behind the speaker, then encodes H.264 (libx264, CRF 23, preset medium,
yuv420p: x264's defaults) at the source's frame rate. The face is then ~390 px wide, as in a
webcam call or a news piece. It is a proxy: upscaled frames hold less detail than a camera's,
so they may decode a little faster than real 720p footage of the same length. The output is
derived from third-party media and is not committed.

    python scripts/make_talking_head_720p.py ../shared/data/videos/talking_head_a.mp4 /tmp/th720.mp4
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def widen(frame: np.ndarray, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` -> ``(size[1], size[0], 3)``: scaled to the target height, then
    padded left and right with the edge pixels."""
    w, h = size
    side = round(frame.shape[1] * h / frame.shape[0])
    scaled = cv2.resize(frame, (side, h), interpolation=cv2.INTER_LANCZOS4)
    left = (w - side) // 2
    return cv2.copyMakeBorder(scaled, 0, 0, left, w - side - left, cv2.BORDER_REPLICATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    args = parser.parse_args()
    try:
        encode(args.source, args.out)
    except (av.error.FFmpegError, OSError, IndexError) as error:
        parser.exit(1, f"make_talking_head_720p: cannot make {args.out} from {args.source}: {error}\n")


def encode(source: str, out: str) -> None:
    """Every frame of ``source``'s first video stream, widened, as H.264 into ``out``; ``out``
    is removed again if writing it fails, and left as it was if ``source`` cannot be read."""
    with av.open(source) as src:
        rate = src.streams.video[0].average_rate or Fraction(25)
        try:
            with av.open(out, "w") as dst:
                stream = dst.add_stream("libx264", rate=rate)
                stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
                stream.options = {"crf": "23", "preset": "medium"}
                for frame in src.decode(video=0):
                    image = widen(frame.to_ndarray(format="rgb24"))
                    dst.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                dst.mux(stream.encode())
        except BaseException:
            Path(out).unlink(missing_ok=True)  # no half-written clip
            raise


if __name__ == "__main__":
    main()
