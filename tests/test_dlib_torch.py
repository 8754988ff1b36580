"""dlib's ResNet embedder and MMOD detector in torch, read from dlib's .dat files: the file
reader, parity with dlib on real faces (../shared/data), batching and devices."""

from pathlib import Path

import face_recognition_models as frm
import numpy as np
import pytest
import torch

from vidfiqa.align import align_dlib_chip
from vidfiqa.geometry import box_iou
from vidfiqa.models import registry
from vidfiqa.models.dlib_dat import DatFormatError, _Reader, read_layers
from vidfiqa.models.dlib_mmod_torch import TorchMmodDetector, tiled_pyramid
from vidfiqa.models.dlib_models import DlibCnnDetector, DlibHogDetector, DlibLandmarker, DlibResNetEmbedder
from vidfiqa.models.dlib_torch import DlibResNet, TorchDlibEmbedder, add_zero_padded
from vidfiqa.video import ReadOptions, open_video


def test_reader_decodes_dlib_integers_floats_and_tensors() -> None:
    # 300 = 0x012c in two bytes; -5 with the sign bit; float 3 * 2**-1 = 1.5.
    data = bytes([0x02, 0x2C, 0x01, 0x81, 0x05, 0x01, 0x03, 0x81, 0x01])
    r = _Reader(data, 0)
    assert (r.int(), r.int(), r.float()) == (300, -5, 1.5)
    values = np.arange(6, dtype="<f4")
    tensor = bytes([0x01, 0x02, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x01]) + values.tobytes()
    np.testing.assert_array_equal(_Reader(tensor, 0).tensor(), values.reshape(1, 2, 3, 1))
    with pytest.raises(DatFormatError, match="bad integer control byte"):
        _Reader(bytes([0x30]), 0).int()


def test_layers_of_the_shipped_model() -> None:
    layers = read_layers(frm.face_recognition_model_location())
    kinds = [layer.kind for layer in layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds[-1] == "fc"
    np.testing.assert_allclose(layers[0].arrays["mean_rgb"], [122.782, 117.001, 104.298], rtol=1e-6)
    assert layers[1].arrays["weight"].shape == (32, 3, 7, 7) and layers[1].settings["stride_y"] == 2
    assert layers[-1].arrays["weight"].shape == (256, 128) and layers[-1].arrays["bias"].size == 0


def test_other_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatFormatError, match="not dlib's face recognition ResNet"):
        DlibResNet(read_layers(frm.cnn_face_detector_model_location()))
    with pytest.raises(DatFormatError, match="cannot read"):
        read_layers(tmp_path / "missing.dat")


def test_add_zero_padded_is_dlibs_add_prev() -> None:
    a = torch.ones(1, 2, 2, 2)
    b = torch.full((1, 1, 3, 3), 2.0)
    out = add_zero_padded(a, b)
    assert out.shape == (1, 2, 3, 3)
    assert out[0, 0, 0, 0] == 3 and out[0, 0, 2, 2] == 2 and out[0, 1, 0, 0] == 1 and out[0, 1, 2, 2] == 0


@pytest.fixture(scope="module")
def chips(shared_data: Path) -> np.ndarray:
    """dlib-aligned chips of real faces: a talking head and a 1080p street scene."""
    detector, landmarker = DlibHogDetector(), DlibLandmarker()
    out = []
    for name, stride in (("talking_head_a.mp4", 15), ("multi_face_walk_1080p.mp4", 30)):
        with open_video(shared_data / "videos" / name, ReadOptions(stride=stride, max_frames=6)) as reader:
            for frame in reader:
                found = detector.detect([frame.image])[0]
                if len(found):
                    out.append(
                        align_dlib_chip(frame.image, landmarker.landmark(frame.image, found).data["dlib5"])
                    )
    chips = np.concatenate(out)
    assert len(chips) >= 8
    return chips


def test_descriptors_match_dlib_on_real_faces(chips: np.ndarray) -> None:
    dlib_net = DlibResNetEmbedder()
    reference = np.array(dlib_net._model.compute_face_descriptor([np.ascontiguousarray(c) for c in chips]))
    torch_net = TorchDlibEmbedder(device="cpu", batch_size=5)
    ours = torch_net.descriptors(chips)
    assert np.abs(ours - reference).max() < 1e-3  # per dimension, the bound
    np.testing.assert_allclose(torch_net.embed(chips), dlib_net.embed(chips), atol=1e-4)
    torch_net.batch_size = 64  # batching does not change the result
    np.testing.assert_allclose(torch_net.descriptors(chips), ours, atol=1e-5)


def test_registry_default_is_the_torch_port() -> None:
    assert isinstance(registry.create("embedder", "dlib-resnet"), TorchDlibEmbedder)
    assert isinstance(registry.create("embedder", "dlib-resnet-dlib"), DlibResNetEmbedder)
    # Same network, same embedding space: the stored model name is the same.
    assert registry.create("embedder", "dlib-resnet-dlib").name == "dlib-resnet"
    with pytest.raises(ValueError, match="needs uint8"):
        TorchDlibEmbedder(device="cpu").embed(np.zeros((1, 112, 112, 3), np.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(chips: np.ndarray) -> None:
    cpu = TorchDlibEmbedder(device="cpu").descriptors(chips)
    np.testing.assert_allclose(TorchDlibEmbedder(device="cuda").descriptors(chips), cpu, atol=1e-4)


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> list[np.ndarray]:
    out = []
    for name, stride, n in (("talking_head_a.mp4", 30, 2), ("multi_face_walk_1080p.mp4", 40, 1)):
        with open_video(shared_data / "videos" / name, ReadOptions(stride=stride, max_frames=n)) as reader:
            out += [f.image for f in reader]
    return out


@pytest.mark.slow
def test_mmod_detections_match_dlib_on_real_frames(frames: list[np.ndarray]) -> None:
    reference = DlibCnnDetector().detect(frames)
    ours = TorchMmodDetector(device="cpu", batch_size=2).detect(frames)
    assert sum(len(d) for d in reference) >= 5
    for theirs, mine in zip(reference, ours):
        assert len(mine) == len(theirs)
        iou = box_iou(theirs.boxes, mine.boxes)
        assert (iou.max(axis=1) >= 0.9).all()  # the bound; exact here
        matched = iou.argmax(axis=1)
        np.testing.assert_allclose(mine.scores[matched], theirs.scores, atol=1e-3)
    assert registry.create("detector", "dlib-cnn").name == "dlib-cnn"


def test_tiled_pyramid_layout() -> None:
    rects, nr, nc = tiled_pyramid(480, 480, 10, 11)
    assert rects[0] == (11, 11, 490, 490) and nc == 480 + 22
    sizes = [(right - left + 1, bottom - top + 1) for left, top, right, bottom in rects]
    assert sizes[1] == (400, 400) and sizes[-1][1] >= 5  # 5/6 per level, down to 5 rows
    for i, a in enumerate(rects):  # tiles lie in the canvas and never overlap
        assert a[0] >= 0 and a[2] < nc and a[1] >= 0 and a[3] < nr
        for b in rects[i + 1 :]:
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mmod_cuda_matches_cpu(frames: list[np.ndarray]) -> None:
    cpu = TorchMmodDetector(device="cpu").detect(frames)
    for a, b in zip(TorchMmodDetector(device="cuda").detect(frames), cpu):
        assert len(a) == len(b) and (box_iou(a.boxes, b.boxes).max(axis=1) >= 0.99).all()
