"""atheris harness: bytes from the fuzzer, written as a video file, opened and decoded by vidfiqa.
Any exception other than :class:`VideoError` (the one-line refusal every bad file must get) is a
finding.

    python tests/fuzz/fuzz_open_video.py CORPUS_DIR -max_total_time=60
"""

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from vidfiqa.video import ReadOptions, VideoError, open_video

_PATH = os.path.join(tempfile.mkdtemp(prefix="vidfiqa-fuzz-"), "input.mp4")


def test_one_input(data: bytes) -> None:
    with open(_PATH, "wb") as fh:
        fh.write(data)
    try:
        with open_video(_PATH, ReadOptions(max_frames=4)) as reader:
            for frame in reader:
                assert frame.image.ndim == 3 and frame.image.shape[2] == 3
    except VideoError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
