"""Per-machine convenience API on top of shards, for small protocols and teaching.

Write ``local(round, machine, memory)`` for one machine, where ``memory`` is a list of
``(src, (w1, w2, ...))`` pairs, and return a list of ``(dst, [words...])`` messages, or ``HALT``.
The adapter loops over the shard's machines in Python, so use it for small q; write a vectorised
``Protocol`` for large runs.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .config import MPCConfig
from .errors import ProtocolError
from .messages import Messages
from .protocol import Protocol, ShardOutput, ShardView, Step


class _Halt:
    """The halt sentinel's type. It pickles by name, so ``HALT`` returned by a local function
    that was shipped to another process (Ray workers) is still ``HALT`` there."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HALT"

    def __reduce__(self) -> str:
        return "HALT"


HALT = _Halt()

MachineMemory = list[tuple[int, tuple[int, ...]]]
LocalFn = Callable[[int, int, MachineMemory], "Sequence[tuple[int, Sequence[int]]] | object"]
OutputFn = Callable[[int, MachineMemory], Sequence[int]]


def _machine_memories(view: ShardView) -> list[MachineMemory]:
    mem = view.memory
    offs = view.machine_offsets
    words = mem.words.tolist()
    out = []
    for j in range(view.hi - view.lo):
        msgs = []
        for m in range(int(offs[j]), int(offs[j + 1])):
            msgs.append((int(mem.src[m]), tuple(words[mem.offsets[m]: mem.offsets[m + 1]])))
        out.append(msgs)
    return out


def _all_words(machine: int, memory: MachineMemory) -> list[int]:
    return [w for _, payload in memory for w in payload]


class MachineProtocol(Protocol):
    """Adapts per-machine functions to the shard interface. ``output`` defaults to every word a
    machine holds after the last round."""

    def __init__(self, config: MPCConfig, local: LocalFn, output: OutputFn | None = None):
        self.config = config
        self._local = local
        self._output = output or _all_words

    def local(self, round: int, view: ShardView) -> Step:
        items, halts = [], []
        for j, memory in enumerate(_machine_memories(view)):
            machine = view.lo + j
            result = self._local(round, machine, memory)
            if result is HALT:
                halts.append(True)
                continue
            halts.append(False)
            try:
                messages = list(result)
            except TypeError:
                raise ProtocolError(
                    f"round {round}, machine {machine}: local must return a list of (dst, [words]) or HALT, got {result!r}"
                ) from None
            for msg in messages:
                try:
                    dst, payload = msg
                    Messages.from_lists([(machine, dst, payload)])
                except (TypeError, ValueError) as exc:
                    raise ProtocolError(
                        f"round {round}, machine {machine}: a message must be (dst, [integer words]), got {msg!r}: {exc}"
                    ) from None
                items.append((machine, dst, payload))
        if halts and all(halts):
            return Step.stop()
        return Step.send(Messages.from_lists(items))

    def output(self, view: ShardView) -> ShardOutput:
        counts, words = [], []
        for j, memory in enumerate(_machine_memories(view)):
            w = [int(x) for x in self._output(view.lo + j, memory)]
            counts.append(len(w))
            words.extend(w)
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return ShardOutput(offsets, np.array(words, dtype=np.int64))
