"""Run the plain convolutional ONNX graphs that vidfiqa ships weights for (RetinaFace, SFace) with
torch, so they reach CUDA without onnxruntime-gpu and run single-threaded on CPU faster than
onnxruntime (docs: Performance).

:class:`OnnxModule` is an ``nn.Module`` built from the graph's nodes, executed in the graph's own
(topological) order. Initialisers become buffers, so ``.to(device)`` and channels-last work as for
any module; a ``BatchNormalization`` that only follows a ``Conv`` is folded into its weights.
Shape arithmetic (``Shape``, ``Gather``, ``Concat`` of shapes...) runs on numpy integers, as the
graph's constants do. Only the operators these graphs use are implemented; any other fails at
build time, naming it, rather than computing something else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

Value = torch.Tensor | np.ndarray

#: Operators whose every output is computed; anything else refuses the graph.
SUPPORTED = frozenset(
    {
        "Add", "BatchNormalization", "Cast", "Concat", "Constant", "Conv", "Dropout", "Flatten",
        "Gather", "Gemm", "Identity", "LeakyRelu", "Mul", "PRelu", "Relu", "Reshape", "Resize",
        "Shape", "Slice", "Softmax", "Sub", "Transpose", "Unsqueeze",
    }
)  # fmt: skip


#: Operators evaluated at build time when all their inputs are constants.
_FOLDABLE = frozenset({"Cast", "Concat", "Gather", "Identity", "Reshape", "Slice", "Unsqueeze"})


class UnsupportedGraph(ValueError):
    """The graph uses an operator or attribute this runner does not implement."""


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class OnnxModule(nn.Module):
    """An ONNX graph of the :data:`SUPPORTED` operators as a torch module.

    ``forward`` takes the graph's single input as a float32 tensor and returns its outputs in the
    graph's order, as a tuple of tensors. In inference it computes what onnxruntime computes up to
    float rounding (tests/test_onnx_torch.py holds it to the shipped graphs).
    """

    def __init__(self, model: bytes | onnx.ModelProto) -> None:
        super().__init__()
        graph = (onnx.load_from_string(model) if isinstance(model, bytes) else model).graph
        unknown = Counter(n.op_type for n in graph.node if n.op_type not in SUPPORTED)
        if unknown:
            raise UnsupportedGraph(f"operators this runner does not implement: {dict(unknown)}")
        initial = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.input_name = next(i.name for i in graph.input if i.name not in initial)
        self.output_names = [o.name for o in graph.output]
        consumers = Counter(name for n in graph.node for name in n.input)
        consumers.update(self.output_names)
        self._steps: list[tuple[Callable[..., Any], list[str], list[str]]] = []
        self._buffer_of: dict[str, str] = {}
        nodes = list(graph.node)
        skip: set[int] = set()
        for i, node in enumerate(nodes):
            if i in skip:
                continue
            a = _attrs(node)
            if node.op_type == "Constant":
                initial[node.output[0]] = numpy_helper.to_array(a["value"])
                continue
            if node.op_type == "Conv":
                bn = _following_batch_norm(nodes, i, consumers)
                weight = initial[node.input[1]].astype(np.float32)
                bias = (
                    initial[node.input[2]].astype(np.float32)
                    if len(node.input) > 2 and node.input[2]
                    else np.zeros(weight.shape[0], np.float32)
                )
                outputs = list(node.output)
                if bn is not None:
                    scale, shift = _batch_norm_affine(nodes[bn], initial)
                    weight = weight * scale[:, None, None, None]
                    bias = bias * scale + shift
                    outputs = list(nodes[bn].output)
                    skip.add(bn)
                self._steps.append((self._conv(len(self._steps), weight, bias, a), [node.input[0]], outputs))
                continue
            fn = self._op(node, a, initial)
            if node.op_type in _FOLDABLE and all(n in initial for n in node.input if n):
                # Constant subgraphs (PRelu slopes reshaped, fixed shapes) are computed once here.
                initial[node.output[0]] = np.asarray(fn(*(initial[n] for n in node.input if n)))
                continue
            self._steps.append((fn, list(node.input), list(node.output)))
        self._constants = {k: v for k, v in initial.items() if k not in self._buffer_of}

    def _buffer(self, name: str, array: np.ndarray) -> str:
        key = f"b{len(self._buffer_of)}"
        self.register_buffer(key, torch.from_numpy(np.array(array, np.float32)))
        self._buffer_of[name] = key
        return key

    def _conv(
        self, index: int, weight: np.ndarray, bias: np.ndarray, a: dict[str, Any]
    ) -> Callable[..., Any]:
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if pads[:2] != pads[2:] or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedGraph(f"Conv with asymmetric or automatic padding: {a}")
        w = self._buffer(f"conv{index}.weight", weight)
        b = self._buffer(f"conv{index}.bias", bias)
        stride, dilation, groups = (
            tuple(a.get("strides", (1, 1))),
            tuple(a.get("dilations", (1, 1))),
            a.get("group", 1),
        )

        def conv(x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(x, getattr(self, w), getattr(self, b), stride, tuple(pads[:2]), dilation, groups)

        return conv

    def _op(
        self, node: onnx.NodeProto, a: dict[str, Any], initial: dict[str, np.ndarray]
    ) -> Callable[..., Any]:
        op = node.op_type
        if op == "BatchNormalization":
            scale, shift = _batch_norm_affine(node, initial)
            s, t = (
                self._buffer(f"{node.output[0]}.scale", scale),
                self._buffer(f"{node.output[0]}.shift", shift),
            )

            def batch_norm(x: torch.Tensor, *_: Any) -> torch.Tensor:
                shape = (1, -1) + (1,) * (x.ndim - 2)
                return x * getattr(self, s).view(shape) + getattr(self, t).view(shape)

            return batch_norm
        if op == "PRelu":
            slope = self._buffer(node.input[1], initial[node.input[1]].reshape(-1))

            def prelu(x: torch.Tensor, _: Any) -> torch.Tensor:
                return F.prelu(x, getattr(self, slope))

            return prelu
        if op == "Gemm":
            if (
                a.get("transA", 0)
                or not a.get("transB", 0)
                or a.get("alpha", 1.0) != 1.0
                or a.get("beta", 1.0) != 1.0
            ):
                raise UnsupportedGraph(f"Gemm other than x @ W.T + b: {a}")
            w = self._buffer(node.input[1], initial[node.input[1]])
            b = self._buffer(node.input[2], initial[node.input[2]])
            return lambda x, *_: F.linear(x, getattr(self, w), getattr(self, b))
        if op in ("Add", "Sub", "Mul"):
            fn = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul}[op]
            names = [n for n in node.input if n in initial and initial[n].dtype.kind == "f"]
            keys = {n: self._buffer(n, initial[n]) for n in names}

            def arithmetic(x: Value, y: Value) -> Value:
                x = getattr(self, keys[node.input[0]]) if node.input[0] in keys else x
                y = getattr(self, keys[node.input[1]]) if node.input[1] in keys else y
                return fn(x, y)

            return arithmetic
        if op == "LeakyRelu":
            slope = float(a.get("alpha", 0.01))
            return lambda x: F.leaky_relu(x, slope)
        if op == "Relu":
            return F.relu
        if op in ("Identity", "Dropout"):
            return lambda x, *_: x
        if op == "Flatten":
            axis = a.get("axis", 1)
            return lambda x: x.flatten(axis) if axis == 1 else x.reshape(int(np.prod(x.shape[:axis])), -1)
        if op == "Softmax":
            axis = a.get("axis", -1)
            return lambda x: torch.softmax(x, axis)
        if op == "Transpose":
            perm = tuple(a["perm"])
            return lambda x: x.permute(perm)
        if op == "Shape":
            return lambda x: np.array(x.shape, np.int64)
        if op == "Gather":
            axis = a.get("axis", 0)
            return lambda x, i: np.take(x, i, axis=axis)
        if op == "Unsqueeze":
            axes = a["axes"]
            return lambda x: np.expand_dims(x, tuple(axes))
        if op == "Concat":
            axis = a["axis"]
            return lambda *xs: (
                np.concatenate(xs, axis)
                if all(isinstance(x, np.ndarray) for x in xs)
                else torch.cat(xs, axis)
            )
        if op == "Cast":
            dtype = helper.tensor_dtype_to_np_dtype(a["to"])
            return lambda x: np.asarray(x).astype(dtype)
        if op == "Slice":
            return _slice
        if op == "Reshape":
            return _reshape
        if op == "Resize":
            if (
                a.get("mode") != b"nearest"
                or a.get("coordinate_transformation_mode") != b"asymmetric"
                or a.get("nearest_mode") != b"floor"
            ):
                raise UnsupportedGraph(f"Resize other than nearest/asymmetric/floor: {a}")
            # torch's "nearest" takes floor(dst * in / out): ONNX's asymmetric + floor.
            return lambda x, _roi, _scales, sizes: F.interpolate(
                x, size=tuple(int(s) for s in sizes[2:]), mode="nearest"
            )
        raise UnsupportedGraph(op)  # pragma: no cover - SUPPORTED lists every branch above

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values: dict[str, Value] = dict(self._constants)
        values.update({name: getattr(self, key) for name, key in self._buffer_of.items()})
        values[self.input_name] = x
        for fn, inputs, outputs in self._steps:
            result = fn(*(values[n] if n else None for n in inputs))
            values[outputs[0]] = result
        return tuple(values[n] for n in self.output_names)  # type: ignore[misc]


def _following_batch_norm(nodes: list[onnx.NodeProto], i: int, consumers: Counter[str]) -> int | None:
    """Index of a BatchNormalization that is the only reader of Conv ``nodes[i]``'s output."""
    out = nodes[i].output[0]
    if consumers[out] != 1 or i + 1 >= len(nodes):
        return None
    nxt = nodes[i + 1]
    return i + 1 if nxt.op_type == "BatchNormalization" and nxt.input[0] == out else None


def _batch_norm_affine(node: onnx.NodeProto, initial: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNormalization as ``x * scale + shift`` per channel (float64 fold)."""
    gamma, beta, mean, var = (initial[n].astype(np.float64) for n in node.input[1:5])
    scale = gamma / np.sqrt(var + float(_attrs(node).get("epsilon", 1e-5)))
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def _slice(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    index = [slice(None)] * x.ndim
    for s, e, ax in zip(starts, ends, range(len(starts)) if axes is None else axes, strict=True):
        index[int(ax)] = slice(int(s), int(min(e, np.iinfo(np.int64).max)))
    return x[tuple(index)]


def _reshape(x: torch.Tensor, shape: np.ndarray) -> torch.Tensor:
    # ONNX's 0 copies the input's dimension (allowzero unset in these graphs).
    return x.reshape(tuple(int(x.shape[i]) if s == 0 else int(s) for i, s in enumerate(shape)))
