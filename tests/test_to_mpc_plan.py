"""The numbers of P2 Thm C.1's protocol: b = ⌊s/(4mH)⌋, D = ⌈log_b M⌉, q = M + M² + M·Σ_{d=1}^{D−1} b^d,
2D + 3 rounds per layer; the machine numbering; the refusal when s < 8mH (THEORY.md b.4, d.1)."""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings, strategies as st

from compilers.to_mpc.plan import MemoryTooSmall, ModelShape, Stage, TreePlan, min_delta
from mpcsim.config import memory_for_delta

# d_model = 2, H = 2, d_head = 1, d_out = 2, float32: m = max(2, 1 + 1, 2)·1 = 2 words, 4mH = 16
SHAPE = ModelShape(d_model=2, n_heads=2, d_head=1, d_out=2, n_layers=3, words_per_float=1)

# (s, M) → (b, D, q) worked out by hand from the formulas of P2 Thm C.1's proof
HAND_CASES = [
    (64, 16, 4, 2, 16 + 256 + 16 * 4),  # b = 64 // 16 = 4, 4² = 16 ≥ 16
    (64, 17, 4, 3, 17 + 289 + 17 * (4 + 16)),  # 17 > 16 needs a third level
    (47, 5, 2, 3, 5 + 25 + 5 * (2 + 4)),  # b = 2, 2³ = 8 ≥ 5 > 4
    (160, 10, 10, 1, 10 + 100),  # b = 10 ≥ M: leaves hang off the token machines (no tree nodes)
    (32, 1, 2, 1, 1 + 1),  # one token: D = 1 (⌈log_b 1⌉ = 0 would leave no round to reach a leaf)
]


@pytest.mark.parametrize("s, m_tokens, b, depth, q", HAND_CASES)
def test_hand_computed_plans(s, m_tokens, b, depth, q):
    plan = TreePlan.build(SHAPE, m_tokens, s)
    assert (plan.b, plan.depth, plan.q) == (b, depth, q)
    assert plan.rounds_per_layer == 2 * depth + 3
    assert plan.total_rounds == 3 * (2 * depth + 3)


def test_m_counts_every_vector_a_message_carries():
    # float64 doubles the words; d_head + 1 (log Z and S) or d_out can be the widest vector
    assert ModelShape(8, 2, 4, 8, 1, 2).m_words == 16
    assert ModelShape(8, 1, 12, 8, 1, 1).m_words == 13
    assert ModelShape(8, 1, 4, 30, 1, 1).m_words == 30


@settings(max_examples=60)
@given(s=st.integers(1, 5000), m_tokens=st.integers(1, 3000), d_model=st.integers(1, 6), heads=st.integers(1, 4),
       d_head=st.integers(1, 6), w=st.sampled_from([1, 2]))
def test_b_and_d_satisfy_their_definitions(s, m_tokens, d_model, heads, d_head, w):
    shape = ModelShape(d_model, heads, d_head, d_model, 1, w)
    m = max(d_model, d_head + 1) * w
    b = s // (4 * m * heads)
    if b < 2:
        with pytest.raises(MemoryTooSmall, match="8mH"):
            TreePlan.build(shape, m_tokens, s)
        return
    plan = TreePlan.build(shape, m_tokens, s)
    assert plan.b == b
    assert b ** plan.depth >= m_tokens  # D = ⌈log_b M⌉: the least D with b^D ≥ M ...
    assert plan.depth == 1 or b ** (plan.depth - 1) < m_tokens  # ... (and D ≥ 1)
    assert plan.q == m_tokens + m_tokens**2 + m_tokens * sum(b**d for d in range(1, plan.depth))


@settings(max_examples=25)
@given(b_s=st.integers(2, 4), m_tokens=st.integers(1, 20))
def test_numbering_is_a_bijection_onto_0_to_q(b_s, m_tokens):
    plan = TreePlan.build(SHAPE, m_tokens, 16 * b_s)
    ids = list(range(m_tokens))
    ids += [int(plan.leaf_id(i, j)) for i, j in itertools.product(range(m_tokens), repeat=2)]
    for i in range(m_tokens):
        for d in range(1, plan.depth):
            for k in range(plan.b**d):
                node = int(plan.tree_id(i, d, k))
                ids.append(node)
                assert tuple(int(x[0]) for x in plan.tree_node([node])) == (i, d, k)
    assert sorted(ids) == list(range(plan.q))
    pairs = list(itertools.product(range(m_tokens), repeat=2))
    rows, cols = plan.leaf_pair(plan.leaf_id([i for i, _ in pairs], [j for _, j in pairs]))
    assert list(zip(rows.tolist(), cols.tolist())) == pairs


@settings(max_examples=25)
@given(b_s=st.integers(2, 5), m_tokens=st.integers(1, 40))
def test_children_cover_exactly_the_leaves(b_s, m_tokens):
    """Walking the tree from the root reaches every leaf index 0..M−1 exactly once."""
    import numpy as np

    plan = TreePlan.build(SHAPE, m_tokens, 16 * b_s)
    level = np.zeros(1, dtype=np.int64)
    for d in range(plan.depth):
        rows, child = plan.children(d, level)
        assert np.all(child // plan.b == level[rows])  # each child's parent is ⌊k/b⌋
        level = child
    assert level.tolist() == list(range(m_tokens))


def test_round_schedule_of_one_layer():
    plan = TreePlan.build(SHAPE, 17, 64)  # D = 3: 9 rounds per layer
    stages = [(plan.phase(r).stage, plan.phase(r).depth) for r in range(1, 10)]
    assert stages == [
        (Stage.SCATTER, 0), (Stage.TOKEN_QKV, 0), (Stage.DOWN, 1), (Stage.DOWN, 2), (Stage.LEAF, 3),
        (Stage.UP, 2), (Stage.UP, 1), (Stage.FINISH, 0), (Stage.COMPRESS, 0),
    ]
    assert plan.phase(10).layer == 1 and plan.phase(10).stage is Stage.SCATTER
    with pytest.raises(ValueError, match="outside"):
        plan.phase(plan.total_rounds + 1)


def test_refusal_names_a_delta_that_works():
    shape = ModelShape(16, 2, 8, 16, 2, 2)  # m = 32 words, 8mH = 512
    with pytest.raises(MemoryTooSmall) as info:
        TreePlan.for_delta(shape, 4096, 0.5, 1)  # s = 64
    assert "--delta 0.75" in str(info.value)  # 4096^0.75 = 512 exactly
    TreePlan.for_delta(shape, 4096, 0.75, 1)
    with pytest.raises(MemoryTooSmall, match="--c 8"):
        TreePlan.for_delta(shape, 64, 1.0, 1)  # s = 64 even at δ′ = 1: needs c ≥ 512/64


@settings(max_examples=60)
@given(n=st.integers(2, 10**6), c=st.integers(1, 50), d_model=st.integers(1, 32), heads=st.integers(1, 8))
def test_min_delta_is_the_least_working_delta(n, c, d_model, heads):
    shape = ModelShape(d_model, heads, d_model, d_model, 1, 2)
    need = 8 * shape.m_words * heads
    delta = min_delta(shape, n, c)
    if delta is None:
        assert n * c < need
        return
    assert memory_for_delta(n, delta, c) >= need
    TreePlan.for_delta(shape, n, delta, c)
    below = round(delta - 0.001, 3)
    assert below <= 0 or math.ceil(n**below) * c < need
