"""hop_k MPC protocols (protocols.hop_mpc) against the plain-Python oracle and THEORY.md's tables,
with the exact round formula, the MPC limits (P2 Def. 2.3) and sharding invariance."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcsim import Simulator
from mpcsim.backends import InProcessBackend
from mpcsim.bounds import hop_transformer_depth
from mpcsim.errors import MPCViolationError, ProtocolError
from mpcsim.testing import hop_instances, layered_instances
from protocols.generators import random_sequence, stdlib_text, text_tokens
from protocols.hop_mpc import (
    HopPlan, HopProtocol, NaiveHopProtocol, hop_rounds, naive_hop_rounds, run_hop,
)
from protocols.hop_reference import hop, hop_fast
from protocols.mpc_blocks import PlanError
from protocols.pointer_chasing import LayeredInstance, encode_as_hop

LOOKUPS = ["direct", "sort"]
VARIANTS = [(naive, lookup) for naive in (False, True) for lookup in LOOKUPS]


def _ids(text: str) -> tuple[list[int], int]:
    alphabet = sorted(set(text))
    return [alphabet.index(c) for c in text], len(alphabet)


def _letters(out, text):
    alphabet = sorted(set(text))
    return "".join("-" if v is None else alphabet[v] for v in out)


def _check_run(result, protocol, n, k, naive, lookup):
    """Rounds equal the formula, every machine stays within s, the answer sits in the first ⌈n/s⌉
    machines in order."""
    cfg = protocol.config
    formula = (naive_hop_rounds if naive else hop_rounds)(n, k, cfg.s, cfg.q, lookup)
    assert result.trace.num_rounds == formula == protocol.expected_rounds
    tr = result.trace
    assert tr.within_limits() and max(tr.max_memory, tr.max_sent, tr.max_received) <= cfg.s
    per_machine = np.bincount(result.output_machines, minlength=cfg.q)
    full, rest = divmod(n, cfg.s)
    assert per_machine.tolist() == [cfg.s] * full + ([rest] if rest else []) + [0] * (cfg.q - full - (rest > 0))


# ---- THEORY.md tables ------------------------------------------------------------------------------
C1 = "baebcabebdea"
C1_ROWS = {0: C1, 1: "---a-ecbe-bb", 2: "-------ab-ec", 3: "--------a-b-", 4: "----------a-", 5: "-" * 12}
C2 = "abcadbcadb"
C2_ROWS = {0: C2, 1: "---b-cadbc", 2: "------b-ca", 3: "---------b", 4: "-" * 10}


@pytest.mark.parametrize("naive, lookup", VARIANTS)
@pytest.mark.parametrize("text, rows", [(C1, C1_ROWS), (C2, C2_ROWS)], ids=["c1", "c2"])
def test_theory_tables(text, rows, naive, lookup):
    x, a = _ids(text)
    for k, row in rows.items():
        out, res, proto = run_hop(x, k, alphabet_size=a, naive=naive, lookup=lookup)
        assert _letters(out, text) == row, k
        _check_run(res, proto, len(x), k, naive, lookup)


class _Find1Output(NaiveHopProtocol):
    """Outputs the find¹ column of the state (positions 0..n) instead of the tokens it points to."""

    def _answer(self, state):
        return state[:, self._F]

    def decode_output(self, words):
        return np.asarray(words).tolist()


@pytest.mark.parametrize("shards", [1, 3])
def test_c1_find1_row_through_the_protocol(shards):
    """The find¹ row of THEORY.md c.1 as computed by the MPC sort (k = 1: find¹ and output only)."""
    x, a = _ids(C1)
    proto = _Find1Output(len(x), a, 1)
    assert proto.plan.owners >= 3  # the smallest memory spreads 12 positions over several owners
    res = Simulator(InProcessBackend(num_shards=shards)).run(proto, x)
    assert res.output == [0, 0, 0, 2, 0, 3, 5, 4, 8, 0, 9, 7]


@pytest.mark.parametrize("naive, lookup", VARIANTS)
def test_adjacent_repeat_and_fixed_point(naive, lookup):
    assert run_hop([0, 0, 1], 1, naive=naive, lookup=lookup)[0] == [None, 0, None]  # "aab"
    # "abb": find¹(3) = 3, so hop_k(X)_3 = b for every k
    for k in (1, 2, 3, 7, 8, 9):
        assert run_hop([0, 1, 1], k, naive=naive, lookup=lookup)[0] == [None, None, 1]


C3 = LayeredInstance(2, 3, ({1: 4, 2: 3}, {3: 2, 4: 1}, {1: 2, 2: 1}), frozenset({1}))


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_c3_pointer_chasing_example(lookup):
    """THEORY.md c.3: X = 1 6 2 5 | 3 2 4 1 | 1 4 2 3 | 1 and hop_3(X)_13 = 6 = 2q + 2."""
    x = encode_as_hop(C3)
    out, res, proto = run_hop(x, 3, alphabet_size=2 * C3.q + 3, lookup=lookup)
    assert out[-1] == 6
    assert out == hop(x, 3)


@settings(max_examples=25)
@given(layered_instances(max_q=5, max_k=6), st.sampled_from(LOOKUPS))
def test_layered_pointer_chasing_through_the_protocol(inst, lookup):
    x = encode_as_hop(inst)
    out = run_hop(x, inst.k, alphabet_size=2 * inst.q + 3, lookup=lookup)[0]
    assert out[-1] == (2 * inst.q + 1 if inst.answer() else 2 * inst.q + 2)


# ---- random instances: oracle, rounds, limits, sharding ----------------------------------------------
@st.composite
def _memory(draw, n: int, protocol_cls, lookup: str):
    """Local memory s = ⌈n^δ⌉·c for a drawn δ, with c the smallest (plus a drawn extra) that fits."""
    delta = draw(st.sampled_from([0.5, 0.75, 0.9, 1.0]))
    need = HopPlan.min_memory(n, protocol_cls.STATE_WIDTH, 2, lookup)[0]
    base = math.ceil(max(n, 1) ** delta)
    c = -(-need // base) + draw(st.integers(0, 2))
    return delta, c


@settings(max_examples=40)
@given(hop_instances(max_n=40, max_k=40), st.booleans(), st.sampled_from(LOOKUPS), st.data())
def test_random_instances_match_the_oracle(inst, naive, lookup, data):
    cls = NaiveHopProtocol if naive else HopProtocol
    delta, c = data.draw(_memory(len(inst.tokens), cls, lookup))
    proto = cls(len(inst.tokens), inst.alphabet_size, inst.k, delta=delta, c=c, lookup=lookup)
    assert proto.config.s == math.ceil(len(inst.tokens) ** delta) * c
    shards = data.draw(st.integers(2, 5))
    res = Simulator(InProcessBackend(num_shards=shards)).run(proto, inst.tokens)
    assert res.output == inst.expected()
    _check_run(res, proto, len(inst.tokens), inst.k, naive, lookup)
    one = Simulator(InProcessBackend(num_shards=1)).run(proto, inst.tokens)
    assert one.output == res.output and one.trace.equals(res.trace)


@settings(max_examples=15)
@given(st.integers(50, 400), st.integers(1, 6), st.integers(0, 40), st.integers(0, 2**31), st.sampled_from(LOOKUPS))
def test_medium_instances_with_many_owners(n, alphabet, k, seed, lookup):
    x = random_sequence(n, alphabet, seed)
    out, res, proto = run_hop(x, k, alphabet_size=alphabet, lookup=lookup)
    assert out == hop_fast(x, k)
    _check_run(res, proto, n, k, False, lookup)
    assert proto.plan is None or proto.plan.owners >= 2


def test_n_100000_k_5_within_s():
    x = random_sequence(100_000, 4, 2024)
    out, res, proto = run_hop(x, 5, alphabet_size=4)
    assert res.trace.num_rounds == hop_rounds(100_000, 5, proto.config.s, proto.config.q) == 10
    assert res.trace.within_limits()
    assert out == hop_fast(x, 5)


# ---- the round formula ------------------------------------------------------------------------------
def test_round_formula_numbers():
    """7 + ⌈log2 k⌉ (direct) and 7 + 4⌈log2 k⌉ (sort); the naive protocol 7 + L(k − 1)."""
    s = max(HopPlan.min_memory(1000, w, 2, lk)[0] for w in (2, 4) for lk in LOOKUPS)
    assert [hop_rounds(1000, k, s, 1) for k in (0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 1024)] == \
        [0, 7, 8, 9, 9, 10, 10, 11, 11, 12, 17]
    assert [hop_rounds(1000, k, s, 1, "sort") for k in (1, 2, 3, 8, 16, 1024)] == [7, 11, 15, 19, 23, 47]
    assert [naive_hop_rounds(1000, k, s, 1) for k in (0, 1, 2, 8)] == [0, 7, 8, 14]
    assert [naive_hop_rounds(1000, k, s, 1, "sort") for k in (1, 2, 8)] == [7, 11, 35]
    assert hop_rounds(0, 5, 1, 1) == 0


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 9, 16, 100, 1024])
def test_lookups_equal_the_transformer_depth_minus_two(k):
    """One round per pointer-doubling layer of the compiled transformer
    (bounds.hop_transformer_depth = ⌈log2 k⌉ + 2, of which layers 1–2 are find¹)."""
    assert hop_rounds(64, k, 10_000, 1) - 7 == hop_transformer_depth(k) - 2


def test_rounds_grow_logarithmically():
    x = random_sequence(3000, 3, 99)
    s = HopPlan.min_memory(3000, HopProtocol.STATE_WIDTH, 2, "direct")[0]
    r8 = run_hop(x, 8, alphabet_size=3, memory=s)[1].trace.num_rounds
    r1024 = run_hop(x, 1024, alphabet_size=3, memory=s)[1].trace.num_rounds
    assert (r8, r1024) == (10, 17) and r1024 <= 2 * r8
    # the naive protocol grows linearly: one round per hop
    assert naive_hop_rounds(3000, 1024, s, 1) - naive_hop_rounds(3000, 8, s, 1) == 1024 - 8


# ---- congestion ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("lookup", LOOKUPS)
@pytest.mark.parametrize("case", ["ab_then_b", "frequent_token", "stdlib_words"])
def test_congested_inputs_stay_within_s(case, lookup):
    if case == "ab_then_b":
        x, a = [0] + [1] * 3000, 2
    elif case == "frequent_token":  # token 0 is 90% of the text
        rng = np.random.default_rng(3)
        x = np.where(rng.random(4000) < 0.9, 0, rng.integers(1, 50, 4000)).tolist()
        a = 50
    else:
        ids, vocab = text_tokens(stdlib_text()[0], "words")
        x, a = ids[:6000], max(ids[:6000]) + 1
    out, res, proto = run_hop(x, 16, alphabet_size=a, lookup=lookup)
    assert out == hop_fast(x, 16)
    _check_run(res, proto, len(x), 16, False, lookup)


class _EveryoneReadsTheLast(NaiveHopProtocol):
    """Sorted lookups where every position reads position n (maximal congestion): afterwards every
    position holds the last position's find¹ data, so the output is hop_1(X)_n everywhere."""

    def _target(self, state):
        return np.full(len(state), self.n, dtype=np.int64)


