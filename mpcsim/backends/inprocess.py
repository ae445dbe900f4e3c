"""The in-process backend: shards as numpy arrays in this process (the default and the reference)."""
from __future__ import annotations

import numpy as np

from ..messages import Messages
from ..protocol import Protocol
from ..rounds import shard_bounds, shard_deliver, shard_output, shard_step, split_initial_memory
from .base import Backend, DeliverMeta, StepMeta


class InProcessBackend(Backend):
    """Runs every shard in this process. ``num_shards`` only changes how the work is split (the
    result and Trace do not depend on it); one shard is fastest."""

    name = "inprocess"

    def __init__(self, num_shards: int = 1):
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        self.num_shards = num_shards

    def start(self, protocol: Protocol, initial: Messages) -> list[tuple[int, int]]:
        self._protocol = protocol
        self._bounds = shard_bounds(protocol.config.q, self.num_shards)
        self._starts = np.array([lo for lo, _ in self._bounds], dtype=np.int64)
        self._memory = split_initial_memory(initial, self._bounds, protocol.config.q)
        self._outgoing: list[list[Messages]] = []
        return self._bounds

    def step(self, round: int) -> list[StepMeta]:
        metas, self._outgoing = [], []
        for (lo, hi), mem in zip(self._bounds, self._memory):
            res = shard_step(self._protocol, round, lo, hi, mem, self._starts)
            metas.append(StepMeta(res.halt, res.held, res.sent, res.violations))
            self._outgoing.append(res.outgoing)
        return metas

    def deliver(self, round: int) -> list[DeliverMeta]:
        metas, memories = [], []
        for j, (lo, hi) in enumerate(self._bounds):
            mem, received, violations = shard_deliver(
                self._protocol.config, round, lo, hi, [out[j] for out in self._outgoing]
            )
            memories.append(mem)
            metas.append(DeliverMeta(received, violations))
        self._memory, self._outgoing = memories, []
        return metas

    def outputs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [shard_output(self._protocol, lo, hi, mem) for (lo, hi), mem in zip(self._bounds, self._memory)]

    def finish(self) -> None:
        self._memory, self._outgoing = [], []
