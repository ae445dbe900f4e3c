"""The hop_k oracle (protocols.hop_reference) against THEORY.md's worked tables (c.1, c.2, c.3) and
against a second, literal transcription of P2 Def. 4.1 written here."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcsim.testing import hop_instances, layered_instances, sequences
from protocols.hop_reference import find1, find1_fast, find_k, hop, hop_fast
from protocols.pointer_chasing import LayeredInstance, encode_as_hop

# ---- THEORY.md tables (⊥ written "-") -------------------------------------------------------------
C1_X = "baebcabebdea"
C1_FIND1 = [0, 0, 0, 2, 0, 3, 5, 4, 8, 0, 9, 7]
C1_HOPS = {
    1: "---a-ecbe-bb",
    2: "-------ab-ec",
    3: "--------a-b-",
    4: "----------a-",
}
C2_X = "abcadbcadb"
C2_HOPS = {0: "abcadbcadb", 1: "---b-cadbc", 2: "------b-ca", 3: "---------b", 4: "----------"}


def _row(s: str) -> list[str | None]:
    return [None if ch == "-" else ch for ch in s]


def _literal_hop(x, k):
    """P2 Def. 4.1 word for word: find¹(i) = max({0} ∪ {j ≤ i : X_{j−1} = X_i}), 0 absorbing."""
    n = len(x)

    def f1(i):
        return max([0] + [j for j in range(2, i + 1) if x[j - 2] == x[i - 1]]) if i else 0

    out = []
    for i in range(1, n + 1):
        j = i
        for _ in range(k):
            j = f1(j)
        out.append(x[j - 1] if j else None)
    return out


def test_c1_find1_row():
    assert [find1(C1_X, i) for i in range(1, 13)] == C1_FIND1
    assert find1_fast(C1_X) == [0] + C1_FIND1


@pytest.mark.parametrize("k", sorted(C1_HOPS))
def test_c1_hop_rows(k):
    assert hop(C1_X, k) == _row(C1_HOPS[k]) == hop_fast(C1_X, k)


def test_c1_paper_sentence():
    """"Standard IH predicts b for the final token; the 2-hop task predicts c." (P2 §4)"""
    assert hop(C1_X, 1)[-1] == "b" and hop(C1_X, 2)[-1] == "c"


@pytest.mark.parametrize("k", sorted(C2_HOPS))
def test_c2_small_example(k):
    assert hop(C2_X, k) == _row(C2_HOPS[k])


def test_adjacent_repeat_is_most_recent_occurrence():
    assert hop("aab", 1) == [None, "a", None]


def test_fixed_point_when_previous_token_repeats():
    """X_{i−1} = X_i makes find¹(i) = i, so hop_k(X)_i = X_i for every k (THEORY.md c.2)."""
    x = "abb"
    assert find1(x, 3) == 3
    assert all(hop(x, k)[2] == "b" for k in range(0, 12))


def test_c3_pointer_chasing_example():
    """q = 2, k = 3 instance of THEORY.md c.3: X = 1 6 2 5 | 3 2 4 1 | 1 4 2 3 | 1, hop_3(X)_13 = 6."""
    inst = LayeredInstance(2, 3, ({1: 4, 2: 3}, {3: 2, 4: 1}, {1: 2, 2: 1}), frozenset({1}))
    x = encode_as_hop(inst)
    assert x == [1, 6, 2, 5, 3, 2, 4, 1, 1, 4, 2, 3, 1]
    assert inst.path() == [1, 4, 1, 2] and not inst.answer()
    assert hop(x, 3)[-1] == 6


def test_negative_k_rejected():
    with pytest.raises(ValueError):
        hop("ab", -1)


@settings(max_examples=60)
@given(hop_instances(max_n=25, max_k=12))
def test_reference_matches_literal_definition(inst):
    assert hop(inst.tokens, inst.k) == _literal_hop(inst.tokens, inst.k) == hop_fast(inst.tokens, inst.k)


@settings(max_examples=60)
@given(sequences(max_size=40))
def test_find1_is_injective_on_nonzero(x):
    """find¹(i₁) = find¹(i₂) = j ≠ 0 forces i₁ = i₂ (the fact the direct MPC lookup relies on)."""
    f = [v for v in find1_fast(x)[1:] if v]
    assert len(f) == len(set(f))


@settings(max_examples=60)
@given(sequences(max_size=40), st.integers(0, 10))
def test_definedness_is_monotone_in_k(x, k):
    """hop_{k+1}(X)_i ≠ ⊥ implies hop_k(X)_i ≠ ⊥; once a find is 0 it stays 0."""
    a, b = hop(x, k), hop(x, k + 1)
    assert all(u is not None for u, v in zip(a, b) if v is not None)
    assert all(find_k(x, i, k + 1) == 0 for i in range(1, len(x) + 1) if find_k(x, i, k) == 0)


@settings(max_examples=40)
@given(sequences(min_size=1, max_size=40, no_adjacent_repeats=True))
def test_no_adjacent_repeats_means_chains_strictly_decrease(x):
    f = find1_fast(x)
    assert all(f[i] < i for i in range(1, len(x) + 1))
    assert all(v is None for v in hop(x, len(x)))  # every chain reaches 0 within i steps


@settings(max_examples=40)
@given(layered_instances(max_q=5, max_k=5))
def test_pointer_chasing_encoding(inst):
    """P2 Prop. E.4: hop_k(X)_N = 2q+1 iff the chase ends in V^1_{k+1}, N = 2kq + 1."""
    x = encode_as_hop(inst)
    assert len(x) == 2 * inst.k * inst.q + 1
    assert hop(x, inst.k)[-1] == (2 * inst.q + 1 if inst.answer() else 2 * inst.q + 2)
