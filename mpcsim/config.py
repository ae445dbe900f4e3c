"""The MPC model's parameters (P2 Def. 2.3; THEORY.md a.3)."""
from __future__ import annotations

import math
from dataclasses import dataclass


MAX_COUNT = 1 << 40  # machines and words per machine: keeps every count and q·s inside int64


@dataclass(frozen=True)
class MPCConfig:
    """Parameters of one MPC computation (P2 Def. 2.3).

    n: input size in words; q: number of machines; s: local memory of one machine in words
    (also the cap on words sent and received per round); word_bits: p, the bits in one word,
    so every word is an integer in [0, 2**word_bits).
    """

    n: int
    q: int
    s: int
    word_bits: int

    def __post_init__(self) -> None:
        for name in ("n", "q", "s", "word_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"MPCConfig.{name} must be an int, got {type(value).__name__}")
        if self.n < 0:
            raise ValueError(f"MPCConfig.n must be >= 0, got {self.n}")
        if self.q < 1:
            raise ValueError(f"MPCConfig.q must be >= 1, got {self.q}")
        if self.s < 1:
            raise ValueError(f"MPCConfig.s must be >= 1, got {self.s}")
        if not 1 <= self.word_bits <= 62:
            raise ValueError(f"MPCConfig.word_bits must be in 1..62 (words are int64), got {self.word_bits}")
        for name in ("q", "s"):
            if getattr(self, name) > MAX_COUNT:
                raise ValueError(f"MPCConfig.{name} = {getattr(self, name)} is over the supported maximum 2^40")
        if self.n > self.q * self.s:
            raise ValueError(
                f"input of n={self.n} words does not fit in q={self.q} machines of s={self.s} words"
            )

    @property
    def word_limit(self) -> int:
        """Exclusive upper bound 2**p on a word's value."""
        return 1 << self.word_bits

    @property
    def input_machines(self) -> int:
        """⌈n/s⌉: the machines that hold the input at the start (P2 Def. 2.3)."""
        return max(1, -(-self.n // self.s))

    @property
    def global_memory(self) -> int:
        """q·s words in all."""
        return self.q * self.s


def memory_for_delta(n: int, delta: float, c: int = 1) -> int:
    """s = ⌈n^δ⌉·c words: the local memory of a (γ, δ)-MPC protocol (P2 Def. 2.3, δ convention of a.0)."""
    if not 0 < delta <= 1:
        raise ValueError(f"delta must be in (0, 1], got {delta}")
    if c < 1:
        raise ValueError(f"memory constant c must be >= 1, got {c}")
    return math.ceil(max(n, 1) ** delta) * c


def word_bits_for(max_value: int) -> int:
    """Smallest p with max_value < 2**p (at least 1): the word size that holds 0..max_value."""
    return max(1, int(max_value).bit_length())
