"""RetinaFace through onnxruntime's int8 quantisation: speed and agreement with the float graph.

The graph is the one vidfiqa runs (``vidfiqa.models.retinaface.onnx_model_bytes``), quantised
here in memory: dynamic quantisation (weights only) and static QDQ quantisation (weights and
activations, per channel, ranges calibrated on frames of ``../shared/data/videos``), the latter
after onnxruntime's pre-processing (shape inference, constant folding: the graph as shipped
gives some convolution weights as outputs of other nodes, which the quantiser refuses) and a
conversion from opset 11 to 13 (per-channel ``DequantizeLinear``). Timed on one runtime thread,
as the pipeline's detection thread runs; agreement is the share of the float graph's faces that
the int8 graph finds (IoU >= 0.5) and their points' mean distance in face sides, on frames not
used for calibration. Nothing is written but ``--out``.

    python benchmarks/detector_int8/run.py ../shared/data/videos --out benchmarks/detector_int8/result.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidfiqa.geometry import box_iou
from vidfiqa.models.retinaface import RetinaFaceDetector, _to_input, onnx_model_bytes
from vidfiqa.pipeline.benchmark import machine_load, study_context
from vidfiqa.video import open_video

VIDEOS = ("multi_face_walk_1080p.mp4", "tears_of_steel_clip.mp4", "talking_head_a.mp4", "talking_head_b.mp4")
#: Every n-th frame of each video is sampled; samples alternate between calibration and test.
SAMPLE_EVERY = 15


def sampled_frames(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    calibration, test = [], []
    for name in VIDEOS:
        with open_video(folder / name) as reader:
            for i, frame in enumerate(reader):
                if i % SAMPLE_EVERY == 0:
                    (calibration if (i // SAMPLE_EVERY) % 2 == 0 else test).append(frame.image)
    return calibration, test


def quantised_graphs(calibration: list[np.ndarray], folder: Path) -> dict[str, Path]:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.frames = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            frame = next(self.frames, None)
            return None if frame is None else {"input": _to_input(frame[None])}

    paths = {name: folder / f"{name}.onnx" for name in ("float", "prepared", "opset13", "dynamic", "static")}
    paths["float"].write_bytes(onnx_model_bytes())
    quant_pre_process(str(paths["float"]), str(paths["prepared"]), skip_symbolic_shape=True)
    onnx.save(version_converter.convert_version(onnx.load(paths["prepared"]), 13), paths["opset13"])
    quantize_dynamic(str(paths["prepared"]), str(paths["dynamic"]), weight_type=QuantType.QUInt8)
    quantize_static(
        str(paths["opset13"]),
        str(paths["static"]),
        Frames(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return {k: paths[k] for k in ("float", "dynamic", "static")}


def detector_on(path: Path) -> RetinaFaceDetector:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    detector = RetinaFaceDetector(max_side=None, device="cpu", batch_size=1)
    detector._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return detector


def ms_per_frame(detector: RetinaFaceDetector, image: np.ndarray, repeats: int = 10) -> float:
    for _ in range(2):
        detector.detect([image])
    start = time.perf_counter()
    for _ in range(repeats):
        detector.detect([image])
    return (time.perf_counter() - start) / repeats * 1000


def agreement(
    reference: RetinaFaceDetector, other: RetinaFaceDetector, frames: list[np.ndarray]
) -> dict[str, Any]:
    found = faces = extra = 0
    shifts = []
    for image in frames:
        a, b = reference.detect([image])[0], other.detect([image])[0]
        faces += len(a)
        if not len(a) or not len(b):
            extra += len(b)
            continue
        iou = box_iou(a.boxes, b.boxes)
        match = iou.argmax(axis=1)
        ok = iou[np.arange(len(a)), match] >= 0.5
        found += int(ok.sum())
        extra += len(b) - len(set(match[ok].tolist()))
        sides = np.sqrt(np.prod(a.boxes[:, 2:] - a.boxes[:, :2], axis=1))
        moved = np.linalg.norm(a.landmarks - b.landmarks[match], axis=2).mean(1) / sides
        shifts += moved[ok].tolist()
    return {
        "faces": faces,
        "found": round(found / max(faces, 1), 4),
        "unmatched_extra": extra,
        "points_shift_face_sides": round(float(np.mean(shifts)), 4) if shifts else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", type=Path, help="../shared/data/videos")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    load = machine_load()
    calibration, test = sampled_frames(args.videos)
    walk = test[0]
    sizes = {
        "1080p": walk,
        "720p": cv2.resize(walk, (1280, 720), interpolation=cv2.INTER_AREA),
        "region 256": np.ascontiguousarray(cv2.resize(walk, (1280, 720))[200:456, 500:756]),
    }
    result: dict[str, Any] = {"calibration_frames": len(calibration), "test_frames": len(test)}
    with tempfile.TemporaryDirectory() as tmp:
        detectors = {
            name: detector_on(path) for name, path in quantised_graphs(calibration, Path(tmp)).items()
        }
        result["ms_per_frame"] = {
            name: {size: round(ms_per_frame(d, image), 1) for size, image in sizes.items()}
            for name, d in detectors.items()
        }
        print(result["ms_per_frame"], flush=True)
        result["agreement_with_float"] = {
            name: agreement(detectors["float"], d, test) for name, d in detectors.items() if name != "float"
        }
    result["speedup_over_float"] = {
        name: {size: round(result["ms_per_frame"]["float"][size] / ms, 2) for size, ms in row.items()}
        for name, row in result["ms_per_frame"].items()
        if name != "float"
    }
    result |= study_context(load)
    print(json.dumps({k: result[k] for k in ("agreement_with_float", "speedup_over_float")}), flush=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
