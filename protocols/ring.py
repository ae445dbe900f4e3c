"""A minimal vectorised MPC protocol: every machine passes its words one machine to the right,
R times (a ring shift). Used to measure the engine's per-round overhead and in backend tests."""
from __future__ import annotations

import numpy as np

from mpcsim.config import MPCConfig
from mpcsim.messages import Messages
from mpcsim.protocol import Protocol, ShardOutput, ShardView, Step


class RingShiftProtocol(Protocol):
    """Round r (1..R): machine i sends everything it holds to machine (i + 1) mod q as one message.
    After R rounds input word j (held by machine ⌊j/s⌋) sits on machine (⌊j/s⌋ + R) mod q."""

    def __init__(self, config: MPCConfig, rounds: int):
        if rounds < 0:
            raise ValueError(f"rounds must be >= 0, got {rounds}")
        self.config = config
        self.rounds = rounds
        self.expected_rounds = rounds

    def local(self, round: int, view: ShardView) -> Step:
        if round > self.rounds:
            return Step.stop()
        mem = view.memory
        offs = view.machine_offsets
        held = np.diff(mem.offsets[offs])
        senders = np.flatnonzero(held > 0)
        src = view.lo + senders
        new_offsets = np.zeros(len(senders) + 1, dtype=np.int64)
        np.cumsum(held[senders], out=new_offsets[1:])
        words = mem.words[mem.offsets[offs[0]]: mem.offsets[offs[-1]]]  # memory words in machine order
        return Step.send(Messages(src, (src + 1) % self.config.q, new_offsets, words))

    def output(self, view: ShardView) -> ShardOutput:
        return ShardOutput.from_memory(view)
