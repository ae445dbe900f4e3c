"""The explicit k-layer hop_k RNN (THEORY.md c.2, b.9) and its k-round blackboard protocol on
random inputs and on P2 Prop. E.4 instances (b.8): the answer is exactly hop_k(X)_N from the
plain-Python reference, the transcript size is exactly its formula."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from compilers.seqmodels.hop_rnn import hop_rnn_bits, run_hop_rnn_blackboard
from compilers.seqmodels.nets.hop_rnn import HopRNN
from mpcsim.blackboard import hop_blackboard_bound
from mpcsim.testing import contiguous_splits, hop_sequences, layered_instances
from protocols.hop_reference import hop
from protocols.pointer_chasing import LayeredInstance, encode_as_hop, player_blocks


def width(values: int) -> int:
    """⌈log2 values⌉ by counting."""
    w = 0
    while 2 ** w < values:
        w += 1
    return w


@settings(max_examples=80)
@given(hop_sequences(max_alphabet=5, max_len=30), st.integers(1, 7))
def test_hop_rnn_computes_hop_k_everywhere(seq, k):
    a, x = seq
    assert HopRNN(a, k).hop(x) == hop(x, k)


def test_adjacent_repeat_is_a_fixed_point():
    """find¹(i) = i when X_{i−1} = X_i, so hop_k(X)_i = X_i for every k (THEORY.md c.2)."""
    for k in range(1, 5):
        assert HopRNN(2, k).hop([1, 2, 2])[-1] == 2 == hop([1, 2, 2], k)[-1]


def test_worked_example_of_c2():
    x = [1, 2, 3, 1, 4, 2, 3, 1, 4, 2]  # a b c a d b c a d b
    assert HopRNN(4, 3).hop(x) == [None] * 9 + [2]
    assert HopRNN(4, 2).hop(x) == [None] * 6 + [2, None, 3, 1]


def test_c3_instance_gives_6():
    inst = LayeredInstance(2, 3, ({1: 4, 2: 3}, {3: 2, 4: 1}, {1: 2, 2: 1}), frozenset({1}))
    result = run_hop_rnn_blackboard(encode_as_hop(inst), 6, 3, 3, player_blocks(inst))
    assert result.output == 6
    assert result.bits == 2 * 3 * 6 * 3 + 3  # (k−1)·k·|Σ|·⌈log2 8⌉ + ⌈log2 7⌉


@settings(max_examples=60)
@given(layered_instances(max_q=8, max_k=6))
def test_prop_e4_instances(inst):
    q, k = inst.q, inst.k
    a = 2 * q + 2
    x = encode_as_hop(inst)
    result = run_hop_rnn_blackboard(x, a, k, k, player_blocks(inst))
    assert result.output == hop(x, k)[-1] == (2 * q + 1 if inst.answer() else 2 * q + 2)
    state = a * width(a + 1)  # |Σ|·⌈log2(|Σ|+1)⌉ (|Σ|+1 = 2q+3 is odd, never a power of two)
    assert result.rounds == k
    assert result.max_message_bits == (state if k > 1 else width(a + 1))
    assert result.bits == (k - 1) * k * state + width(a + 1) == hop_rnn_bits(a, k, k)
    bound = hop_blackboard_bound(result.rounds, result.max_message_bits, len(x), k)
    assert bound.rounds_side  # the RNN pays with R = k rounds, not with s


@settings(max_examples=60)
@given(hop_sequences(max_alphabet=6, max_len=24, min_len=1).flatmap(
    lambda s: st.tuples(st.just(s), st.integers(1, 5), st.integers(1, min(4, len(s[1])))).flatmap(
        lambda c: st.tuples(st.just(c), contiguous_splits(len(c[0][1]), c[2])))))
def test_random_inputs_any_split(case):
    ((a, x), k, players), blocks = case
    result = run_hop_rnn_blackboard(x, a, k, players, blocks)
    assert result.output == hop(x, k)[-1]
    assert result.bits == (players - 1) * k * a * width(a + 2) + width(a + 1)
