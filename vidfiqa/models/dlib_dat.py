"""Read the layer parameters of a dlib DNN ``.dat`` file, without dlib.

dlib writes a network from the loss layer inwards, each ``add_layer`` writing its sub-network
before its own layer, so the layers' details appear in the file in forward order (input first).
Each layer's details start with a version string (``con_4``, ``affine_``, ``fc_2``, ...);
:func:`read_layers` finds those strings and decodes the fields that follow them, as dlib's
``deserialize`` functions read them (``dlib/dnn/layers.h``, ``dlib/serialize.h``,
``dlib/cuda/tensor.h``):

- integers: a control byte (low nibble: byte count, bit 7: sign), then little-endian bytes;
- strings: the length as an integer, then the bytes;
- floats: ``mantissa`` (int64) and ``exponent`` (int16), value ``mantissa * 2**exponent``;
- tensors: version (2), ``num_samples, k, nr, nc``, then float32 little-endian values.

Layers without parameters of their own that change the data flow (``tag``, ``skip``,
``add_prev``) carry nothing to decode; the network definition that uses these parameters knows
the topology.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatFormatError(Exception):
    """A ``.dat`` file that does not hold what the reader expects; one line."""


class _Reader:
    def __init__(self, data: bytes, pos: int):
        self.data = data
        self.pos = pos

    def int(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise DatFormatError(f"bad integer control byte {control:#x} at offset {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DatFormatError(f"tensor version {version} at offset {self.pos}; expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape)
        self.pos += 4 * count
        return values.astype(np.float32)


@dataclass(frozen=True, slots=True)
class Layer:
    """One parameterised or pooling layer: ``kind`` (``con``, ``affine``, ``fc``, ``max_pool``,
    ``avg_pool``, ``relu``, ``input``), its integer settings and its arrays."""

    kind: str
    settings: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _con(r: _Reader) -> Layer:
    params = r.tensor().reshape(-1)
    names = ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
    s = {n: r.int() for n in names}
    n_weights = len(params) - s["num_filters"]
    k = n_weights // (s["num_filters"] * s["nr"] * s["nc"])
    weight = params[:n_weights].reshape(s["num_filters"], k, s["nr"], s["nc"])
    return Layer("con", s, {"weight": weight, "bias": params[n_weights:]})


def _affine(r: _Reader) -> Layer:
    params = r.tensor().reshape(-1)
    half = len(params) // 2
    return Layer("affine", {}, {"gamma": params[:half], "beta": params[half:]})


def _alias(r: _Reader) -> None:
    r.int()  # version
    for _ in range(4):
        r.int()


def _batch_norm(r: _Reader) -> Layer:
    # Frozen for inference the way dlib turns a bn_ into an affine_: gamma / sqrt(var + eps) and
    # beta - mean * that.
    params = r.tensor().reshape(-1)
    _alias(r)
    _alias(r)
    r.tensor(), r.tensor()  # batch statistics of the last training step
    mean, var = r.tensor().reshape(-1), r.tensor().reshape(-1)
    r.int(), r.int()  # update count, window size
    for _ in range(4):
        r.float()  # learning-rate and weight-decay multipliers
    eps = r.float()
    half = len(params) // 2
    gamma = params[:half] / np.sqrt(var + eps)
    return Layer(
        "affine",
        {},
        {"gamma": gamma.astype(np.float32), "beta": (params[half:] - mean * gamma).astype(np.float32)},
    )


def _fc(r: _Reader) -> Layer:
    outputs, inputs = r.int(), r.int()
    params = r.tensor().reshape(-1)
    if len(params) not in (inputs * outputs, (inputs + 1) * outputs):
        raise DatFormatError(f"fc layer with {len(params)} parameters for {inputs}x{outputs}")
    weight = params[: inputs * outputs].reshape(inputs, outputs)
    bias = params[inputs * outputs :]
    return Layer("fc", {"num_outputs": outputs, "num_inputs": inputs}, {"weight": weight, "bias": bias})


def _pool(kind: str) -> object:
    def read(r: _Reader) -> Layer:
        names = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        return Layer(kind, {n: r.int() for n in names})

    return read


def _input(r: _Reader) -> Layer:
    mean = np.array([r.float(), r.float(), r.float()], np.float32)
    return Layer("input", {}, {"mean_rgb": mean})


def _input_pyramid(version: int):
    def read(r: _Reader) -> Layer:
        mean = np.array([r.float(), r.float(), r.float()], np.float32)
        # The first version did not store the paddings; dlib then uses 10 and 11.
        padding = (
            {"padding": r.int(), "outer_padding": r.int()}
            if version == 2
            else {"padding": 10, "outer_padding": 11}
        )
        return Layer("input_pyramid", padding, {"mean_rgb": mean})

    return read


def _loss_mmod(r: _Reader) -> Layer:
    version = r.int()
    if version == 1:
        windows = [(r.int(), r.int())]
    else:
        windows = []
        for _ in range(r.int()):
            r.int()  # version
            windows.append((r.int(), r.int()))
            r.pos += r.int()  # the label string
    for _ in range(3):
        r.float()  # training losses and match threshold
    nms_iou, nms_covered = r.float(), r.float()
    return Layer(
        "loss_mmod",
        {"windows": len(windows)},
        {"windows": np.array(windows, np.int64), "nms": np.array([nms_iou, nms_covered])},
    )


_VERSIONS = {
    b"con_4": _con,
    b"con_5": _con,
    b"con_6": _con,
    b"affine_": _affine,
    b"affine_2": _affine,
    b"fc_2": _fc,
    b"fc_3": _fc,
    b"max_pool_2": _pool("max_pool"),
    b"avg_pool_2": _pool("avg_pool"),
    b"relu_1": lambda r: Layer("relu"),
    b"relu_2": lambda r: Layer("relu"),
    b"bn_con2": _batch_norm,
    b"input_rgb_image_sized": _input,
    b"input_rgb_image_pyramid": _input_pyramid(1),
    b"input_rgb_image_pyramid2": _input_pyramid(2),
    b"loss_mmod_": _loss_mmod,
}
# A serialised string is its length (control byte 0x01, one length byte) then its bytes.
_PATTERN = re.compile(
    b"\x01(?P<n>[\x04-\x20])(?P<name>"
    + b"|".join(map(re.escape, sorted(_VERSIONS, key=len, reverse=True)))
    + b")"
)


def read_layers(path: str | Path) -> list[Layer]:
    """The layers of a dlib DNN file, in forward order.

    Raises:
        DatFormatError: the file cannot be read or decoded.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DatFormatError(f"cannot read {path}: {exc.strerror}") from None
    layers = []
    for match in _PATTERN.finditer(data):
        if match.group("n")[0] != len(match.group("name")):
            continue  # the name is a prefix of a longer string; not a version tag
        try:
            layers.append(_VERSIONS[match.group("name")](_Reader(data, match.end())))
        except (DatFormatError, IndexError, ValueError) as exc:
            raise DatFormatError(
                f"{path}: {match.group('name').decode()} at offset {match.start()}: {exc}"
            ) from None
    return layers
