"""Video readers: PyAV (default) and decord behind one interface.

Both yield :class:`~vidfiqa.types.Frame` objects with RGB ``uint8`` images, the display rotation
of the file already applied, and times taken from presentation timestamps.
"""

from __future__ import annotations

import itertools
import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, TypeVar

import av
import numpy as np

from vidfiqa.inputs import PathError, input_problem
from vidfiqa.types import Frame

Backend = Literal["pyav", "decord"]
BACKENDS: tuple[Backend, ...] = ("pyav", "decord")

#: Fallback frame rate when a stream declares none (raw elementary streams may not).
DEFAULT_FPS = 25.0


class VideoError(PathError):
    """A video that cannot be opened or decoded; the message is one line naming the file
    (``path``), ``reason`` the same without it."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container says about the video stream.

    Attributes:
        path: the file.
        width, height: frame size after rotation, in pixels.
        fps: average frame rate (``DEFAULT_FPS`` when the stream declares none).
        num_frames: frame count from the container, ``None`` when unknown (raw streams).
        duration: seconds, ``None`` when unknown.
        codec: decoder name.
        pix_fmt: the stream's pixel format before conversion to RGB.
        rotation: counter-clockwise display rotation in degrees (0, 90, 180 or 270).
        still: the file is a still image (jpg, png, ...), read as a one-frame video.
    """

    path: str
    width: int
    height: int
    fps: float
    num_frames: int | None
    duration: float | None
    codec: str
    pix_fmt: str | None
    rotation: int
    still: bool = False


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """Which frames to read.

    Attributes:
        stride: keep every ``stride``-th decoded frame (1 keeps all). Skipped frames are still
            decoded (inter-frame codecs need them) but not converted to RGB, the costly part.
        start, end: time window in seconds; ``None`` leaves that side open. Frames before
            ``start`` are decoded and dropped, so frame indices stay exact.
        max_frames: stop after yielding this many frames.
        threads: decoder threads; 0 lets the library choose.
    """

    stride: int = 1
    start: float | None = None
    end: float | None = None
    max_frames: int | None = None
    threads: int = 0

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")

    def wants(self, index: int, time: float) -> bool:
        """Whether the frame at ``index``/``time`` passes stride and start (not end)."""
        if self.start is not None and time < self.start - 1e-9:
            return False
        return index % self.stride == 0

    def past_end(self, time: float) -> bool:
        return self.end is not None and time >= self.end


