"""Speed of decoding, of each stage and of the whole pipeline on one clip, in one process.

Ratios between numbers of the same run are what to compare across machines; absolute frames/s
depend on the machine and its load. Used by ``vidfiqa bench`` and ``scripts/bench.py``.

The comparison runs, on the first ``compare_frames`` frames, the naive pipeline (dlib's own
models: detect, landmarks and embed every frame, decoding inline; one mean template per track)
and the tuned one (the default config: decode thread, detect every 2nd frame and track between,
the torch port of dlib's embedder on only the top 5 frames of each track) and reports frames/s of
each end to end (templates included), their ratios to decode-only and to each other, and the
cosine between each tuned track template and the naive template of the same track (tracks
matched by box overlap), which is what the tuning costs in accuracy.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from vidfiqa.aggregate import Strategy
from vidfiqa.align import align_dlib_chip
from vidfiqa.build import build_embedder, build_stages
from vidfiqa.config import Config, load_config
from vidfiqa.geometry import box_iou
from vidfiqa.models.dlib_mmod_torch import TorchMmodDetector
from vidfiqa.models.dlib_models import DlibCnnDetector, DlibHogDetector, DlibLandmarker, DlibResNetEmbedder
from vidfiqa.models.dlib_torch import TorchDlibEmbedder
from vidfiqa.pipeline import VideoAnalysis, analyse_video
from vidfiqa.templates import build_templates
from vidfiqa.video import ReadOptions, open_video


def describe(config: Config) -> str:
    """The settings that set a run's speed, in one line."""
    d = config.detector
    side = f"max side {d.max_side}" if d.max_side else "native size"
    return (
        f"{d.name} at {side} every {d.every} frames, {config.landmarks.name}, "
        f"{config.quality.scorer}, {config.embedder.name}"
    )


def decode_fps(path: Path, backend: str) -> dict:
    t = time.perf_counter()
    with open_video(path, backend=backend) as reader:
        n = sum(1 for _ in reader)
    seconds = time.perf_counter() - t
    return {"frames": n, "seconds": seconds, "fps": n / seconds}


def stage_speeds(path: Path, frames: int, batch: int) -> dict:
    """Detector ms/frame, landmarks ms/face, and faces/s of dlib's embedder and of its torch port
    at ``batch``."""
    with open_video(path, ReadOptions(max_frames=frames)) as reader:
        images = [f.image for f in reader]
    detector, landmarker = DlibHogDetector(), DlibLandmarker()
    t = time.perf_counter()
    found = detector.detect(images)
    detect_s = time.perf_counter() - t
    faces = sum(len(d) for d in found)
    t = time.perf_counter()
    chips = [
        align_dlib_chip(im, landmarker.landmark(im, d).data["dlib5"])
        for im, d in zip(images, found)
        if len(d)
    ]
    landmark_s = time.perf_counter() - t
    out = {"frames": len(images), "faces": faces, "detect_ms_per_frame": 1000 * detect_s / len(images)}
    # dlib's CNN detector takes seconds a frame on CPU: two frames are enough to time it.
    for key, cnn in (("detect_cnn_dlib", DlibCnnDetector()), ("detect_cnn_torch", TorchMmodDetector())):
        t = time.perf_counter()
        cnn.detect(images[:2])
        out[f"{key}_ms_per_frame"] = 1000 * (time.perf_counter() - t) / len(images[:2])
    out["detect_cnn_torch_speedup"] = (
        out["detect_cnn_dlib_ms_per_frame"] / out["detect_cnn_torch_ms_per_frame"]
    )
    if faces:
        stack = np.concatenate(chips)
        reps = np.resize(stack, (max(batch, len(stack)), *stack.shape[1:]))[:batch]
        out |= {"landmarks_align_ms_per_face": 1000 * landmark_s / faces, "embed_batch": len(reps)}
        for key, embedder in (("embed_dlib", DlibResNetEmbedder()), ("embed_torch", TorchDlibEmbedder())):
            embedder.embed(reps[:2])  # warm-up
            t = time.perf_counter()
            embedder.embed(reps)
            out[f"{key}_faces_per_second"] = len(reps) / (time.perf_counter() - t)
        out["embed_torch_over_dlib"] = (
            out["embed_torch_faces_per_second"] / out["embed_dlib_faces_per_second"]
        )
    return out


def _end_to_end(path: Path, config: Config, strategy: str, embed: str) -> tuple[dict, VideoAnalysis, dict]:
    stages = build_stages(config)
    embedder = build_embedder(config)
    t = time.perf_counter()
    analysis = analyse_video(path, config, stages)
    analysed = time.perf_counter()
    results = build_templates(
        analysis,
        embedder,
        [Strategy.parse(strategy)],
        embed=embed,
        min_gap=config.select.min_gap,
        floor=config.select.relative_floor,
    )
    seconds = time.perf_counter() - t
    templates = {t: r.templates[strategy].vector for t, r in enumerate(results) if r.templates}
    embedded = sum(len(r.positions) for r in results)
    report = {
        "frames": analysis.frames_read,
        "seconds": seconds,
        "fps": analysis.frames_read / seconds,
        "tracks": len(analysis.tracks),
        "faces_scored": sum(len(t) for t in analysis.tracks),
        "faces_embedded": embedded,
        "analyse_seconds": analysed - t,
        "template_seconds": seconds - (analysed - t),
        "stage_seconds": analysis.seconds,
        "key_frames": analysis.detections,
        "detector_calls": analysis.detector_calls,
    }
    return report, analysis, templates