class _EveryoneForwardsToTheLast(NaiveHopProtocol):
    """Direct lookups whose forwarded requests all go to position n."""

    def _chain(self, state):
        return np.full(len(state), self.n, dtype=np.int64)


def test_sorted_lookup_survives_maximal_congestion():
    x = random_sequence(2000, 5, 7)
    proto = _EveryoneReadsTheLast(2000, 5, 3, lookup="sort")
    res = Simulator().run(proto, x)
    assert res.output == [hop(x, 1)[-1]] * 2000
    assert res.trace.within_limits()


def test_direct_lookup_refuses_shared_targets():
    x = random_sequence(300, 5, 7)
    with pytest.raises((ProtocolError, MPCViolationError)):
        Simulator().run(_EveryoneForwardsToTheLast(300, 5, 3), x)
    small = _EveryoneForwardsToTheLast(6, 2, 3, memory=10_000)  # 0 1 0 1 0 1: every chain is alive
    with pytest.raises(ProtocolError, match=r"position 6 was requested \d times"):
        Simulator().run(small, [0, 1, 0, 1, 0, 1])


# ---- configuration --------------------------------------------------------------------------------------
def test_memory_too_small_names_the_limit():
    with pytest.raises(PlanError, match=r"s >= \d+ words, got s = 500.*largest round is '.+'.*δ >= 0\.\d+"):
        HopProtocol(10_000, 4, 5, memory=500)
    with pytest.raises(PlanError):
        hop_rounds(10_000, 5, 500, 30)


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_memory_scales_as_n_to_the_two_thirds(lookup):
    """The single-level sort needs W² ≲ s with W ∝ n/s owners, so s_min = Θ(n^{2/3}): the ratio
    s_min / n^{2/3} stays within constant bounds as n grows a thousandfold."""
    ratios = [HopPlan.min_memory(n, HopProtocol.STATE_WIDTH, 2, lookup)[0] / n ** (2 / 3)
              for n in (1_000, 10_000, 100_000, 1_000_000)]
    assert 4 < min(ratios) and max(ratios) < 16 and max(ratios) / min(ratios) < 1.5


