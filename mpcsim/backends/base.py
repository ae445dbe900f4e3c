"""What a backend must provide: shards hosted somewhere, stepped and delivered round by round.

The round loop itself (halting, strict/non-strict handling, the Trace) lives in
``mpcsim.simulator`` and is the same for every backend.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..errors import Violation
from ..messages import Messages
from ..protocol import Protocol


@dataclass(frozen=True, eq=False)
class StepMeta:
    """What the driver learns from a shard's step (the messages themselves stay with the backend)."""

    halt: bool
    held: np.ndarray
    sent: np.ndarray
    violations: list[Violation]


@dataclass(frozen=True, eq=False)
class DeliverMeta:
    received: np.ndarray
    violations: list[Violation]


class Backend(ABC):
    """Hosts the shards of one run at a time."""

    name: str = "backend"

    @abstractmethod
    def start(self, protocol: Protocol, initial: Messages) -> list[tuple[int, int]]:
        """Place the protocol and the initial memory on shards; return the shard bounds."""

    @abstractmethod
    def step(self, round: int) -> list[StepMeta]:
        """Run Local_round on every shard (outgoing messages stay in the backend)."""

    @abstractmethod
    def deliver(self, round: int) -> list[DeliverMeta]:
        """Route the outgoing messages of ``round``; each shard's memory becomes what it received."""

    @abstractmethod
    def outputs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per shard: (output words per machine, output words)."""

    def finish(self) -> None:
        """Release per-run resources (the backend itself may be reused)."""
