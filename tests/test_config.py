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
