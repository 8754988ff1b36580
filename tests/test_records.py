"""The model catalogue (vidfiqa/models/records.py) against everything that reads it: the config
accepts exactly its names per kind, the CLI offers them, every builder resolves and takes what its
record says, its file facts hold for the installed wheels and its speeds for the benchmark files,
and nothing heavy is imported before a model is built."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidfiqa.config import ConfigError, load_config
from vidfiqa.models.records import CATALOGUE, KINDS, TAKES, Kind, ModelRecord, aliases, names, owner

ROOT = Path(__file__).resolve().parents[1]
#: The config field that names a model of each kind.
FIELD: dict[Kind, str] = {
    "detector": "detector.name",
    "landmarker": "landmarks.name",
    "embedder": "embedder.name",
    "quality": "quality.scorer",
}
#: The builder parameters each word of a record's ``takes`` fills.
PARAMETERS = {
    "insightface": ("pack", "model_root"),
    "embedder_name": ("embedder",),
    "eye_process": ("process",),
}


@pytest.mark.parametrize("kind", KINDS)
def test_the_config_accepts_exactly_the_catalogues_names(kind: Kind) -> None:
    from vidfiqa import config

    field = FIELD[kind]
    section, key = field.split(".")
    accepted = {"detector": config.DETECTORS, "landmarker": config.LANDMARKERS}.get(kind)
    accepted = accepted or {"embedder": config.EMBEDDERS, "quality": config.QUALITY_SCORERS}[kind]
    assert accepted == names(kind) and names(kind)
    extra = {"detector.name": "retinaface"} if kind == "landmarker" else {}  # detector5 needs points
    for name in names(kind):
        assert getattr(getattr(load_config(None, {field: name, **extra}), section), key) == name
    others = set(CATALOGUE) - set(names(kind))
    for name in [*sorted(others)[:3], "nope"]:
        with pytest.raises(ConfigError) as info:
            load_config(None, {field: name})
        listed = ", ".join(repr(n) for n in names(kind)[:-1]) + f" or {names(kind)[-1]!r}"
        assert str(info.value) == f"{field}: Input should be {listed} (got {name!r})"


def test_the_clis_choices_are_the_catalogues_names() -> None:
    import click

    from vidfiqa.cli.main import cli

    params = {p.name: p for p in cli.commands["best-frames"].params}
    for option, kind in (("detector", "detector"), ("landmarks", "landmarker"), ("embedder", "embedder")):
        assert isinstance(params[option].type, click.Choice)
        assert tuple(params[option].type.choices) == names(kind), option
    assert tuple(params["scorer"].type.choices) == names("quality")


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_builder_resolves_and_takes_what_its_record_gives(name: str) -> None:
    record = CATALOGUE[name]
    target = record.builder.resolve()  # imports the module, builds nothing
    assert callable(target)
    assert set(record.takes) <= set(TAKES), name
    given = [*record.builder.options]
    for word in record.takes:
        given += PARAMETERS.get(word, (word,))
    inspect.signature(target).bind_partial(**dict.fromkeys(given))  # every option is a parameter


def test_records_are_consistent() -> None:
    for name, record in CATALOGUE.items():
        assert record.name == name and record.kind in KINDS
        assert record.paper and record.license and record.input, name
        assert (record.threshold is None) or record.kind == "embedder", name
        for file in record.files:
            assert owner(file) is record, file.name
            assert file.package == record.package, file.name
    for alias, canonical in aliases().items():
        assert CATALOGUE[alias].kind == CATALOGUE[canonical].kind
        assert CATALOGUE[alias].builder.resolve() is CATALOGUE[canonical].builder.resolve()


def test_stage_options_are_those_each_stage_took_before_the_catalogue() -> None:
    from vidfiqa.build import stage_options

    config = load_config(None, {"detector.max_side": 640, "quality.model_root": "m"})
    expected = {
        "dlib-hog": {"max_side": 640, "upsample": 0},
        "dlib-cnn": {"device": None, "max_side": 640, "upsample": 0},
        "dlib-cnn-dlib": {"max_side": 640, "upsample": 0},
        "scrfd": {"pack": "buffalo_l", "model_root": None},
        "retinaface": {"device": None, "max_side": 640},
        "scrfd5": {"pack": "buffalo_l", "model_root": None},
        "arcface": {"pack": "buffalo_l", "model_root": None},
        "sface": {"device": None},
        "dlib-resnet": {"device": None},
        "factors": {"weights": config.quality.weights},
        "distilled": {"checkpoint": None, "embedder": "sface", "device": None, "flip_tta": False},
        "ediffiqa-s": {"model_root": "m", "device": None},
        "lightqnet": {"model_root": "m", "device": None},
        "detector5-eyes": {"process": True},
    }
    for name, options in expected.items():
        assert stage_options(config, name) == options, name
    for name in ("dlib68", "dlib5", "detector5", "dlib-resnet-dlib"):
        assert stage_options(config, name) == {}, name


def _installed_sha256(record: ModelRecord) -> str | None:
    from vidfiqa.models.files import embedded_file, recorded_sha256, sha256_of

    if record.package == "vidfiqa":
        path = embedded_file(record)
        return sha256_of(path) if path is not None else None
    return recorded_sha256(record)


@pytest.mark.parametrize("name", [n for n, r in CATALOGUE.items() if r.embedded and r.files])
def test_embedded_files_sha256_are_the_installed_ones(name: str) -> None:
    record = CATALOGUE[name]
    installed = _installed_sha256(record)
    if installed is None:
        pytest.skip(f"{record.package} is not installed or records no sha256")
    assert record.files[0].sha256 == installed


def test_speeds_are_the_benchmark_files() -> None:
    measured = [r for r in CATALOGUE.values() if r.speed is not None]
    assert {"factors", "sface", "ediffiqa-s"} <= {r.name for r in measured}
    for record in measured:
        assert record.speed is not None
        value = json.loads((ROOT / record.speed.benchmark).read_text())
        for key in record.speed.key:
            value = value[key]
        assert value == record.speed.value, record.name


def test_embedder_thresholds_are_the_models_own() -> None:
    from vidfiqa.models.registry import embedder_threshold
    from vidfiqa.models.thresholds import calibration

    for name in names("embedder"):
        record = CATALOGUE[name]
        own = inspect.getattr_static(record.builder.resolve(), "threshold", None)
        if isinstance(own, float):
            assert record.threshold == own, name
        if calibration(name) is None:
            assert embedder_threshold(name) == (record.threshold, None), name
    assert embedder_threshold("arcface") == (0.3, None)


def _package_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vidfiqa"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vidfiqa")}
    return found


def test_the_catalogue_and_the_file_module_are_leaves() -> None:
    models = ROOT / "vidfiqa" / "models"
    assert _package_imports(models / "records.py") == set()
    assert _package_imports(models / "files.py") == {"vidfiqa.models.records"}


def test_help_store_and_model_commands_import_no_heavy_library(tmp_path: Path) -> None:
    script = f"""
