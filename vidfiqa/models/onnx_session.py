"""Sessions for vidfiqa's ONNX models: one provider choice and one thread policy.

Every ONNX model (RetinaFace, SFace, LightQNet) is opened here, so a device string means the
same for all of them and none of them spins idle threads on the cores that torch, dlib and the
decode thread use next. The graphs whose bytes vidfiqa holds (RetinaFace, SFace) also reach CUDA
without onnxruntime-gpu: :func:`open_graph` runs them with torch there (:mod:`onnx_torch`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from vidfiqa.device import no_tf32, usable_cpus


def cpu_threads() -> int:
    """Threads an onnxruntime session may use: torch's pool size when torch is loaded (two
    runtimes in one process must not oversubscribe the cores; vidfiqa sets it,
    :func:`vidfiqa.device.set_cpu_threads`), else the cores this process may run on."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    return usable_cpus()


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


class TorchGraph:
    """A graph run by torch on a CUDA device, with the two methods of an onnxruntime session
    that vidfiqa calls (``run`` and ``get_providers``).

    Args:
        model: the serialised graph.
        device: a torch device string.
        prepare: applied on the device to the fed tensor before the graph (so a caller can send
            uint8 pixels, a quarter of float32's bytes, and normalise them where they land).
    """

    def __init__(self, model: bytes, device: str, prepare: Callable[[Any], Any] | None = None) -> None:
        from vidfiqa.models.onnx_torch import OnnxModule

        self.device = device
        self.module = OnnxModule(model).eval().to(device)
        self.prepare = prepare

    def get_providers(self) -> list[str]:
        """``["torch:cuda:N"]``: which runtime and device, in the place onnxruntime lists its own."""
        return [f"torch:{self.device}"]

    def run(self, output_names: list[str] | None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The graph's outputs (all of them; ``output_names`` must be ``None``) for its one input."""
        import torch

        if output_names is not None or list(feed) != [self.module.input_name]:
            raise ValueError(f"run takes None and {{{self.module.input_name!r}: array}}")
        array = np.ascontiguousarray(feed[self.module.input_name])
        n = len(array)
        if self.device.startswith("cuda"):
            # Batches padded to a power of two: few input shapes, each choosing its kernels once.
            padded = 1 << max(n - 1, 0).bit_length()
            array = np.concatenate([array, np.zeros((padded - n, *array.shape[1:]), array.dtype)])
        with torch.inference_mode(), no_tf32():
            x = torch.from_numpy(array).to(self.device)
            if self.prepare is not None:
                x = self.prepare(x)
            return [y[:n].float().cpu().numpy() for y in self.module(x)]


def open_graph(
    model: bytes, *, device: str | None, name: str, prepare: Callable[[Any], Any] | None = None
) -> Any:
    """:func:`open_session` where onnxruntime can run ``device``, else a :class:`TorchGraph` on
    CUDA (with ``prepare``, see there). ``None`` means CUDA when either runtime has it:
    onnxruntime's CUDA provider first, then torch's CUDA."""
    import onnxruntime

    from vidfiqa.device import resolve_device

    wants_cuda = device is None or device.startswith("cuda")
    if not wants_cuda or "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return open_session(model, device=device, name=name)
    resolved = resolve_device(device)
    if resolved == "cpu":
        return open_session(model, device="cpu", name=name)
    return TorchGraph(model, resolved, prepare)


def on_cuda(session: Any) -> bool:
    """Whether a session from :func:`open_graph` or :func:`open_session` runs on a GPU."""
    return any("cuda" in p.lower() for p in session.get_providers())
