"""eval pairs: a CSV of video pairs (files and frame folders), with the SQL store as cache."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import write_clip
from vidfiqa.cli.main import cli
from vidfiqa.eval.pairs import read_pair_list
from vidfiqa.eval.types import EvalInputError
from vidfiqa.video import ReadOptions, open_video


@pytest.fixture(scope="module")
def pair_csv(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pairs")
    for person in ("a", "b"):
        with open_video(
            shared_data / "videos" / f"talking_head_{person}.mp4", ReadOptions(max_frames=60)
        ) as r:
            frames = [f.image for f in r]
        write_clip(folder / f"{person}1.mp4", frames[:30])
        write_clip(folder / f"{person}2.mp4", frames[30:])
    aaron = shared_data / "ytf_mini" / "frame_images_DB" / "Aaron_Guiel" / "5"
    csv = folder / "pairs.csv"
    csv.write_text(
        "video_a,video_b,label,fold\n"
        f"a1.mp4,a2.mp4,1,1\nb1.mp4,b2.mp4,1,2\na1.mp4,b1.mp4,0,1\na2.mp4,b2.mp4,0,2\n"
        f"a1.mp4,b2.mp4,0,1\n{aaron},a1.mp4,0,2\nmissing.mp4,a1.mp4,0,1\n"
    )
    return csv


def test_pair_list_reading(pair_csv: Path, tmp_path: Path) -> None:
    rows = read_pair_list(pair_csv)
    assert len(rows) == 7 and rows[0].a == str(pair_csv.parent / "a1.mp4") and rows[0].label == 1
    assert rows[1].fold == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("a.mp4,b.mp4,1\na.mp4,b.mp4,yes\n")
    with pytest.raises(EvalInputError, match=r"bad.csv:2: label must be 0 or 1, got 'yes'"):
        read_pair_list(bad)


def test_eval_pairs_end_to_end_and_store_reuse(pair_csv: Path, tmp_path: Path) -> None:
    store = ["--db", f"sqlite:///{tmp_path / 'e.db'}", "--index", str(tmp_path / "idx")]
    base = [
        "eval",
        "pairs",
        "--pairs",
        str(pair_csv),
        *store,
        "--stride",
        "3",
        "--max-frames",
        "12",
        "--no-progress",
    ]
    # factors:<component> reads stored components of the factors scorer; beside another model
    # scorer (video files are stored with one) it says so first.
    result = CliRunner().invoke(
        cli, [*base, "--scorer", "distilled", "--scorer", "factors:sharpness", "--out", str(tmp_path / "o0")]
    )
    assert result.exit_code == 1 and "add --scorer factors" in result.output
    assert not (tmp_path / "o0").exists() and not (tmp_path / "e.db").exists()
    base += ["--scorer", "factors"]
    result = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "o1")])
    assert result.exit_code == 0, result.output
    assert f"error: {pair_csv.parent / 'missing.mp4'}: no such file" in result.stderr
    data = json.loads((tmp_path / "o1" / "results.json").read_text())
    best, mean = (r["metrics"] for r in data["results"])
    assert mean["pairs"] == 6 and mean["missing_pairs"] == 1
    assert mean["auc"] == 1.0 and mean["accuracy"] == 1.0
    # Another scorer later: the videos are read back from the store, not processed again.
    result = CliRunner().invoke(cli, [*base, "--scorer", "factors:sharpness", "--out", str(tmp_path / "o2")])
    assert result.exit_code == 0, result.output
    tracks = json.loads(CliRunner().invoke(cli, ["tracks", *store]).stdout)
    assert len(tracks) == 4  # four videos, one track each, stored once
    first, second = json.loads(CliRunner().invoke(cli, ["runs", "--db", store[1]]).stdout)
    # Processing again would have stored (replaced) the videos under the second run.
    assert len(first["video_ids"]) == 4 and second["video_ids"] == []
    data = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert [r["scorer"] for r in data["results"]] == [
        "factors",
        "factors",
        "factors:sharpness",
        "factors:sharpness",
    ]


def test_frame_folders_show_progress_and_count_images_without_faces(
    shared_data: Path, tmp_path: Path
) -> None:
    """Issue 25.10: a bar over the folders' images, and images and folders without a face counted
    in the output and in results.json (never dropped silently)."""
    import numpy as np
    from PIL import Image

    ytf = shared_data / "ytf_mini" / "frame_images_DB"
    frames = {
        "aaron": sorted((ytf / "Aaron_Guiel" / "5").glob("*.jpg")),
        "agbani": sorted((ytf / "Agbani_Darego" / "0").glob("*.jpg")),
    }
    blank = np.full((240, 320, 3), 128, np.uint8)

    def folder(name: str, images: list[Path], blanks: int = 0) -> Path:
        d = tmp_path / name
        d.mkdir()
        for i, f in enumerate(images):
            (d / f"{i:03d}.jpg").symlink_to(f)
        for i in range(blanks):
            Image.fromarray(blank).save(d / f"{len(images) + i:03d}.png")
        return d

    a1 = folder("a1", frames["aaron"][:3], blanks=1)
    a2 = folder("a2", frames["aaron"][60:63])
    g1 = folder("g1", frames["agbani"][:3])
    g2 = folder("g2", frames["agbani"][60:63])
    empty = folder("empty", [], blanks=2)
    csv = tmp_path / "pairs.csv"
    csv.write_text(f"{a1},{a2},1\n{g1},{g2},1\n{a1},{g1},0\n{a2},{g2},0\n{empty},{a1},0\n")
    out = tmp_path / "out"
    store = ["--db", f"sqlite:///{tmp_path / 'e.db'}", "--index", str(tmp_path / "idx")]
    # factors:<component> alone is a scorer (issue 25.9), as in eval ytf and eval lfw.
    args = ["eval", "pairs", "--pairs", str(csv), *store, "--scorer", "factors:confidence", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "\rimages:   0%|          | 0/15 [" in result.stderr  # the bar over the 15 images
    note = (
        "frame folders: 3 of 15 images have no detected face; 1 of 5 folders have none "
        "(their pairs count as missing)"
    )
    assert note in result.stderr
    assert "warning: 1 of 5 pairs name videos without features" in result.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["images"] == 15 and data["images_without_faces"] == 3 and data["frame_folders"] == 5
    assert data["without_faces"] == [str(empty)] and data["stored_scorer"] == "factors"
    assert [r["scorer"] for r in data["results"]] == ["factors:confidence", "factors:confidence"]
