"""onnxruntime sessions for vidfiqa's ONNX models: one provider choice and one thread policy.

Every ONNX model (RetinaFace, SFace, LightQNet) is opened here, so a device string means the
same for all of them and none of them spins idle threads on the cores that torch, dlib and the
decode thread use next.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any


def cpu_threads() -> int:
    """Threads an onnxruntime session may use: torch's pool size when torch is loaded (two
    runtimes in one process must not oversubscribe the cores), else the cores this process may
    run on (``os.cpu_count`` ignores taskset and cgroup pinning)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


def providers(device: str | None, model: str) -> list[Any]:
    """onnxruntime providers for a torch-style device string.

    Args:
        device: ``None`` (CUDA when onnxruntime has the CUDA provider, else the CPU), ``"cpu"``,
            ``"cuda"`` or ``"cuda:N"``.
        model: the model's name, for the error message.

    Raises:
        ValueError: an unknown device, or CUDA asked for without onnxruntime's CUDA provider.
    """
    import onnxruntime

    available = onnxruntime.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device is None:
        device = "cuda" if has_cuda else "cpu"
    if device == "cpu":
        return ["CPUExecutionProvider"]
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if match is None:
        raise ValueError(f"{model}: device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")
    if not has_cuda:
        raise ValueError(
            f"{model}: device {device!r} needs onnxruntime with the CUDAExecutionProvider "
            f"(onnxruntime-gpu); this one has {', '.join(available)}"
        )
    return [("CUDAExecutionProvider", {"device_id": int(match.group(1) or 0)}), "CPUExecutionProvider"]


def open_session(model: bytes | str, *, device: str | None, name: str) -> Any:
    """An ``onnxruntime.InferenceSession`` of a serialised graph or a file path on ``device``.

    Idle threads do not spin after a run: with spinning, the pipeline ran 13-25% slower on two
    cores with another process on one of them.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = cpu_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, sess_options=options, providers=providers(device, name))
