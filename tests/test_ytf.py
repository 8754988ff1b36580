import json
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy.io import savemat

from vidfiqa.aggregate import Strategy
from vidfiqa.cli.main import cli
from vidfiqa.eval.metrics import UndefinedMetricWarning
from vidfiqa.eval.protocols import MIN_CLASS_PAIRS, all_pairs, evaluate, listed_pairs
from vidfiqa.eval.report import edc_figure, markdown_table, roc_figure, write_report
from vidfiqa.eval.types import Pair, Templates, make_templates
from vidfiqa.eval.ytf import (
    YtfError,
    load_aligned,
    load_ytf,
    read_labeled_faces,
    read_splits,
    split_halves,
)
from vidfiqa.models.dlib_models import DlibHogDetector, DlibLandmarker, DlibResNetEmbedder
from vidfiqa.pipeline.features import FeatureExtractor
from vidfiqa.quality.factors import FactorQuality


@pytest.fixture(scope="module")
def mini(shared_data: Path) -> Path:
    return shared_data / "ytf_mini"


def test_reads_the_real_layout(mini: Path) -> None:
    videos = load_ytf(mini)
    assert sorted(videos) == ["Aaron_Guiel/5", "Agbani_Darego/0", "Aishwarya_Rai/0"]
    v = videos["Aaron_Guiel/5"]
    assert v.person == "Aaron_Guiel" and len(v.frames) == 132
    first = v.frames[0]
    # "Aaron_Guiel\5\5.1841.jpg,0,185,83,47,47,0.0,1": frame numbers do not start at 0, boxes
    # are centre and size.
    assert first.number == 1841 and first.path.is_file()
    np.testing.assert_allclose(first.box, [161.5, 59.5, 208.5, 106.5])
    assert [f.number for f in v.frames] == sorted(f.number for f in v.frames)


def test_aligned_images_db_with_the_detector(mini: Path, tmp_path: Path) -> None:
    """aligned_images_DB frames carry no boxes; the detector finds their faces."""
    video = load_ytf(mini)["Aaron_Guiel/5"]
    folder = tmp_path / "aligned_images_DB" / "Aaron_Guiel" / "5"
    folder.mkdir(parents=True)
    for f in video.frames[:4]:
        x1, y1, x2, y2 = (int(v) for v in f.box)
        w = x2 - x1
        crop = Image.open(f.path).crop((x1 - w, y1 - w, x2 + w, y2 + w)).resize((3 * w * 2, 3 * w * 2))
        crop.save(folder / f"aligned_detect_5.{f.number}.jpg")
    videos = load_aligned(tmp_path)
    assert list(videos) == ["Aaron_Guiel/5"] and [f.number for f in videos["Aaron_Guiel/5"].frames] == [
        f.number for f in video.frames[:4]
    ]
    extractor = FeatureExtractor(
        DlibLandmarker(),
        DlibResNetEmbedder(),
        {"factors": FactorQuality()},
        detector=DlibHogDetector(upsample=1),
    )
    assert extractor.features(videos["Aaron_Guiel/5"]).embeddings.shape == (4, 128)
    with pytest.raises(ValueError, match="no face box given and no detector"):
        FeatureExtractor(DlibLandmarker(), DlibResNetEmbedder(), {}).features(videos["Aaron_Guiel/5"])


def test_labeled_faces_errors(tmp_path: Path) -> None:
    bad = tmp_path / "X.labeled_faces.txt"
    bad.write_text("X\\1\\1.5.jpg,0,1,2,3,4,0.0,1\nnot a line\n")
    with pytest.raises(YtfError, match=r"X.labeled_faces.txt:2: not a labeled_faces line"):
        read_labeled_faces(bad, tmp_path)
    with pytest.raises(YtfError, match="no frame_images_DB folder"):
        load_ytf(tmp_path)


