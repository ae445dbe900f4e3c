"""Input generators: the exact hop_k data distribution of P2's experiments, random sequences, and
real text as token ids (THEORY.md c.2 "Exact data format", e.1; P2 App. G.1).

The authors' format ([C] ``src/tasks.py``, ``InductionHopsFullSequenceTask``): a letter string S
of length seq_len with no adjacent repeats, a hop count k ~ Unif{0..16}; the model input is
[token(k)] + S_1..S_{seq_len−2} and the target is ['_'] + hop_k(S)_1..seq_len−2 with ⊥ written '~'.
Token ids: the 17 hop-count characters chr(48 + k) → 0..16, the letters → 17.., then '~', '_';
the vocabulary has 30 ids.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from .hop_reference import hop_fast

PAPER_SEQ_LEN = 100
PAPER_ALPHABET = 4
PAPER_MIN_HOPS, PAPER_MAX_HOPS = 0, 16
PAPER_VOCAB_SIZE = 30  # the authors' configured vocab_size; 23 ids are used with 4 letters
HOP_COUNT_BASE = 48  # hop count k is written chr(48 + k): '0'..'9', ':', ';', '<', '=', '>', '?', '@'
LETTER_BASE = ord("a")
BOTTOM_CHAR = "~"  # ⊥: the hop does not exist
BLANK_CHAR = "_"  # the target of the task-token position
PAPER_HOP_TOKENS = PAPER_MAX_HOPS - PAPER_MIN_HOPS + 1  # 17 hop-count ids come first


def hop_char(k: int) -> str:
    """The character of hop count k: chr(48 + k)."""
    if not PAPER_MIN_HOPS <= k <= PAPER_MAX_HOPS:
        raise ValueError(f"hop count must be in {PAPER_MIN_HOPS}..{PAPER_MAX_HOPS}, got {k}")
    return chr(HOP_COUNT_BASE + k)


def paper_token_map(alphabet: int = PAPER_ALPHABET) -> Mapping[str, int]:
    """The authors' token ids: hop-count characters → 0..16, letters → 17..16+|Σ|, then '~', '_'.
    For |Σ| = 4: a–d → 17–20, '~' → 21, '_' → 22 (THEORY.md c.2). At most 11 letters fit in 30 ids."""
    if not 1 <= alphabet <= PAPER_VOCAB_SIZE - PAPER_HOP_TOKENS - 2:
        raise ValueError(f"alphabet must be in 1..{PAPER_VOCAB_SIZE - PAPER_HOP_TOKENS - 2}, got {alphabet}")
    chars = [hop_char(k) for k in range(PAPER_MIN_HOPS, PAPER_MAX_HOPS + 1)]
    chars += [chr(LETTER_BASE + a) for a in range(alphabet)] + [BOTTOM_CHAR, BLANK_CHAR]
    return MappingProxyType({c: i for i, c in enumerate(chars)})


PAPER_TOKEN_MAP = paper_token_map()


def encode_paper(chars: Sequence[str] | str, alphabet: int = PAPER_ALPHABET) -> list[int]:
    """Characters → the authors' token ids."""
    table = PAPER_TOKEN_MAP if alphabet == PAPER_ALPHABET else paper_token_map(alphabet)
    try:
        return [table[c] for c in chars]
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the paper's vocabulary (|Σ| = {alphabet})") from None


def decode_paper(ids: Sequence[int], alphabet: int = PAPER_ALPHABET) -> str:
    """The authors' token ids → characters, as one string."""
    chars = list((PAPER_TOKEN_MAP if alphabet == PAPER_ALPHABET else paper_token_map(alphabet)).keys())
    bad = [i for i in ids if not 0 <= int(i) < len(chars)]
    if bad:
        raise ValueError(f"token id {bad[0]} is outside 0..{len(chars) - 1}")
    return "".join(chars[int(i)] for i in ids)


@dataclass(frozen=True)
class PaperSample:
    """One example of the authors' k-hop task: the letter string ``letters`` (S), the hop count
    ``k``, and the model's ``input_ids`` / ``target_ids`` (length len(S) − 1 each)."""

    letters: str
    k: int
    input_ids: tuple[int, ...]
    target_ids: tuple[int, ...]
    alphabet: int = PAPER_ALPHABET

    @property
    def input_text(self) -> str:
        return decode_paper(self.input_ids, self.alphabet)

    @property
    def target_text(self) -> str:
        return decode_paper(self.target_ids, self.alphabet)

    @property
    def defined(self) -> tuple[bool, ...]:
        """Positions whose target is a letter (the ones the paper's error rate counts)."""
        letters = set(range(PAPER_HOP_TOKENS, PAPER_HOP_TOKENS + self.alphabet))
        return tuple(t in letters for t in self.target_ids)


