"""Quality-model measures by hand: templates by rule, all-pairs verification, recognition utility."""

import numpy as np
import pytest

from vidfiqa.eval.fiqa import all_pairs, rescaled, scenario, template_vectors
from vidfiqa.learn.samples import FaceSamples, recognition_utility
from vidfiqa.types import FaceBatch


def _unit(*v: float) -> np.ndarray:
    a = np.array(v, np.float64)
    return a / np.linalg.norm(a)


EMB = np.stack([_unit(1, 0), _unit(0, 1), _unit(1, 1), _unit(-1, 0)]).astype(np.float32)
TEMPLATE = np.array([0, 0, 1, 1])


def test_best_picks_the_highest_quality_and_the_earliest_on_ties() -> None:
    out = template_vectors(EMB, TEMPLATE, np.array([0.2, 0.9, 0.5, 0.5]), "best")
    np.testing.assert_allclose(out, EMB[[1, 2]], atol=1e-6)


def test_weighted_uses_rescaled_quality() -> None:
    # Rescaled qualities 0, 1, 0.5, 0.5: template 0 is sample 1 alone, template 1 the plain mean.
    out = template_vectors(EMB, TEMPLATE, np.array([1.0, 3.0, 2.0, 2.0]), "weighted")
    np.testing.assert_allclose(out[0], EMB[1], atol=1e-6)
    mean = EMB[2] + EMB[3]
    np.testing.assert_allclose(out[1], mean / np.linalg.norm(mean), atol=1e-6)
    assert rescaled(np.array([5.0, 5.0])).tolist() == [0.5, 0.5]


def test_first_is_the_marked_sample() -> None:
    first = np.array([False, True, True, False])
    out = template_vectors(EMB, TEMPLATE, np.zeros(4), "first", first=first)
    np.testing.assert_allclose(out, EMB[[1, 2]], atol=1e-6)


def test_all_pairs_and_scenario() -> None:
    vectors = np.stack([_unit(1, 0), _unit(1, 0.1), _unit(0, 1), _unit(0.1, 1)]).astype(np.float32)
    scores, mated = all_pairs(vectors, np.array(["a", "a", "b", "b"]))
    assert mated.tolist() == [True, False, False, False, False, True]
    assert scores[0] == pytest.approx(vectors[0] @ vectors[1])
    emb = np.repeat(vectors, 2, axis=0)
    s = scenario(emb, np.repeat(np.arange(4), 2), np.array(["a", "a", "b", "b"]), np.ones(8), "best")
    assert s.eer == 0 and s.mated == 2 and s.non_mated == 4


def _samples(emb: np.ndarray, source: list[int], variant: list[int], people: list[str]) -> FaceSamples:
    n = len(source)
    z = np.zeros(n, np.float32)
    return FaceSamples(
        keys=np.array([f"k{i}" for i in range(len(people))], dtype=object),
        identities=np.array(people, dtype=object),
        source=np.array(source), variant=np.array(variant), levels=np.zeros((n, 6), np.float32),
        degraded=np.array(variant) > 0, detected=np.ones(n, bool),
        faces=FaceBatch(
            crops=np.zeros((n, 112, 112, 3), np.uint8), landmarks=np.zeros((n, 5, 2), np.float32),
            boxes=np.zeros((n, 4), np.float32), confidence=z, landmarks_estimated=np.zeros(n, bool),
            visible=z, eye_openness=z,
        ),
        embeddings=emb.astype(np.float32), embedder="test",
    )  # fmt: skip


def test_utility_is_the_margin_to_the_own_centre_without_the_own_photo() -> None:
    # Photos 0, 1 of person a; photo 2 of b (a singleton: no centre of its own, still an impostor).
    emb = np.stack([_unit(1, 0), _unit(1, 0.2), _unit(0, 1), _unit(1, 1)])
    s = _samples(emb, [0, 1, 2, 0], [0, 0, 0, 1], ["a", "a", "b"])
    u = recognition_utility(s)
    # Sample 0: a's centre without photo 0 is photo 1; the nearest other centre is b's.
    assert u[0] == pytest.approx(emb[0] @ emb[1] - emb[0] @ emb[2])
    # Sample 3 (photo 0 degraded): the same reference, photo 1.
    assert u[3] == pytest.approx(emb[3] @ emb[1] - emb[3] @ emb[2])
    assert np.isnan(u[2])
    assert u[0] > u[3]  # the degraded copy drifted towards b
