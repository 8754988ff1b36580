"""Calibrating an embedder's verification thresholds on LFW.

Every image's largest face is found, aligned and embedded as the run's config says; every pair of
images of two different people is an impostor comparison (about 29 million for LFW's 7,633 images
of 4,269 people, enough to resolve FARs near 1e-6), every pair of one person's images a genuine
one. The thresholds over :data:`vidfiqa.models.thresholds.FAR_GRID` become the embedder's record.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vidfiqa.build import build_detector, build_embedder, build_landmarker
from vidfiqa.config import Config
from vidfiqa.eval.lfw import image_folder
from vidfiqa.eval.metrics import cross_identity_scores, threshold_at_far
from vidfiqa.models.thresholds import FAR_GRID
from vidfiqa.pipeline.features import image_features


def lfw_images(root: str | Path) -> tuple[list[Path], list[str]]:
    """Every ``<Person>/<Person>_<NNNN>.jpg`` under LFW's image folder, sorted, and each one's
    person."""
    folder = image_folder(root)
    paths = sorted(folder.glob("*/*.jpg"))
    return paths, [p.parent.name for p in paths]


def calibration_record(
    embeddings: np.ndarray, identities: list[str], *, far: np.ndarray = FAR_GRID
) -> dict[str, Any]:
    """The thresholds of one set of embeddings: every FAR target its impostor pairs resolve, with
    the threshold as the least accepted cosine (``score >= threshold``) and the share of genuine
    pairs accepted there.

    Args:
        embeddings: float32 ``(n, d)`` unit vectors, one per image.
        identities: ``(n,)`` person of each image.
        far: float64 ``(K,)`` FAR targets, decreasing.
    """
    genuine, impostor = cross_identity_scores(embeddings, identities)
    n = len(impostor)
    far = np.asarray(far, np.float64)
    far = far[far * n >= 1]
    # tar_at_far's rule accepts strictly above the impostor score; rounding up to the six
    # decimals recorded keeps ``>=`` from accepting that impostor or any other below the target.
    thr = np.ceil(np.nextafter(threshold_at_far(impostor, far=far), np.inf) * 1e6) / 1e6
    genuine = np.sort(genuine)
    tar = 1.0 - np.searchsorted(genuine, thr, side="left") / max(len(genuine), 1)
    return {
        "far": [float(f"{f:.6g}") for f in far],
        "threshold": [float(f"{t:.6f}") for t in thr],
        "tar": [round(float(t), 5) for t in tar],
        "impostor_pairs": n,
        "genuine_pairs": len(genuine),
    }


def calibrate_lfw(
    config: Config, root: str | Path, *, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """The configured embedder's calibration record on the LFW images under ``root``.

    Raises:
        EvalInputError: no LFW image folder under ``root``.
        ValueError: no image has a face.
    """
    paths, people = lfw_images(root)
    feats = image_features(
        paths,
        None,
        landmarker=build_landmarker(config),
        embedder=build_embedder(config),
        scorers={},
        detector=build_detector(config, still=True),
        progress=progress,
    )
    if feats is None:
        raise ValueError(f"{root}: no face found in any image")
    found_people = [p for p, ok in zip(people, feats.found) if ok]
    record = calibration_record(feats.embeddings, found_people)
    record["source"] = {
        "data": "LFW, every image under " + str(image_folder(root).name) + "/, all pairs",
        "images": len(paths),
        "images_without_face": int((~feats.found).sum()),
        "people": len(set(found_people)),
        "faces": f"{config.detector.name} (largest face), {config.landmarks.name} points",
        "command": "vidfiqa " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    return record
