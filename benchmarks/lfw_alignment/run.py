"""What the alignment costs dlib's ResNet embedder on LFW: dlib's 68-point predictor against
RetinaFace's own five points.

Measures, on the official View 2 pairs (``ROOT/pairs.txt``, 10 folds of 300 matched and 300
mismatched pairs) and the images under ``ROOT/images``, the verification accuracy of
``dlib-resnet`` (:class:`vidfiqa.models.dlib_torch.TorchDlibEmbedder`, cosine similarity of unit
descriptors) when its 150x150 chips are aligned in different ways. Every image is a one-face
photo: RetinaFace-MobileNet0.25 runs on it at native size (``max_side=None``) and its largest
face is kept; that one box is shared by all alignments, so only the alignment differs:

``dlib68``
    dlib's 68-point predictor on the RetinaFace box, its five points in dlib's order (eye
    corners, nose base) onto dlib's chip template (:func:`vidfiqa.align.align_dlib_chip`): the
    project's current way.
``retinaface5``
    no dlib predictor: RetinaFace's five points (eye centres, nose tip, mouth corners) onto a
    five-point template in chip pixels by a least-squares similarity (same 150 px chip, same
    bilinear warp with black borders). The template is *fitted*, not guessed: for every image of
    folds 1-5 the similarity that makes the ``dlib68`` chip maps RetinaFace's points into that
    chip, and the template is their mean position. LFW's View 2 folds share no person, so folds
    6-10 are held out from the fit; metrics are reported on all 10 folds and on folds 6-10 alone.
``arcface112``
    the ArcFace 112x112 crop that the pipeline already makes from RetinaFace's points
    (:func:`vidfiqa.align.align_arcface`), resized to 150x150 (bilinear): no dlib template at all.
``dlib5``
    for reference, dlib's own 5-point predictor (the one dlib pairs with this embedder) on the
    same box, onto dlib's chip template.

Per alignment: 10-fold accuracy (threshold fitted on the other nine folds; mean and standard
error ``std(ddof=1)/sqrt(k)``), EER and AUC over all evaluated pairs (``vidfiqa.eval.metrics``),
and the same on folds 6-10 (5-fold over them); the time per face of landmarks plus alignment
(RetinaFace's points come with the detection, so ``retinaface5`` and ``arcface112`` cost only
the warp). Pairs naming an absent image, or an image where RetinaFace finds no face, are
missing (the same pairs for every alignment) and counted. Consistency of ``retinaface5`` with
``dlib68``: where the ten 68-derived points (dlib's five and the ArcFace-order five) land in the
two chips, the residual of RetinaFace's points around the template, the similarity between the
two chips (scale, rotation, shift) and the displacement over the whole chip, in chip pixels; and,
as a third opinion, how far each of the two chips puts dlib's 5-point-predictor points from where
the ``dlib5`` chip puts them (how often an alignment goes astray by more than 5 or 10 px).

Run from the repository root::

    python benchmarks/lfw_alignment/run.py --root ../shared/data/lfw \\
        --out benchmarks/lfw_alignment/result.json

Landmarks and embeddings are cached under ``--cache`` (default ``/tmp/lfw_alignment_cache``),
timings with them; ``--fresh`` recomputes. Times are wall-clock on whatever CPU or GPU runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vidfiqa.align import (
    ARCFACE_112,
    align_arcface,
    align_dlib_chip,
    dlib_chip_template,
    similarity_transform,
    warp,
)
from vidfiqa.eval.lfw import image_folder, pair_images, read_pairs
from vidfiqa.eval.metrics import kfold_accuracy, roc
from vidfiqa.geometry import largest
from vidfiqa.pipeline.features import read_rgb

CHIP = 150
PADDING = 0.25
FIT_FOLDS = (1, 2, 3, 4, 5)
ALIGNMENTS = ("dlib68", "retinaface5", "arcface112", "dlib5")
RETINAFACE_POINTS = (
    "image-left eye centre",
    "image-right eye centre",
    "nose tip",
    "left mouth corner",
    "right mouth corner",
)
DLIB5_POINTS = (
    "image-right eye outer corner",
    "image-right eye inner corner",
    "image-left eye outer corner",
    "image-left eye inner corner",
    "nose base",
)
CACHE_VERSION = 1
COMMAND = (
    "python benchmarks/lfw_alignment/run.py --root ../shared/data/lfw"
    " --out benchmarks/lfw_alignment/result.json"
)


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points ``(..., 2)`` through the affine ``(2, 3)`` matrix ``m``."""
    return points @ m[:, :2].T + m[:, 2]


