"""End to end: process real talking-head clips, then search, verify, enroll and index upkeep."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import SAMPLES, write_clip
from vidfiqa.cli.main import cli
from vidfiqa.store.db import Store
from vidfiqa.video import open_video

STRATEGIES = ["best", "topk:5", "mean", "linear", "softmax:0.05", "threshold:0.7"]


@pytest.fixture(scope="module")
def halves(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two talking heads (two people), each split into a first and a second half."""
    out = {}
    folder = tmp_path_factory.mktemp("halves")
    for person in ("a", "b"):
        with open_video(shared_data / "videos" / f"talking_head_{person}.mp4") as reader:
            frames = [f.image for f in reader]
        mid = len(frames) // 2
        out[f"{person}1"] = write_clip(folder / f"{person}1.mp4", frames[:mid])
        out[f"{person}2"] = write_clip(folder / f"{person}2.mp4", frames[mid:])
    return out


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def store(halves: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("store")
    opts = ["--db", f"sqlite:///{folder / 'v.db'}", "--index", str(folder / "idx")]
    strategy_args = [a for s in STRATEGIES for a in ("--strategy", s)]
    code, out, err = run("process", *halves.values(), *opts, *strategy_args, "--stride", "3", "--no-progress")
    assert code == 0, err
    outcomes = [json.loads(line) for line in out.splitlines()]
    assert [o["status"] for o in outcomes] == ["done"] * 4
    assert all(o["tracks"] == 1 and o["templates"] == len(STRATEGIES) for o in outcomes)
    return opts


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_person_halves_score_above_different_people(
    halves: dict[str, Path], store: list[str], strategy: str
) -> None:
    def sim(x: str, y: str) -> tuple[float, bool]:
        code, out, err = run("verify", halves[x], halves[y], *store, "--strategy", strategy)
        assert code == 0, err
        result = json.loads(out)
        assert result["a"]["strategy"] == result["b"]["strategy"] == strategy
        # The default embedder's threshold stands for FAR 1e-3 on LFW; a score's own FAR is
        # below it exactly when the pair passes.
        assert result["embedder"] == "sface" and result["threshold_far"] == 1e-3
        assert (result["far"] <= 1e-3) == result["same"]
        return result["similarity"], result["same"]

    same = [sim("a1", "a2"), sim("b1", "b2")]
    diff = [sim(x, y) for x in ("a1", "a2") for y in ("b1", "b2")]
    print(strategy, "same", [s for s, _ in same], "different", [s for s, _ in diff])
    assert min(s for s, _ in same) - max(s for s, _ in diff) > 0.03
    assert all(decision for _, decision in same) and not any(decision for _, decision in diff)


def test_search_returns_the_same_person_first(halves: dict[str, Path], store: list[str]) -> None:
    for query, expected in (("a1", "a2"), ("b2", "b1")):
        code, out, err = run("search", halves[query], *store, "--k", "3")
        assert code == 0, err
        (result,) = json.loads(out)
        hits = result["results"]
        assert len(hits) == 3  # the query's own template is left out
        assert hits[0]["video"] == str(halves[expected].resolve())
        assert hits[0]["similarity"] >= hits[1]["similarity"]
        # Each template's quality: the mean of the frames that made it, and the best of them.
        for row in [result["query"], *hits]:
            assert 0 < row["quality"] <= row["quality_max"] <= 1
    listed = json.loads(run("templates", *store)[1])
    assert all(0 < t["quality"] <= t["quality_max"] <= 1 for t in listed)
    tracks = json.loads(run("tracks", *store)[1])
    assert all(t["templates"] and t["best_quality"] >= t["templates"][0]["quality_max"] for t in tracks)


def test_rerun_skips_and_force_replaces_without_duplicates(halves: dict[str, Path], store: list[str]) -> None:
    def template_count() -> int:
        return len(json.loads(run("templates", *store)[1]))

    before = template_count()
    strategy_args = [a for s in STRATEGIES for a in ("--strategy", s)]
    code, out, _ = run("process", halves["a1"], *store, *strategy_args, "--stride", "3", "--no-progress")
    assert code == 0 and json.loads(out)["status"] == "skipped"
    code, out, _ = run(
        "process", halves["a1"], *store, *strategy_args, "--stride", "3", "--no-progress", "--force"
    )
    assert code == 0 and json.loads(out)["status"] == "done"
    assert template_count() == before
    code, out, err = run("index", "check", *store)
    assert code == 0, err + out


def test_enroll_labels_search_results(halves: dict[str, Path], store: list[str]) -> None:
    tracks = json.loads(run("tracks", *store)[1])
    a2 = next(t for t in tracks if t["video"] == str(halves["a2"].resolve()))
    code, out, _ = run("enroll", f"track:{a2['track_id']}", "--label", "person A", *store)
    assert code == 0 and json.loads(out) == {"track_id": a2["track_id"], "label": "person A"}
    (result,) = json.loads(run("search", halves["a1"], *store, "--k", "1")[1])
    assert result["results"][0]["label"] == "person A"


def test_search_and_verify_are_library_functions(halves: dict[str, Path], store: list[str]) -> None:
    """The commands print what vidfiqa.runs.search returns; it needs no click."""
    from vidfiqa.runs.search import SearchError, enroll, search, verify
    from vidfiqa.store.index import IndexDir

    db = Store(store[1], create=False)
    (result,) = search(db, IndexDir(Path(store[3])), str(halves["b1"]), k=1, embedder="sface")
    assert result["results"][0]["video"] == str(halves["b2"].resolve())
    pair = verify(db, str(halves["b1"]), str(halves["b2"]), strategy="mean", embedder="sface")
    assert pair["same"] and pair["a"]["strategy"] == "mean"
    with pytest.raises(SearchError, match="stored strategies: "):
        verify(db, str(halves["b1"]), str(halves["b2"]), strategy="softmax:0.5", embedder="sface")
    # A template id names its track.
    template = pair["b"]["template_id"]
    assert enroll(db, f"template:{template}", "person B") == {
        "track_id": pair["b"]["track_id"],
        "label": "person B",
    }
    code, out, err = run("enroll", str(template), "--label", "person B", *store)
    assert code == 0, err
    assert json.loads(out)["track_id"] == pair["b"]["track_id"]


def test_index_check_detects_and_rebuild_repairs(store: list[str]) -> None:
    idx = Path(store[3])
    victim = sorted(idx.glob("*.faiss"))[0]
    victim.unlink()
    code, out, err = run("index", "check", *store)
    assert code == 1 and "index and database differ" in err
    assert json.loads(out)[victim.name]["missing"] == 4
    code, out, _ = run("index", "rebuild", *store)
    assert code == 0 and victim.exists()
    assert run("index", "check", *store)[0] == 0


def test_bad_video_is_stored_as_failed_and_the_batch_goes_on(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00junk" * 1000)
    opts = ["--db", f"sqlite:///{tmp_path / 'v.db'}", "--index", str(tmp_path / "idx")]
    code, out, err = run(
        "process", junk, tmp_path / "nope.mp4", SAMPLES / "blur_ramp.mp4", *opts, "--no-progress"
    )
    assert code == 1
    statuses = [json.loads(line)["status"] for line in out.splitlines()]
    assert statuses == ["failed", "failed", "done"]
    assert (
        f"error: {junk}: cannot open video" in err and f"error: {tmp_path / 'nope.mp4'}: no such file" in err
    )
    assert "Error: 2 of 3 videos failed" in err
    assert "Traceback" not in err


def test_process_and_search_on_each_database(db_url: str, tmp_path: Path) -> None:
    opts = ["--db", db_url, "--index", str(tmp_path / "idx")]
    code, out, err = run(
        "process", SAMPLES / "group_walk.mp4", SAMPLES / "blur_ramp.mp4", *opts, "--no-progress"
    )
    assert code == 0, err
    group, blur = (json.loads(line) for line in out.splitlines())
    assert group["tracks"] >= 6 and blur["tracks"] == 1
    code, out, err = run("search", SAMPLES / "blur_ramp.mp4", *opts, "--k", "2")
    assert code == 0, err
    (result,) = json.loads(out)
    # The astronaut of blur_ramp is also in group_walk's second shot.
    assert result["results"][0]["video"] == str((SAMPLES / "group_walk.mp4").resolve())
    assert result["results"][0]["far"] < 1e-4
    assert run("index", "check", *opts)[0] == 0


def test_templates_keep_their_embedder(tmp_path: Path) -> None:
    """A store holding dlib templates is not searched with SFace's: one line says so, and each
    embedder has its own index files, kept in line with the database."""
    opts = ["--db", f"sqlite:///{tmp_path / 'v.db'}", "--index", str(tmp_path / "idx")]
    blur, group = SAMPLES / "blur_ramp.mp4", SAMPLES / "group_walk.mp4"
    code, _, err = run("process", blur, group, *opts, "--embedder", "dlib-resnet", "--no-progress")
    assert code == 0, err
    code, _, err = run("search", blur, *opts)
    assert code == 1 and err == (
        f"Error: {blur}: its templates were made with dlib-resnet, not sface; pass --embedder "
        f"dlib-resnet, or re-embed it with 'vidfiqa process {blur} --force'\n"
    )
    code, out, err = run("search", blur, *opts, "--embedder", "dlib-resnet", "--k", "1")
    assert code == 0, err
    assert json.loads(out)[0]["results"][0]["video"] == str(group.resolve())
    code, _, err = run("process", blur, group, *opts, "--no-progress")  # now with SFace too
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "idx").glob("*.faiss"))
    assert any(f.startswith("dlib-resnet") for f in files) and any(f.startswith("sface") for f in files)
    (result,) = json.loads(run("search", blur, *opts, "--k", "1")[1])
    assert result["query"]["template_id"] > 0 and result["results"][0]["video"] == str(group.resolve())
    templates = json.loads(run("templates", *opts)[1])
    dlib_id = next(t["template_id"] for t in templates if t["model"] == "dlib-resnet")
    sface_id = next(t["template_id"] for t in templates if t["model"] == "sface")
    code, _, err = run("verify", str(dlib_id), str(sface_id), *opts)
    assert code == 1 and "come from different embedders (dlib-resnet vs sface)" in err
    assert run("index", "check", *opts)[0] == 0


def test_store_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = run("tracks", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert code == 1 and err.startswith(
        "Error: postgresql+psycopg://nobody@127.0.0.1:1/none: cannot open database"
    )
    assert len(err.strip().splitlines()) == 1
    Store(f"sqlite:///{tmp_path / 'empty.db'}")  # an empty vidfiqa database
    code, _, err = run("verify", "1", "2", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 1 and err == "Error: no template 1; see 'vidfiqa templates'\n"