import sys
from click.testing import CliRunner
from vidfiqa.cli.main import cli
from vidfiqa.config import load_config

load_config(None, {{"quality.scorer": "lightqnet", "detector.name": "scrfd"}})
runner = CliRunner()
for args in (["--help"], ["process", "--help"], ["models", "list"], ["models", "info", "ediffiqa-s"],
             ["models", "info", "retinaface"], ["runs", "--db", {str(tmp_path / "none.db")!r}]):
    result = runner.invoke(cli, args)
    assert result.exit_code in (0, 1) and result.exception is None or isinstance(
        result.exception, SystemExit), (args, result.output)
heavy = [m for m in ("torch", "dlib", "onnxruntime", "insightface") if m in sys.modules]
assert not heavy, heavy
"""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_models_list_info_and_verify_are_library_functions(tmp_path) -> None:
    from vidfiqa.build import verify_model
    from vidfiqa.config import load_config
    from vidfiqa.models.files import ModelFileError
    from vidfiqa.models.inventory import model_info, model_list

    listed = {m["name"]: m for m in model_list(tmp_path)}
    assert listed["retinaface"]["embedded"] and listed["retinaface"]["present"]
    assert listed["ediffiqa-s"]["present"] is False and listed["ediffiqa-s"]["file"].startswith(str(tmp_path))
    info = model_info("sface", tmp_path)
    assert info["present"] and info["sha256"] == info["recorded_sha256"]
    assert model_info("ediffiqa-s", tmp_path)["present"] is False
    config = load_config(None, {"quality.model_root": str(tmp_path)})
    verify_model("sface", config)  # loads
    with pytest.raises(ModelFileError):
        verify_model("ediffiqa-s", config)
