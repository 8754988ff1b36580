"""Typed training settings, each with its one default and its description.

The library takes these objects (:func:`vidfiqa.learn.train.train_lightweight`,
:func:`vidfiqa.learn.recipe.distill_lfw`), and the ``vidfiqa train`` options read their defaults
and help from these fields, so the command line and the library cannot disagree. The module
imports nothing heavy: the CLI reads it when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: Teachers besides any quality scorer: the recognition utility itself, and its ensemble with
#: a scorer (``utility+lightqnet``: the mean of both ranks).
UTILITY = "utility"

#: Where built LFW samples are kept between runs (``vidfiqa train distill --cache``, the scripts).
SAMPLE_CACHE = Path.home() / ".cache" / "vidfiqa" / "quality_sets"


def setting(default: Any, help: str) -> Any:
    """A settings field: its default and its description (``help``, which the CLI shows)."""
    return field(default=default, metadata={"help": help})


def help_of(settings: type, name: str) -> str:
    """The description of field ``name`` of a settings class."""
    return next(f.metadata["help"] for f in fields(settings) if f.name == name)


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """How the lightweight ensemble is trained (:func:`vidfiqa.learn.train.train_lightweight`).

    The learning rate is the one the shipped ``distilled`` weights were trained with (their
    ``vidfiqa/weights/*.json`` records: ``--lr 0.002``)."""

    epochs: int = setting(10, "Passes over the data per branch.")
    batch_size: int = setting(16, "Images per step.")
    lr: float = setting(2e-3, "Adam learning rate.")
    alpha: float = setting(1.0, "Weight of 1 - Pearson in the loss.")
    factor_weight: float = setting(1.0, "Weight of the factor-level loss.")
    val_fraction: float = setting(0.2, "Share of images held out for SRCC/PLCC.")
    seed: int = setting(0, "Random seed (split, order, flips).")
    input_size: int = setting(112, "Network input side.")
    device: str | None = setting(None, "Where torch trains: cpu, cuda, cuda:N, or auto/None (cuda if any).")


@dataclass(frozen=True, slots=True)
class DistillSettings:
    """How vidfiqa's own quality model is distilled from LFW (:func:`vidfiqa.learn.recipe.distill_lfw`);
    ``student.seed`` also seeds the degradations of the samples."""

    teacher: str = setting(
        UTILITY, "'utility' (recognition utility), any scorer name, or several joined by '+'."
    )
    beta: float = setting(0.2, "Share of faces, by teacher quality, that build the class centres.")
    epsilon: float = setting(0.5, "Weight of 1 - cos(embedding, class centre) taken off the label.")
    train_variants: int = setting(4, "Samples per training photo: the photo itself and the rest degraded.")
    student: TrainSettings = field(
        default_factory=lambda: TrainSettings(input_size=96),
        metadata={"help": "How the student is trained: as any lightweight ensemble, on 96 px crops."},
    )


def with_values(defaults: Any, values: dict[str, Any]) -> Any:
    """``defaults`` (a settings object) with the fields that ``values`` names set to its values;
    other keys are not settings of it and are left out (a command's other options)."""
    names = {f.name for f in fields(defaults)}
    return replace(defaults, **{k: v for k, v in values.items() if k in names})
