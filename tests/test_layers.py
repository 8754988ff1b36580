"""The layer picture of docs/architecture.md, held against the code: a module may import only
from its own layer or below, plus the rules each layer adds. Fails naming the offending import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vidfiqa"

#: Layer of each module (by dotted name, or a package prefix ending in "."), bottom first.
LAYERS: dict[str, int] = {
    # 0: plain data, geometry, decoding, storage: they import nothing above themselves.
    "vidfiqa.types": 0,
    "vidfiqa.geometry": 0,
    "vidfiqa.inputs": 0,
    "vidfiqa.aggregate": 0,
    "vidfiqa.align": 0,
    "vidfiqa.video": 0,
    "vidfiqa.html": 0,
    "vidfiqa.store": 0,
    "vidfiqa.index": 0,
    "vidfiqa.degrade": 0,
    "vidfiqa.device": 0,
    # 1: models and quality formulas.
    "vidfiqa.models.": 1,
    "vidfiqa.quality.": 1,
    # 2: configuration, and the one place that turns it into models.
    "vidfiqa.config": 2,
    "vidfiqa.build": 2,
    # 3: pipeline stages and what runs them on images or for training.
    "vidfiqa.pipeline": 3,
    "vidfiqa.regions": 3,
    "vidfiqa.track": 3,
    "vidfiqa.shots": 3,
    "vidfiqa.select": 3,
    "vidfiqa.templates": 3,
    "vidfiqa.features": 3,
    "vidfiqa.export": 3,
    "vidfiqa.progress": 3,
    "vidfiqa.train": 3,
    "vidfiqa.distill": 3,
    "vidfiqa.quality_set": 3,
    "vidfiqa.benchmark": 3,
    # 4: evaluation on stored results and computed features.
    "vidfiqa.eval.": 4,
    # 5: runs that store, distribute or report.
    "vidfiqa.process": 5,
    "vidfiqa.store_rows": 5,
    "vidfiqa.ray_executor": 5,
    "vidfiqa.report": 5,
    "vidfiqa.pair_features": 5,
    "vidfiqa.lfw_split": 5,
    "vidfiqa.learn": 5,
    "vidfiqa.calibrate": 5,
    # 6: the command line, a leaf.
    "vidfiqa.cli": 6,
    "vidfiqa.cli_options": 6,
    "vidfiqa.cli_store": 6,
    "vidfiqa.cli_models": 6,
    "vidfiqa.cli_eval": 6,
    "vidfiqa.__main__": 6,
    "vidfiqa": 0,
}

#: Imports a layer may not make although the numbering allows them.
FORBIDDEN = {
    # Storage and aggregation stand alone: usable without the rest of the package.
    "vidfiqa.store": ("vidfiqa.",),
    "vidfiqa.index": ("vidfiqa.",),
    "vidfiqa.aggregate": ("vidfiqa.",),
    # Models know no quality formula; quality formulas may use model interfaces.
    "vidfiqa.models.": ("vidfiqa.quality.",),
    # Evaluation runs no model: it reads stored results and computed features.
    "vidfiqa.eval.": (
        "vidfiqa.models.",
        "vidfiqa.build",
        "vidfiqa.pipeline",
        "vidfiqa.features",
        "vidfiqa.templates",
    ),
}


def layer_of(module: str) -> int:
    if module in LAYERS:
        return LAYERS[module]
    prefixes = [p for p in LAYERS if p.endswith(".") and (module + ".").startswith(p)]
    if not prefixes:
        raise KeyError(f"{module} has no layer in tests/test_layers.py (and docs/architecture.md)")
    return LAYERS[max(prefixes, key=len)]


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``vidfiqa`` import, at any depth (lazy imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("vidfiqa")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vidfiqa"):
            found += [
                (
                    node.lineno,
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module,
                )
                for a in node.names
            ]
    return found


MODULES = modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_its_layer_and_below(module: str) -> None:
    own = layer_of(module)
    rules = [bans for prefix, bans in FORBIDDEN.items() if module == prefix or module.startswith(prefix)]
    for line, target in imports(MODULES[module]):
        where = f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {target}"
        assert layer_of(target) <= own, f"{where}, a higher layer ({layer_of(target)} > {own})"
        for bans in rules:
            same_family = any(module.startswith(b) and target.startswith(b) for b in bans)
            assert same_family or not target.startswith(bans), f"{where}, which its layer may not import"


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from vidfiqa.cli import cli\n")
    assert imports(bad) == [(2, "vidfiqa.cli")]
    assert layer_of("vidfiqa.cli") > layer_of("vidfiqa.pipeline")
