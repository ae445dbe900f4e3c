"""Hypothesis strategies for token sequences and the task instances built from them (THEORY.md
c.1–c.3, b.8): sequences over an alphabet (optionally with no adjacent repeats), hop_k instances,
samples of the paper's experimental distribution, and layered pointer-chasing instances.

Every strategy builds its value from hypothesis draws (no hidden random seeds), so failures shrink
to small examples.
"""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from protocols.generators import PAPER_ALPHABET, PAPER_MAX_HOPS, PAPER_MIN_HOPS, PaperSample, make_paper_sample
from protocols.hop_reference import hop
from protocols.pointer_chasing import LayeredInstance


@dataclass(frozen=True)
class HopInstance:
    """A hop_k task: ``tokens`` (ids in [0, alphabet_size)) and k (P2 Def. 4.1)."""

    tokens: tuple[int, ...]
    k: int
    alphabet_size: int

    def expected(self) -> list[int | None]:
        """hop_k(X) by the plain-Python reference (None for ⊥)."""
        return hop(self.tokens, self.k)


@st.composite
def sequences(draw, alphabet_size: int | None = None, min_size: int = 0, max_size: int = 50,
              no_adjacent_repeats: bool = False) -> list[int]:
    """Token ids over [0, alphabet_size) (drawn from 1..max(size, 1) if None). With
    ``no_adjacent_repeats``, X_{t+1} = X_t + d mod |Σ| with d in 1..|Σ|−1 (needs |Σ| ≥ 2)."""
    size = draw(st.integers(min_size, max_size))
    if alphabet_size is None:
        alphabet_size = draw(st.integers(2 if no_adjacent_repeats else 1, max(size, 2)))
    if no_adjacent_repeats:
        if alphabet_size < 2:
            raise ValueError("no adjacent repeats needs alphabet_size >= 2")
        if size == 0:
            return []
        x = [draw(st.integers(0, alphabet_size - 1))]
        for d in draw(st.lists(st.integers(1, alphabet_size - 1), min_size=size - 1, max_size=size - 1)):
            x.append((x[-1] + d) % alphabet_size)
        return x
    return draw(st.lists(st.integers(0, alphabet_size - 1), min_size=size, max_size=size))


@st.composite
def hop_instances(draw, min_n: int = 1, max_n: int = 40, max_k: int = 40,
                  no_adjacent_repeats: bool = False) -> HopInstance:
    """A hop_k instance: n in min_n..max_n, alphabet size in 1..n (2..n without adjacent repeats;
    small alphabets give long find chains, |Σ| = n gives many ⊥), k in 0..max_k."""
    n = draw(st.integers(min_n, max_n))
    low = 2 if no_adjacent_repeats else 1
    alphabet = draw(st.integers(low, max(n, low)))
    tokens = draw(sequences(alphabet, n, n, no_adjacent_repeats))
    return HopInstance(tuple(tokens), draw(st.integers(0, max_k)), alphabet)


@st.composite
def paper_samples(draw, k: int | None = None, seq_len: int = 100, alphabet: int = PAPER_ALPHABET) -> PaperSample:
    """Examples of the authors' distribution (THEORY.md c.2): S with no adjacent repeats,
    k in 0..16 unless fixed."""
    letters = draw(sequences(alphabet, seq_len, seq_len, no_adjacent_repeats=True))
    if k is None:
        k = draw(st.integers(PAPER_MIN_HOPS, PAPER_MAX_HOPS))
    return make_paper_sample(letters, k, alphabet)


@st.composite
def layered_instances(draw, max_q: int = 6, max_k: int = 6, min_q: int = 1, min_k: int = 1) -> LayeredInstance:
    """(q, k)-layered pointer chasing (P2 Def. E.2) in the labelling of Prop. E.4: random perfect
    matchings between consecutive layers and a random half of the last layer as V^1_{k+1} (one
    vertex when q = 1, as ``random_layered_instance`` does)."""
    q = draw(st.integers(min_q, max_q))
    k = draw(st.integers(min_k, max_k))
    shell = LayeredInstance(q, k, (), frozenset())
    matchings = []
    for j in range(1, k + 1):
        image = draw(st.permutations(shell.layer(j + 1)))
        matchings.append(dict(zip(shell.layer(j), image)))
    last = draw(st.permutations(shell.layer(k + 1)))
    half = frozenset(last[: q // 2 if q > 1 else 1])
    return LayeredInstance(q, k, tuple(matchings), half)


__all__ = ["HopInstance", "hop_instances", "layered_instances", "paper_samples", "sequences"]