def _match_tracks(a: VideoAnalysis, b: VideoAnalysis) -> dict[int, int]:
    """Track of ``b`` -> track of ``a`` with the highest mean box IoU over shared frames (> 0.5)."""
    pairs = {}
    for j, tb in enumerate(b.tracks):
        best, best_iou = None, 0.5
        for i, ta in enumerate(a.tracks):
            _, ia, ib = np.intersect1d(ta.frames, tb.frames, return_indices=True)
            if len(ia):
                iou = float(np.mean(np.diag(box_iou(ta.boxes[ia], tb.boxes[ib]))))
                if iou > best_iou:
                    best, best_iou = i, iou
        if best is not None:
            pairs[j] = best
    return pairs


def compare(path: Path, frames: int, decode: dict, tuned_config: Config | None = None) -> dict:
    """Naive vs tuned pipeline on the first ``frames`` frames; see the module docstring.
    ``tuned_config`` replaces the default config for the tuned run (its strategy stays topk:5)."""

    def first_frames(config: Config) -> Config:
        return config.model_copy(update={"video": config.video.model_copy(update={"max_frames": frames})})

    base = first_frames(tuned_config or load_config(None))
    default = first_frames(load_config(None))
    # The naive run is dlib's own models at full resolution on every frame (HOG, 68 landmarks,
    # ResNet), whatever the tuned config; its quality (for nothing but the record) is the
    # training-free formula, so a learned default scorer does not slow the baseline.
    naive_config = default.model_copy(
        update={
            "detector": default.detector.model_copy(
                update={"name": "dlib-hog", "every": 1, "max_side": None}
            ),
            "landmarks": default.landmarks.model_copy(update={"name": "dlib68"}),
            "quality": default.quality.model_copy(update={"scorer": "factors"}),
            "embedder": default.embedder.model_copy(update={"name": "dlib-resnet-dlib"}),
            "video": default.video.model_copy(update={"prefetch": 0}),
        }
    )
    naive, naive_analysis, naive_t = _end_to_end(path, naive_config, "mean", "all")
    tuned, tuned_analysis, tuned_t = _end_to_end(path, base, "topk:5", "needed")
    matched = _match_tracks(naive_analysis, tuned_analysis)
    cosines = [float(tuned_t[j] @ naive_t[i]) for j, i in matched.items() if j in tuned_t and i in naive_t]
    return {
        "frames": frames,
        "naive": {
            "config": "dlib's own models: HOG detection, 68 landmarks and embedding on every frame, "
            "decode inline; mean template"
        }
        | naive,
        "tuned": {
            "config": "decode thread, detect every detector.every frames and track between, torch port "
            "of dlib's embedder on the top 5 frames of each track; topk:5 template",
            "detector": base.detector.model_dump(),
            "settings": describe(base),
        }
        | tuned,
        "ratio_tuned_to_decode": tuned["fps"] / decode["pyav"]["fps"],
        "ratio_tuned_to_naive": tuned["fps"] / naive["fps"],
        "template_cosine": {
            "tracks_matched": len(cosines),
            "tuned_tracks": len(tuned_t),
            "min": min(cosines, default=None),
            "mean": float(np.mean(cosines)) if cosines else None,
        },
    }


def run_benchmark(
    video: Path,
    *,
    stage_frames: int = 20,
    batch: int = 32,
    compare_frames: int | None = None,
    tuned_config: Config | None = None,
) -> dict:
    """Decode speed (PyAV, and decord where it reads the file), the default pipeline's speed,
    per-stage speeds, and with ``compare_frames`` the naive-vs-tuned comparison (the tuned run
    with ``tuned_config``, default: the default config); as a dict ready for JSON."""
    decode = {b: decode_fps(video, b) for b in ("pyav", "decord") if b == "pyav" or video.suffix != ".h264"}
    config = load_config(None)
    stages = build_stages(config)
    t = time.perf_counter()
    analysis = analyse_video(video, config, stages)
    seconds = time.perf_counter() - t
    result = {
        "video": str(video),
        "size": [analysis.info.width, analysis.info.height],
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "decode": decode,
        "pipeline": {
            "config": describe(config),
            "detector_batch": config.detector.batch or getattr(stages.detector, "preferred_batch", 1),
            "frames": analysis.frames_read,
            "key_frames": analysis.detections,
            "detector_calls": analysis.detector_calls,
            "fps": analysis.frames_read / seconds,
            "tracks": len(analysis.tracks),
            "faces": sum(len(t) for t in analysis.tracks),
            "stage_seconds": analysis.seconds,
            "ratio_to_decode_pyav": (analysis.frames_read / seconds) / decode["pyav"]["fps"],
        },
        "stages": stage_speeds(video, stage_frames, batch),
    }
    if compare_frames:
        result["naive_vs_tuned"] = compare(video, compare_frames, decode, tuned_config)
    return result