def summary(values: np.ndarray, digits: int = 3) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    return {
        "mean": round(float(v.mean()), digits),
        "median": round(float(np.median(v)), digits),
        "p95": round(float(np.percentile(v, 95)), digits),
        "max": round(float(v.max()), digits),
    }


# --------------------------------------------------------------------------- pass 1: landmarks


def landmarks_pass(keys: list[str], folder: Path, cache: Path, fresh: bool) -> dict[str, np.ndarray]:
    """Per image: RetinaFace's largest face (box, 5 points), dlib 68's and dlib 5's points on it,
    and the time of each step (ms)."""
    path = cache / "landmarks.npz"
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    if path.is_file() and not fresh:
        z = dict(np.load(path))
        if str(z["digest"]) == digest and int(z["version"]) == CACHE_VERSION:
            print(f"landmarks: cached in {path}", file=sys.stderr)
            return z
    from vidfiqa.models.dlib_models import DlibLandmarker
    from vidfiqa.models.retinaface import RetinaFaceDetector

    detector = RetinaFaceDetector(max_side=None)
    dlib68 = DlibLandmarker(points=68)
    dlib5 = DlibLandmarker(points=5)
    n = len(keys)
    out = {
        "found": np.zeros(n, bool),
        "faces": np.zeros(n, np.int32),
        "box": np.full((n, 4), np.nan, np.float32),
        "rf5": np.full((n, 5, 2), np.nan, np.float32),
        "d68_dlib5": np.full((n, 5, 2), np.nan, np.float32),
        "d68_arcface": np.full((n, 5, 2), np.nan, np.float32),
        "d5_dlib5": np.full((n, 5, 2), np.nan, np.float32),
        "ms_read": np.zeros(n),
        "ms_detect": np.zeros(n),
        "ms_dlib68": np.zeros(n),
        "ms_dlib5": np.zeros(n),
    }
    start = time.perf_counter()
    for i, key in enumerate(keys):
        t0 = time.perf_counter()
        image = read_rgb(folder / f"{key}.jpg")
        t1 = time.perf_counter()
        found = detector.detect([image])[0]
        t2 = time.perf_counter()
        out["ms_read"][i], out["ms_detect"][i] = (t1 - t0) * 1e3, (t2 - t1) * 1e3
        out["faces"][i] = len(found)
        if not len(found):
            continue
        j = largest(found.boxes)
        out["found"][i] = True
        out["box"][i] = found.boxes[j]
        out["rf5"][i] = found.landmarks[j]  # before a landmarker replaces them
        t0 = time.perf_counter()
        d = dlib68.landmark(image, found[[j]])
        t1 = time.perf_counter()
        out["d68_dlib5"][i], out["d68_arcface"][i] = d.data["dlib5"][0], d.landmarks[0]
        e = dlib5.landmark(image, found[[j]])
        t2 = time.perf_counter()
        out["d5_dlib5"][i] = e.data["dlib5"][0]
        out["ms_dlib68"][i], out["ms_dlib5"][i] = (t1 - t0) * 1e3, (t2 - t1) * 1e3
        if (i + 1) % 1000 == 0:
            print(f"landmarks: {i + 1}/{n} images, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    out["digest"], out["version"] = np.array(digest), np.array(CACHE_VERSION)
    np.savez(path, **out)
    return out


# --------------------------------------------------------------------------- template fit


def chip_transforms(lm: dict[str, np.ndarray], idx: np.ndarray, dst: np.ndarray, which: str) -> np.ndarray:
    """``(len(idx), 2, 3)`` similarities of the images ``idx`` from points ``lm[which]`` to ``dst``."""
    return (
        np.stack([similarity_transform(lm[which][i], dst) for i in idx]) if len(idx) else np.zeros((0, 2, 3))
    )


def fit_template(lm: dict[str, np.ndarray], fit_idx: np.ndarray) -> tuple[np.ndarray, dict]:
    """Mean position of RetinaFace's 5 points inside the ``dlib68`` chips of the images ``fit_idx``."""
    m_a = chip_transforms(lm, fit_idx, dlib_chip_template(CHIP, PADDING), "d68_dlib5")
    in_chip = np.einsum("nij,nkj->nki", m_a[:, :, :2], lm["rf5"][fit_idx]) + m_a[:, None, :, 2]
    template = in_chip.mean(0)
    info = {
        "points": list(RETINAFACE_POINTS),
        "chip_size": CHIP,
        "padding": PADDING,
        "fitted_on": f"the {len(fit_idx)} images of folds {FIT_FOLDS[0]}-{FIT_FOLDS[-1]} with a face "
        "(LFW View 2 folds share no person, so folds 6-10 are held out)",
        "mean_xy": np.round(template, 3).tolist(),
        "median_xy": np.round(np.median(in_chip, 0), 3).tolist(),
        "std_xy": np.round(in_chip.std(0), 3).tolist(),
        "unit_square_xy": np.round(((template / CHIP) * (2 * PADDING + 1) - PADDING), 5).tolist(),
        "arcface112_in_same_scale_xy": np.round(_arcface_in_chip(template), 3).tolist(),
    }
    return template, info


def _arcface_in_chip(template: np.ndarray) -> np.ndarray:
    """The ArcFace 112 template placed on ``template`` by a similarity: how the two differ in shape."""
    return apply(similarity_transform(ARCFACE_112, template), ARCFACE_112)


# --------------------------------------------------------------------------- pass 2: chips, embeddings


def chips_pass(
    keys: list[str],
    folder: Path,
    lm: dict[str, np.ndarray],
    template: np.ndarray,
    cache: Path,
    fresh: bool,
    chunk: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float, str]:
    """Embeddings ``(n, 128)`` (NaN where no face) and alignment times (ms per face) of every
    alignment; also the embedder's ms per face and its device."""
    path = cache / "embeddings.npz"
    digest = hashlib.sha256(
        ("\n".join(keys)).encode() + np.ascontiguousarray(template, np.float64).tobytes()
    ).hexdigest()[:16]
    if path.is_file() and not fresh:
        z = dict(np.load(path))
        if str(z["digest"]) == digest and int(z["version"]) == CACHE_VERSION:
            print(f"embeddings: cached in {path}", file=sys.stderr)
            return (
                {a: z[f"emb_{a}"] for a in ALIGNMENTS},
                {a: z[f"ms_{a}"] for a in ALIGNMENTS},
                float(z["ms_embed"]),
                str(z["device"]),
            )
    from vidfiqa.models.dlib_torch import TorchDlibEmbedder

    embedder = TorchDlibEmbedder()
    dlib_dst = dlib_chip_template(CHIP, PADDING)
    n = len(keys)
    emb = {a: np.full((n, 128), np.nan, np.float32) for a in ALIGNMENTS}
    ms = {a: np.full(n, np.nan) for a in ALIGNMENTS}
    embed_s, embedded = 0.0, 0
    idx = np.flatnonzero(lm["found"])
    start = time.perf_counter()
    for lo in range(0, len(idx), chunk):
        part = idx[lo : lo + chunk]
        chips: dict[str, list[np.ndarray]] = {a: [] for a in ALIGNMENTS}
        for i in part:
            image = read_rgb(folder / f"{keys[i]}.jpg")
            t0 = time.perf_counter()
            chips["dlib68"].append(align_dlib_chip(image, lm["d68_dlib5"][i][None], CHIP, PADDING)[0])
            t1 = time.perf_counter()
            chips["retinaface5"].append(warp(image, similarity_transform(lm["rf5"][i], template), CHIP))
            t2 = time.perf_counter()
            crop = align_arcface(image, lm["rf5"][i][None], 112)[0]
            chips["arcface112"].append(cv2.resize(crop, (CHIP, CHIP), interpolation=cv2.INTER_LINEAR))
            t3 = time.perf_counter()
            chips["dlib5"].append(warp(image, similarity_transform(lm["d5_dlib5"][i], dlib_dst), CHIP))
            t4 = time.perf_counter()
            for a, dt in zip(ALIGNMENTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                ms[a][i] = dt * 1e3
        for a in ALIGNMENTS:
            t0 = time.perf_counter()
            emb[a][part] = embedder.embed(np.stack(chips[a]))
            embed_s += time.perf_counter() - t0
            embedded += len(part)
        print(
            f"embeddings: {min(lo + chunk, len(idx))}/{len(idx)} faces x {len(ALIGNMENTS)}, "
            f"{time.perf_counter() - start:.0f} s",
            file=sys.stderr,
        )
    ms_embed = embed_s / max(embedded, 1) * 1e3
    device = str(embedder.device)
    np.savez(
        path,
        digest=np.array(digest),
        version=np.array(CACHE_VERSION),
        ms_embed=np.array(ms_embed),
        device=np.array(device),
        **{f"emb_{a}": emb[a] for a in ALIGNMENTS},
        **{f"ms_{a}": ms[a] for a in ALIGNMENTS},
    )
    return emb, ms, ms_embed, device


# --------------------------------------------------------------------------- metrics


def metrics(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> dict:
    r = roc(scores, labels)
    k = kfold_accuracy(scores, labels, folds)
    return {
        "pairs": int(len(scores)),
        "genuine": int(labels.sum()),
        "impostor": int((1 - labels).sum()),
        "folds": int(len(np.unique(folds))),
        "accuracy_mean": round(k.mean, 5),
        "accuracy_std_error": round(k.std_error, 5),
        "fold_accuracies": np.round(k.accuracies, 5).tolist(),
        "eer": round(r.eer, 5),
        "auc": round(r.auc, 6),
    }


def agreement_with_dlib5(
    lm: dict[str, np.ndarray], keys: list[str], idx: np.ndarray, template: np.ndarray
) -> dict:
    """Where dlib's 5-point predictor's points land in the ``dlib68`` and ``retinaface5`` chips,
    against where they land in its own (``dlib5``) chip: a third opinion on which of the two
    alignments goes astray, and how often (a failed 68-point fit zooms or shifts the chip)."""
    ref_m = chip_transforms(lm, idx, dlib_chip_template(CHIP, PADDING), "d5_dlib5")
    pts = lm["d5_dlib5"][idx]
    ref = np.einsum("nij,nkj->nki", ref_m[:, :, :2], pts) + ref_m[:, None, :, 2]
    out: dict = {"images": int(len(idx)), "unit": f"chip pixels of the {CHIP} px chip"}
    for name, which, dst in (
        ("dlib68", "d68_dlib5", dlib_chip_template(CHIP, PADDING)),
        ("retinaface5", "rf5", template),
    ):
        m = chip_transforms(lm, idx, dst, which)
        d = np.linalg.norm(np.einsum("nij,nkj->nki", m[:, :, :2], pts) + m[:, None, :, 2] - ref, axis=2).mean(
            1
        )
        worst = np.argsort(-d, kind="stable")[:10]
        out[name] = {
            "distance_px": summary(d),
            "fraction_over_5px": round(float((d > 5).mean()), 4),
            "fraction_over_10px": round(float((d > 10).mean()), 4),
            "worst": {keys[idx[i]]: round(float(d[i]), 1) for i in worst},
        }
    return out


def consistency(lm: dict[str, np.ndarray], idx: np.ndarray, template: np.ndarray) -> dict:
    """How the ``retinaface5`` chips differ from the ``dlib68`` chips of the images ``idx``."""
    m_a = chip_transforms(lm, idx, dlib_chip_template(CHIP, PADDING), "d68_dlib5")
    m_b = chip_transforms(lm, idx, template, "rf5")
    pts = np.concatenate([lm["d68_dlib5"][idx], lm["d68_arcface"][idx]], axis=1)  # (n, 10, 2)
    in_a = np.einsum("nij,nkj->nki", m_a[:, :, :2], pts) + m_a[:, None, :, 2]
    in_b = np.einsum("nij,nkj->nki", m_b[:, :, :2], pts) + m_b[:, None, :, 2]
    d = np.linalg.norm(in_b - in_a, axis=2)  # (n, 10)
    rf_in_a = np.einsum("nij,nkj->nki", m_a[:, :, :2], lm["rf5"][idx]) + m_a[:, None, :, 2]
    residual = np.linalg.norm(rf_in_a - template, axis=2)  # (n, 5)
    # The similarity from chip a to chip b: M_b o M_a^-1.
    rel_scale, rel_rot, rel_shift, grid_disp = [], [], [], []
    gy, gx = np.meshgrid(np.arange(CHIP) + 0.0, np.arange(CHIP) + 0.0, indexing="ij")
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    for a, b in zip(m_a, m_b):
        inv_a = cv2.invertAffineTransform(a)
        ab = np.empty((2, 3))
        ab[:, :2] = b[:, :2] @ inv_a[:, :2]
        ab[:, 2] = b[:, :2] @ inv_a[:, 2] + b[:, 2]
        rel_scale.append(np.sqrt(abs(np.linalg.det(ab[:, :2]))))
        rel_rot.append(np.degrees(np.arctan2(ab[1, 0], ab[0, 0])))
        rel_shift.append(np.linalg.norm(apply(ab, np.array([CHIP / 2, CHIP / 2])) - CHIP / 2))
        grid_disp.append(np.linalg.norm(apply(ab, grid) - grid, axis=1).mean())
    iod = float(np.linalg.norm(template[1] - template[0]))
    names = [f"dlib5 {p}" for p in DLIB5_POINTS] + [f"arcface {p}" for p in RETINAFACE_POINTS]
    return {
        "images": int(len(idx)),
        "unit": f"chip pixels of the {CHIP} px chip (template inter-ocular distance {iod:.2f} px)",
        "dlib68_points_b_vs_a_px": summary(d.mean(1)),
        "dlib68_points_b_vs_a_per_point_mean_px": dict(zip(names, np.round(d.mean(0), 3).tolist())),
        "dlib68_points_b_vs_a_over_iod": round(float(d.mean() / iod), 4),
        "retinaface_points_around_template_px": summary(residual.mean(1)),
        "retinaface_points_around_template_per_point_mean_px": dict(
            zip(RETINAFACE_POINTS, np.round(residual.mean(0), 3).tolist())
        ),
        "chip_b_from_chip_a": {
            "scale": summary(np.array(rel_scale), 4),
            "abs_scale_change": summary(np.abs(np.array(rel_scale) - 1), 4),
            "abs_rotation_deg": summary(np.abs(np.array(rel_rot))),
            "centre_shift_px": summary(np.array(rel_shift)),
            "mean_displacement_over_chip_px": summary(np.array(grid_disp)),
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--root", default="../shared/data/lfw", help="LFW root: pairs.txt and images/")
    ap.add_argument("--out", default="benchmarks/lfw_alignment/result.json")
    ap.add_argument("--cache", default="/tmp/lfw_alignment_cache", help="landmarks and embeddings")
    ap.add_argument("--fresh", action="store_true", help="ignore the cache")
    ap.add_argument("--chunk", type=int, default=256, help="faces per embedding round")
    args = ap.parse_args(argv)

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    pairs = read_pairs(Path(args.root) / "pairs.txt")
    videos, absent = pair_images(args.root, pairs)
    folder = image_folder(args.root)
    keys = sorted(videos)
    row = {k: i for i, k in enumerate(keys)}

    t_start = time.perf_counter()
    lm = landmarks_pass(keys, folder, cache, args.fresh)
    found = lm["found"].astype(bool)
    fit_keys = {k for p in pairs if p.fold in FIT_FOLDS for k in (p.a, p.b)}
    held_keys = {k for p in pairs if p.fold not in FIT_FOLDS for k in (p.a, p.b)}
    people_shared = {k.split("/")[0] for k in fit_keys} & {k.split("/")[0] for k in held_keys}
    fit_idx = np.array(sorted(row[k] for k in fit_keys if k in row and found[row[k]]), np.int64)
    held_idx = np.array(sorted(row[k] for k in held_keys if k in row and found[row[k]]), np.int64)
    template, template_info = fit_template(lm, fit_idx)
    template_info["people_shared_with_folds_6_10"] = len(people_shared)
    emb, ms_align, ms_embed, device = chips_pass(keys, folder, lm, template, cache, args.fresh, args.chunk)

    usable = [p for p in pairs if p.a in row and p.b in row and found[row[p.a]] and found[row[p.b]]]
    missing_absent = sum(p.a not in row or p.b not in row for p in pairs)
    missing_no_face = len(pairs) - len(usable) - missing_absent
    ia = np.array([row[p.a] for p in usable])
    ib = np.array([row[p.b] for p in usable])
    labels = np.array([p.same for p in usable], np.int64)
    folds = np.array([p.fold for p in usable], np.int64)
    held = ~np.isin(folds, FIT_FOLDS)

    landmark_ms = {
        "dlib68": lm["ms_dlib68"][found],
        "retinaface5": np.zeros(found.sum()),
        "arcface112": np.zeros(found.sum()),
        "dlib5": lm["ms_dlib5"][found],
    }
    descriptions = {
        "dlib68": "dlib 68-point predictor on the RetinaFace box -> dlib's 5 points -> dlib chip template",
        "retinaface5": "RetinaFace's 5 points -> fitted 5-point template in the dlib chip (similarity)",
        "arcface112": "RetinaFace's 5 points -> ArcFace 112x112 crop, resized bilinearly to 150x150",
        "dlib5": "dlib 5-point predictor on the RetinaFace box -> dlib chip template (reference)",
    }
    results = {}
    for a in ALIGNMENTS:
        scores = np.einsum("nd,nd->n", emb[a][ia], emb[a][ib]).astype(np.float64)
        lmk, aln = landmark_ms[a], ms_align[a][found]
        results[a] = {
            "description": descriptions[a],
            "all_folds": metrics(scores, labels, folds),
            "folds_6_10": metrics(scores[held], labels[held], folds[held]),
            "ms_per_face": {
                "landmarks": round(float(lmk.mean()), 3),
                "alignment": round(float(aln.mean()), 3),
                "landmarks_plus_alignment": round(float((lmk + aln).mean()), 3),
                "landmarks_plus_alignment_median": round(float(np.median(lmk + aln)), 3),
            },
        }

    import torch

    report = {
        "command": COMMAND,
        "what": (
            "dlib-resnet (TorchDlibEmbedder, cosine of unit descriptors) on LFW View 2, with 150x150 chips "
            "aligned four ways from one RetinaFace-MobileNet0.25 box per image (largest face, native size); "
            "10-fold accuracy (threshold fitted on the other folds), EER, AUC; folds_6_10 are the folds "
            "the retinaface5 template was not fitted on (5-fold among themselves). See the script's docstring"
        ),
        "data": {
            "root": str(args.root),
            "pairs_listed": len(pairs),
            "images_named": len(keys) + len(absent),
            "images_absent": len(absent),
            "images_without_face": int((~found).sum()),
            "images_without_face_keys": [k for k, f in zip(keys, found) if not f],
            "images_with_several_faces": int((lm["faces"] > 1).sum()),
            "pairs_missing_absent_image": int(missing_absent),
            "pairs_missing_no_face": int(missing_no_face),
            "pairs_evaluated": len(usable),
            "pairs_evaluated_folds_6_10": int(held.sum()),
        },
        "template_retinaface5": template_info,
        "alignments": results,
        "consistency_retinaface5_vs_dlib68": {
            "folds_6_10": consistency(lm, held_idx, template),
            "all": consistency(lm, np.flatnonzero(found), template),
        },
        "agreement_with_dlib5_predictor_chip": agreement_with_dlib5(
            lm, keys, np.flatnonzero(found), template
        ),
        "timing": {
            "detector_ms_per_image": round(float(lm["ms_detect"].mean()), 3),
            "image_read_ms": round(float(lm["ms_read"].mean()), 3),
            "embed_ms_per_face": round(ms_embed, 3),
            "embed_device": device,
            "cpu_threads_torch": torch.get_num_threads(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "note": "wall-clock per face on this machine, one image at a time (landmarks, warp); the "
            "embedder in chunks of 256 chips. The landmark and embedding times come from the run that "
            "filled the cache.",
            "wall_s_this_run": round(time.perf_counter() - t_start, 1),
        },
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "dlib": __import__("dlib").__version__,
            "onnxruntime": __import__("onnxruntime").__version__,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{len(usable)} pairs ({missing_absent} missing: absent image, {missing_no_face}: no face)")
    head = ("alignment", "acc 10-fold", "EER", "AUC", "acc f6-10", "EER f6-10", "ms")
    print("{:<12} {:>16} {:>7} {:>8} {:>16} {:>9} {:>6}".format(*head))
    for a, r in results.items():
        f, h = r["all_folds"], r["folds_6_10"]
        print(
            f"{a:<12} {f['accuracy_mean']:.4f}±{f['accuracy_std_error']:.4f}  {f['eer']:.4f} {f['auc']:.5f}"
            f" {h['accuracy_mean']:.4f}±{h['accuracy_std_error']:.4f}  {h['eer']:9.4f}"
            f" {r['ms_per_face']['landmarks_plus_alignment']:6.2f}"
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
