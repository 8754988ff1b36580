"""Embedder thresholds at a stated FAR: the record against brute force, the FAR a score stands for,
and 'models calibrate' on a small real LFW folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vidfiqa.cli.main import cli
from vidfiqa.models.thresholds import Calibration, calibrated_threshold, calibration
from vidfiqa.runs.calibrate import calibration_record


def test_record_accepts_at_most_the_target_share_of_impostors() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    people = [f"p{i // 3}" for i in range(60)]  # 20 people, 3 images each
    record = calibration_record(emb, people, far=np.array([0.5, 0.1, 0.01, 1e-4]))
    sims = emb @ emb.T
    upper = np.triu(np.ones((60, 60), bool), 1)
    same = np.equal.outer(people, people)
    impostors, genuine = sims[upper & ~same], sims[upper & same]
    assert record["impostor_pairs"] == len(impostors) == 1710 and record["genuine_pairs"] == len(genuine)
    assert record["far"] == [0.5, 0.1, 0.01]  # 1e-4 needs 10,000 impostor pairs
    for far, threshold, tar in zip(record["far"], record["threshold"], record["tar"]):
        accepted = np.mean(impostors >= threshold)
        assert accepted <= far + 1e-9
        # The most permissive such threshold: one impostor more would pass the target.
        assert np.mean(impostors >= np.max(impostors[impostors < threshold])) > far
        assert tar == pytest.approx(np.mean(genuine >= threshold), abs=1e-5)


def test_far_of_a_score_is_monotone_and_clamped() -> None:
    c = Calibration("x", np.array([0.1, 0.01, 0.001]), np.array([0.2, 0.3, 0.4]), 1000, {})
    assert c.far_at(0.3) == pytest.approx(0.01)
    assert c.far_at(0.35) == pytest.approx(10**-2.5)
    assert c.far_at(0.9) == pytest.approx(0.001) and c.far_at(-1) == pytest.approx(0.1)
    assert c.threshold_at(1e-3) == 0.4
    with pytest.raises(ValueError, match="no threshold calibrated at FAR 1e-05; calibrated: 0.1, 0.01"):
        c.threshold_at(1e-5)


def test_packaged_records_are_calibrated_down_to_one_in_a_million() -> None:
    for name in ("sface", "dlib-resnet"):
        record = calibration(name)
        assert record is not None and record.impostor_pairs > 29_000_000
        assert record.far[-1] <= 1e-6 and np.all(np.diff(record.threshold) >= 0)
    assert calibrated_threshold("sface") < calibrated_threshold("sface", 1e-4) < 0.6
    with pytest.raises(KeyError, match="run 'vidfiqa models calibrate arcface'"):
        calibrated_threshold("arcface")


def test_models_calibrate_on_a_small_lfw(shared_data: Path, tmp_path: Path) -> None:
    people = ("Silvio_Berlusconi", "Jean_Chretien", "Serena_Williams")
    for person in people:
        (tmp_path / "lfw" / "images" / person).mkdir(parents=True)
        for image in sorted((shared_data / "lfw" / "images" / person).glob("*.jpg"))[:3]:
            shutil.copy(image, tmp_path / "lfw" / "images" / person)
    record = tmp_path / "thresholds.json"
    record.write_text(json.dumps({"other": {"kept": True}}))
    args = ["models", "calibrate", "sface", "--lfw", str(tmp_path / "lfw"), "--record", str(record)]
    result = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().endswith("(sface: 27 impostor pairs)")
    written = json.loads(record.read_text())
    assert written["other"] == {"kept": True}  # other embedders' records stay
    sface = written["sface"]
    assert sface["genuine_pairs"] == 9 and sface["far"][-1] >= 1 / 27
    assert sface["source"]["images"] == 9 and sface["source"]["images_without_face"] == 0
    # Nine real faces of three people: every genuine pair above every impostor at FAR 1/27.
    assert sface["tar"][-1] == 1.0
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    args = ["models", "calibrate", "sface", "--lfw", str(tmp_path / "lfw")]
    args += ["--record", str(blocked / "t.json")]
    unwritable = CliRunner().invoke(cli, args)  # refused before any face is embedded
    assert unwritable.exit_code == 1
    assert unwritable.stderr == f"Error: {blocked}: record folder is a file, not a folder\n"
    missing = CliRunner().invoke(cli, ["models", "calibrate", "sface", "--lfw", str(tmp_path / "none")])
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: ")
    assert not (tmp_path / "none").exists()
