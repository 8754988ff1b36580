"""Speed of decoding, of each stage and of the whole pipeline on one clip, in one process.

Ratios between numbers of the same run are what to compare across machines; absolute frames/s
depend on the machine and its load. Used by ``vidfiqa bench`` and by studies under ``benchmarks/``.

The comparison runs, on the first ``compare_frames`` frames, the naive pipeline (dlib's own
detector and landmarks on every frame, the tuned run's embedder on every frame, decoding inline;
one mean template per track) and the tuned one (the default config: decode thread, detect every
2nd frame and track between, the embedder on only the top 5 frames of each track) and reports
frames/s of
each end to end (templates included), their ratios to decode-only and to each other, and the
cosine between each tuned track template and the naive template of the same track (tracks
matched by box overlap), which is what the tuning costs in accuracy.

Every report says what it measured under: the load average before and after the run (a busy
machine's numbers are not comparable; ``busy_note`` words the warning), the thread settings in
force (torch, onnxruntime as vidfiqa sets it, OMP/MKL variables, the CPUs this process may use),
and, with the load test, the pipeline's frames/s with one core held busy by a spinning process
beside its quiet frames/s on the same frames.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidfiqa.aggregate import Strategy
from vidfiqa.align import align_dlib_chip
from vidfiqa.build import Stages, build_embedder, build_stages
from vidfiqa.config import Config, load_config
from vidfiqa.device import usable_cpus
from vidfiqa.geometry import box_iou
from vidfiqa.models.dlib_mmod_torch import TorchMmodDetector
from vidfiqa.models.dlib_models import DlibCnnDetector, DlibHogDetector, DlibLandmarker, DlibResNetEmbedder
from vidfiqa.models.dlib_torch import TorchDlibEmbedder
from vidfiqa.pipeline.analyse import VideoAnalysis, analyse_video
from vidfiqa.pipeline.templates import build_templates
from vidfiqa.video import ReadOptions, open_video

#: A machine is busy when its 1-minute load average is above this share of its CPUs.
BUSY_LOAD_PER_CPU = 0.5
#: Environment variables that set the thread pools of the numeric libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def machine_load() -> dict[str, Any]:
    """The load average now (1, 5 and 15 minutes; ``None`` where the platform has none) and the
    machine's CPUs, the load's scale."""
    try:
        load: list[float] | None = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {"load_average": load, "cpus": os.cpu_count() or 1}


def study_context(load_before: dict[str, Any]) -> dict[str, Any]:
    """What a study under ``benchmarks/`` records beside its numbers: the machine (CPUs,
    processor) and the load average before (``load_before``, from :func:`machine_load`) and now."""
    return {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "load_average_before_after": [load_before["load_average"], machine_load()["load_average"]],
    }


def write_result(result: dict[str, Any], out: Path | None) -> None:
    """``result`` as indented JSON to the file ``out``, or to stdout without one."""
    text = json.dumps(result, indent=1)
    if out:
        out.write_text(text + "\n")
    else:
        print(text)


def busy_note(load: dict[str, Any]) -> str | None:
    """A warning when the 1-minute load average of :func:`machine_load` is above
    :data:`BUSY_LOAD_PER_CPU` x CPUs, else ``None``.

    >>> busy_note({"load_average": [5.4, 3.0, 1.4], "cpus": 2})[:64]
    'warning: the machine is busy (load average 5.40 on 2 CPUs, above'
    """
    if not load["load_average"]:
        return None
    now, limit = load["load_average"][0], BUSY_LOAD_PER_CPU * load["cpus"]
    if now <= limit:
        return None
    return (
        f"warning: the machine is busy (load average {now:.2f} on {load['cpus']} CPUs, above {limit:g}): "
        "frames/s and ratios will be lower than on a quiet machine; the load is recorded in the JSON"
    )


def thread_settings(stages: Any = None) -> dict[str, Any]:
    """The thread settings in force: torch's intra- and inter-op pools, the onnxruntime session
    options of ``stages``' detector when it is an onnxruntime model (0 = onnxruntime's default),
    the OMP/MKL variables, and the CPUs this process may use."""
    session = getattr(getattr(stages, "detector", None), "_session", None)
    onnx = None
    if hasattr(session, "get_session_options"):  # not a torch-run graph (TorchGraph)
        options = session.get_session_options()
        onnx = {
            "intra_op_threads": options.intra_op_num_threads,
            "inter_op_threads": options.inter_op_num_threads,
            "allow_spinning": _config_entry(options, "session.intra_op.allow_spinning"),
        }
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "onnxruntime": onnx,
        "env": {k: os.environ.get(k) for k in THREAD_VARIABLES},
        "affinity_cpus": usable_cpus(),
        "cpu_count": os.cpu_count(),
    }


def _config_entry(options: Any, key: str) -> str | None:
    try:
        return options.get_session_config_entry(key)
    except Exception:  # onnxruntime raises its own error for an entry never set
        return None


def _spin(started: Any, stop: Any) -> None:
    started.set()
    while not stop.is_set():
        pass


@contextmanager
def busy_core() -> Iterator[int]:
    """One core held busy by a spinning process for the block (its pid is yielded); the process
    is stopped and, if it lingers, terminated on exit."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    started, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_spin, args=(started, stop), daemon=True)
    proc.start()
    try:
        started.wait(timeout=30)
        yield proc.pid
    finally:
        stop.set()
        proc.join(timeout=2)
        if proc.is_alive():
            proc.terminate()
            proc.join()


