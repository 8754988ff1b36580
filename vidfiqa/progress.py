"""Progress bars on stderr for the frames of one video."""

from __future__ import annotations

from tqdm import tqdm

from vidfiqa.video import ReadOptions, VideoInfo, count_frames_estimate


class FrameProgress:
    """A bar that appears once the video has opened, sized to the frames the read will yield
    (after stride and time window), and that ends at the count actually read.

    Pass :meth:`opened` as ``on_open`` and :meth:`update` as ``progress`` to the pipeline; use as
    a context manager so the bar is closed whatever happens.

    Args:
        name: shown before the bar (the file name).
        options: the read options, to size the bar from the container's frame count.
        enabled: ``False`` shows nothing.
    """

    def __init__(self, name: str, options: ReadOptions, *, enabled: bool = True):
        self.name = name
        self.options = options
        self.enabled = enabled
        self._bar: tqdm | None = None

    def opened(self, info: VideoInfo) -> None:
        # Created here, not before: a bar made before the total is known prints a stray
        # "0frame [00:00, ?frame/s]" line for every file.
        if self.enabled and self._bar is None:
            self._bar = tqdm(
                total=count_frames_estimate(info, self.options),
                desc=self.name,
                unit="frame",
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is None:
            return
        # A container's frame count is an estimate (one off, or a cut file): end at what was read,
        # and draw that last state, which the bar's rate limit may have skipped.
        self._bar.total = self._bar.n
        self._bar.refresh()
        self._bar.close()
        self._bar = None

    def __enter__(self) -> FrameProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
