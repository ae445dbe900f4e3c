"""The Alice–Bob (two-party) communication model (THEORY.md a.6; Yao 1979, Kushilevitz–Nisan 1997).

Alice holds x, Bob holds y. A protocol is a sequence of alternating messages: message r is sent by
``first`` when r is odd and by the other player when r is even, and is a function of the speaker's
own input and the transcript so far — nothing else. The receiver of the last message outputs,
again from its own input and the transcript. An r-round protocol sends at most r messages; the
one-way model (Alice → Bob, then Bob outputs) is the case ``first='alice'``, one round.

Messages are kept as they were sent, as strings over {'0', '1'}; the cost of a run is the exact
number of bits in its transcript, never an estimate.

Input isolation is structural: ``run_two_party`` calls ``message`` with the speaker's input only,
and protocols may share nothing but the transcript. A protocol object that changes while a player
speaks (a stash of one player's input for the other to read) is detected and rejected.

This module also holds the bit-string conventions every communication model of mpcsim uses
(``check_bits``, ``uint_bits``, ``bits_uint``); the blackboard (``mpcsim.blackboard``) shares them.
"""
from __future__ import annotations

import hashlib
import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError

PLAYERS = ("alice", "bob")


# --- errors ------------------------------------------------------------------------------------

class CommunicationError(ProtocolError):
    """A communication protocol broke its model (two-party or blackboard)."""


class NotABitString(CommunicationError):
    """A message is not a string over {'0', '1'}."""


class TooManyRounds(CommunicationError):
    """A protocol wants to send more messages than the rounds it is allowed."""


class MessageTooLong(CommunicationError):
    """A blackboard message is longer than the s bits of P2 Def. E.1."""

    def __init__(self, round: int, player: int, bits: int, limit: int):
        self.round, self.player, self.bits, self.limit = round, player, bits, limit
        super().__init__(f"round {round}, player P_{player}: message of {bits} bits; limit s = {limit} bits")

    def __reduce__(self):
        return (type(self), (self.round, self.player, self.bits, self.limit))


class IsolationError(CommunicationError):
    """A player passed information outside the transcript (by changing the shared protocol object
    or by writing on the board out of turn)."""


# --- bit strings -------------------------------------------------------------------------------

def check_bits(message: Any, where: str) -> str:
    """``message`` if it is a str over {'0', '1'} (the empty string is a 0-bit message), else
    ``NotABitString`` naming ``where`` (round and speaker)."""
    if not isinstance(message, str):
        raise NotABitString(f"{where}: a message must be a str of '0'/'1', got {type(message).__name__}")
    rest = message.strip("01")  # empty iff every character is '0' or '1'
    if rest:
        raise NotABitString(f"{where}: a message must contain only '0' and '1', found {rest[0]!r}")
    return message


def uint_bits(value: int, width: int) -> str:
    """``value`` in ``width`` bits, most significant first."""
    if not 0 <= value < (1 << width):
        raise ValueError(f"{value} does not fit in {width} bits")
    return format(value, f"0{width}b") if width else ""


def bits_uint(bits: str) -> int:
    """The unsigned integer written by ``uint_bits`` (0 for the empty string)."""
    return int(bits, 2) if bits else 0


def ceil_log2(n: int) -> int:
    """⌈log2 n⌉ for n ≥ 1: the bits needed to write one of n values, e.g. a pointer into [n]
    (THEORY.md b.14); 0 when n = 1. Exact integer arithmetic: (n − 1).bit_length()."""
    if n < 1:
        raise ValueError(f"ceil_log2 needs n >= 1, got {n}")
    return (n - 1).bit_length()


# --- isolation guard ---------------------------------------------------------------------------

def state_fingerprint(obj: Any) -> bytes:
    """A digest of everything ``obj`` holds (its pickle). Equal before and after a player's turn
    iff the player left no information in the protocol object for another player to read."""
    try:
        return hashlib.sha256(pickle.dumps(obj, protocol=5)).digest()
    except Exception as exc:  # an unpicklable protocol cannot be checked, and cannot be shipped either
        raise CommunicationError(f"protocol {type(obj).__name__} must be picklable: {exc}") from exc


# --- transcripts -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """Message ``round`` (1-indexed), sent by ``speaker`` ('alice' or 'bob'): ``bits``."""

    round: int
    speaker: str
    bits: str

    @property
    def length(self) -> int:
        return len(self.bits)


