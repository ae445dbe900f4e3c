"""Token programs: k-hop induction heads (P2 Thm 4.2) and tracr's library (length, reverse,
histogram, frac_prevs, sort with unique keys), each beside its plain-Python definition.

The plain definitions are the oracles the tests compare against; they do not use the IR.
"""
from __future__ import annotations

from typing import Hashable, Sequence

from .ir import (
    Aggregate,
    Comparison,
    Expr,
    Indices,
    LastOccurrence,
    Linear,
    LookUp,
    Map,
    Program,
    Select,
    SelectorWidth,
    Shift,
    Tokens,
)


# ---------------------------------------------------------------------------------------------
# k-hop induction heads
# ---------------------------------------------------------------------------------------------
def hop_schedule(k: int) -> tuple[int, int, tuple[int, ...]]:
    """(r0, T, c): k = r0 + Σ_t c_t·2^(t−1) with T = ⌈log2 k⌉ doubling steps; r0 = 1 iff k is a
    power of two (then every c_t = 1), else r0 = 0 and c is k's binary expansion."""
    if k < 1:
        raise ValueError(f"hop_schedule needs k >= 1, got {k}")
    steps = (k - 1).bit_length()
    r0 = 1 if k & (k - 1) == 0 else 0
    rest = k - r0
    return r0, steps, tuple((rest >> (t - 1)) & 1 for t in range(1, steps + 1))


