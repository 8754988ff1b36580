"""The recipe that makes vidfiqa's own quality model from LFW: split by person, build clean and
degraded samples, label them with a teacher, train the student, measure it on the validation
people, and write the weights with the record of how they were made."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from vidfiqa.build import build_detector, build_embedder, build_landmarker
from vidfiqa.config import Config
from vidfiqa.eval.fiqa import pair_edc, scenario, utility_correlation
from vidfiqa.eval.types import Pair
from vidfiqa.learn.distill import optimise_labels
from vidfiqa.learn.samples import FACTORS, FaceSamples, build_samples, recognition_utility
from vidfiqa.learn.settings import UTILITY, DistillSettings
from vidfiqa.learn.split import LfwSplit, split_lfw
from vidfiqa.learn.train import BranchReport, TrainError, train_lightweight
from vidfiqa.models.base import Detector, Embedder, Landmarker, QualityScorer
from vidfiqa.models.lightweight import LightweightEnsemble, round_as_saved, save_checkpoint
from vidfiqa.quality.distilled import SCORE, DistilledScorer
from vidfiqa.types import QualityResult

#: Samples per photo: training photos once clean and three times degraded; validation photos as
#: templates of ten, 70% degraded (eDifFIQA's best-frame scenario, section 5.3).
TRAIN_VARIANTS, TRAIN_UNDEGRADED = DistillSettings().train_variants, 1
VAL_VARIANTS, VAL_UNDEGRADED = 10, 3
#: Bumped when :class:`FaceSamples` files change layout, so that old caches are not read.
CACHE_FORMAT = 2


@dataclass(frozen=True, slots=True)
class SampleSets:
    train: FaceSamples
    val: FaceSamples


@dataclass(frozen=True, slots=True)
class SampleModels:
    """The models that find, align and embed the samples (the pipeline's own)."""

    detector: Detector
    landmarker: Landmarker
    embedder: Embedder

    @classmethod
    def of(cls, config: Config) -> SampleModels:
        """The detector (set for still photos), landmarker and embedder of ``config``."""
        return cls(build_detector(config, still=True), build_landmarker(config), build_embedder(config))


def _cache_path(
    cache: Path, side: str, keys: list[str], stages: SampleModels, seed: int, variants: int
) -> Path:
    key = json.dumps(
        [CACHE_FORMAT, side, stages.detector.name, stages.landmarker.name, stages.embedder.name, seed,
         variants, keys]
    )  # fmt: skip
    return cache / f"lfw-{side}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def side_samples(
    split: LfwSplit,
    stages: SampleModels,
    side: str,
    *,
    seed: int,
    cache: Path | None,
    train_variants: int = TRAIN_VARIANTS,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> FaceSamples:
    """The samples of one side (``"train"`` or ``"val"``) of ``split``, from ``cache`` when built
    before with the same photos, models and seed; see :func:`sample_sets`."""
    keys, variants, undegraded = (
        (split.train, train_variants, TRAIN_UNDEGRADED)
        if side == "train"
        else (split.val, VAL_VARIANTS, VAL_UNDEGRADED)
    )
    path = _cache_path(cache, side, keys, stages, seed, variants) if cache else None
    if path is not None and path.is_file():
        return FaceSamples.load(path)
    samples = build_samples(
        [split.paths[k] for k in keys],
        keys,
        split.people(keys),
        variants=variants,
        undegraded=undegraded,
        seed=seed + (0 if side == "train" else 1),
        detector=stages.detector,
        landmarker=stages.landmarker,
        embedder=stages.embedder,
        progress=progress(side, len(keys)) if progress else None,
    )
    if path is not None:
        samples.save(path)
    return samples


def sample_sets(
    split: LfwSplit,
    stages: SampleModels,
    *,
    seed: int,
    cache: Path | None,
    train_variants: int = TRAIN_VARIANTS,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> SampleSets:
    """Training and validation samples of ``split`` (from ``cache`` when built before with the
    same photos, models and seed), ``train_variants`` per training photo (one clean).
    ``progress(side, n)`` gives a per-photo callback."""
    train, val = (
        side_samples(
            split, stages, side, seed=seed, cache=cache, train_variants=train_variants, progress=progress
        )
        for side in ("train", "val")
    )
    return SampleSets(train, val)


@dataclass(frozen=True, slots=True)
class Validation:
    """What the validation samples are measured on.

    Attributes:
        template: int64 ``(n,)`` template of each sample (-1: its person has one photo), one
            template per photo of a person with two or more.
        template_person: object ``(t,)``.
        first: bool ``(n,)``; the undegraded photo itself (the oracle's pick).
        pair_rows: int64 ``(p, 2)`` samples compared for the degraded View 2 pairs: every pair's
            first photo undegraded (the enrolled reference) against each of the ten variants of
            its second (the probe, 70% degraded). Degraded-against-degraded impostors would fix
            the threshold of FMR 1e-3 so high (cosine ~0.96) that ~90% of mated pairs fail
            whatever is discarded, and no quality measure could show.
        pair_mated: bool ``(p,)``.
        utility: float32 ``(n,)`` recognition utility among the validation people.
    """

    template: np.ndarray
    template_person: np.ndarray
    first: np.ndarray
    pair_rows: np.ndarray
    pair_mated: np.ndarray
    utility: np.ndarray


def validation(val: FaceSamples, pairs: list[Pair]) -> Validation:
    """The :class:`Validation` of ``val`` (samples of :data:`VAL_VARIANTS` per photo) and the
    View 2 ``pairs`` among its photos."""
    person = val.identities.astype(str)
    photos_of = {p: int(c) for p, c in zip(*np.unique(person, return_counts=True))}
    templated = np.array([photos_of[p] >= 2 for p in person])
    ids = np.full(len(person), -1, np.int64)
    ids[templated] = np.arange(int(templated.sum()))
    row = {(int(s), int(v)): i for i, (s, v) in enumerate(zip(val.source, val.variant))}
    index = {k: i for i, k in enumerate(val.keys.tolist())}
    pair_rows, mated = [], []
    for p in pairs:
        for v in range(VAL_VARIANTS):
            pair_rows.append((row[index[p.a], 0], row[index[p.b], v]))
            mated.append(p.same)
    return Validation(
        template=ids[val.source],
        template_person=val.identities[templated],
        first=val.variant == 0,
        pair_rows=np.array(pair_rows, np.int64).reshape(-1, 2),
        pair_mated=np.array(mated, bool),
        utility=recognition_utility(val),
    )


def measure(val: FaceSamples, plan: Validation, quality: np.ndarray) -> dict[str, float]:
    """Every validation number of one scorer's ``quality`` float ``(n,)`` of the samples:
    Spearman with utility, best-frame and quality-weighted EER / TAR@FAR, EDC pAUC."""
    q = np.asarray(quality, np.float64)
    rows = plan.template >= 0
    out: dict[str, float] = {"spearman_utility": round(utility_correlation(q, plan.utility), 4)}
    for rule in ("best", "weighted"):
        s = scenario(val.embeddings[rows], plan.template[rows], plan.template_person, q[rows], rule)
        out[f"{rule}_eer"] = round(s.eer, 5)
        for far, tar in s.tar.items():
            out[f"{rule}_tar@{far:g}"] = round(tar, 4)
    a, b = plan.pair_rows[:, 0], plan.pair_rows[:, 1]
    scores = np.einsum("nd,nd->n", val.embeddings[a].astype(np.float64), val.embeddings[b].astype(np.float64))
    for limit, area in pair_edc(scores, plan.pair_mated, q[a], q[b]).items():
        out[f"edc_pauc@{limit:g}"] = round(area, 5)
    return _json_ready(out)


def _json_ready(numbers: dict[str, float]) -> dict[str, float | None]:
    """NaN (a measure undefined on too few pairs) as None, so that the record is valid JSON."""
    return {k: None if v != v else v for k, v in numbers.items()}


def baselines(val: FaceSamples, plan: Validation) -> dict[str, dict[str, float]]:
    """The best-frame scenario without a scorer: the undegraded photo (an oracle no scorer can
    know) and a random sample."""
    rows = plan.template >= 0
    out = {}
    for rule in ("first", "random"):
        s = scenario(
            val.embeddings[rows],
            plan.template[rows],
            plan.template_person,
            np.zeros(int(rows.sum())),
            rule,
            first=plan.first[rows],
        )
        out[rule] = {
            "best_eer": round(s.eer, 5),
            **{f"best_tar@{f:g}": round(t, 4) for f, t in s.tar.items()},
        }
    return out


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """float64 ranks in [0, 1] of the finite ``values`` (NaN stays NaN)."""
    v = np.asarray(values, np.float64)
    out = np.full(len(v), np.nan)
    ok = np.isfinite(v)
    out[ok] = rankdata(v[ok]) / max(int(ok.sum()), 1)
    return out


def teacher_scores(name: str, samples: FaceSamples, scorer_for: Callable[[str], QualityScorer]) -> np.ndarray:
    """float64 ``(n,)`` teacher quality of ``samples`` (NaN: no label), for a teacher ``name``:
    ``utility``, a quality scorer's name, or several joined by ``+`` (mean percentile rank)."""
    parts = name.split("+")
    if len(parts) > 1:
        return np.mean([percentile_ranks(teacher_scores(p, samples, scorer_for)) for p in parts], axis=0)
    if name == UTILITY:
        return recognition_utility(samples).astype(np.float64)
    return score_samples(scorer_for(name), samples).scores.astype(np.float64)


def score_samples(scorer: QualityScorer, samples: FaceSamples, chunk: int = 1024) -> QualityResult:
    """``scorer`` on every sample, ``chunk`` at a time (a scorer's float copies of tens of
    thousands of crops would not fit in memory at once)."""
    parts = [
        scorer.score(samples.batch(np.arange(lo, min(lo + chunk, len(samples)))))
        for lo in range(0, len(samples), chunk)
    ]
    return QualityResult(
        scores=np.concatenate([p.scores for p in parts]),
        factors={k: np.concatenate([p.factors[k] for p in parts]) for k in parts[0].factors},
    )


@dataclass(frozen=True, slots=True)
class Student:
    """A trained student, the rows it learned from and its training reports."""

    model: LightweightEnsemble
    rows: np.ndarray
    labels: np.ndarray
    reports: dict[str, BranchReport]
    threshold: float


def train_student(
    train: FaceSamples,
    teacher: np.ndarray,
    settings: DistillSettings,
    *,
    log: Callable[[str], None] | None = None,
) -> Student:
    """eDifFIQA's label optimisation of the ``teacher`` scores (identities with no face in the
    teacher's top ``settings.beta`` are dropped), then the ensemble trained as
    ``settings.student`` says on the labels and the known factor levels.

    Raises:
        TrainError: too few labelled samples.
    """
    labelled = np.flatnonzero(np.isfinite(teacher))
    if len(labelled) < 4:
        raise TrainError(f"the teacher labels only {len(labelled)} samples; need at least 4")
    person = train.person.astype(str)
    opt = optimise_labels(
        teacher[labelled], train.embeddings[labelled], person[labelled].tolist(), beta=settings.beta,
        epsilon=settings.epsilon, min_per_identity=1,
    )  # fmt: skip
    rows = labelled[opt.keep]
    result = train_lightweight(
        train.faces.crops[rows],
        opt.labels[opt.keep],
        settings.student,
        levels=train.levels[rows],
        factors=FACTORS,
        groups=person[rows],
        log=log,
    )
    return Student(result.model, rows, opt.labels[opt.keep], result.reports, opt.threshold)


def distilled_quality(model: LightweightEnsemble, val: FaceSamples, **options: Any) -> np.ndarray:
    """The ``distilled`` score of every validation sample under ``model`` (``options``: see
    :class:`~vidfiqa.quality.distilled.DistilledScorer`)."""
    return score_samples(DistilledScorer(model=model, device="cpu", **options), val).scores


def distill_lfw(
    root: str | Path,
    out_path: str | Path,
    settings: DistillSettings,
    *,
    models: SampleModels,
    scorer_for: Callable[[str], QualityScorer],
    command: str,
    cache: Path | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The whole recipe as ``settings`` say: split ``root`` (LFW layout) by person, build the
    samples, label the training ones with ``settings.teacher`` (see :func:`teacher_scores`),
    train the student, measure it on the validation people, and save it at ``out_path`` with its
    record (also written beside it as ``.json``). Returns the record.

    Raises:
        EvalInputError: no LFW layout at ``root``.
        QualitySetError, TrainError: unusable photos or too few labels.
    """
    seed, train_variants = settings.student.seed, settings.train_variants
    split = split_lfw(root)
    sets = sample_sets(
        split, models, seed=seed, cache=cache, train_variants=train_variants, progress=progress
    )
    plan = validation(sets.val, split.val_pairs)
    scores = teacher_scores(settings.teacher, sets.train, scorer_for)
    student = train_student(sets.train, scores, settings, log=log)
    val = sets.val
    round_as_saved(student.model)
    record = {
        "command": command,
        "teacher": settings.teacher,
        "seed": seed,
        "models": {
            "detector": models.detector.name,
            "landmarker": models.landmarker.name,
            "embedder": models.embedder.name,
        },
        "data": {
            "root": Path(root).name,
            "split": "validation = people of View 2 folds 8-10, training = everyone else",
            "train": {
                "photos": len(split.train),
                "variants": train_variants,
                "people": len(set(split.people(split.train))),
                "samples": len(sets.train),
                "labelled": len(student.rows),
            },
            "val": {
                "photos": len(split.val),
                "people": len(set(split.people(split.val))),
                "samples": len(val),
                "templates": len(plan.template_person),
                "pair_comparisons": len(plan.pair_mated),
            },
        },  # fmt: skip
        "label_optimisation": {
            "beta": settings.beta,
            "epsilon": settings.epsilon,
            "threshold": round(student.threshold, 6),
        },
        "settings": {k: v for k, v in asdict(settings.student).items() if k != "seed"},
        "score": SCORE,
        "validation": measure(val, plan, distilled_quality(student.model, val)),
        "validation_calibrated": measure(val, plan, distilled_quality(student.model, val, calibrate=True)),
        "baselines": baselines(val, plan),
        "training": {
            name: {"loss": r.losses, "val_srcc": r.srcc, "val_factor_mae": r.factor_mae}
            for name, r in student.reports.items()
        },
    }
    save_checkpoint(student.model, out_path, record)
    Path(out_path).with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record
