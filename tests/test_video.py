import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import pattern_frames, write_clip
from vidfiqa.video import ReadOptions, VideoError, count_frames_estimate, open_video, prefetch


def frame_number(image: np.ndarray) -> int:
    return round(float(image[:16, :16].mean()) / 8)


def test_pyav_reads_every_frame_with_pts_times(tiny_clip: Path) -> None:
    with open_video(tiny_clip) as reader:
        frames = list(reader)
        info = reader.info
    assert info.width == 96 and info.height == 64 and info.num_frames == 30
    assert info.fps == pytest.approx(30000 / 1001)
    assert [f.index for f in frames] == list(range(30))
    assert [frame_number(f.image) for f in frames] == list(range(30))
    # 29.97 fps is not 30: times come from pts * time_base.
    assert frames[29].time == pytest.approx(29 * 1001 / 30000, abs=1e-6)
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (64, 96, 3)


def test_stride_window_and_max_frames(tiny_clip: Path) -> None:
    with open_video(tiny_clip, ReadOptions(stride=3)) as reader:
        assert [f.index for f in reader] == list(range(0, 30, 3))
    window = ReadOptions(start=10 * 1001 / 30000, end=20 * 1001 / 30000)
    with open_video(tiny_clip, window) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(10, 20))
    assert [frame_number(f.image) for f in frames] == list(range(10, 20))
    with open_video(tiny_clip, ReadOptions(stride=2, max_frames=4)) as reader:
        assert [f.index for f in reader] == [0, 2, 4, 6]


def test_count_estimate_matches_read(tiny_clip: Path) -> None:
    options = ReadOptions(stride=4, max_frames=6)
    with open_video(tiny_clip, options) as reader:
        assert count_frames_estimate(reader.info, options) == len(list(reader)) == 6


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path: Path, rotation: int) -> None:
    image = np.zeros((64, 96, 3), np.uint8)
    image[:16, :32] = 255  # bright block top-left as stored
    path = write_clip(tmp_path / f"rot{rotation}.mp4", [image] * 3, rotation=rotation)
    with open_video(path) as reader:
        frames = list(reader)
        info = reader.info
    expected = np.rot90(image, k=rotation // 90)  # display rotation is counter-clockwise
    assert info.rotation == rotation
    assert (info.height, info.width) == expected.shape[:2]
    got = frames[0].image
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).mean() < 8


def test_raw_h264_stream_reads_with_index_times(shared_data: Path) -> None:
    with open_video(shared_data / "videos" / "foreman_cif.h264") as reader:
        frames = list(reader)
        info = reader.info
    assert (info.width, info.height) == (352, 288)
    assert len(frames) == 299
    assert frames[10].time == pytest.approx(10 / info.fps)


def test_decord_matches_pyav(tiny_clip: Path) -> None:
    with open_video(tiny_clip, ReadOptions(stride=2), backend="decord") as reader:
        dec = list(reader)
    with open_video(tiny_clip, ReadOptions(stride=2)) as reader:
        pav = list(reader)
    assert [f.index for f in dec] == [f.index for f in pav]
    assert [f.time for f in dec] == pytest.approx([f.time for f in pav], abs=1e-3)
    for a, b in zip(dec, pav):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 3


def test_decord_refuses_raw_stream_with_video_error(shared_data: Path) -> None:
    with pytest.raises(VideoError, match="foreman_cif.h264"):
        open_video(shared_data / "videos" / "foreman_cif.h264", backend="decord")


def test_bad_paths_and_files(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such file"):
        open_video(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="is a directory"):
        open_video(tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty file"):
        open_video(empty)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="noise.mp4"), open_video(noise) as reader:
        list(reader)


def test_truncated_file_keeps_the_decodable_frames(tmp_path: Path) -> None:
    # Matroska writes its index as it goes, so a cut file still yields its first frames (an mp4
    # whose moov atom was cut off is unreadable, and must fail cleanly instead).
    frames = pattern_frames(60)
    whole = write_clip(tmp_path / "whole.mkv", frames, rate=Fraction(25))
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with open_video(cut) as reader:
        got = list(reader)
    numbers = [frame_number(f.image) for f in got]
    assert 0 < len(got) < 60
    assert numbers[0] == 0 and numbers == sorted(set(numbers))
    mp4 = write_clip(tmp_path / "whole.mp4", frames).read_bytes()
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(mp4[: len(mp4) // 2])
    with pytest.raises(VideoError, match=r"cut\.mp4: cannot open video \(Invalid data"):
        open_video(cut_mp4)


def test_unknown_backend_is_rejected(tiny_clip: Path) -> None:
    with pytest.raises(ValueError, match="unknown video backend"):
        open_video(tiny_clip, backend="opencv")  # type: ignore[arg-type]


def test_prefetch_yields_the_same_frames_and_stays_bounded(tiny_clip: Path) -> None:
    with open_video(tiny_clip) as reader:
        direct = [frame_number(f.image) for f in reader]
    with open_video(tiny_clip) as reader:
        assert [frame_number(f.image) for f in prefetch(iter(reader), 3)] == direct
    produced: list[int] = []

    def source():
        for i in range(100):
            produced.append(i)
            yield i

    frames = prefetch(source(), depth=4)
    assert next(frames) == 0
    time.sleep(0.2)
    # One taken, four waiting, one held by the thread until there is room.
    assert len(produced) <= 6
    frames.close()  # stops the thread
    assert not any(t.name == "vidfiqa-decode" for t in threading.enumerate())


def test_prefetch_raises_the_decoders_error_where_it_happened() -> None:
    def source():
        yield 1
        yield 2
        raise VideoError("clip.mp4", "broken at 3")

    frames = prefetch(source(), depth=2)
    assert [next(frames), next(frames)] == [1, 2]
    with pytest.raises(VideoError, match="broken at 3"):
        next(frames)
