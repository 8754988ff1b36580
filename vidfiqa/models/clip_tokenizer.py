"""CLIP's byte-level BPE tokenizer, for the fixed English prompts of text-anchored FIQA models.

Reads the merge list that CLIP was released with (``bpe_simple_vocab_16e6.txt.gz``; a header line
then one ``a b`` merge per line, 48,894 used) and reproduces CLIP's ids: 256 byte symbols
(printable bytes first, as CLIP orders them), the same with an end-of-word mark ``</w>``, one id
per merge in rank order, then ``<|startoftext|>`` and ``<|endoftext|>``. Text is lower-cased and
whitespace-collapsed; words are split on letters, digits and other symbols as CLIP's pattern does.
CLIP also runs ``ftfy`` over input text to repair mojibake; the prompts tokenized here are plain
ASCII, for which that is a no-op, so it is left out.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

import numpy as np

_MERGES_USED = 49152 - 256 - 2
# CLIP's pattern with \p{L} written as [^\W\d_] and \p{N} as \d (the same classes for ASCII text).
_WORD = re.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.IGNORECASE
)


def _byte_symbols() -> tuple[list[str], list[str]]:
    # GPT-2's reversible byte -> printable character table: printable bytes map to themselves,
    # the others to code points from 256 up, in byte order. Returns the table indexed by byte,
    # and the symbols in vocabulary order (printable bytes first, then the others).
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(others)}
    return [table[b] for b in range(256)], [table[b] for b in printable + others]


class ClipTokenizer:
    """Text -> CLIP token ids.

    Args:
        merges_path: the gzipped merge list released with CLIP.
    """

    def __init__(self, merges_path: str | Path):
        with gzip.open(merges_path, "rt", encoding="utf-8") as fh:
            lines = fh.read().split("\n")[1 : _MERGES_USED + 1]
        merges = [tuple(line.split()) for line in lines if line]
        self._bytes, symbols = _byte_symbols()
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self._ranks = {m: i for i, m in enumerate(merges)}
        self.sot = self.encoder["<|startoftext|>"]
        self.eot = self.encoder["<|endoftext|>"]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one tokenizer per model; prompts repeat words
    def _bpe(self, word: str) -> tuple[str, ...]:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pair = min(zip(parts, parts[1:]), key=lambda p: self._ranks.get(p, len(self._ranks)))
            if pair not in self._ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return tuple(parts)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` without the start and end markers."""
        text = " ".join(text.split()).lower()
        ids: list[int] = []
        for word in _WORD.findall(text):
            symbols = "".join(self._bytes[b] for b in word.encode("utf-8"))
            ids += [self.encoder[p] for p in self._bpe(symbols)]
        return ids

    def __call__(self, texts: list[str], context_length: int = 77) -> np.ndarray:
        """int64 ``(len(texts), context_length)``: start, ids, end, zero padding.

        Raises:
            ValueError: a text longer than the context.
        """
        out = np.zeros((len(texts), context_length), np.int64)
        for row, text in zip(out, texts):
            ids = [self.sot, *self.encode(text), self.eot]
            if len(ids) > context_length:
                raise ValueError(f"text longer than {context_length} tokens: {text!r}")
            row[: len(ids)] = ids
        return out
