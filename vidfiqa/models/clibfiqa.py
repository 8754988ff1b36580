"""CLIB-FIQA: face image quality from CLIP image features matched to quality-and-factor prompts.

Ou, Chen, Li, Fu, Cao, "CLIB-FIQA: Face Image Quality Assessment with Confidence Calibration",
CVPR 2024. A CLIP RN50 fine-tuned so that a face's image feature matches one of 360 joint prompts
"a photo of a {blur}, {occlusion}, and {pose} face with {expression} under {illumination}, which
is of {quality} quality"; the softmax over the prompts, summed over the factor levels, gives a
distribution over five quality levels whose expectation over the anchors 0.1, 0.3, 0.5, 0.7, 0.9
is the score. Input: 112x112 aligned RGB crops, resized to 224 and CLIP-normalised.

Needs two files in the model folder: the released ``CLIB-FIQA_R50.pth`` (the whole fine-tuned
CLIP, image and text towers) and CLIP's ``bpe_simple_vocab_16e6.txt.gz`` for the prompts.
"""

from __future__ import annotations

from itertools import product

import torch
import torch.nn.functional as F
from torch import nn

from vidfiqa.models.backbones.clip import CLIP, CLIP_MEAN, CLIP_STD
from vidfiqa.models.clip_tokenizer import ClipTokenizer
from vidfiqa.models.files import ModelFileError, load_state_dict, locate
from vidfiqa.models.torch_scorer import TorchQualityScorer

#: Levels of each factor, in the released code's order; the prompt list is their product in
#: this order, so prompt ``i`` reshapes to index ``(blur, occlusion, pose, expression,
#: illumination, quality)``.
FACTOR_LEVELS: dict[str, tuple[str, ...]] = {
    "blur": ("hazy", "blurry", "clear"),
    "occlusion": ("obstructed", "unobstructed"),
    "pose": ("profile", "slight angle", "frontal"),
    "expression": ("exaggerated expression", "typical expression"),
    "illumination": ("extreme lighting", "normal lighting"),
    "quality": ("bad", "poor", "fair", "good", "perfect"),
}
ANCHORS = (0.1, 0.3, 0.5, 0.7, 0.9)


def prompts() -> list[str]:
    """The 360 joint prompts, in the order the released model was trained with."""
    return [
        f"a photo of a {b}, {o}, and {p} face with {e} under {i}, which is of {q} quality"
        for b, o, p, e, i, q in product(*FACTOR_LEVELS.values())
    ]


def factor_names() -> list[str]:
    """``factor:level`` for every level of every factor, e.g. ``blur:clear``."""
    return [f"{factor}:{level}" for factor, levels in FACTOR_LEVELS.items() for level in levels]


class ClibFIQA(nn.Module):
    """CLIP plus the prompt tokens; ``forward`` returns ``(image features (B, 1024), quality (B,),
    factor-level probabilities (B, 17))`` for RGB ``(B, 3, h, w)`` in [0, 1].

    Args:
        tokens: int64 ``(360, 77)`` ids of :func:`prompts`.
    """

    def __init__(self, tokens: torch.Tensor):
        super().__init__()
        self.clip = CLIP()
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("anchors", torch.tensor(ANCHORS), persistent=False)
        self._text: torch.Tensor | None = None
        self.factor_names = factor_names()

    def text_features(self) -> torch.Tensor:
        """L2-normalised ``(360, 1024)`` prompt features; computed once, then reused."""
        if self._text is None or self._text.device != self.tokens.device:
            with torch.inference_mode():
                self._text = F.normalize(self.clip.encode_text(self.tokens).float(), dim=1)
        return self._text

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        res = self.clip.config.image_resolution
        x = F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False)
        feat = self.clip.encode_image((x - self.mean) / self.std).float()
        logits = self.clip.logit_scale.exp() * F.normalize(feat, dim=1) @ self.text_features().T
        joint = logits.softmax(dim=1).view(len(x), *(len(v) for v in FACTOR_LEVELS.values()))
        marginals = []
        for axis in range(1, joint.dim()):
            others = [a for a in range(1, joint.dim()) if a != axis]
            marginals.append(joint.sum(dim=others))
        quality = marginals[-1] @ self.anchors
        return feat, quality, torch.cat(marginals, dim=1)


def clibfiqa_network(model_root: str | None = None) -> ClibFIQA:
    """The network with the released weights and the prompt tokens from ``model_root``."""
    tokens = torch.from_numpy(ClipTokenizer(locate("clib-fiqa-vocab", model_root))(prompts()))
    model = ClibFIQA(tokens)
    # Checkpoints saved from DataParallel carry a "module." prefix; the released one may be fp16.
    state = {
        k.removeprefix("module."): v.float() for k, v in load_state_dict("clib-fiqa", model_root).items()
    }
    missing = sorted(set(model.clip.state_dict()) - set(state))
    if missing:
        raise ModelFileError(
            f"clib-fiqa: {locate('clib-fiqa', model_root)} lacks {len(missing)} CLIP weights "
            f"(first: {missing[0]}); it must hold the whole fine-tuned CLIP"
        )
    model.clip.load_state_dict({k: v for k, v in state.items() if k in model.clip.state_dict()})
    return model


def clibfiqa_scorer(
    *, model_root: str | None = None, device: str | None = None, model: ClibFIQA | None = None
) -> TorchQualityScorer:
    """Scorer ``clib-fiqa``: quality in [0.1, 0.9], factor-level probabilities as factors."""
    return TorchQualityScorer(
        "clib-fiqa",
        model if model is not None else clibfiqa_network(model_root),
        value_range="unit",
        batch_size=32,
        device=device,
    )