def test_splits_with_and_without_header_and_from_mat(mini: Path, tmp_path: Path) -> None:
    pairs = read_splits(mini / "splits_excerpt.txt")
    assert pairs[0] == Pair(1, "Sadie_Frost/1", "Sadie_Frost/5", True)
    assert len(pairs) == 22
    with_header = tmp_path / "splits.txt"
    with_header.write_text(
        "split number, pair number, first name, second name, is same\n"
        + (mini / "splits_excerpt.txt").read_text()
    )
    assert read_splits(with_header) == pairs
    names = np.array(["A/0", "A/1", "B/0"], dtype=object)
    splits = np.zeros((2, 3, 2))
    splits[:, :, 0] = [[1, 2, 1], [1, 3, 0]]
    splits[:, :, 1] = [[2, 3, 0], [1, 2, 1]]
    savemat(tmp_path / "meta_and_splits.mat", {"mat_names": names, "Splits": splits})
    assert read_splits(tmp_path / "meta_and_splits.mat") == [
        Pair(1, "A/0", "A/1", True),
        Pair(1, "A/0", "B/0", False),
        Pair(2, "A/1", "B/0", False),
        Pair(2, "A/0", "A/1", True),
    ]


def test_halves_and_protocols_on_known_templates() -> None:
    # Four videos, two people; person A's templates are identical, B's nearly so.
    v = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0.99, 0.141]], np.float32)
    t = Templates(["A/0", "A/1", "B/0", "B/1"], v / np.linalg.norm(v, axis=1, keepdims=True), np.ones(4))
    r = all_pairs(t, ["A", "A", "B", "B"], fars=(0.25,))
    assert len(r.scores) == 6 and r.labels.sum() == 2
    assert r.metrics["tar@far=0.25"] == 1.0 and r.metrics["auc"] == 1.0
    pairs = [
        Pair(1, "A/0", "A/1", True),
        Pair(1, "A/0", "B/0", False),
        Pair(2, "B/0", "B/1", True),
        Pair(2, "A/1", "B/1", False),
        Pair(2, "C/0", "A/0", False),
    ]
    r = listed_pairs(t, pairs)
    assert r.missing == ["C/0 | A/0"] and r.metrics["missing_pairs"] == 1
    assert r.metrics["accuracy"] == 1.0 and len(r.scores) == 4


