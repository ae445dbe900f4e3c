"""The sequential blackboard (P2 Def. E.1, THEORY.md a.7), layered pointer chasing on it (P2 Def. E.2,
Prop. E.3/E.4, THEORY.md b.8, c.3) and the P2 §5 bound (d.2, d.3)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcsim.blackboard import (
    BlackboardProtocol, CommunicationError, contiguous_blocks, hop_blackboard_bound, run_blackboard, split_sequence,
)
from mpcsim.errors import ProtocolError
from mpcsim.testing import contiguous_splits, layered_instances
from mpcsim.twoparty import IsolationError, MessageTooLong, NotABitString, bits_uint, uint_bits
from protocols.comm_protocols import LayeredChaseProtocol, run_layered_chase
from protocols.hop_reference import hop
from protocols.pointer_chasing import LayeredInstance, encode_as_hop, player_blocks


def pointer_width(n: int) -> int:
    w = 0
    while 2 ** w < n:
        w += 1
    return w


# --- the model ---------------------------------------------------------------------------------------

class WhoSpeaks(BlackboardProtocol):
    """Each message is the speaker's number (4 bits), so the board records the order."""

    def __init__(self, players, rounds):
        self.players, self.rounds, self.message_bits, self.name = players, rounds, 4, "who"

    def message(self, round, player, own, board):
        return uint_bits(player, 4)

    def decode_output(self, bits):
        return ("P", bits_uint(bits))


@pytest.mark.parametrize("players, rounds", [(1, 1), (3, 2), (5, 3)])
def test_players_speak_pk_to_p1_every_round(players, rounds):
    result = run_blackboard(WhoSpeaks(players, rounds), [None] * players)
    order = [(e.round, e.player) for e in result.board.entries]
    assert order == [(r, j) for r in range(1, rounds + 1) for j in range(players, 0, -1)]
    assert all(bits_uint(e.bits) == e.player for e in result.board.entries)
    assert result.output_bits == result.board.message(rounds, 1)  # P_1's last message
    assert result.output == ("P", 1)
    assert result.bits == 4 * players * rounds == sum(result.board.bits_by_round()) == sum(result.board.bits_by_player())


class XorRelay(BlackboardProtocol):
    """One round: P_k writes its bit, each later P_j the XOR of the previous message and its bit."""

    def __init__(self, players):
        self.players, self.rounds, self.message_bits, self.name = players, 1, 1, "xor"

    def message(self, round, player, own, board):
        before = 0 if player == self.players else int(board.message(1, player + 1))
        return str(before ^ own)


@settings(max_examples=40)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=12))
def test_later_speakers_read_earlier_messages(bits):
    result = run_blackboard(XorRelay(len(bits)), bits)
    assert int(result.output) == sum(bits) % 2
    assert result.bits == len(bits)


class ReadsTheFuture(BlackboardProtocol):
    players, rounds, message_bits, name = 2, 1, 1, "future"

    def message(self, round, player, own, board):
        return board.message(1, 1)  # P_2 speaks before P_1


def test_reading_a_message_not_yet_written():
    with pytest.raises(CommunicationError, match="P_1's round-1 message is not on the board"):
        run_blackboard(ReadsTheFuture(), [0, 0])


class TooLong(BlackboardProtocol):
    players, rounds, message_bits, name = 3, 2, 3, "long"

    def message(self, round, player, own, board):
        return "1111" if (round, player) == (2, 2) else "1"


def test_message_over_s_bits_names_round_player_bits_limit():
    with pytest.raises(MessageTooLong, match=r"round 2, player P_2: message of 4 bits; limit s = 3 bits") as info:
        run_blackboard(TooLong(), [0, 0, 0])
    assert (info.value.round, info.value.player, info.value.bits, info.value.limit) == (2, 2, 4, 3)


class NotBits(BlackboardProtocol):
    players, rounds, message_bits, name = 2, 1, 8, "notbits"

    def message(self, round, player, own, board):
        return "10" if player == 2 else 3


def test_messages_must_be_bits():
    with pytest.raises(NotABitString, match="notbits: round 1, player P_1: .*got int"):
        run_blackboard(NotBits(), [0, 0])


class Stash(BlackboardProtocol):
    players, rounds, message_bits, name = 2, 1, 8, "stash"

    def message(self, round, player, own, board):
        if player == 2:
            self.seen = own  # a side channel to P_1
            return ""
        return self.seen


class WritesOutOfTurn(BlackboardProtocol):
    players, rounds, message_bits, name = 2, 1, 8, "scribble"

    def message(self, round, player, own, board):
        board._write(round, 1, "1")
        return ""


def test_isolation_is_enforced():
    with pytest.raises(IsolationError, match="stash: round 1, player P_2: the protocol object changed"):
        run_blackboard(Stash(), ["1", "0"])
    with pytest.raises(IsolationError, match="scribble: round 1, player P_2: wrote on the board out of turn"):
        run_blackboard(WritesOutOfTurn(), [0, 0])


def test_bad_setup():
    with pytest.raises(ProtocolError, match="has 3 players but was given 2 inputs"):
        run_blackboard(WhoSpeaks(3, 1), [0, 0])
    with pytest.raises(ProtocolError, match="rounds must be an int >= 1"):
        run_blackboard(WhoSpeaks(3, 0), [0, 0, 0])


# --- splits ------------------------------------------------------------------------------------------