def hop_program(k: int, vocab: Sequence[Hashable]) -> Program:
    """hop_k (P2 Def. 4.1) as a causal token program with one head per layer and depth
    ``mpcsim.bounds.hop_transformer_depth(k)`` (P2 Thm 4.2's construction, Lemmas D.1, D.2):

    * layer 1: prev_token = X_{i−1} (lookUp at τ(i) = i − 1);
    * layer 2: find1 = find¹(i), x_find1 = X_{find¹(i)} (lastOccurrence with μ1 = X_{i−1},
      μ2 = X_i; i′ = i allowed, so adjacent repeats are handled);
    * T = ⌈log2 k⌉ further layers read at j = F(i) the registers (F, X_F, P, X_P):
      F ← F(j) (pointer doubling), and P ← P(j), X_P ← X_P(j) when c_t = 1, where P starts at
      find¹ if k is a power of two, else at the identity (compositions of find commute).

    The output is X_{find^k(i)}, ⊥ (None) when some intermediate find is 0."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    tokens = Tokens(tuple(vocab))
    if k == 0:
        return Program(tokens, causal=True, name="hop_0")
    idx = Indices()
    prev = LookUp(Shift(idx, -1, label="prev_pos"), tokens, label="prev_token")
    find = LastOccurrence(prev, tokens, idx, label="find1")
    x_find = LastOccurrence(prev, tokens, tokens, label="x_find1")
    r0, steps, bits = hop_schedule(k)
    f, xf, a = find, x_find, 1                # F = find^(2^(t−1)), its token
    p, xp, acc = (find, x_find, 1) if r0 else (idx, tokens, 0)  # P = find^acc, its token
    for t in range(1, steps + 1):
        if bits[t - 1]:
            if acc == 0:  # P is the identity: P(F(i)) = F(i), no lookup needed
                p, xp = f, xf
            else:
                p = LookUp(f, p, label=f"find{acc + a}")
                xp = LookUp(f, xp, label=f"x_find{acc + a}")
            acc += a
        if t < steps:
            f, xf = LookUp(f, f, label=f"find{2 * a}"), LookUp(f, xf, label=f"x_find{2 * a}")
            a *= 2
    assert acc == k, (k, acc)
    return Program(xp, causal=True, name=f"hop_{k}")


def induction_head_program(vocab: Sequence[Hashable]) -> Program:
    """The induction head = hop_1 (THEORY.md c.1)."""
    return hop_program(1, vocab)


# ---------------------------------------------------------------------------------------------
# tracr's library (lib.py), in this IR; positions are 1-indexed (the start token is 0)
# ---------------------------------------------------------------------------------------------
def length_expr(tokens: Expr) -> Expr:
    """tracr make_length: the width of the all-true selector."""
    return SelectorWidth(Select(tokens, tokens, Comparison.TRUE), label="length")


def length_program(vocab: Sequence[Hashable]) -> Program:
    return Program(length_expr(Tokens(tuple(vocab))), causal=False, name="length")


def reverse_program(vocab: Sequence[Hashable]) -> Program:
    """tracr make_reverse: opp = length − i + 1; read the token at opp (quadratic EQ form)."""
    tokens = Tokens(tuple(vocab))
    opp = Linear(((length_expr(tokens), 1), (Indices(), -1)), 1, label="opp_index")
    return Program(Aggregate(Select(Indices(), opp, Comparison.EQ), tokens, label="reverse"),
                   causal=False, name="reverse")


def histogram_program(vocab: Sequence[Hashable]) -> Program:
    """tracr make_hist: how many positions hold the same token."""
    tokens = Tokens(tuple(vocab))
    return Program(SelectorWidth(Select(tokens, tokens, Comparison.EQ), label="histogram"),
                   causal=False, name="histogram")


def frac_prevs_program(vocab: Sequence[Hashable], target: Hashable) -> Program:
    """tracr make_frac_prevs: the fraction of positions ≤ i holding ``target`` (a mean over the
    causal prefix)."""
    tokens = Tokens(tuple(vocab))
    hit = Map(lambda t: 1 if t == target else 0, tokens, numeric=True, label="is_target")
    return Program(Aggregate(Select(tokens, tokens, Comparison.TRUE), hit, label="frac_prevs"),
                   causal=True, name="frac_prevs")


def sort_unique_program(vocab: Sequence[Hashable]) -> Program:
    """tracr make_sort_unique(tokens, tokens): target_pos = #{keys smaller}; position i reads
    the token whose target_pos is i − 1. The keys (tokens) must be distinct."""
    tokens = Tokens(tuple(vocab))
    target = SelectorWidth(Select(tokens, tokens, Comparison.LT), label="target_pos")
    slot = Shift(Indices(), -1, label="slot")
    return Program(Aggregate(Select(target, slot, Comparison.EQ), tokens, label="sort"),
                   causal=False, name="sort_unique")


# ---- plain-Python definitions ----------------------------------------------------------------
def length_ref(xs: Sequence) -> list[int]:
    return [len(xs)] * len(xs)


def reverse_ref(xs: Sequence) -> list:
    return list(xs)[::-1]


def histogram_ref(xs: Sequence) -> list[int]:
    return [sum(1 for y in xs if y == x) for x in xs]


def frac_prevs_ref(xs: Sequence, target: Hashable) -> list[float]:
    out, hits = [], 0
    for i, x in enumerate(xs, start=1):
        hits += x == target
        out.append(hits / i)
    return out


def sort_unique_ref(xs: Sequence) -> list:
    if len(set(xs)) != len(xs):
        raise ValueError("sort_unique needs distinct keys")
    return sorted(xs)


LIBRARY = {
    "length": (length_program, length_ref),
    "reverse": (reverse_program, reverse_ref),
    "histogram": (histogram_program, histogram_ref),
    "sort_unique": (sort_unique_program, sort_unique_ref),
}

# Acceptance cases (tracr's practice): (name, program, input, expected output), written out by
# hand; every evaluator — reference, compiled model, MPC lowering — must reproduce them.
ACCEPTANCE_CASES = (
    ("hop_1 (THEORY c.2)", lambda: hop_program(1, "abcd"), list("abcadbcadb"), [None, None, None, "b", None, "c", "a", "d", "b", "c"]),
    ("hop_2 (THEORY c.2)", lambda: hop_program(2, "abcd"), list("abcadbcadb"), [None] * 6 + ["b", None, "c", "a"]),
    ("hop_3 (THEORY c.2)", lambda: hop_program(3, "abcd"), list("abcadbcadb"), [None] * 9 + ["b"]),
    ("hop_2 adjacent repeat", lambda: hop_program(2, "ab"), list("abba"), [None, None, "b", None]),
    ("length", lambda: length_program("abc"), list("abcab"), [5, 5, 5, 5, 5]),
    ("reverse", lambda: reverse_program("abc"), list("abcc"), list("ccba")),
    ("histogram", lambda: histogram_program("abc"), list("abaca"), [3, 1, 3, 1, 3]),
    ("sort_unique", lambda: sort_unique_program(range(10)), [7, 2, 9, 0], [0, 2, 7, 9]),
    ("frac_prevs", lambda: frac_prevs_program("ab", "a"), list("abba"), [1.0, 0.5, 1 / 3, 0.5]),
)
