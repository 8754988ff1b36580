"""Which torch device a model runs on: the one place that turns ``cpu``, ``cuda``, ``cuda:N``,
``auto`` (or nothing) into a device, and that says in one line why CUDA cannot be had.

Asking for CUDA on a machine without it is an environment error, not a property of a video: the
commands check the configured device before any work (:func:`check_device`), so that it is never
recorded against the files of a batch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

#: What ``--device`` takes; a config may also name ``cuda:N``.
DEVICE_CHOICES = ("cpu", "cuda", "auto")
_DEVICE = re.compile(r"cpu|auto|cuda(?::\d+)?")


class DeviceError(ValueError):
    """A device that cannot be used here; the message is one line."""


def valid_device(device: str | None) -> str | None:
    """``device`` if it is spelt as a device (``cpu``, ``cuda``, ``cuda:N``, ``auto``) or ``None``.

    Raises:
        DeviceError: any other text.
    """
    if device is not None and not _DEVICE.fullmatch(device):
        raise DeviceError(f"device must be cpu, cuda, cuda:N or auto, not {device!r}")
    return device


def resolve_device(device: str | None = None) -> str:
    """The torch device ``device`` names: ``None`` and ``auto`` are ``cuda`` when torch sees a
    CUDA device, else ``cpu``; ``cuda`` and ``cuda:N`` must be there.

    Raises:
        DeviceError: a malformed name, or CUDA asked for where there is none (torch built
            without CUDA, no device visible, or no device N).
    """
    import torch

    device = valid_device(device)
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if torch.version.cuda is None:
        raise DeviceError(f"no CUDA device: torch {torch.__version__} is a CPU build; use --device cpu")
    if not torch.cuda.is_available():
        raise DeviceError(
            "no CUDA device visible (no driver, or CUDA_VISIBLE_DEVICES hides them); use --device cpu"
        )
    index = int(device.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"no CUDA device {index}: {count} visible")
    return device


def check_device(device: str | None) -> None:
    """Raise :class:`DeviceError` now if ``device`` asks for CUDA that is not there (``cpu``,
    ``auto`` and ``None`` always work, and need no torch import)."""
    if valid_device(device) not in (None, "auto", "cpu"):
        resolve_device(device)


@contextmanager
def no_tf32() -> Iterator[None]:
    """cuDNN convolutions in full float32 inside the block (torch lets them use TF32 on Ampere
    and later, which moved SFace templates of one track by cosine 0.006 against the CPU's); no
    effect on a CPU. ``torch.backends.cudnn.flags`` is not used: it also turns cuDNN off."""
    import torch

    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved


def usable_cpus() -> int:
    """The CPUs this process may run on (``os.sched_getaffinity``, which honours taskset and
    cgroup pinning; ``os.cpu_count`` where it is absent)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def set_cpu_threads(threads: int | None, *, stages: int = 1) -> int:
    """Set the CPU threads of torch (and so of the onnxruntime sessions opened afterwards, which
    take torch's count) and return it: ``threads``, or the usable CPUs shared among ``stages``
    threads that compute at once, at least 1. Many small intra-op threads waiting on each other
    are what slowed the pipeline ~20x when another process held a core."""
    import torch

    n = threads or max(1, usable_cpus() // max(1, stages))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
