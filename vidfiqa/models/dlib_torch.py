"""dlib's ResNet face embedder as a torch network, loaded from dlib's own ``.dat`` file.

The network of ``dlib_face_recognition_resnet_model_v1.dat`` (dlib's ``dnn_face_recognition_ex``):
a 7x7/2 convolution with 32 filters, affine (frozen batch norm), ReLU and 3x3/2 max pooling, then
14 residual blocks (3 at 32 filters, 4 at 64, 3 at 128, 3 at 256, 1 at 256), each two 3x3
convolutions with affine layers; the first block of a width halves the resolution with a stride-2
convolution while its shortcut is 2x2/2 average pooling. dlib adds tensors of different shapes by
treating the missing channels, rows and columns as zeros (the strided, unpadded convolution and
the pooling disagree by one row at odd sizes), and so does :func:`add_zero_padded`. A global
average and a 256x128 linear map without bias give the descriptor. Input: the 150x150 chip as
``(RGB - mean) / 256``, with dlib's mean (122.782, 117.001, 104.298) read from the file.

Everything, the strides and paddings included, is read from the file (:mod:`dlib_dat`); the
result matches dlib's descriptors to about 1e-5 (tested on real faces), batched, on CPU or CUDA.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidfiqa.device import resolve_device
from vidfiqa.models.dlib_dat import DatFormatError, Layer, read_layers


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a + b`` for ``(N, C, H, W)`` tensors of different ``C, H, W``: the result has the larger
    of each, and each input counts as zero where it has no value (dlib's ``add_prev``)."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]
    out = a.new_zeros(shape)
    out[:, : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[:, : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out


def _conv(layer: Layer) -> nn.Conv2d:
    s = layer.settings
    w = torch.from_numpy(layer.arrays["weight"].copy())
    conv = nn.Conv2d(
        w.shape[1],
        w.shape[0],
        (s["nr"], s["nc"]),
        stride=(s["stride_y"], s["stride_x"]),
        padding=(s["padding_y"], s["padding_x"]),
    )
    conv.weight.data.copy_(w)
    conv.bias.data.copy_(torch.from_numpy(layer.arrays["bias"].copy()))
    return conv


class Affine(nn.Module):
    """Per-channel ``gamma * x + beta`` (dlib's ``affine_`` in convolution mode)."""

    def __init__(self, layer: Layer):
        super().__init__()
        self.register_buffer("gamma", torch.from_numpy(layer.arrays["gamma"].copy()).view(1, -1, 1, 1))
        self.register_buffer("beta", torch.from_numpy(layer.arrays["beta"].copy()).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, x, self.gamma)


class ResidualBlock(nn.Module):
    """conv, affine, ReLU, conv, affine; shortcut: identity, or 2x2/2 average pooling when the
    first convolution is strided; ReLU after the (zero-padded) sum."""

    def __init__(self, layers: list[Layer]):
        super().__init__()
        self.conv1, self.bn1 = _conv(layers[0]), Affine(layers[1])
        self.conv2, self.bn2 = _conv(layers[2]), Affine(layers[3])
        self.pool: tuple[int, int] | None = None
        if len(layers) == 5:
            s = layers[4].settings
            self.pool = (s["nr"], s["stride_y"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.pool is None else F.avg_pool2d(x, self.pool[0], self.pool[1])
        return F.relu(add_zero_padded(y, shortcut))


class DlibResNet(nn.Module):
    """The embedder network; ``forward``: float ``(B, 3, 150, 150)`` RGB in [0, 255] -> ``(B, 128)``
    descriptors (not normalised, as dlib returns them)."""

    def __init__(self, layers: list[Layer]):
        super().__init__()
        kinds = [layer.kind for layer in layers]
        expected_head = ["input", "con", "affine", "max_pool"]
        if kinds[:4] != expected_head or kinds[-2:] != ["avg_pool", "fc"]:
            raise DatFormatError(f"not dlib's face recognition ResNet (layers {kinds[:4]} ... {kinds[-2:]})")
        self.register_buffer("mean", torch.from_numpy(layers[0].arrays["mean_rgb"].copy()).view(1, 3, 1, 1))
        self.stem = _conv(layers[1])
        self.stem_bn = Affine(layers[2])
        pool = layers[3].settings
        self.stem_pool = (pool["nr"], pool["stride_y"], pool["padding_y"])
        blocks, i = [], 4
        while kinds[i] == "con":
            # A strided block is followed by the pooling of its shortcut.
            n = 5 if layers[i].settings["stride_y"] > 1 else 4
            if kinds[i : i + n] != ["con", "affine", "con", "affine", "avg_pool"][:n]:
                raise DatFormatError(f"unexpected layer order at {i}: {kinds[i : i + n]}")
            blocks.append(ResidualBlock(layers[i : i + n]))
            i += n
        self.blocks = nn.Sequential(*blocks)
        fc = layers[-1].arrays
        self.fc = nn.Linear(fc["weight"].shape[0], fc["weight"].shape[1], bias=len(fc["bias"]) > 0)
        self.fc.weight.data.copy_(torch.from_numpy(fc["weight"].T.copy()))
        if self.fc.bias is not None:
            self.fc.bias.data.copy_(torch.from_numpy(fc["bias"].copy()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / 256.0
        x = F.relu(self.stem_bn(self.stem(x)))
        k, s, p = self.stem_pool
        x = self.blocks(F.max_pool2d(x, k, s, p))
        return self.fc(x.mean(dim=(2, 3)))


def load_dlib_resnet(path: str) -> DlibResNet:
    """The network of dlib's ``dlib_face_recognition_resnet_model_v1.dat`` at ``path``."""
    return DlibResNet(read_layers(path)).eval()


class TorchDlibEmbedder:
    """dlib's 128-d face embedder run by torch: the same descriptors as
    :class:`~vidfiqa.models.dlib_models.DlibResNetEmbedder` (and the same name, since they are
    the same embedding space), batched, on CUDA when available.

    Args:
        batch_size: chips per forward pass.
        device: torch device; ``cuda`` when available.
    """

    name = "dlib-resnet"
    dim = 128
    alignment = "dlib150"
    threshold = 0.92  # as dlib's own: the descriptors are the same

    def __init__(self, *, batch_size: int = 32, device: str | None = None):
        import face_recognition_models as frm

        self.batch_size = batch_size
        self.device = torch.device(resolve_device(device))
        self.model = load_dlib_resnet(frm.face_recognition_model_location()).to(self.device)

    @torch.inference_mode()
    def descriptors(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(B, 128)`` raw (unnormalised) descriptors of uint8 ``(B, 150, 150, 3)`` chips."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (150, 150, 3) or crops.dtype != np.uint8:
            raise ValueError(
                f"dlib-resnet needs uint8 (B, 150, 150, 3) chips, got {crops.dtype} {crops.shape}"
            )
        out = [np.zeros((0, self.dim), np.float32)]
        for lo in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(crops[lo : lo + self.batch_size])).to(self.device)
            out.append(self.model(x.permute(0, 3, 1, 2).float()).cpu().numpy())
        return np.concatenate(out)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        d = self.descriptors(crops)
        return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
