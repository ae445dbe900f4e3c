"""Typed errors of the MPC simulator. Each names the round, machine, quantity and limit at fault.

Every error can be pickled (it crosses process boundaries in the Ray backend) and compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class MPCError(Exception):
    """Base class of every error the simulator raises about a protocol."""


@dataclass(frozen=True)
class Violation:
    """One broken MPC constraint (P2 Def. 2.3): ``quantity`` of ``machine`` in ``round`` was ``value``,
    over ``limit``. ``kind`` is one of memory, sent, received, destination, word."""

    kind: str
    round: int
    machine: int
    value: int
    limit: int
    detail: str = field(default="", compare=False)

    _ORDER = ("memory", "sent", "destination", "word", "received")

    def sort_key(self) -> tuple:
        return (self.round, self._ORDER.index(self.kind), self.machine, self.value)

    def describe(self) -> str:
        what = {
            "memory": "holds {value} words; local memory s = {limit}",
            "sent": "sends {value} words; limit s = {limit}",
            "received": "receives {value} words; limit s = {limit}",
            "destination": "sends to machine {value}, which does not exist (q = {limit})",
            "word": "sends the word {value}, outside [0, {limit})",
        }[self.kind].format(value=self.value, limit=self.limit)
        extra = f" ({self.detail})" if self.detail else ""
        return f"round {self.round}, machine {self.machine}: {what}{extra}"

    def to_error(self) -> "MPCViolationError":
        cls = _ERROR_FOR_KIND[self.kind]
        return cls(self)


class MPCViolationError(MPCError):
    """A protocol broke a limit of the MPC model; ``violation`` says where and by how much."""

    def __init__(self, violation: Violation):
        self.violation = violation
        super().__init__(violation.describe())

    def __reduce__(self):
        return (type(self), (self.violation,))

    @property
    def round(self) -> int:
        return self.violation.round

    @property
    def machine(self) -> int:
        return self.violation.machine

    @property
    def value(self) -> int:
        return self.violation.value

    @property
    def limit(self) -> int:
        return self.violation.limit


class MemoryLimitExceeded(MPCViolationError):
    """A machine holds more than s words."""


class SendLimitExceeded(MPCViolationError):
    """A machine sends more than s words in one round."""


class ReceiveLimitExceeded(MPCViolationError):
    """A machine receives more than s words in one round."""


class InvalidDestination(MPCViolationError):
    """A message is addressed to a machine outside 0..q-1."""


class WordOutOfRange(MPCViolationError):
    """A message carries a word outside [0, 2^p)."""


_ERROR_FOR_KIND = {
    "memory": MemoryLimitExceeded,
    "sent": SendLimitExceeded,
    "received": ReceiveLimitExceeded,
    "destination": InvalidDestination,
    "word": WordOutOfRange,
}


class RoundCapExceeded(MPCError):
    """The protocol did not halt within the round cap the caller set."""

    def __init__(self, cap: int):
        self.cap = cap
        super().__init__(f"protocol did not halt within the round cap of {cap} rounds")

    def __reduce__(self):
        return (type(self), (self.cap,))


class ProtocolError(MPCError):
    """A protocol returned something malformed (wrong types, a message from a machine outside its
    shard, output larger than memory, ...)."""


class BackendError(MPCError):
    """A backend could not run (Ray could not start, a worker could not be recovered, ...)."""