@dataclass(frozen=True)
class Transcript:
    """The messages of one run, in order. ``bits`` is the exact communication cost."""

    messages: tuple[Message, ...] = ()

    def __len__(self) -> int:
        return len(self.messages)

    def __getitem__(self, i: int) -> Message:
        return self.messages[i]

    @property
    def rounds(self) -> int:
        return len(self.messages)

    @property
    def bits(self) -> int:
        return sum(m.length for m in self.messages)

    def bits_of(self, speaker: str) -> int:
        return sum(m.length for m in self.messages if m.speaker == speaker)

    @property
    def text(self) -> str:
        """All messages concatenated, in order."""
        return "".join(m.bits for m in self.messages)

    def append(self, message: Message) -> "Transcript":
        return Transcript(self.messages + (message,))

    def to_dict(self) -> dict:
        return {
            "rounds": self.rounds,
            "bits": self.bits,
            "messages": [{"round": m.round, "speaker": m.speaker, "bits": m.bits} for m in self.messages],
        }


# --- protocols ---------------------------------------------------------------------------------

def other(player: str) -> str:
    if player not in PLAYERS:
        raise ValueError(f"a player is 'alice' or 'bob', got {player!r}")
    return PLAYERS[1 - PLAYERS.index(player)]


class TwoPartyProtocol(ABC):
    """A deterministic two-party protocol (THEORY.md a.6) as alternating message functions.

    Subclasses set ``first`` (the first speaker) and ``rounds`` (the number of messages sent), and
    implement ``message(r, own, transcript)`` for r = 1..rounds and ``output(own, transcript)``;
    the output is computed by the receiver of the last message, i.e. the player who would speak
    next (the first speaker itself when ``rounds`` is 0). They must be picklable and must not change while running.
    """

    first: str = "alice"
    rounds: int = 1
    name: str = "two-party protocol"

    def speaker(self, r: int) -> str:
        """Who sends message r (1-indexed): ``first`` on odd r, the other player on even r."""
        return self.first if r % 2 == 1 else other(self.first)

    @property
    def output_player(self) -> str:
        return self.speaker(self.rounds + 1)

    @property
    def one_way(self) -> bool:
        """One message, Alice → Bob (the one-way model)."""
        return self.rounds == 1 and self.first == "alice"

    @abstractmethod
    def message(self, r: int, own: Any, transcript: Transcript) -> str:
        """Message r, from the speaker's own input and the transcript of messages 1..r-1."""

    @abstractmethod
    def output(self, own: Any, transcript: Transcript) -> Any:
        """The answer, from the output player's own input and the whole transcript."""


@dataclass(frozen=True)
class TwoPartyResult:
    output: Any
    transcript: Transcript
    output_player: str

    @property
    def bits(self) -> int:
        return self.transcript.bits

    @property
    def rounds(self) -> int:
        return self.transcript.rounds


def run_two_party(protocol: TwoPartyProtocol, alice: Any, bob: Any, max_rounds: int | None = None) -> TwoPartyResult:
    """Run ``protocol`` with Alice's input ``alice`` and Bob's input ``bob`` (THEORY.md a.6).

    ``max_rounds`` is the round budget of the r-round model (default: the protocol's own
    ``rounds``). Raises ``TooManyRounds`` when the protocol sends more messages than allowed,
    ``NotABitString`` for a malformed message, ``IsolationError`` when a player changed the protocol
    object (the only way to pass information around the transcript)."""
    if protocol.first not in PLAYERS:
        raise ProtocolError(f"{protocol.name}: first speaker must be 'alice' or 'bob', got {protocol.first!r}")
    if not isinstance(protocol.rounds, int) or protocol.rounds < 0:
        raise ProtocolError(f"{protocol.name}: rounds must be an int >= 0, got {protocol.rounds!r}")
    budget = protocol.rounds if max_rounds is None else max_rounds
    inputs = {"alice": alice, "bob": bob}
    fingerprint = state_fingerprint(protocol)
    transcript = Transcript()
    for r in range(1, protocol.rounds + 1):
        speaker = protocol.speaker(r)
        if r > budget:
            raise TooManyRounds(
                f"{protocol.name}: round {r} ({speaker}) would be message {r}, but only {budget} rounds are allowed"
            )
        bits = check_bits(protocol.message(r, inputs[speaker], transcript), f"{protocol.name}: round {r} ({speaker})")
        _check_unchanged(protocol, fingerprint, f"round {r} ({speaker})")
        transcript = transcript.append(Message(r, speaker, bits))
    receiver = protocol.output_player
    out = protocol.output(inputs[receiver], transcript)
    _check_unchanged(protocol, fingerprint, f"output ({receiver})")
    return TwoPartyResult(out, transcript, receiver)


def _check_unchanged(protocol: Any, fingerprint: bytes, where: str) -> None:
    if state_fingerprint(protocol) != fingerprint:
        raise IsolationError(
            f"{getattr(protocol, 'name', type(protocol).__name__)}: {where}: the protocol object changed while the "
            "player computed; players may share information only through the transcript"
        )
