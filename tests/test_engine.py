"""The MPC engine against the model's definition (P2 Def. 2.3): routing, accounting and limits."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcsim import (
    HALT, INPUT_SOURCE, InvalidDestination, MachineProtocol, MemoryLimitExceeded, Messages, MPCConfig,
    Protocol, ProtocolError, ReceiveLimitExceeded, RoundCapExceeded, SendLimitExceeded, ShardOutput,
    Simulator, Step, WordOutOfRange,
)
from mpcsim.backends import InProcessBackend


class ScriptedProtocol(Protocol):
    """Sends a fixed script of messages per round (round r -> list of (src, dst, payload)), keeps every
    machine's memory by echoing nothing else; halts after the script. Used to test routing exactly."""

    def __init__(self, config: MPCConfig, script: list[list[tuple[int, int, tuple]]]):
        self.config = config
        self.script = script

    def local(self, round: int, view) -> Step:
        if round > len(self.script):
            return Step.stop()
        items = [(a, b, p) for a, b, p in self.script[round - 1] if view.lo <= a < view.hi]
        return Step.send(Messages.from_lists(items))

    def output(self, view) -> ShardOutput:
        return ShardOutput.from_memory(view)


@st.composite
def scripts(draw, max_q=8, max_rounds=3):
    q = draw(st.integers(1, max_q))
    s = draw(st.integers(1, 12))
    p = draw(st.integers(2, 10))
    rounds = []
    for _ in range(draw(st.integers(1, max_rounds))):
        msgs = draw(st.lists(
            st.tuples(st.integers(0, q - 1), st.integers(0, q - 1),
                      st.lists(st.integers(0, (1 << p) - 1), min_size=0, max_size=3).map(tuple)),
            max_size=12))
        rounds.append(msgs)
    return MPCConfig(n=0, q=q, s=s, word_bits=p), rounds


def reference_delivery(config: MPCConfig, round_msgs):
    """Plain-Python model of one round: per machine, its received (src, payload) list in (src, emission) order,
    and words sent/received per machine."""
    inbox = {m: [] for m in range(config.q)}
    sent = [0] * config.q
    for src, dst, payload in round_msgs:
        inbox[dst].append((src, payload))
        sent[src] += len(payload)
    for m in inbox:
        inbox[m].sort(key=lambda item: item[0])  # stable: emission order within a source
    received = [sum(len(p) for _, p in inbox[m]) for m in range(config.q)]
    return inbox, sent, received


@settings(max_examples=60)
@given(scripts(), st.integers(1, 4))
def test_every_word_sent_is_received_exactly_once(case, num_shards):
    config, rounds = case
    protocol = ScriptedProtocol(config, rounds)
    sim = Simulator(InProcessBackend(num_shards), strict=False)
    result = sim.run(protocol, np.zeros(0, dtype=np.int64))
    assert result.trace.num_rounds == len(rounds)
    for r, msgs in enumerate(rounds, start=1):
        inbox, sent, received = reference_delivery(config, msgs)
        rec = result.trace.rounds[r - 1]
        dense_sent = np.zeros(config.q, np.int64)
        dense_recv = np.zeros(config.q, np.int64)
        dense_sent[rec.machines] = rec.sent
        dense_recv[rec.machines] = rec.received
        assert dense_sent.tolist() == sent
        assert dense_recv.tolist() == received
        assert rec.words_sent == sum(len(p) for _, _, p in msgs)
    # final memory = what the last round delivered, in (machine, src) order
    inbox, _, _ = reference_delivery(config, rounds[-1])
    expected = [w for m in range(config.q) for _, p in inbox[m] for w in p]
    assert result.output_words.tolist() == expected
    expected_machines = [m for m in range(config.q) for _, p in inbox[m] for _ in p]
    assert result.output_machines.tolist() == expected_machines
    # violations are recorded (non-strict) exactly where the reference says a limit is broken
    over = set()
    for r, msgs in enumerate(rounds, 1):
        _, sent, received = reference_delivery(config, msgs)
        for m in range(config.q):
            if sent[m] > config.s:
                over.add(("sent", r, m))
            if received[m] > config.s:
                over.add(("received", r, m))
                over.add(("memory", r + 1, m))  # it then holds what it received
    assert {(v.kind, v.round, v.machine) for v in result.trace.violations} == over
    assert result.trace.total_bits == result.trace.total_words * config.word_bits


@settings(max_examples=40)
@given(scripts(max_q=6), st.integers(1, 3), st.integers(1, 3))
def test_sharding_does_not_change_output_or_trace(case, shards_a, shards_b):
    config, rounds = case
    protocol = ScriptedProtocol(config, rounds)
    a = Simulator(InProcessBackend(shards_a), strict=False).run(protocol, np.zeros(0, np.int64))
    b = Simulator(InProcessBackend(shards_b), strict=False).run(protocol, np.zeros(0, np.int64))
    assert a.trace.equals(b.trace)
    assert np.array_equal(a.output_words, b.output_words)


@settings(max_examples=40)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 4))
def test_oversend_is_rejected_with_round_machine_and_limit(q, s, extra):
    config = MPCConfig(n=0, q=q, s=s, word_bits=8)
    bad_machine = q - 1
    script = [[], [(bad_machine, 0, tuple([1] * (s + extra)))]]
    with pytest.raises(SendLimitExceeded) as info:
        Simulator().run(ScriptedProtocol(config, script), np.zeros(0, np.int64))
    err = info.value
    assert (err.round, err.machine, err.value, err.limit) == (2, bad_machine, s + extra, s)
    assert f"round 2, machine {bad_machine}" in str(err)


