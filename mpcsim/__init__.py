"""mpcsim: transformers as parallel computers, made executable.

The engine: round-based MPC (P2 Def. 2.3) with strict accounting, in-process and Ray backends.
"""
from .config import MPCConfig, memory_for_delta, word_bits_for
from .errors import (
    BackendError,
    InvalidDestination,
    MemoryLimitExceeded,
    MPCError,
    MPCViolationError,
    ProtocolError,
    ReceiveLimitExceeded,
    RoundCapExceeded,
    SendLimitExceeded,
    Violation,
    WordOutOfRange,
)
from .machine_api import HALT, MachineProtocol
from .messages import INPUT_SOURCE, Messages, input_layout
from .protocol import Protocol, ShardOutput, ShardView, Step
from .simulator import Result, Simulator
from .trace import RoundRecord, Trace

__version__ = "0.1.0"

__all__ = [
    "BackendError", "HALT", "INPUT_SOURCE", "InvalidDestination", "MPCConfig", "MPCError",
    "MPCViolationError", "MachineProtocol", "MemoryLimitExceeded", "Messages", "Protocol",
    "ProtocolError", "ReceiveLimitExceeded", "Result", "RoundCapExceeded", "RoundRecord",
    "SendLimitExceeded", "ShardOutput", "ShardView", "Simulator", "Step", "Trace", "Violation",
    "WordOutOfRange", "input_layout", "memory_for_delta", "word_bits_for",
]
