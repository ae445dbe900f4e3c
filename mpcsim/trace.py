"""Accounting of an MPC run: per round and per machine, words held, sent and received (P2 Def. 2.3).

Per-machine numbers are stored sparsely (only machines with a nonzero entry), so a run with
q = 10^6 machines and many rounds stays small. Totals are exact: words, and bits = words · p.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import MPCConfig
from .errors import Violation


@dataclass(frozen=True, eq=False)
class RoundRecord:
    """Round ``round``: machine ids[j] held memory[j] words at its start, sent sent[j] and received
    received[j] words during it."""

    round: int
    machines: np.ndarray
    memory: np.ndarray
    sent: np.ndarray
    received: np.ndarray

    @staticmethod
    def from_dense(round: int, lo: int, memory: np.ndarray, sent: np.ndarray, received: np.ndarray) -> "RoundRecord":
        active = np.flatnonzero((memory != 0) | (sent != 0) | (received != 0))
        return RoundRecord(
            round,
            (active + lo).astype(np.int64),
            memory[active].astype(np.int64),
            sent[active].astype(np.int64),
            received[active].astype(np.int64),
        )

    @staticmethod
    def concat(round: int, parts: list["RoundRecord"]) -> "RoundRecord":
        return RoundRecord(
            round,
            *(np.concatenate([getattr(p, f) for p in parts]) if parts else np.zeros(0, np.int64)
              for f in ("machines", "memory", "sent", "received")),
        )

    @property
    def max_memory(self) -> int:
        return int(self.memory.max(initial=0))

    @property
    def max_sent(self) -> int:
        return int(self.sent.max(initial=0))

    @property
    def max_received(self) -> int:
        return int(self.received.max(initial=0))

    @property
    def words_sent(self) -> int:
        return int(self.sent.sum())

    @property
    def active_machines(self) -> int:
        return len(self.machines)

    def equals(self, other: "RoundRecord") -> bool:
        return self.round == other.round and all(
            np.array_equal(getattr(self, f), getattr(other, f)) for f in ("machines", "memory", "sent", "received")
        )


@dataclass(eq=False)
class Trace:
    """The full accounting of one run."""

    config: MPCConfig
    rounds: list[RoundRecord] = field(default_factory=list)
    final_memory_max: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def num_rounds(self) -> int:
        return len(self.rounds)

    @property
    def max_memory(self) -> int:
        return max([r.max_memory for r in self.rounds] + [self.final_memory_max])

    @property
    def max_sent(self) -> int:
        return max([r.max_sent for r in self.rounds], default=0)

    @property
    def max_received(self) -> int:
        return max([r.max_received for r in self.rounds], default=0)

    @property
    def total_words(self) -> int:
        """Words sent over the whole run (every word sent is received exactly once)."""
        return sum(r.words_sent for r in self.rounds)

    @property
    def total_bits(self) -> int:
        return self.total_words * self.config.word_bits

    @property
    def machines_used(self) -> int:
        used = np.zeros(self.config.q, dtype=bool)
        for r in self.rounds:
            used[r.machines] = True
        return int(used.sum())

    def within_limits(self) -> bool:
        s = self.config.s
        return not self.violations and self.max_memory <= s and self.max_sent <= s and self.max_received <= s

    def equals(self, other: "Trace") -> bool:
        return (
            self.config == other.config
            and self.num_rounds == other.num_rounds
            and all(a.equals(b) for a, b in zip(self.rounds, other.rounds))
            and self.final_memory_max == other.final_memory_max
            and self.violations == other.violations
        )

    def summary(self) -> dict:
        return {
            "rounds": self.num_rounds,
            "q": self.config.q,
            "s": self.config.s,
            "word_bits": self.config.word_bits,
            "machines_used": self.machines_used,
            "max_memory_words": self.max_memory,
            "max_sent_words": self.max_sent,
            "max_received_words": self.max_received,
            "total_words": self.total_words,
            "total_bits": self.total_bits,
            "violations": [v.describe() for v in self.violations],
        }