def load_test(video: Path, config: Config, stages: Any, frames: int) -> dict[str, Any]:
    """The pipeline on the first ``frames`` frames, quiet, with one core held busy by
    :func:`busy_core` (``loaded``) and with two (``two_busy``): each one's frames/s, and
    ``loaded_over_quiet`` and ``two_busy_over_quiet``."""
    first = config.model_copy(update={"video": config.video.model_copy(update={"max_frames": frames})})
    runs = {}
    for name, busy in (("quiet", 0), ("loaded", 1), ("two_busy", 2)):
        with ExitStack() as stack:
            for _ in range(busy):
                stack.enter_context(busy_core())
            t = time.perf_counter()
            analysis = analyse_video(video, first, stages)
            seconds = time.perf_counter() - t
        runs[name] = {
            "frames": analysis.frames_read,
            "seconds": seconds,
            "fps": analysis.frames_read / seconds,
        }
    return {
        "busy_processes": 1,
        **runs,
        "loaded_over_quiet": runs["loaded"]["fps"] / runs["quiet"]["fps"],
        "two_busy_over_quiet": runs["two_busy"]["fps"] / runs["quiet"]["fps"],
    }


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


def faces_per_second(scorer: Any, batch: Any, repeats: int = 3) -> float:
    """Faces/s of ``scorer.score(batch)``: one warm-up call, then ``repeats`` calls timed
    together, rounded to 0.1 (the quality studies under ``benchmarks/`` time scorers so)."""
    scorer.score(batch)
    t = time.perf_counter()
    for _ in range(repeats):
        scorer.score(batch)
    return round(repeats * len(batch) / (time.perf_counter() - t), 1)


def stage_speeds(path: Path, frames: int, batch: int, device: str | None = None) -> dict:
    """Detector ms/frame, landmarks ms/face, and faces/s of dlib's embedder and of its torch port
    at ``batch`` (torch models on ``device``)."""
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
    for key, cnn in (
        ("detect_cnn_dlib", DlibCnnDetector()),
        ("detect_cnn_torch", TorchMmodDetector(device=device)),
    ):
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
        for key, embedder in (
            ("embed_dlib", DlibResNetEmbedder()),
            ("embed_torch", TorchDlibEmbedder(device=device)),
        ):
            embedder.embed(reps[:2])  # warm-up
            t = time.perf_counter()
            embedder.embed(reps)
            out[f"{key}_faces_per_second"] = len(reps) / (time.perf_counter() - t)
        out["embed_torch_over_dlib"] = (
            out["embed_torch_faces_per_second"] / out["embed_dlib_faces_per_second"]
        )
    return out


#: Frames a timed run's models see first, untimed: their first calls (memory plans, a child
#: process still loading its model) are not the speed of the run.
WARM_FRAMES = 8


def warm_stages(path: Path, config: Config) -> Stages:
    """The stages of ``config``, built and run once on the first :data:`WARM_FRAMES` frames of
    ``path``."""
    stages = build_stages(config)
    warm = config.video.model_copy(update={"max_frames": WARM_FRAMES})
    analyse_video(path, config.model_copy(update={"video": warm}), stages)
    return stages