def _normalise_rotation(degrees: float) -> int:
    return int(round(degrees / 90.0)) % 4 * 90


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation, as players do."""
    if rotation == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=rotation // 90))


def _check_path(path: str | os.PathLike[str]) -> str:
    problem = input_problem(path)
    if problem is not None:
        raise VideoError(path, problem)
    return str(Path(path))


def _reason(exc: BaseException) -> str:
    # FFmpeg errors repeat the path in str(); strerror alone is the reason.
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0].strip()


#: FFmpeg demuxers of single still images (``image2`` reads one file when given one).
_STILL_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe")


class PyAVReader:
    """Decode with PyAV (FFmpeg).

    Damage is skipped and counted: ``errors`` packets the decoder rejected, ``damaged_frames``
    frames it flagged corrupt (lost slices filled in by error concealment, whose pixels are
    guesses a quality scorer must not see). ``sizes`` lists ``(first frame index, width,
    height)`` for every run of frames of one size: a damaged or spliced stream may change
    resolution mid-way, and each frame keeps its own size (boxes found in it are in its pixels).

    Use as a context manager; iterate to get frames. Example::

        with PyAVReader("clip.mp4", ReadOptions(stride=2)) as reader:
            for frame in reader:
                ...
    """

    def __init__(self, path: str | os.PathLike[str], options: ReadOptions | None = None) -> None:
        self.path = _check_path(path)
        self.options = options or ReadOptions()
        self.errors = 0
        self.damaged_frames = 0
        self.sizes: list[tuple[int, int, int]] = []
        try:
            self._container = av.open(self.path)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise VideoError(self.path, f"cannot open video ({_reason(exc)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(self.path, "no video stream")
        self._stream = self._container.streams.video[0]
        if self._stream.codec_context is None:
            # The container names a codec FFmpeg cannot decode (or a damaged header names none).
            self._container.close()
            raise VideoError(self.path, "unsupported or unknown video codec")
        self._stream.thread_type = "AUTO"
        if self.options.threads:
            self._stream.codec_context.thread_count = self.options.threads
        self.info = self._probe()

    def _probe(self) -> VideoInfo:
        s = self._stream
        rate = s.average_rate or s.guessed_rate
        fps = float(rate) if rate else DEFAULT_FPS
        rotation = self._first_frame_rotation()
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        width, height = s.codec_context.width, s.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=self.path,
            width=width,
            height=height,
            fps=fps,
            num_frames=s.frames or None,
            duration=duration,
            codec=s.codec_context.name,
            pix_fmt=s.codec_context.pix_fmt,
            rotation=rotation,
            still=self._container.format.name in _STILL_FORMATS,
        )

    def _first_frame_rotation(self) -> int:
        # The display matrix is side data of each decoded frame; PyAV exposes it nowhere else,
        # so peek at the first frame through a second handle that leaves this one untouched.
        try:
            with av.open(self.path) as peek:
                for frame in peek.decode(video=0):
                    return _normalise_rotation(frame.rotation)
        except av.error.FFmpegError:
            pass
        return 0

    def __enter__(self) -> PyAVReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def _frame_time(self, frame: av.VideoFrame, index: int, origin: Fraction | None) -> float:
        if frame.pts is None or frame.time_base is None:
            return index / self.info.fps
        return float(frame.pts * frame.time_base - (origin or 0))

    def __iter__(self) -> Iterator[Frame]:
        opts = self.options
        index = 0
        yielded = 0
        origin = None
        if self._stream.start_time is not None and self._stream.time_base is not None:
            origin = self._stream.start_time * self._stream.time_base
        try:
            for packet in self._container.demux(self._stream):
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError:
                    self.errors += 1
                    continue
                for frame in decoded:
                    time = self._frame_time(frame, index, origin)
                    if opts.past_end(time):
                        return
                    if frame.is_corrupt:
                        self.damaged_frames += 1
                    elif opts.wants(index, time):
                        image = frame.to_ndarray(format="rgb24")
                        image = _rotate(image, _normalise_rotation(frame.rotation))
                        if not self.sizes or self.sizes[-1][1:] != (image.shape[1], image.shape[0]):
                            self.sizes.append((index, image.shape[1], image.shape[0]))
                        yield Frame(index=index, time=time, image=image)
                        yielded += 1
                        if opts.max_frames is not None and yielded >= opts.max_frames:
                            return
                    index += 1
        except av.error.FFmpegError as exc:
            # The demuxer itself gave up (truncated container): keep what was decoded.
            self.errors += 1
            if index == 0:
                raise VideoError(self.path, f"cannot decode video ({_reason(exc)})") from None
        if index == 0:
            raise VideoError(self.path, "no decodable video frames")


class DecordReader:
    """Decode with decord, in batches. Rotation is read with PyAV, since decord ignores it.

    decord needs a container with an index: raw elementary streams (``.h264``) are refused with
    a :class:`VideoError`; use the PyAV reader for them.
    """

    #: Frames fetched per ``get_batch`` call: bounds memory while amortising call overhead.
    batch_size = 16

    def __init__(self, path: str | os.PathLike[str], options: ReadOptions | None = None) -> None:
        import decord

        self.path = _check_path(path)
        self.options = options or ReadOptions()
        self.errors = 0
        # decord reports neither concealed frames nor size changes (it scales to one size).
        self.damaged_frames = 0
        self.sizes: list[tuple[int, int, int]] = []
        with PyAVReader(self.path) as probe:
            probed = probe.info
        try:
            self._reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=self.options.threads)
        except (decord.DECORDError, RuntimeError) as exc:
            raise VideoError(self.path, f"decord cannot open video ({_reason(exc)})") from None
        if len(self._reader) == 0:
            raise VideoError(self.path, "decord found no frames")
        fps = float(self._reader.get_avg_fps()) or probed.fps
        self.info = VideoInfo(
            path=self.path,
            width=probed.width,
            height=probed.height,
            fps=fps,
            num_frames=len(self._reader),
            duration=probed.duration,
            codec=probed.codec,
            pix_fmt=probed.pix_fmt,
            rotation=probed.rotation,
            still=probed.still,
        )

    def __enter__(self) -> DecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader = None

    def __iter__(self) -> Iterator[Frame]:
        opts = self.options
        times = self._reader.get_frame_timestamp(np.arange(len(self._reader)))[:, 0]
        wanted = [
            i
            for i in range(len(self._reader))
            if opts.wants(i, float(times[i])) and not opts.past_end(float(times[i]))
        ]
        if opts.max_frames is not None:
            wanted = wanted[: opts.max_frames]
        for lo in range(0, len(wanted), self.batch_size):
            chunk = wanted[lo : lo + self.batch_size]
            images = self._reader.get_batch(chunk).asnumpy()
            for i, image in zip(chunk, images):
                yield Frame(index=i, time=float(times[i]), image=_rotate(image, self.info.rotation))


def open_video(
    path: str | os.PathLike[str],
    options: ReadOptions | None = None,
    *,
    backend: Backend = "pyav",
) -> PyAVReader | DecordReader:
    """Open ``path`` with the chosen backend.

    Raises:
        VideoError: missing, empty, unreadable file or no video stream (one-line message).
        ValueError: unknown backend.
    """
    if backend == "pyav":
        return PyAVReader(path, options)
    if backend == "decord":
        return DecordReader(path, options)
    raise ValueError(f"unknown video backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: Fraction | int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    rotation: int = 0,
) -> Path:
    """Encode RGB uint8 ``(H, W, 3)`` frames with PyAV, one frame per ``1/fps`` tick; ``frames``
    may be a generator (read one at a time, so a long video need not fit in memory).

    Args:
        options: encoder options, e.g. ``{"crf": "26", "preset": "medium"}`` for libx264.
        rotation: counter-clockwise display rotation written as stream metadata.
    """
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = 1 / Fraction(fps)
        if options:
            stream.options = options
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(itertools.chain([first], frames)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


def count_frames_estimate(info: VideoInfo, options: ReadOptions) -> int | None:
    """Expected number of frames a read yields, for progress bars; ``None`` if unknown."""
    total = info.num_frames
    if total is None and info.duration is not None:
        total = int(round(info.duration * info.fps))
    if total is None:
        return None
    first = 0 if options.start is None else int(math.ceil(options.start * info.fps))
    last = total if options.end is None else min(total, int(math.ceil(options.end * info.fps)))
    n = max(0, math.ceil((last - first) / options.stride))
    return n if options.max_frames is None else min(n, options.max_frames)


_END = object()
T = TypeVar("T")


def prefetch(frames: Iterator[T], depth: int = 8, *, name: str = "vidfiqa-decode") -> Iterator[T]:
    """Yield ``frames``, decoded ahead on a background thread (named ``name``) with at most
    ``depth`` frames waiting, so decoding overlaps the work done on each frame (PyAV and decord
    release the GIL while decoding). Memory stays bounded by ``depth`` frames. An exception of the
    decoder is raised here, at the frame where it happened; closing this generator early stops
    the thread. ``depth`` 0 yields ``frames`` unchanged. Any iterator works the same way (the
    pipeline runs detection and tracking ahead of landmarks and quality with it).
    """
    if depth <= 0:
        yield from frames
        return
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=decode, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