def test_receive_limit_names_the_receiver():
    config = MPCConfig(n=0, q=3, s=2, word_bits=8)
    script = [[(0, 2, (1, 1)), (1, 2, (5,))]]
    with pytest.raises(ReceiveLimitExceeded) as info:
        Simulator().run(ScriptedProtocol(config, script), np.zeros(0, np.int64))
    assert (info.value.round, info.value.machine, info.value.value, info.value.limit) == (1, 2, 3, 2)


def test_invalid_destination_and_word_range():
    config = MPCConfig(n=0, q=3, s=4, word_bits=3)
    with pytest.raises(InvalidDestination) as info:
        Simulator().run(ScriptedProtocol(config, [[(1, 3, (1,))]]), np.zeros(0, np.int64))
    assert (info.value.machine, info.value.value, info.value.limit) == (1, 3, 3)
    with pytest.raises(InvalidDestination):
        Simulator().run(ScriptedProtocol(config, [[(0, -1, (1,))]]), np.zeros(0, np.int64))
    with pytest.raises(WordOutOfRange) as info:
        Simulator().run(ScriptedProtocol(config, [[(2, 0, (8,))]]), np.zeros(0, np.int64))
    assert (info.value.machine, info.value.value, info.value.limit) == (2, 8, 8)


def test_non_strict_mode_records_undeliverable_messages_and_goes_on():
    config = MPCConfig(n=0, q=2, s=4, word_bits=3)
    result = Simulator(strict=False).run(ScriptedProtocol(config, [[(0, 5, (1,)), (0, 1, (2,))]]), np.zeros(0, np.int64))
    kinds = [v.kind for v in result.trace.violations]
    assert kinds == ["destination"]
    assert result.output_words.tolist() == [2]
    assert not result.trace.within_limits()


def test_input_layout_and_memory_limit():
    # P2 Def. 2.3: input over the first ceil(n/s) machines, s words each, in order.
    config = MPCConfig(n=7, q=4, s=3, word_bits=4)
    seen = {}

    def local(r, machine, memory):
        seen[machine] = memory
        return HALT

    Simulator().run(MachineProtocol(config, local), np.arange(7))
    assert seen[0] == [(INPUT_SOURCE, (0, 1, 2))]
    assert seen[1] == [(INPUT_SOURCE, (3, 4, 5))]
    assert seen[2] == [(INPUT_SOURCE, (6,))]
    assert seen[3] == []

    class Overfull(ScriptedProtocol):
        def initial_memory(self, inputs):
            return Messages.from_lists([(INPUT_SOURCE, 1, [1, 2, 3, 4])])

    with pytest.raises(MemoryLimitExceeded) as info:
        Simulator().run(Overfull(MPCConfig(n=0, q=2, s=3, word_bits=4), [[]]), np.zeros(0, np.int64))
    assert (info.value.round, info.value.machine, info.value.value) == (1, 1, 4)


def test_round_cap():
    config = MPCConfig(n=0, q=2, s=2, word_bits=2)
    forever = MachineProtocol(config, lambda r, m, mem: [(m, [1])])
    with pytest.raises(RoundCapExceeded) as info:
        Simulator(max_rounds=5).run(forever, np.zeros(0, np.int64))
    assert info.value.cap == 5


def test_state_persists_only_through_self_messages():
    # A machine that does not re-send its data to itself forgets it (memory = what it received).
    config = MPCConfig(n=2, q=2, s=2, word_bits=4)

    def local(r, m, mem):
        if r == 1:
            return [] if m == 0 else []
        return HALT

    res = Simulator().run(MachineProtocol(config, local), np.array([3, 4]))
    assert res.output_words.tolist() == []

    def keep(r, m, mem):
        if r <= 2:
            return [(m, [w for _, p in mem for w in p])] if mem else []
        return HALT

    res = Simulator().run(MachineProtocol(config, keep), np.array([3, 4]))
    assert res.output_words.tolist() == [3, 4]
    assert res.trace.num_rounds == 2
    assert [r.words_sent for r in res.trace.rounds] == [2, 2]


def test_protocol_errors_are_clear():
    config = MPCConfig(n=0, q=2, s=2, word_bits=2)
    with pytest.raises(ProtocolError, match="round 1, machine 0"):
        Simulator().run(MachineProtocol(config, lambda r, m, mem: [5]), np.zeros(0, np.int64))
    with pytest.raises(ProtocolError, match="expects n = 0"):
        Simulator().run(MachineProtocol(config, lambda r, m, mem: HALT), np.array([1]))
    with pytest.raises(ProtocolError, match="outside"):
        Simulator().run(MachineProtocol(MPCConfig(n=1, q=2, s=2, word_bits=2), lambda r, m, mem: HALT), np.array([9]))


def test_config_validation():
    with pytest.raises(ValueError, match="does not fit"):
        MPCConfig(n=10, q=2, s=3, word_bits=4)
    with pytest.raises(ValueError, match="word_bits"):
        MPCConfig(n=1, q=1, s=1, word_bits=63)
    with pytest.raises(TypeError):
        MPCConfig(n=1.5, q=1, s=2, word_bits=3)


def test_errors_pickle_round_trip():
    import pickle

    config = MPCConfig(n=0, q=2, s=1, word_bits=8)
    with pytest.raises(SendLimitExceeded) as info:
        Simulator().run(ScriptedProtocol(config, [[(0, 1, (1, 2))]]), np.zeros(0, np.int64))
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is SendLimitExceeded and again.violation == info.value.violation
    assert str(again) == str(info.value)