def end_to_end(path: Path, config: Config, strategy: str, embed: str) -> tuple[dict, VideoAnalysis, dict]:
    """Analyse ``path`` and build one ``strategy`` template per track (``embed``: which frames are
    embedded); the timings, the analysis and the unit template of each track position."""
    stages = warm_stages(path, config)
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


def match_tracks(a: VideoAnalysis, b: VideoAnalysis) -> dict[int, int]:
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
    default = first_frames(load_config(None, {"quality.device": base.quality.device}))
    # The naive run is dlib's own models at full resolution on every frame (HOG, 68 landmarks),
    # whatever the tuned config, embedding every frame with the tuned run's embedder (dlib's own
    # implementation of it for dlib-resnet), since templates of two embedders cannot be compared;
    # its quality (for nothing but the record) is the training-free formula, so a learned default
    # scorer does not slow the baseline.
    embedder = base.embedder.name
    naive_embedder = "dlib-resnet-dlib" if embedder == "dlib-resnet" else embedder
    naive_config = default.model_copy(
        update={
            "detector": default.detector.model_copy(
                update={
                    "name": "dlib-hog",
                    "every": 1,
                    "full_every": 1,
                    "full_seconds": None,
                    "skip_steady": 0,
                    "max_side": None,
                    "thread": False,
                }
            ),
            "landmarks": default.landmarks.model_copy(update={"name": "dlib68"}),
            "quality": default.quality.model_copy(update={"scorer": "factors"}),
            "embedder": base.embedder.model_copy(update={"name": naive_embedder}),
            "insightface": base.insightface,
            "video": default.video.model_copy(update={"prefetch": 0}),
        }
    )
    naive, naive_analysis, naive_t = end_to_end(path, naive_config, "mean", "all")
    tuned, tuned_analysis, tuned_t = end_to_end(path, base, "topk:5", "needed")
    matched = match_tracks(naive_analysis, tuned_analysis)
    cosines = [float(tuned_t[j] @ naive_t[i]) for j, i in matched.items() if j in tuned_t and i in naive_t]
    return {
        "frames": frames,
        "naive": {
            "config": "dlib's own models: HOG detection and 68 landmarks on every frame, "
            f"{naive_embedder} embedding on every frame, decode inline; mean template"
        }
        | naive,
        "tuned": {
            "config": "decode thread, detect every detector.every frames and track between, "
            f"{embedder} on the top 5 frames of each track; topk:5 template",
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
    device: str | None = None,
    load_frames: int | None = None,
    load_before: dict[str, Any] | None = None,
) -> dict:
    """Decode speed (PyAV, and decord where it reads the file), the pipeline's speed with
    ``tuned_config`` (default: the default config), per-stage speeds, and with ``compare_frames``
    the naive-vs-tuned comparison (the tuned run with the same config); with ``load_frames`` the
    :func:`load_test` of that config on that many frames. ``device``: where torch runs the models
    (``quality.device``), in every part. The machine's load before (``load_before``, default:
    now) and after the run, and the thread settings, are recorded. As a dict ready for JSON."""
    load_before = load_before or machine_load()
    decode = {b: decode_fps(video, b) for b in ("pyav", "decord") if b == "pyav" or video.suffix != ".h264"}
    # The config asked for (a preset), not the default: its speed and its load test are what
    # the caller wants measured.
    config = tuned_config or load_config(None, {"quality.device": device})
    stages = warm_stages(video, config)
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
            "threads": thread_settings(stages),
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
        "stages": stage_speeds(video, stage_frames, batch, None if device == "auto" else device),
    }
    if load_frames:
        result["load_test"] = load_test(video, config, stages, load_frames)
    if compare_frames:
        result["naive_vs_tuned"] = compare(video, compare_frames, decode, tuned_config)
    after = machine_load()
    result["load"] = {
        "before": load_before["load_average"],
        "after": after["load_average"],
        "cpus": after["cpus"],
        "busy_above": BUSY_LOAD_PER_CPU * after["cpus"],
        "busy": busy_note(load_before) is not None,
    }
    return result
