"""CLIB-FIQA: the prompt set, the tokenizer and the quality read-out.

CLIP's real merge list is not redistributable with the tests; a merge list built here for the
prompt words exercises the same code (``tokenizer ids == CLIP's`` was checked against the released
tokenizer on all 360 prompts when this was written, see the issue notes)."""

import functools
import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from vidfiqa.models.clibfiqa import ANCHORS, FACTOR_LEVELS, ClibFIQA, clibfiqa_scorer, factor_names, prompts
from vidfiqa.models.clip_tokenizer import ClipTokenizer
from vidfiqa.models.files import MODEL_FILES, ModelFileError


def write_vocab(path: Path) -> Path:
    """A CLIP-format merge list that builds each prompt word from its first letter on (most words
    become one token; a few are split where another word's merges take precedence)."""
    merges: list[str] = []
    for word in sorted({w for p in prompts() for w in p.replace(",", " , ").split()}):
        prefix = word[0]
        for i, char in enumerate(word[1:], start=1):
            merge = f"{prefix} {char}{'</w>' if i == len(word) - 1 else ''}"
            if merge not in merges:
                merges.append(merge)
            prefix += char
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("#version: test\n" + "\n".join(merges) + "\n")
    return path


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> ClipTokenizer:
    return ClipTokenizer(write_vocab(tmp_path_factory.mktemp("vocab") / "bpe.txt.gz"))


@functools.cache
def clib_network(vocab: Path | None = None) -> ClibFIQA:
    """CLIB-FIQA with random weights and the test merge list's prompt tokens; one instance per
    vocabulary, so the 360 prompt features are computed once for all tests."""
    if vocab is None:
        vocab = write_vocab(Path(tempfile.mkdtemp()) / "bpe.txt.gz")
    torch.manual_seed(0)
    return ClibFIQA(torch.from_numpy(ClipTokenizer(vocab)(prompts())))


def test_prompts_follow_the_released_order() -> None:
    ps = prompts()
    assert len(ps) == 360 == np.prod([len(v) for v in FACTOR_LEVELS.values()])
    assert ps[0] == (
        "a photo of a hazy, obstructed, and profile face with exaggerated expression under "
        "extreme lighting, which is of bad quality"
    )
    # Quality varies fastest, blur slowest.
    assert ps[1].endswith("of poor quality") and ps[120].startswith("a photo of a blurry,")
    assert len(factor_names()) == 17 and factor_names()[-1] == "quality:perfect"


def test_tokenizer_ids_and_layout(tokenizer: ClipTokenizer) -> None:
    # 256 byte symbols, printable bytes first, then the same with the end-of-word mark.
    assert tokenizer.encode("!") == [256] and tokenizer.encode("a") == [256 + ord("a") - ord("!")]
    photo = tokenizer.encoder["photo</w>"]
    assert tokenizer.encode("A   PHOTO") == [tokenizer.encoder["a</w>"], photo]
    assert tokenizer.encode("photos") != [photo]  # not a vocabulary word: split into pieces
    ids = tokenizer(prompts()[:2])
    assert ids.shape == (2, 77) and ids.dtype == np.int64
    n = 2 + len(tokenizer.encode(prompts()[0]))
    assert ids[0, 0] == tokenizer.sot and ids[0, n - 1] == tokenizer.eot and not ids[0, n:].any()
    assert ids[0].argmax() == n - 1  # the text tower reads the feature at the end-of-text token
    with pytest.raises(ValueError, match="longer than 77"):
        tokenizer(["a " * 80])


@pytest.mark.slow
def test_quality_is_the_expectation_of_the_quality_distribution() -> None:
    net = clib_network().eval()
    x = torch.rand(3, 3, 112, 112)
    with torch.no_grad():
        feat, quality, factors = net(x)
    assert feat.shape == (3, 1024) and quality.shape == (3,) and factors.shape == (3, 17)
    start = 0
    for levels in FACTOR_LEVELS.values():
        torch.testing.assert_close(factors[:, start : start + len(levels)].sum(1), torch.ones(3))
        start += len(levels)
    torch.testing.assert_close(quality, factors[:, -5:] @ torch.tensor(ANCHORS))
    assert ((quality >= 0.1) & (quality <= 0.9)).all()
    assert net.text_features() is net.text_features()  # prompt features are computed once


def test_scorer_reports_named_factors() -> None:
    scorer = clibfiqa_scorer(model=clib_network(), device="cpu")
    crops = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    quality, features, factors = scorer.run(crops)
    assert quality.dtype == np.float32 and features.shape == (2, 1024)
    assert list(factors) == factor_names() and factors["blur:clear"].shape == (2,)


def test_a_checkpoint_without_the_text_tower_is_refused(tmp_path: Path) -> None:
    write_vocab(tmp_path / MODEL_FILES["clib-fiqa-vocab"].filename)
    visual = {k: v for k, v in clib_network().clip.state_dict().items() if k.startswith("visual.")}
    torch.save(visual, tmp_path / MODEL_FILES["clib-fiqa"].filename)
    with pytest.raises(ModelFileError, match="lacks .* CLIP weights .* whole fine-tuned CLIP"):
        clibfiqa_scorer(model_root=str(tmp_path), device="cpu")
