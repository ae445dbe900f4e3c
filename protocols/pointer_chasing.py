"""Pointer-chasing instances and their plain-Python reference answers (THEORY.md a.9, b.8, c.3).

* Two-party k-step pointer chasing: Alice holds f_A, Bob holds f_B (functions [n] → [n],
  1-indexed, given as tuples with f[v-1] = image of v); from p_0 apply f_A, f_B alternately.
* Multi-party (q, k)-layered pointer chasing (P2 Def. E.2): k perfect matchings E_1..E_k between
  vertex layers of size q; does the path from v end in the first half V^1_{k+1}?
* The P2 Prop. E.4 encoding of a layered instance into a hop_k sequence of length N = 2kq + 1
  over the alphabet [2q + 2].
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence


def chase_two_party(f_a: Sequence[int], f_b: Sequence[int], k: int, start: int = 1, first: str = "alice") -> list[int]:
    """The pointers p_0..p_k: p_0 = start, then f_A and f_B alternately, starting with ``first``'s function."""
    if first not in ("alice", "bob"):
        raise ValueError(f"first must be 'alice' or 'bob', got {first!r}")
    funcs = (f_a, f_b) if first == "alice" else (f_b, f_a)
    path = [start]
    for step in range(k):
        path.append(funcs[step % 2][path[-1] - 1])
    return path


@dataclass(frozen=True)
class LayeredInstance:
    """(q, k)-layered pointer chasing (P2 Def. E.2) in the labelling of Prop. E.4.

    Layer V_j is {1..q} for odd j and {q+1..2q} for even j. ``matchings[j-1]`` is E_j as a dict
    from V_j to V_{j+1} (a bijection). The last layer V_{k+1} is split into ``first_half``
    (V^1_{k+1}) and the rest. The start vertex is ``start`` ∈ V_1."""

    q: int
    k: int
    matchings: tuple[dict, ...]
    first_half: frozenset
    start: int = 1

    def layer(self, j: int) -> list[int]:
        """The vertices of V_j (1-indexed layers)."""
        return list(range(1, self.q + 1)) if j % 2 == 1 else list(range(self.q + 1, 2 * self.q + 1))

    def path(self) -> list[int]:
        """v_1 = start, v_{j+1} = E_j(v_j), for j = 1..k."""
        path = [self.start]
        for e in self.matchings:
            path.append(e[path[-1]])
        return path

    def answer(self) -> bool:
        """True iff the path ends in V^1_{k+1}."""
        return self.path()[-1] in self.first_half


def random_layered_instance(q: int, k: int, rng: random.Random, start: int = 1) -> LayeredInstance:
    """Uniformly random matchings, and a uniformly random half of V_{k+1} as V^1_{k+1}."""
    if q < 1 or k < 1:
        raise ValueError(f"need q >= 1 and k >= 1, got q={q}, k={k}")
    matchings = []
    inst = LayeredInstance(q, k, (), frozenset(), start)
    for j in range(1, k + 1):
        src, dst = inst.layer(j), inst.layer(j + 1)
        img = dst[:]
        rng.shuffle(img)
        matchings.append(dict(zip(src, img)))
    last = inst.layer(k + 1)
    half = frozenset(rng.sample(last, q // 2 if q > 1 else 1))
    return LayeredInstance(q, k, tuple(matchings), half, start)


def encode_as_hop(inst: LayeredInstance) -> list[int]:
    """P2 Prop. E.4: the sequence X (length 2kq + 1, alphabet [2q + 2]) with
    hop_k(X)_N = 2q+1 iff the path ends in V^1_{k+1}, else 2q+2.

    Blocks in sequence order are P_k's, ..., P_1's; block j lists a_t, E_j(a_t) for a_t ∈ V_j in
    increasing order, except that P_k's images are replaced by 2q+1 (in V^1) or 2q+2; then X_N = start."""
    q, k = inst.q, inst.k
    seq: list[int] = []
    for j in range(k, 0, -1):
        for a in inst.layer(j):
            image = inst.matchings[j - 1][a]
            if j == k:
                image = 2 * q + 1 if image in inst.first_half else 2 * q + 2
            seq += [a, image]
    seq.append(inst.start)
    return seq


def player_blocks(inst: LayeredInstance) -> list[tuple[int, int]]:
    """Prop. E.4's split of the encoded sequence: for players P_1..P_k, the 0-indexed half-open
    ranges of the sequence each holds (P_j holds block j; P_1 also holds the final token)."""
    q, k = inst.q, inst.k
    n = 2 * k * q + 1
    blocks = []
    for j in range(1, k + 1):
        lo = 2 * (k - j) * q
        hi = n if j == 1 else lo + 2 * q
        blocks.append((lo, hi))
    return blocks
