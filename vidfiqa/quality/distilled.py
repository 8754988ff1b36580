"""vidfiqa's own learned quality: the lightweight ensemble distilled from a teacher on LFW.

The network (MobileNetV3-Small + ShuffleNetV2 x0.5; :mod:`vidfiqa.models.lightweight`)
predicts a quality and the levels of six factors (blur, low resolution, noise/compression,
occlusion, exposure, pose) it learned from degradations applied at known levels. Its score is
relative to the embedder it was distilled for: the package ships weights for ``sface`` (the default
embedder) and ``dlib-resnet``, and the scorer takes those of the configured embedder;
``vidfiqa train distill --embedder NAME`` makes a checkpoint for another, used with
``quality.checkpoint``.

The score is the network's quality times ``visibility`` (the share of the face inside the frame,
which photos cannot teach). For the SFace weights the quality head alone ranked the validation
people best: calibrating it by its factor levels as CLIB-FIQA does (``calibrate=True``,
``learned * prod_f (1 - level_f)``, the score of the ``dlib-resnet`` weights' release) tied or
lost on best-frame EER and TAR@1e-3, and the absolute eye-openness multiplier cost the most
(EDC pAUC 0.141 -> 0.160; ``benchmarks/quality_sface/quality_sface.json``). In videos the pipeline applies a
blink gate and a sharpness relative to each track instead (:mod:`vidfiqa.quality.track_factors`).

Factors reported: ``<factor>_level`` (0 none .. 1 severe; the reasons name them), ``learned``
(the network's own score), ``visibility`` and ``eyes_open`` (reported, not multiplied).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidfiqa.models.files import ModelFileError
from vidfiqa.models.lightweight import BRANCHES, LightweightEnsemble, LightweightScorer, level_factors
from vidfiqa.quality.factors import eyes_open, visibility
from vidfiqa.types import FaceBatch, QualityResult

#: What the score is, in words (recorded with trained weights).
SCORE = "learned * visibility"
#: Packaged weights scored with their factor levels too (``learned * prod (1 - level)``): dlib's,
#: whose validation ranked that calibration first (2.06% against 2.59% best-frame EER for the
#: head alone, README), unlike SFace's (0.24% against 0.19%).
CALIBRATED = frozenset({"dlib-resnet"})

#: Where the weights shipped in the package lie, one file per embedder, each with its record
#: beside it (``.json``).
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def packaged(embedder: str) -> Path:
    """The shipped weights distilled for ``embedder``.

    Raises:
        ModelFileError: none are shipped for it (the message says how to make them).
    """
    path = WEIGHTS / f"distilled-{embedder}.pt"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem.removeprefix("distilled-") for p in WEIGHTS.glob("distilled-*.pt")))
        raise ModelFileError(
            f"distilled: no packaged weights for embedder {embedder} (shipped: {shipped}); make them with "
            f"'vidfiqa train distill --embedder {embedder}' and pass them as quality.checkpoint"
        )
    return path


class DistilledScorer:
    """Scorer ``distilled``.

    Args:
        checkpoint: a ``vidfiqa train distill`` file; the packaged weights for ``embedder`` when
            ``None``.
        embedder: the embedder the quality is relative to (picks the packaged weights).
        device: torch device; CUDA when available.
        batch_size: faces per forward pass.
        branches: which branches score (both by default; one for the ablation).
        calibrate: also multiply by ``1 - level`` of every factor; ``None``: as validated best
            for the packaged weights (:data:`CALIBRATED`), off for any other checkpoint.
        flip_tta: also score the mirrored crop and average, as the lightweight ensemble was
            published. Off by default: on the LFW validation people it measured the same (best-frame
            EER 1.39% without, 1.49% with; weighted 1.06% both; EDC pAUC equal to 1e-4) at twice the
            time (``benchmarks/quality_alignment/result.json``).
        model: an already loaded network (tests, training).
    """

    name = "distilled"
    score_range = (0.0, 1.0)

    def __init__(
        self,
        *,
        checkpoint: str | Path | None = None,
        embedder: str = "sface",
        device: str | None = None,
        batch_size: int = 64,
        branches: tuple[str, ...] = BRANCHES,
        calibrate: bool | None = None,
        flip_tta: bool = False,
        model: LightweightEnsemble | None = None,
    ):
        if calibrate is None:
            calibrate = checkpoint is None and model is None and embedder in CALIBRATED
        if checkpoint is None and model is None:
            checkpoint = packaged(embedder)
        self.network = LightweightScorer(
            checkpoint=checkpoint, device=device, batch_size=batch_size, model=model
        )
        self.network.model.flip_tta = flip_tta  # the scorer's own copy of the network
        self.branches = branches
        self.calibrate = calibrate

    @property
    def record(self) -> dict:
        """How the weights were made (command, data, seed, validation numbers)."""
        return self.network.record

    def score(self, batch: FaceBatch) -> QualityResult:
        learned, levels = self.network.predict(batch.crops, self.branches)
        eyes, seen = eyes_open(batch.eye_openness), visibility(batch.visible)
        factors = level_factors(self.network.model.factors, levels)
        factors |= {"learned": learned, "visibility": seen, "eyes_open": eyes}
        scores = np.clip(learned, 0, 1) * seen
        if self.calibrate:
            scores = scores * np.prod(1 - np.clip(levels, 0, 1), axis=1)
        return QualityResult(scores=scores.astype(np.float32), factors=factors)
