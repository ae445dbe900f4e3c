"""Plain-Python reference definition of k-hop induction heads (THEORY.md c.1, c.2; P2 Def. 4.1).

This module is the oracle every implementation (MPC protocol, compiled transformer, RNN,
blackboard protocol) is tested against. It is written for clarity, not speed; ``find1_fast``
is a linear-time equivalent used by the generators and benchmarks.

Positions are 1-indexed as in the paper: ``find(i)`` ranges over ``0..n`` and 0 means "no match"
(absorbing). ``None`` stands for the undefined output ⊥.
"""
from __future__ import annotations

from typing import Hashable, Sequence

BOTTOM = None  # the undefined output ⊥


def find1(x: Sequence[Hashable], i: int) -> int:
    """find¹_X(i) = max({0} ∪ {j ≤ i : X_{j−1} = X_i}), with 1-indexed i and find¹(0) = 0."""
    if i == 0:
        return 0
    target = x[i - 1]
    for j in range(i, 1, -1):  # j ranges over 2..i; X_{j-1} is x[j-2]
        if x[j - 2] == target:
            return j
    return 0


def find_k(x: Sequence[Hashable], i: int, k: int) -> int:
    """find^k_X(i): k-fold composition of find¹, with 0 absorbing; find⁰ is the identity."""
    for _ in range(k):
        if i == 0:
            return 0
        nxt = find1(x, i)
        if nxt == i:  # a fixed point (X_{i-1} = X_i): every further hop stays here
            return i
        i = nxt
    return i


def hop(x: Sequence[Hashable], k: int) -> list:
    """hop_k(X): for each 1-indexed position i, X_{find^k(i)} or ⊥ (None) when find^k(i) = 0."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    out = []
    for i in range(1, len(x) + 1):
        j = find_k(x, i, k)
        out.append(BOTTOM if j == 0 else x[j - 1])
    return out


def find1_fast(x: Sequence[Hashable]) -> list[int]:
    """All of find¹(1..n) in one left-to-right pass (same definition as ``find1``).

    Returns a list f of length n + 1 with f[0] = 0 and f[i] = find¹(i)."""
    n = len(x)
    f = [0] * (n + 1)
    last_after: dict = {}  # token t -> largest j seen so far with X_{j-1} = t
    for i in range(1, n + 1):
        if i >= 2:
            last_after[x[i - 2]] = i  # j = i is allowed (j <= i), so record before querying
        f[i] = last_after.get(x[i - 1], 0)
    return f


def hop_fast(x: Sequence[Hashable], k: int) -> list:
    """hop_k(X) via ``find1_fast``; equal to ``hop`` on every input."""
    f = find1_fast(x)
    out = []
    for i in range(1, len(x) + 1):
        j = i
        for _ in range(k):
            if f[j] == j:  # 0, or a fixed point: further hops change nothing
                break
            j = f[j]
        out.append(BOTTOM if j == 0 else x[j - 1])
    return out
