from pathlib import Path

import pytest

from vidfiqa.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_equals_builtin_defaults() -> None:
    assert load_config(ROOT / "configs" / "default.yaml") == load_config(None)


def test_overrides_win_and_none_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("detector:\n  every: 4\nselect:\n  top_k: 2\n")
    cfg = load_config(path, {"detector.every": None, "select.top_k": 7, "video.stride": 3})
    assert cfg.detector.every == 4 and cfg.select.top_k == 7 and cfg.video.stride == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("detector:\n  evry: 3\n", r"c.yaml: detector.evry: Extra inputs are not permitted"),
        ("detector:\n  every: many\n", r"detector.every: Input should be a valid integer"),
        ("detector:\n  every: 0\n", r"detector.every: Input should be greater than or equal to 1"),
        ("quality:\n  weights: {blurriness: 1}\n", r"unknown quality components \['blurriness'\]"),
        ("video: [1, 2\n", r"invalid YAML at line"),
        ("- a\n- b\n", r"a config must be a mapping"),
    ],
)
def test_bad_configs_give_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_presets_ship_in_the_package_and_equal_the_checkouts_configs(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys
    import zipfile

    from vidfiqa.config import PRESETS, preset_path

    for name in PRESETS:
        assert preset_path(name).read_bytes() == (ROOT / "configs" / f"{name}.yaml").read_bytes(), name
    assert load_config(preset_path("default")) == load_config(None)
    # A wheel carries them (package data), so an installed vidfiqa has --preset without a checkout.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "vidfiqa", src / "vidfiqa", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path,
            src,
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("vidfiqa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"vidfiqa/presets/{n}.yaml" for n in PRESETS} <= set(names)
