"""The layer picture of docs/architecture.md, held against the code: a module may import only
from its own layer or below, plus the rules each layer adds. Fails naming the offending import."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vidfiqa"

#: Layer of each package (a prefix ending in "."), bottom first. Modules directly under vidfiqa/
#: are base modules (layer 0) unless named here.
LAYERS: dict[str, int] = {
    # 0: plain data, geometry, decoding, storage: they import nothing above themselves.
    "vidfiqa.": 0,
    "vidfiqa.store.": 0,
    # 1: models and quality formulas.
    "vidfiqa.models.": 1,
    "vidfiqa.quality.": 1,
    # 2: configuration, and the one place that turns it into models.
    "vidfiqa.config": 2,
    "vidfiqa.build": 2,
    # 3: per-video stages.
    "vidfiqa.pipeline.": 3,
    # 4: evaluation on stored results and computed features.
    "vidfiqa.eval.": 4,
    # 5: runs that store, distribute or report; training. Two wings that do not import each other.
    "vidfiqa.runs.": 5,
    "vidfiqa.learn.": 5,
    # 6: the command line, a leaf.
    "vidfiqa.cli.": 6,
    "vidfiqa.__main__": 6,
}

#: Modules that stand alone: they import nothing of vidfiqa outside the prefixes given.
ONLY = {
    "vidfiqa.store.": ("vidfiqa.store.",),
    "vidfiqa.aggregate": (),
    "vidfiqa.models.files": ("vidfiqa.models.records",),
}

#: Imports a layer may not make although the numbering allows them.
FORBIDDEN = {
    # Models know no quality formula; quality formulas may use model interfaces.
    "vidfiqa.models.": ("vidfiqa.quality.",),
    # Evaluation runs no model: it reads stored results and computed features.
    "vidfiqa.eval.": ("vidfiqa.models.", "vidfiqa.build", "vidfiqa.pipeline."),
    "vidfiqa.runs.": ("vidfiqa.learn.",),
    "vidfiqa.learn.": ("vidfiqa.runs.",),
}


def layer_of(module: str) -> int:
    if module in LAYERS:
        return LAYERS[module]
    prefixes = [p for p in LAYERS if p.endswith(".") and (module + ".").startswith(p)]
    if not prefixes or (max(prefixes, key=len) == "vidfiqa." and module.count(".") > 1):
        raise KeyError(f"{module} has no layer in tests/test_layers.py (and docs/architecture.md)")
    return LAYERS[max(prefixes, key=len)]


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix) or (module + ".") == prefix


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
    bans = [b for prefix, bs in FORBIDDEN.items() if _matches(module, prefix) for b in bs]
    only = [allowed for prefix, allowed in ONLY.items() if _matches(module, prefix)]
    for line, target in imports(MODULES[module]):
        where = f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {target}"
        assert layer_of(target) <= own, f"{where}, a higher layer ({layer_of(target)} > {own})"
        assert not any(_matches(target, b) for b in bans), f"{where}, which its layer may not import"
        for allowed in only:
            assert any(_matches(target, a) for a in allowed), f"{where}, but it stands alone"


def test_every_package_has_a_layer() -> None:
    packages = {m + "." for m, path in MODULES.items() if path.name == "__init__.py" and m.count(".") == 1}
    assert packages <= set(LAYERS), f"packages without a layer: {sorted(packages - set(LAYERS))}"


def test_no_import_circles() -> None:
    """No module reaches itself through imports, lazy ones included (a circle would make the
    import order matter and hide an upward arrow inside a layer)."""
    graph = {m: {t for _, t in imports(path) if t in MODULES and t != m} for m, path in MODULES.items()}
    # A package's __init__ is imported on the way to its modules; it is not an edge back.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from vidfiqa.cli.main import cli\n")
    assert imports(bad) == [(2, "vidfiqa.cli.main")]
    assert layer_of("vidfiqa.cli.main") > layer_of("vidfiqa.pipeline.analyse")
    assert layer_of("vidfiqa.geometry") == 0
    with pytest.raises(KeyError):
        layer_of("vidfiqa.newpackage.module")