@settings(max_examples=40)
@given(st.integers(1, 8), st.integers(1, 6))
def test_contiguous_blocks_is_the_prop_e4_split(q, k):
    inst = LayeredInstance(q, k, (), frozenset())
    n = 2 * k * q + 1
    assert contiguous_blocks(n, k) == player_blocks(inst)


@settings(max_examples=40)
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(st.just(k), st.integers(k, 40))))
def test_contiguous_blocks_partition_in_speaking_order(case):
    k, n = case
    blocks = contiguous_blocks(n, k)
    assert blocks[-1][0] == 0 and blocks[0][1] == n  # P_k first, P_1 holds the tail
    assert all(blocks[j][0] == blocks[j + 1][1] for j in range(k - 1))
    assert all(hi > lo for lo, hi in blocks)
    assert [b.data for b in split_sequence(list(range(n)), blocks)] == [list(range(lo, hi)) for lo, hi in blocks]


@settings(max_examples=40)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))).flatmap(
    lambda c: contiguous_splits(*c).map(lambda b: (c[0], b))))
def test_strategy_splits_are_partitions(case):
    n, blocks = case
    covered = [i for lo, hi in reversed(blocks) for i in range(lo, hi)]
    assert covered == list(range(n))


def test_too_short_sequence():
    with pytest.raises(ValueError, match="cannot give each of 4 players"):
        contiguous_blocks(3, 4)


# --- layered pointer chasing (THEORY.md c.3, b.8) ------------------------------------------------------

C3 = LayeredInstance(2, 3, ({1: 4, 2: 3}, {3: 2, 4: 1}, {1: 2, 2: 1}), frozenset({1}))


def test_c3_multiparty_example_gives_2q_plus_2():
    assert encode_as_hop(C3) == [1, 6, 2, 5, 3, 2, 4, 1, 1, 4, 2, 3, 1]
    assert hop(encode_as_hop(C3), 3)[-1] == 6
    result = run_layered_chase(C3)
    assert result.output == 6 == 2 * 2 + 2
    assert result.rounds == 3
    assert result.bits == (3 - 1) * 1 + 2  # v_2, v_3 in ⌈log2 2⌉ = 1 bit, then P_3's and P_1's answer bits
    assert result.output_bits == "0"  # v_4 = 2 ∉ V^1_4


def expected_answer(inst: LayeredInstance) -> int:
    v = inst.start
    for e in inst.matchings:
        v = e[v]
    return 2 * inst.q + 1 if v in inst.first_half else 2 * inst.q + 2


@settings(max_examples=60)
@given(layered_instances(max_q=9, max_k=6))
def test_layered_chase_in_k_rounds(inst):
    result = run_layered_chase(inst)
    w = pointer_width(inst.q)
    assert result.output == expected_answer(inst) == hop(encode_as_hop(inst), inst.k)[-1]
    assert result.rounds == inst.k
    assert result.bits == (1 if inst.k == 1 else (inst.k - 1) * w + 2)
    assert result.max_message_bits <= max(w, 1)
    bound = hop_blackboard_bound(result.rounds, result.max_message_bits, 2 * inst.k * inst.q + 1, inst.k)
    assert bound.rounds_side  # R = k: the chase sits on the "R ≥ k" side of Prop. E.3/E.4


@settings(max_examples=60)
@given(layered_instances(max_q=9, max_k=6).filter(lambda inst: inst.k >= 2))
def test_layered_chase_in_fewer_rounds_writes_matchings(inst):
    result = run_layered_chase(inst, rounds=inst.k - 1)
    q, k, w = inst.q, inst.k, pointer_width(inst.q)
    assert result.output == expected_answer(inst)
    assert result.rounds == 1
    assert result.bits == q + (k - 2) * q * w + 1
    assert result.max_message_bits == (q * w if k > 2 and q * w > q else q)
    assert not hop_blackboard_bound(result.rounds, result.max_message_bits, 2 * k * q + 1, k).rounds_side


def test_protocol_declares_s():
    assert LayeredChaseProtocol(8, 4).message_bits == 3
    assert LayeredChaseProtocol(8, 4, rounds=2).message_bits == 24


# --- the bound (THEORY.md d.3: N/k⁶ with c = 1) ----------------------------------------------------------

@pytest.mark.parametrize("n, k, threshold", [
    (10 ** 6, 2, 15625), (10 ** 6, 3, 1372), (10 ** 6, 4, 244), (10 ** 6, 6, 21),
    (10 ** 9, 4, 244141), (10 ** 9, 8, 3815),
])
def test_threshold_matches_worked_numbers(n, k, threshold):
    assert round(hop_blackboard_bound(1, 0, n, k).threshold) == threshold


def test_bound_sides():
    assert hop_blackboard_bound(4, 0, 10 ** 6, 4).side == "rounds"
    assert hop_blackboard_bound(3, 245, 10 ** 6, 4).side == "size"
    assert hop_blackboard_bound(4, 245, 10 ** 6, 4).side == "both"
    neither = hop_blackboard_bound(3, 244, 10 ** 6, 4)
    assert neither.side == "neither" and not neither.holds
    d = neither.to_dict()
    assert d["threshold"] == 10 ** 6 / 4 ** 6 and d["c"] == 1.0 and "c = 1" in d["citation"]
    assert hop_blackboard_bound(3, 1, 10 ** 6, 4, c=0.001).size_side