def make_paper_sample(letters: str | Sequence[int], k: int, alphabet: int = PAPER_ALPHABET) -> PaperSample:
    """The example built from a given S (letters, or letter indices 0..|Σ|−1) and k, exactly as
    the authors' task does: input [token(k)] + S_1..S_{L−2}, target ['_'] + hop_k(S)_1..L−2."""
    s = letters if isinstance(letters, str) else "".join(chr(LETTER_BASE + int(a)) for a in letters)
    if len(s) < 2:
        raise ValueError(f"a sample needs a string of length >= 2, got {len(s)}")
    if any(not 0 <= ord(ch) - LETTER_BASE < alphabet for ch in s):
        raise ValueError(f"letters must be among the first {alphabet} of a..z, got {s!r}")
    hops = hop_fast(s, k)  # over the full string; positions 1..L−2 are used (causal)
    inputs = hop_char(k) + s[: len(s) - 2]
    targets = BLANK_CHAR + "".join(BOTTOM_CHAR if h is None else h for h in hops[: len(s) - 2])
    return PaperSample(s, k, tuple(encode_paper(inputs, alphabet)), tuple(encode_paper(targets, alphabet)), alphabet)


def _generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def paper_sample(rng: np.random.Generator | int, k: int | None = None, seq_len: int = PAPER_SEQ_LEN,
                 alphabet: int = PAPER_ALPHABET) -> PaperSample:
    """One draw from the experiments' distribution (THEORY.md c.2): S_1 ~ Unif(Σ),
    S_{t+1} ~ Unif(Σ ∖ {S_t}), k ~ Unif{0..16} unless given. (The same distribution as the
    authors' ``RandomState`` code, not the same random stream.)"""
    if alphabet < 2:
        raise ValueError(f"no adjacent repeats needs an alphabet of >= 2 letters, got {alphabet}")
    g = _generator(rng)
    if k is None:
        k = int(g.integers(PAPER_MIN_HOPS, PAPER_MAX_HOPS + 1))
    return make_paper_sample(random_sequence(seq_len, alphabet, g, no_adjacent_repeats=True), k, alphabet)


def random_sequence(n: int, alphabet_size: int, rng: np.random.Generator | int,
                    no_adjacent_repeats: bool = False) -> list[int]:
    """n token ids uniform in [0, alphabet_size); with ``no_adjacent_repeats`` each next id is
    uniform over the other alphabet_size − 1 ids (X_{t+1} = X_t + d mod |Σ|, d ~ Unif{1..|Σ|−1})."""
    if n < 0 or alphabet_size < 1:
        raise ValueError(f"need n >= 0 and alphabet_size >= 1, got n={n}, alphabet_size={alphabet_size}")
    if no_adjacent_repeats and alphabet_size < 2 and n > 1:
        raise ValueError("no adjacent repeats needs alphabet_size >= 2")
    g = _generator(rng)
    if n == 0:
        return []
    if not no_adjacent_repeats:
        return g.integers(0, alphabet_size, n).tolist()
    steps = g.integers(1, alphabet_size, n - 1) if alphabet_size > 1 else np.zeros(0, np.int64)
    first = int(g.integers(0, alphabet_size))
    return ((first + np.concatenate(([0], np.cumsum(steps)))) % alphabet_size).tolist()


def text_tokens(text: str, mode: str = "words") -> tuple[list[int], list[str]]:
    """Token ids of ``text`` (characters, or whitespace-separated words) numbered in order of
    first appearance, and the vocabulary (vocabulary[id] is the token)."""
    if mode == "chars":
        pieces: list[str] = list(text)
    elif mode == "words":
        pieces = text.split()
    else:
        raise ValueError(f"mode must be 'chars' or 'words', got {mode!r}")
    index: dict[str, int] = {}
    ids = [index.setdefault(p, len(index)) for p in pieces]
    return ids, list(index)


STDLIB_TEXT_MODULE = "_pydecimal"  # the pure-Python decimal module: ~24,000 whitespace tokens
MIN_STDLIB_TOKENS = 20_000


def stdlib_text(module: str = STDLIB_TEXT_MODULE) -> tuple[str, str]:
    """A long real text available offline: the source code of a Python standard-library module
    (default ``_pydecimal``, CPython's pure-Python ``decimal``), read at run time with
    ``inspect.getsource``. Returns (text, origin). The text is part of CPython, © Python Software
    Foundation, distributed under the PSF License Agreement (Python Software Foundation License
    Version 2); it is read from the local installation and not redistributed. Raises if the module
    gives fewer than 20,000 whitespace tokens."""
    mod = importlib.import_module(module)
    text = inspect.getsource(mod)
    if len(text.split()) < MIN_STDLIB_TOKENS:
        raise ValueError(f"module {module!r} has {len(text.split())} whitespace tokens, fewer than {MIN_STDLIB_TOKENS}")
    origin = (f"source of the Python standard-library module {module!r} ({inspect.getsourcefile(mod)}), "
              f"CPython, © Python Software Foundation, PSF License Agreement")
    return text, origin


__all__ = [
    "BLANK_CHAR", "BOTTOM_CHAR", "PAPER_ALPHABET", "PAPER_MAX_HOPS", "PAPER_MIN_HOPS", "PAPER_SEQ_LEN",
    "PAPER_TOKEN_MAP", "PAPER_VOCAB_SIZE", "PaperSample", "decode_paper", "encode_paper", "hop_char",
    "make_paper_sample", "paper_sample", "paper_token_map", "random_sequence", "stdlib_text", "text_tokens",
]
