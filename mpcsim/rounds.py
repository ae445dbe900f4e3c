"""One MPC round on one shard, shared by every backend (P2 Def. 2.3).

``shard_step`` runs Local_r on a shard, checks what it sends (destinations, word range, words
sent per machine ≤ s) and splits the outgoing messages by destination shard (the vectorised
shuffle). ``shard_deliver`` merges the batches addressed to a shard into its new memory and counts
words received per machine (≤ s). Both return violations instead of raising, so a backend can
collect them from every shard and report the same first violation whatever the sharding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import MPCConfig
from .errors import ProtocolError, Violation
from .messages import Messages
from .protocol import Protocol, ShardView, Step


def shard_bounds(q: int, num_shards: int) -> list[tuple[int, int]]:
    """Split machines 0..q-1 into ``num_shards`` contiguous ranges of near-equal size."""
    num_shards = max(1, min(num_shards, q))
    cuts = [q * j // num_shards for j in range(num_shards + 1)]
    return [(cuts[j], cuts[j + 1]) for j in range(num_shards)]


@dataclass(frozen=True, eq=False)
class StepResult:
    """A shard's round: halt vote, words held / sent per machine, violations, and the outgoing
    messages split by destination shard."""

    halt: bool
    held: np.ndarray
    sent: np.ndarray
    violations: list[Violation]
    outgoing: list[Messages]


def _first_per_machine(machines: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first (machine, value) pair per machine, machines ascending."""
    order = np.lexsort((np.arange(len(machines)), machines))
    m_sorted = machines[order]
    keep = np.ones(len(m_sorted), dtype=bool)
    keep[1:] = m_sorted[1:] != m_sorted[:-1]
    return m_sorted[keep], values[order][keep]


def shard_step(
    protocol: Protocol, round: int, lo: int, hi: int, memory: Messages, starts: np.ndarray
) -> StepResult:
    """Local computation and send-side checks for machines lo..hi-1; ``starts`` are the shards'
    first machines (ascending), used to split the outgoing messages by destination shard."""
    cfg: MPCConfig = protocol.config
    view = ShardView(lo, hi, memory)
    held = view.words_held()
    violations = [
        Violation("memory", round, lo + int(j), int(held[j]), cfg.s)
        for j in np.flatnonzero(held > cfg.s)
    ]
    step = protocol.local(round, view)
    if not isinstance(step, Step):
        raise ProtocolError(f"round {round}: {type(protocol).__name__}.local must return a Step, got {type(step).__name__}")
    msgs = step.messages
    if step.halt:
        if len(msgs):
            raise ProtocolError(f"round {round}: shard [{lo}, {hi}) voted to halt but sent {len(msgs)} messages")
        return StepResult(True, held, np.zeros(hi - lo, np.int64), violations, [Messages.empty() for _ in starts])
    if len(msgs) and (msgs.src.min() < lo or msgs.src.max() >= hi):
        bad = int(msgs.src[(msgs.src < lo) | (msgs.src >= hi)][0])
        raise ProtocolError(f"round {round}: shard [{lo}, {hi}) emitted a message from machine {bad}, outside the shard")
    sent = msgs.words_per_machine(msgs.src, lo, hi)
    violations += [Violation("sent", round, lo + int(j), int(sent[j]), cfg.s) for j in np.flatnonzero(sent > cfg.s)]

    bad_dst = (msgs.dst < 0) | (msgs.dst >= cfg.q)
    if bad_dst.any():
        machines, values = _first_per_machine(msgs.src[bad_dst], msgs.dst[bad_dst])
        violations += [Violation("destination", round, int(m), int(v), cfg.q) for m, v in zip(machines, values)]
    bad_word = (msgs.words < 0) | (msgs.words >= cfg.word_limit)
    if bad_word.any():
        word_src = np.repeat(msgs.src, msgs.sizes)
        machines, values = _first_per_machine(word_src[bad_word], msgs.words[bad_word])
        violations += [Violation("word", round, int(m), int(v), cfg.word_limit) for m, v in zip(machines, values)]

    if bad_dst.any():  # undeliverable: recorded above, not routed
        msgs = msgs.take(np.flatnonzero(~bad_dst))
    shard_of = np.searchsorted(starts, msgs.dst, side="right") - 1
    if len(starts) == 1:
        outgoing = [msgs]
    else:
        order = np.argsort(shard_of, kind="stable")
        cuts = np.searchsorted(shard_of[order], np.arange(len(starts) + 1))
        outgoing = [msgs.take(order[cuts[j]: cuts[j + 1]]) for j in range(len(starts))]
    return StepResult(False, held, sent, violations, outgoing)


def shard_deliver(cfg: MPCConfig, round: int, lo: int, hi: int, incoming: list[Messages]) -> tuple[Messages, np.ndarray, list[Violation]]:
    """The shard's new memory (sorted by machine, then source), words received per machine, and
    receive-side violations (received > s)."""
    memory = Messages.concat(incoming).sorted_for_delivery()
    received = memory.words_per_machine(memory.dst, lo, hi)
    violations = [
        Violation("received", round, lo + int(j), int(received[j]), cfg.s) for j in np.flatnonzero(received > cfg.s)
    ]
    return memory, received, violations


def split_initial_memory(initial: Messages, bounds: list[tuple[int, int]], q: int) -> list[Messages]:
    """Route the input layout to the shards (the environment's placement before round 1)."""
    if len(initial) and (initial.dst.min() < 0 or initial.dst.max() >= q):
        raise ProtocolError(f"initial memory addresses machine {int(initial.dst.max())}, but q = {q}")
    starts = np.array([lo for lo, _ in bounds], dtype=np.int64)
    shard_of = np.searchsorted(starts, initial.dst, side="right") - 1
    return [initial.take(np.flatnonzero(shard_of == j)).sorted_for_delivery() for j in range(len(bounds))]


def shard_output(protocol: Protocol, lo: int, hi: int, memory: Messages) -> tuple[np.ndarray, np.ndarray]:
    """Read the shard's output (per-machine counts, words); a machine cannot output more words than it holds."""
    view = ShardView(lo, hi, memory)
    out = protocol.output(view)
    counts = np.diff(np.asarray(out.offsets, dtype=np.int64))
    if len(counts) != hi - lo:
        raise ProtocolError(f"{type(protocol).__name__}.output returned {len(counts)} machines for shard [{lo}, {hi})")
    held = view.words_held()
    over = np.flatnonzero(counts > held)
    if len(over):
        j = int(over[0])
        raise ProtocolError(
            f"output: machine {lo + j} outputs {int(counts[j])} words but holds only {int(held[j])} (output must sit in memory)"
        )
    return counts, np.asarray(out.words, dtype=np.int64)