def test_default_memory_is_the_smallest_that_fits():
    proto = HopProtocol(5000, 4, 6)
    need = HopPlan.min_memory(5000, HopProtocol.STATE_WIDTH, 2, "direct")[0]
    assert proto.config.s == need
    with pytest.raises(PlanError):
        HopProtocol(5000, 4, 6, memory=need - 1)


def test_word_size_is_logarithmic():
    """p holds positions 0..n (and 2n + 1 for sort samples) and tokens plus ⊥: Θ(log n) bits."""
    for n, a in [(10, 3), (1000, 4), (1000, 5000)]:
        proto = HopProtocol(n, a, 3)
        assert proto.config.word_bits == max((2 * n + 1).bit_length(), a.bit_length(), 4)


def test_bad_arguments():
    with pytest.raises(ValueError):
        HopProtocol(10, 0, 2)
    with pytest.raises(ValueError):
        HopProtocol(10, 3, -1)
    with pytest.raises(ValueError):
        HopProtocol(10, 3, 2, lookup="hash")
    with pytest.raises(ValueError):
        run_hop([0, 5], 1, alphabet_size=3)


def test_trivial_cases():
    assert run_hop([], 3)[0] == []
    out, res, _ = run_hop([2, 0, 1], 0)
    assert out == [2, 0, 1] and res.trace.num_rounds == 0
    assert run_hop([0], 4)[0] == [None]


@pytest.mark.ray
def test_ray_backend_matches_in_process(ray_backend):
    x = random_sequence(500, 4, 1)
    proto = HopProtocol(500, 4, 6)
    ray_res = Simulator(ray_backend).run(proto, x)
    local = Simulator().run(proto, x)
    assert ray_res.output == local.output == hop_fast(x, 6)
    assert ray_res.trace.equals(local.trace)
