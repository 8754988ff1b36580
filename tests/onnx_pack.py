"""Random-weight ONNX graphs with the input and output layout of an insightface pack's SCRFD
detector (9 outputs: scores, box distances and keypoint distances at strides 8, 16, 32, two
anchors per cell) and ArcFace recogniser (``(N, 3, 112, 112)`` -> ``(N, 512)``). They exercise the
loading, pre- and post-processing code; they detect and recognise nothing."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _conv(name: str, x: str, out: str, cin: int, cout: int, k: int, rng: np.random.Generator) -> tuple:
    w = numpy_helper.from_array(
        (rng.standard_normal((cout, cin, k, k)) * 0.05).astype(np.float32), f"{name}_w"
    )
    b = numpy_helper.from_array(np.zeros(cout, np.float32), f"{name}_b")
    node = helper.make_node(
        "Conv", [x, w.name, b.name], [out], name=name, kernel_shape=[k, k], strides=[k, k]
    )
    return node, [w, b]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def scrfd_like(path: Path, seed: int = 0, score_bias: float = -2.0) -> Path:
    rng = np.random.default_rng(seed)
    nodes, inits, outputs = [], [], {"score": [], "bbox": [], "kps": []}
    inits += [numpy_helper.from_array(np.array([-1, k], np.int64), f"shape_{k}") for k in (1, 4, 10)]
    for stride in (8, 16, 32):
        for kind, channels in (("score", 2), ("bbox", 8), ("kps", 20)):
            conv, weights = _conv(f"{kind}{stride}", "input.1", f"{kind}{stride}_c", 3, channels, stride, rng)
            if kind == "score":
                weights[1] = numpy_helper.from_array(
                    np.full(channels, score_bias, np.float32), weights[1].name
                )
            nodes.append(conv)
            inits += weights
            last = f"{kind}{stride}_c"
            if kind == "score":
                nodes.append(helper.make_node("Sigmoid", [last], [f"{kind}{stride}_s"]))
                last = f"{kind}{stride}_s"
            elif kind == "bbox":
                # Positive distances, a few cells wide, so boxes are well formed.
                nodes.append(helper.make_node("Softplus", [last], [f"{kind}{stride}_p"]))
                last = f"{kind}{stride}_p"
            nodes.append(helper.make_node("Transpose", [last], [f"{kind}{stride}_t"], perm=[0, 2, 3, 1]))
            per_row = {"score": 1, "bbox": 4, "kps": 10}[kind]
            nodes.append(
                helper.make_node("Reshape", [f"{kind}{stride}_t", f"shape_{per_row}"], [f"{kind}_{stride}"])
            )
            outputs[kind].append(
                helper.make_tensor_value_info(f"{kind}_{stride}", TensorProto.FLOAT, ["n", per_row])
            )
    graph = helper.make_graph(
        nodes,
        "scrfd_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])],
        outputs["score"] + outputs["bbox"] + outputs["kps"],
        inits,
    )
    return _save(graph, path)


def arcface_like(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    conv, weights = _conv("conv", "input.1", "c", 3, 16, 8, rng)
    flat = helper.make_node("Flatten", ["c"], ["f"], name="flatten")
    fc_w = numpy_helper.from_array(
        (rng.standard_normal((16 * 14 * 14, 512)) * 0.02).astype(np.float32), "fc_w"
    )
    fc_b = numpy_helper.from_array(np.zeros(512, np.float32), "fc_b")
    gemm = helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["683"], name="fc")
    graph = helper.make_graph(
        [conv, flat, gemm],
        "arcface_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["n", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["n", 512])],
        [*weights, fc_w, fc_b],
    )
    return _save(graph, path)


def make_pack(folder: Path) -> Path:
    """A pack folder with ``det_test.onnx`` and ``rec_test.onnx``."""
    folder.mkdir(parents=True, exist_ok=True)
    scrfd_like(folder / "det_test.onnx")
    arcface_like(folder / "rec_test.onnx")
    return folder
