"""How a protocol is written: a deterministic local function applied to a shard of machines.

A shard is the machine range [lo, hi) held as arrays. In round r the simulator hands each shard
its memory (``ShardView``) and the protocol returns a ``Step``: the addressed messages its machines
send (P2 Def. 2.3: MachineOut_i^{(r)}), or a halt vote. A run stops at the first round in which
every shard votes to halt; ``output`` then reads the result out of the final memories.

Protocols must be deterministic functions of (round, memory) so that any sharding, either backend
and a recomputation after a lost worker all give the same result. They must also be picklable:
the Ray backend ships them to its workers.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .config import MPCConfig
from .messages import Messages, input_layout


@dataclass(frozen=True, eq=False)
class ShardView:
    """The memory of machines lo..hi-1 at the start of a round: the messages they hold, sorted by
    (machine, source). ``machine_offsets[j]`` is the first message of machine lo + j."""

    lo: int
    hi: int
    memory: Messages

    @property
    def machine_offsets(self) -> np.ndarray:
        return np.searchsorted(self.memory.dst, np.arange(self.lo, self.hi + 1))

    def words_held(self) -> np.ndarray:
        """Words held by each machine of the shard."""
        return self.memory.words_per_machine(self.memory.dst, self.lo, self.hi)

    def machine_messages(self, machine: int) -> Messages:
        """The memory of one machine (for per-machine code)."""
        offs = self.machine_offsets
        j = machine - self.lo
        return self.memory.take(np.arange(offs[j], offs[j + 1]))


@dataclass(frozen=True, eq=False)
class Step:
    """What a shard does in one round: send ``messages`` (each src in the shard), or halt."""

    messages: Messages
    halt: bool = False

    @staticmethod
    def send(messages: Messages) -> "Step":
        return Step(messages, False)

    @staticmethod
    def stop() -> "Step":
        return Step(Messages.empty(), True)


@dataclass(frozen=True, eq=False)
class ShardOutput:
    """Output words held by machines lo..hi-1: machine lo + j holds words[offsets[j]:offsets[j+1]]."""

    offsets: np.ndarray
    words: np.ndarray

    @staticmethod
    def from_memory(view: ShardView, width_from_each: int | None = None) -> "ShardOutput":
        """Every word of every machine's memory, in memory order."""
        offs = view.memory.offsets[view.machine_offsets]
        return ShardOutput(offs - offs[0], view.memory.words[offs[0]: offs[-1]])


class Protocol(ABC):
    """An MPC protocol in shard form (P2 Def. 2.3). Subclasses set ``config`` and implement
    ``local`` and ``output``; ``initial_memory`` defaults to the input layout of the definition."""

    config: MPCConfig

    def initial_memory(self, inputs: np.ndarray) -> Messages:
        """Memory before round 1: by default the input over the first ⌈n/s⌉ machines, in order."""
        return input_layout(inputs, self.config.s)

    @abstractmethod
    def local(self, round: int, view: ShardView) -> Step:
        """Local_{r,i} for every machine i of the shard: the messages sent in round ``round``."""

    @abstractmethod
    def output(self, view: ShardView) -> ShardOutput:
        """The output words held by the shard's machines after the last round (read-out only)."""

    def decode_output(self, words: np.ndarray):
        """Turn the concatenated output words into the task's answer (default: the words)."""
        return words
