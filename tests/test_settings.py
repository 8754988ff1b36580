"""Typed training settings: the ``vidfiqa train`` options take their defaults and help from the
settings classes, and what is given on the command line is what the library receives."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vidfiqa.cli.main import cli
from vidfiqa.learn.settings import DistillSettings, TrainSettings, help_of

WEIGHTS = Path(__file__).resolve().parents[1] / "vidfiqa" / "weights"


def _options(*path: str) -> dict[str, click.Option]:
    command: Any = cli
    for name in path:
        command = command.commands[name]
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def _settings_fields(settings: Any) -> dict[str, tuple[Any, str]]:
    """``name: (default, help)`` of every field of ``settings``, a nested settings object's fields
    in its place."""
    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if hasattr(value, "__dataclass_fields__"):
            out |= _settings_fields(value)
        else:
            out[f.name] = (value, help_of(type(settings), f.name))
    return out


@pytest.mark.parametrize(
    ("command", "settings", "not_options"),
    [
        # Without factor levels factor_weight is moot; the input side is the network's own.
        ("lightweight", TrainSettings(), {"factor_weight", "input_size"}),
        ("distill", DistillSettings(), set()),
    ],
)
def test_train_options_default_to_the_settings(command: str, settings: Any, not_options: set[str]) -> None:
    options = _options("train", command)
    expected = _settings_fields(settings)
    assert set(expected) - set(options) == not_options
    for name in set(expected) - not_options:
        if name == "device":  # the one --device of every command, unset (None: see below)
            continue
        default, help = expected[name]
        assert options[name].default == default, name
        assert options[name].help == help, name


def test_the_default_rate_is_the_one_the_shipped_weights_were_trained_with() -> None:
    records = sorted(WEIGHTS.glob("distilled-*.json"))
    assert records
    for record in records:
        assert json.loads(record.read_text())["settings"]["lr"] == TrainSettings().lr, record.name


@pytest.fixture
def tiny_set(tmp_path: Path) -> tuple[Path, Path]:
    faces = tmp_path / "faces"
    faces.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(faces / f"{i}.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"{i}.png,{i / 4}\n" for i in range(4)))
    return faces, labels


def test_train_lightweight_passes_its_options_as_settings(
    tiny_set: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vidfiqa.learn.train as train

    received = []

    def fake(images, labels, out_path, settings, **kwargs):
        received.append(settings)
        return None, {}

    monkeypatch.setattr(train, "train_and_save", fake)
    faces, labels = tiny_set
    args = [
        "train",
        "lightweight",
        "--images",
        str(faces),
        "--labels",
        str(labels),
        "--out",
        str(tmp_path / "m"),
    ]
    assert CliRunner().invoke(cli, args).exit_code == 0
    more = ["--lr", "0.005", "--epochs", "3", "--batch-size", "4", "--seed", "7", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, *more])
    assert result.exit_code == 0, result.output
    assert received == [
        TrainSettings(),
        TrainSettings(lr=0.005, epochs=3, batch_size=4, seed=7, device="cpu"),
    ]


def test_train_distill_passes_its_options_as_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vidfiqa.build
    import vidfiqa.learn.recipe as recipe

    received = []

    def fake(root, out_path, settings, **kwargs):
        received.append(settings)
        return dict.fromkeys(("teacher", "data", "validation", "baselines"))

    monkeypatch.setattr(recipe, "distill_lfw", fake)
    for name in ("build_detector", "build_landmarker", "build_embedder"):  # no model is needed
        monkeypatch.setattr(vidfiqa.build, name, lambda *args, **kwargs: None)
    args = ["train", "distill", "--lfw", str(tmp_path), "--out", str(tmp_path / "x.pt")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    more = ["--teacher", "utility+lightqnet", "--beta", "0.3", "--variants", "6", "--input-size", "64"]
    more += ["--lr", "0.004", "--seed", "3", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, *more])
    assert result.exit_code == 0, result.output
    student = TrainSettings(input_size=64, lr=0.004, seed=3, device="cpu")
    assert received == [
        DistillSettings(),
        DistillSettings(teacher="utility+lightqnet", beta=0.3, train_variants=6, student=student),
    ]
