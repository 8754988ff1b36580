"""Typed run configuration, loaded from YAML (``configs/*.yaml``) with command-line overrides.

Unknown keys and wrong types are errors: a typo in a config must never silently fall back to a
default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vidfiqa.aggregate import Strategy
from vidfiqa.device import valid_device
from vidfiqa.models.records import Kind, names
from vidfiqa.quality.factors import DEFAULT_WEIGHTS


def _catalogued(kind: Kind) -> BeforeValidator:
    """Accept the catalogue's names of ``kind`` (:mod:`vidfiqa.models.records`), refusing others
    with the message a ``Literal`` of them gives: every name, in order."""
    known = names(kind)
    expected = " or ".join(filter(None, [", ".join(map(repr, known[:-1])), repr(known[-1])]))

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in known:
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value

    return BeforeValidator(check)


#: Every quality scorer the pipeline can run by name (``factors:<component>`` only in ``eval``).
QualityName = Annotated[str, _catalogued("quality")]
#: Detectors, landmarkers and embedders by name.
DetectorName = Annotated[str, _catalogued("detector")]
LandmarkName = Annotated[str, _catalogued("landmarker")]
EmbedderName = Annotated[str, _catalogued("embedder")]
#: The names each kind accepts: the catalogue's, in its order (the CLI's choices).
QUALITY_SCORERS: tuple[str, ...] = names("quality")
DETECTORS: tuple[str, ...] = names("detector")
LANDMARKERS: tuple[str, ...] = names("landmarker")
EMBEDDERS: tuple[str, ...] = names("embedder")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VideoConfig(_Section):
    backend: Literal["pyav", "decord"] = "pyav"
    stride: int = Field(1, ge=1, description="keep every n-th frame")
    start: float | None = Field(None, ge=0, description="seconds")
    end: float | None = Field(None, gt=0, description="seconds")
    max_frames: int | None = Field(None, ge=1)
    threads: int = Field(0, ge=0, description="decoder threads, 0 = automatic")
    prefetch: int = Field(8, ge=0, description="frames decoded ahead on a thread; 0 = no thread")


class DetectorConfig(_Section):
    name: DetectorName = "retinaface"
    upsample: int = Field(0, ge=0, le=3)
    max_side: int | None = Field(None, ge=64, description="detect on frames shrunk to this side")
    every: int = Field(2, ge=1, description="run detection every n read frames; track between")
    full_every: int = Field(
        2,
        ge=1,
        description="every n-th key frame of a shot is detected whole, the others only around "
        "the faces tracked so far (new faces wait for the next whole one). On a GPU every key "
        "frame is detected whole: there a whole 1080p frame costs a few ms, and each new region "
        "size a kernel choice of ~0.2 s",
    )
    full_seconds: float | None = Field(
        None,
        gt=0,
        description="whole-frame scans on a schedule in time instead, when set (it replaces "
        "full_every): a key frame is detected whole when at least this many seconds of video have "
        "passed since the shot's last whole one (a shot's first key frame always is); new faces "
        "wait up to this long",
    )
    region_side: int = Field(
        256,
        ge=32,
        description="largest side, in pixels, that a region around a tracked face is detected "
        "at (a square 2.5 face sides wide, shrunk to it). The detector's points, and so the "
        "quality scores, move with the face's size in the detector's input: larger keeps region "
        "key frames' scores closer to whole frames' on large faces, at some speed "
        "(docs/benchmarks.md, Speed v3)",
    )
    skip_steady: int = Field(
        0,
        ge=0,
        description="region key frames that may be skipped in a row while every tracked face "
        "is steady (found at the last key frame where the tracker predicted it, IoU >= 0.8, "
        "with detector confidence >= 0.9, and no new face); its frames are then interpolated "
        "across the longer gap, and their eyes measured less often (narrowed eyes can pass "
        "for open: best with landmarks that measure no eyes). 0: never skip",
    )
    batch: int | None = Field(
        None,
        ge=1,
        description="key frames per detector call (look-ahead); default: the detector's own "
        "preference (RetinaFace: 8 on CUDA, 1 on CPU, where batching measured 11-13% slower)",
    )
    thread: bool = Field(
        True,
        description="detect and track on a thread of their own, up to 8 key frames ahead of "
        "landmarks and quality (results identical); false: both on one thread",
    )


class LandmarkConfig(_Section):
    name: LandmarkName = "detector5-eyes"
    eye_process: bool = Field(
        True,
        description="detector5-eyes: run dlib's eye model in a child process (Linux), where its "
        "calls, which hold Python's GIL ~2 ms each, do not stall the detection thread (results "
        "identical); false: on the calling thread",
    )
    eye_motion: float = Field(
        0.03,
        ge=0,
        description="detector5-eyes: eye aspect ratio change between two key frames of a track "
        "at which its eyes are measured on the frames between them too; lower catches more "
        "half-blinks at ~2 ms a face measured, higher measures fewer frames",
    )
    eye_change: float = Field(
        4.0,
        ge=0,
        description="detector5-eyes: mean grey-level change of the eye region of a frame between "
        "key frames, against both key frames, at which its eyes are measured too (a blink that "
        "opens again before the next key frame; blinks on the talking heads read 5-9, a talking "
        "face ~1); lower measures more frames, higher misses short blinks",
    )


class InsightfaceConfig(_Section):
    pack: str = Field("buffalo_l", description="insightface pack for scrfd, scrfd5 and arcface")
    model_root: str | None = Field(None, description="looked in before ~/.insightface/models")


class TrackerConfig(_Section):
    iou_threshold: float = Field(0.3, gt=0, le=1)
    min_hits: int = Field(2, ge=1)
    max_misses: int = Field(5, ge=0)
    max_shift: float = Field(1.0, ge=0, description="near-miss reach in face sides (fast motion)")
    shot_threshold: float = Field(
        0.3, gt=0, le=1, description="least histogram distance of a shot cut (vidfiqa/pipeline/shots.py)"
    )
    min_face: int = Field(20, ge=0, description="ignore detections smaller than this (px)")


class QualityConfig(_Section):
    scorer: QualityName = "distilled"
    weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS), description="factors only"
    )
    model_root: str | None = Field(None, description="folder of published model files")
    checkpoint: str | None = Field(
        None, description="distilled only: a 'vidfiqa train distill' file (default: the packaged one)"
    )
    device: str | None = Field(
        None,
        description="device of the models torch runs (the scorer, dlib-resnet, dlib-cnn): cpu, "
        "cuda, cuda:N, or auto/null (cuda when available)",
    )
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads of torch and onnxruntime each (null: the usable CPUs shared by "
        "the detection thread and the quality thread, 1 each on 2 cores)",
    )
    flip_tta: bool = Field(False, description="distilled only: also score the mirrored crop")
    eyes_closed_ratio: float = Field(
        0.6,
        ge=0,
        le=1,
        description="a frame whose eye aspect ratio is at most this fraction of its track's "
        "open-eye level counts as closed (gets eyes_closed_penalty); raising it also penalises "
        "narrowed eyes (a smile), lowering it lets half-closed eyes through",
    )
    eyes_open_ratio: float = Field(
        0.75,
        ge=0,
        le=1,
        description="at or above this fraction of the track's open-eye level the eyes count as "
        "open (no effect); between the two ratios the gate ramps",
    )
    eyes_closed_penalty: float = Field(
        0.05,
        ge=0,
        le=1,
        description="quality multiplier of a closed-eyed frame; 1 turns the blink gate off, 0 "
        "makes blinks tie at the bottom",
    )
    sharpness_power: float = Field(
        2.0,
        ge=0,
        description="exponent of the track-relative native-resolution sharpness multiplier; 0 "
        "turns it off (blur on faces larger than the scorer's crop goes unseen), higher lets "
        "sharpness outweigh what the scorer rates",
    )

    @model_validator(mode="after")
    def _eye_ratios(self) -> QualityConfig:
        if self.eyes_closed_ratio > self.eyes_open_ratio:
            raise ValueError("eyes_closed_ratio must not exceed eyes_open_ratio")
        return self

    @field_validator("device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        return valid_device(value)

    @model_validator(mode="after")
    def _known_components(self) -> QualityConfig:
        unknown = set(self.weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown quality components {sorted(unknown)}")
        return self


class SelectConfig(_Section):
    top_k: int = Field(5, ge=1)
    min_gap: int = Field(5, ge=0, description="least frame distance between selected frames")
    min_track_length: int = Field(3, ge=1, description="tracks with fewer observations are dropped")
    relative_floor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="picks (best frames, topk templates) need at least this fraction of their "
        "track's best quality (from the bottom of the scorer's range): a track gives fewer than "
        "top_k picks rather than one far below its best; 0 always fills top_k",
    )
    min_confidence: float = Field(
        0.7,
        ge=0,
        le=1,
        description="tracks whose detector confidence (in [0, 1]: RetinaFace's face probability, "
        "0.5 at dlib's detection threshold) never reaches this are flagged as no face (no best "
        "frames, no templates); raising it loses hard real faces, lowering it lets background "
        "false detections become templates",
    )
    min_track_quality: float = Field(
        0.02,
        ge=0,
        le=1,
        description="tracks whose quality never reaches this fraction of the scorer's range are "
        "flagged as no usable face (no best frames, no templates); 0 lets them through",
    )


class EmbedderConfig(_Section):
    name: EmbedderName = "sface"


class TemplateConfig(_Section):
    strategies: list[str] = Field(
        default_factory=lambda: ["best", "topk:5"],
        description="aggregation strategies, see vidfiqa/aggregate.py",
    )
    embed: Literal["needed", "all"] = "needed"

    @field_validator("strategies")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one strategy is needed")
        return [Strategy.parse(v).label for v in value]


class Config(_Section):
    video: VideoConfig = VideoConfig()
    detector: DetectorConfig = DetectorConfig()
    landmarks: LandmarkConfig = LandmarkConfig()
    tracker: TrackerConfig = TrackerConfig()
    quality: QualityConfig = QualityConfig()
    select: SelectConfig = SelectConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    insightface: InsightfaceConfig = InsightfaceConfig()
    templates: TemplateConfig = TemplateConfig()

    @model_validator(mode="after")
    def _points_for_detector5(self) -> Config:
        if self.landmarks.name == "detector5" and self.detector.name not in ("retinaface", "scrfd"):
            raise ValueError(
                f"landmarks 'detector5' keep the detector's points and {self.detector.name} gives "
                "none: use retinaface or scrfd, or landmarks detector5-eyes or dlib68"
            )
        return self


class ConfigError(Exception):
    """A config file or override that cannot be used; the message is one line."""


#: Named configs shipped inside the package (``--preset``): ``vidfiqa/presets/NAME.yaml``, copies
#: of a checkout's ``configs/NAME.yaml`` (a test keeps them equal).
PRESETS_DIR = Path(__file__).resolve().parent / "presets"
PRESETS: tuple[str, ...] = ("default", "fast")


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS_DIR / f"{name}.yaml"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    return f"{where}: {err['msg']}" + (f" (got {err['input']!r})" if "input" in err else "")


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"cannot set {dotted}: {key} is not a section")
    tree[leaf] = value


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Config from a YAML file (or the defaults), then ``overrides`` with dotted keys.

    ``None`` override values are ignored, so unset command-line options keep the file's value.

    Raises:
        ConfigError: unreadable file, bad YAML, unknown key or wrong type.
    """
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            loaded = yaml.safe_load(p.read_text())
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read config ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{p}: invalid YAML{where}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: a config must be a mapping of sections")
        tree = loaded or {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(tree, key, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        source = f"{path}: " if path else ""
        raise ConfigError(source + _first_error(exc)) from None