def test_all_pairs_of_3425_templates_is_fast() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3425, 128)).astype(np.float32)
    t = Templates(
        [str(i) for i in range(3425)], v / np.linalg.norm(v, axis=1, keepdims=True), rng.uniform(size=3425)
    )
    people = [str(i // 2) for i in range(3425)]
    start = time.perf_counter()
    r = all_pairs(t, people)
    seconds = time.perf_counter() - start
    assert len(r.scores) == 3425 * 3424 // 2 == 5_863_600
    print(f"all-pairs for 3425 templates: {seconds:.1f} s")
    assert seconds < 120  # generous for a loaded CI machine; see the closing note for timings


def test_features_are_cached_per_scorer(mini: Path, tmp_path: Path) -> None:
    class Counting(DlibResNetEmbedder):
        calls = 0

        def embed(self, crops: np.ndarray) -> np.ndarray:
            Counting.calls += 1
            return super().embed(crops)

    videos = split_halves(load_ytf(mini))
    video = videos["Aaron_Guiel/5#1"]
    make = lambda scorers: FeatureExtractor(  # noqa: E731
        DlibLandmarker(), Counting(), scorers, max_frames=6, cache=tmp_path
    )
    f1 = make({"factors": FactorQuality()}).features(video)
    assert Counting.calls == 1 and f1.embeddings.shape == (6, 128) and len(f1.frames) == 6
    f2 = make(
        {"factors": FactorQuality(), "factors:sharpness": FactorQuality.from_name("factors:sharpness")}
    ).features(video)
    assert Counting.calls == 1  # a new scorer reuses the cached embeddings
    np.testing.assert_array_equal(f1.embeddings, f2.embeddings)
    np.testing.assert_array_equal(f1.qualities["factors"], f2.qualities["factors"])
    assert f2.qualities["factors:sharpness"].shape == (6,)
    t = make_templates({video.name: f2}, "factors:sharpness", Strategy("best"))
    # "best" takes the sharpest frame's embedding, and its quality is that frame's sharpness.
    sharpest = int(np.argmax(f2.qualities["factors:sharpness"]))
    np.testing.assert_allclose(t.vectors[0], f2.embeddings[sharpest], atol=1e-6)
    assert t.quality[0] == pytest.approx(float(f2.qualities["factors:sharpness"].max()))
    other = make_templates({video.name: f2}, "factors", Strategy("best"))
    assert other.quality[0] == pytest.approx(float(f2.qualities["factors"].max()))


@pytest.mark.parametrize("protocol", ["restricted", "all-pairs"])
def test_eval_ytf_command_on_mini(mini: Path, tmp_path: Path, protocol: str) -> None:
    splits = tmp_path / "splits.txt"
    splits.write_text(
        "1, 1, Aaron_Guiel/5#1, Aaron_Guiel/5#2, 1\n1, 2, Aaron_Guiel/5#1, Agbani_Darego/0#1, 0\n"
        "2, 3, Agbani_Darego/0#1, Agbani_Darego/0#2, 1\n2, 4, Agbani_Darego/0#2, Aishwarya_Rai/0#1, 0\n"
        "3, 5, Aishwarya_Rai/0#1, Aishwarya_Rai/0#2, 1\n3, 6, Aishwarya_Rai/0#2, Aaron_Guiel/5#1, 0\n"
        "3, 7, Nobody/1, Aaron_Guiel/5#1, 0\n"
    )
    out = tmp_path / "out"
    args = [
        "eval",
        "ytf",
        "--root",
        str(mini),
        "--protocol",
        protocol,
        "--halves",
        "--max-frames",
        "8",
        "--strategy",
        "best",
        "--strategy",
        "mean",
        "--out",
        str(out),
        "--no-progress",
        "--cache",
        str(tmp_path / "cache"),
    ]
    if protocol == "restricted":
        args += ["--splits", str(splits)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert [(r["scorer"], r["strategy"]) for r in data["results"]] == [
        ("distilled", "best"),
        ("distilled", "mean"),
    ]
    mean = data["results"][1]["metrics"]
    if protocol == "restricted":
        assert data["results"][0]["missing"] == ["Nobody/1 | Aaron_Guiel/5#1"]
        assert mean["pairs"] == 6 and mean["accuracy"] == 1.0
        assert "| distilled | mean | 3 | 3 | 100.00 ± 0.00 |" in (out / "results.md").read_text()
        # Issue 25.4: the split pairs are counted before any feature is computed.
        assert (
            "splits: 6 of the 7 pairs have both videos (3 genuine, 3 impostor); 1 pair names 1 absent video"
            in (result.stderr)
        )
        # Issue 25.7: the JSON gives both the standard error and the standard deviation.
        assert mean["accuracy_se"] == pytest.approx(mean["accuracy_std"] / np.sqrt(3))
    else:
        assert mean["pairs"] == 15 and mean["genuine"] == 3 and mean["auc"] == 1.0
        assert mean["tar@far=0.001"] is None  # 12 impostor pairs cannot measure FAR 1e-3
    assert (out / "roc.png").stat().st_size > 1000 and (out / "edc.png").stat().st_size > 1000


def test_eval_ytf_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "ytf", "--root", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path}: no frame_images_DB folder (is this a YouTube Faces root?)\n"


# Issue 25, items 4-9: evaluation output a researcher can trust.


def _write_splits(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_restricted_ytf_stops_before_any_feature_when_the_splits_miss_the_videos(
    mini: Path, tmp_path: Path
) -> None:
    """25.4: the real splits excerpt names none of the mini set's videos: one line with the counts,
    before a model runs or a feature is cached, and results.json says what is missing."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["eval", "ytf", "--root", str(mini), "--out", str(out), "--cache", str(cache), "--no-progress"]
    result = CliRunner().invoke(cli, [*args, "--splits", str(mini / "splits_excerpt.txt")])
    assert result.exit_code == 1
    error = result.output.strip().splitlines()[-1]
    assert error.startswith(
        "Error: 0 of the 22 pairs have both videos (0 genuine, 0 impostor); 22 pairs name 44 absent videos: "
        "need both genuine and impostor pairs; nothing evaluated (see "
    ), error
    assert "Traceback" not in result.output and not cache.exists()
    data = json.loads((out / "results.json").read_text())
    assert data["status"] == "not evaluated" and data["split_pairs"] == 22 and data["results"] == []
    assert data["split_pairs_with_both_videos"] == {"genuine": 0, "impostor": 0}
    assert (
        "Sadie_Frost/1 | Sadie_Frost/5" in data["missing_pairs"] and "Sadie_Frost/1" in data["absent_videos"]
    )
    # Only genuine pairs present: also stopped up front, with the counts.
    splits = _write_splits(
        tmp_path / "s.txt",
        ["1, 1, Aaron_Guiel/5#1, Aaron_Guiel/5#2, 1", "2, 2, Aaron_Guiel/5#1, Nobody/0, 0"],
    )
    result = CliRunner().invoke(cli, [*args, "--halves", "--splits", str(splits)])
    assert result.exit_code == 1 and not cache.exists()
    assert (
        "Error: 1 of the 2 pairs have both videos (1 genuine, 0 impostor); 1 pair names 1 absent video"
        in (result.output)
    )


def test_one_class_after_features_gives_the_counts() -> None:
    """25.4: the late error (faces missing in some videos) also counts what is left."""
    v = np.eye(3, dtype=np.float32)
    t = Templates(["A/0", "A/1", "B/0"], v, np.ones(3))
    pairs = [Pair(1, "A/0", "A/1", True), Pair(1, "A/0", "C/0", False)]
    with pytest.raises(
        ValueError, match=r"^1 of the 2 pairs have features on both sides \(1 genuine, 0 impostor\)"
    ):
        listed_pairs(t, pairs)


def _known_evaluation(n_people: int = 2, per_person: int = 2):
    """Templates of ``n_people`` with ``per_person`` identical vectors each: every TAR is 1."""
    names = [f"P{i}/{j}" for i in range(n_people) for j in range(per_person)]
    v = np.repeat(np.eye(n_people, 8, dtype=np.float32), per_person, axis=0)
    t = Templates(names, v, np.linspace(0.1, 0.9, len(names)))
    people = {n: n.split("/")[0] for n in names}
    return evaluate(
        lambda scorer, strategy: t,
        ["factors"],
        [Strategy("best")],
        identities=people,
        table="all-pairs",
        edc_fmr=1e-3,
    )


def test_tables_count_pairs_and_caution_below_the_minimum(tmp_path: Path) -> None:
    """25.5: genuine and impostor counts in every table; a caution under MIN_CLASS_PAIRS."""
    evaluation = _known_evaluation()
    caution = "AUC and EER from 2 genuine and 4 impostor pairs (fewer than 20 of a class)"
    assert MIN_CLASS_PAIRS == 20 and evaluation.caution.startswith(caution)
    assert f"warning: {evaluation.caution}" in evaluation.notes
    paths = write_report(
        tmp_path,
        {"title": "t"},
        evaluation.results,
        evaluation.columns,
        html=True,
        caution=evaluation.caution,
    )
    md = paths["md"].read_text()
    assert "| scorer | strategy | genuine | impostor |" in md and "| factors | best | 2 | 4 |" in md
    assert f"**Caution: {caution}" in md
    page = paths["html"].read_text()
    assert "<th>genuine</th><th>impostor</th>" in page and f"Caution: {caution}" in page
    assert json.loads(paths["json"].read_text())["caution"].startswith(caution)
    # Enough pairs of both classes: no caution.
    assert _known_evaluation(n_people=8, per_person=7).caution is None


def test_roc_axis_is_fixed_and_an_undefined_edc_is_said_not_drawn_empty() -> None:
    """25.6: every TAR is 1 (the y axis must not zoom to 0.96-1.04); 4 impostors cannot fix
    FMR 1e-3, so the EDC is a sentence, not an empty axis."""
    import matplotlib.pyplot as plt

    evaluation = _known_evaluation()
    fig = roc_figure(evaluation.results)
    assert fig.axes[0].get_ylim() == (0.0, 1.0)
    plt.close(fig)
    fig = edc_figure(evaluation.results)
    ax = fig.axes[0]
    assert not ax.lines and not ax.axison
    assert [t.get_text() for t in ax.texts] == [
        "EDC undefined: FMR 0.001 needs at least 1000 impostor pairs\n(4 here); pass a larger --edc-fmr"
    ]
    plt.close(fig)


def test_pauc_columns_say_raw_or_normalised_and_accuracy_says_se() -> None:
    """25.7: the table labels its pAUC (raw beside normalised) and what ± is."""
    metrics = {
        "genuine": 30.0,
        "impostor": 40.0,
        "accuracy": 0.9,
        "accuracy_se": 0.01,
        "accuracy_std": 0.0316,
    }
    metrics |= {"pauc20": 0.0053, "pauc20_norm": 0.106}
    table = markdown_table(
        [{"scorer": "s", "strategy": "best", "metrics": metrics}],
        ["genuine", "impostor", "accuracy", "pauc20", "pauc20_norm"],
    )
    assert "| scorer | strategy | genuine | impostor | accuracy ± SE | pAUC20 raw | pAUC20 norm |" in table
    assert "| s | best | 30 | 40 | 90.00 ± 1.00 | 0.0053 | 0.1060 |" in table
    assert (
        "standard error (SE)" in table
        and "accuracy_std" in table
        and "divided by the FNMR at 0 discard" in table
    )


def test_no_undefined_metric_warning_leaks_from_an_evaluation(tmp_path: Path) -> None:
    """25.8: undefined metrics (the EDC at FMR 1e-3 from 4 impostors, TAR at FAR 1e-4) become
    counted notes; writing the report recomputes nothing and warns nothing."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        evaluation = _known_evaluation()
        write_report(tmp_path, {"title": "t"}, evaluation.results, evaluation.columns)
    assert "note: EDC at FMR 0.001 is undefined: below 1/4 impostor pairs (n/a in the table; 1 time)" in (
        evaluation.notes
    )
    assert "note: FAR 0.0001 is below 1/4 impostor pairs: TAR is undefined (n/a in the table; 1 time)" in (
        evaluation.notes
    )


def test_evaluate_ytf_without_click_reports_the_configured_embedder(mini: Path, tmp_path: Path) -> None:
    from vidfiqa.config import load_config
    from vidfiqa.runs.evaluate import evaluate_ytf

    warnings: list[str] = []
    config = load_config(None, {"embedder.name": "dlib-resnet", "quality.scorer": "factors"})
    report = evaluate_ytf(
        config,
        mini,
        tmp_path / "out",
        protocol="all-pairs",
        halves=True,
        max_frames=4,
        strategies=["best"],
        warn=warnings.append,
    )
    data = json.loads(report.paths["json"].read_text())
    assert data["embedder"] == "dlib-resnet"
    assert [(r["scorer"], r["strategy"]) for r in data["results"]] == [("factors", "best")]
    assert data["results"][0]["metrics"]["pairs"] == 15
    assert "| factors | best |" in report.table
