"""Theorems and lower bounds as functions of their parameters, with citations, and the
``BoundCheck`` record reports put next to each measured number (ARCHITECTURE: bounds registry)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BoundCheck:
    """One line of a report: ``measured`` against ``bound`` under ``relation`` (<=, ==, >=)."""

    name: str
    measured: float
    bound: float
    relation: str = "<="
    citation: str = ""

    @property
    def holds(self) -> bool:
        if self.relation == "<=":
            return self.measured <= self.bound
        if self.relation == ">=":
            return self.measured >= self.bound
        if self.relation == "==":
            return self.measured == self.bound
        if self.relation == "<":
            return self.measured < self.bound
        raise ValueError(f"unknown relation {self.relation!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["holds"] = self.holds
        return d


def mpc_limits(trace) -> list[BoundCheck]:
    """P2 Def. 2.3: every machine holds, sends and receives at most s words in every round."""
    s = trace.config.s
    return [
        BoundCheck("max memory per machine (words)", trace.max_memory, s, "<=", "P2 Def. 2.3"),
        BoundCheck("max sent per machine per round (words)", trace.max_sent, s, "<=", "P2 Def. 2.3"),
        BoundCheck("max received per machine per round (words)", trace.max_received, s, "<=", "P2 Def. 2.3"),
    ]


def hop_transformer_depth(k: int) -> int:
    """Depth of the pointer-doubling hop_k transformer that mpcsim compiles: 0 for k = 0 (hop_0 is
    the identity: embedding and readout only), 2 for k = 1, ⌈log2 k⌉ + 2 for k ≥ 2. Equals P2 Thm 4.2's ⌊log2 k⌋ + 2 when k is a power of two;
    see docs/architecture.md ("hop_k depth") for why ⌊log2 k⌋ + 2 is out of reach of one-head
    pointer-doubling lookups when k is not."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if k == 0:
        return 0
    return (k - 1).bit_length() + 2


def hop_theorem_depth(k: int) -> int:
    """P2 Thm 4.2 as stated in v1: L = ⌊log2 k⌋ + 2 (k ≥ 1)."""
    if k < 1:
        raise ValueError(f"P2 Thm 4.2 is stated for k >= 1, got {k}")
    return k.bit_length() + 1
