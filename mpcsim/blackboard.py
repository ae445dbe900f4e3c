"""The sequential multi-player blackboard model (P2 Def. E.1; Guha–McGregor 2009; THEORY.md a.7).

k players P_1..P_k; player P_j sees only its input Z_j, the public data and the board. There are R
rounds; in every round the players speak in the order P_k, P_{k−1}, …, P_1, and each writes one
message of at most s bits that every later speaker can read. The output is P_1's last message.

For sequence inputs (THEORY.md b.8, P2 Prop. E.4) P_k holds the earliest block and P_1 the latest,
which includes the final position N, so the speaking order is left to right in the sequence.

The board keeps every message as written (a str over {'0', '1'}); costs are exact bit counts.
Limits are enforced: a message over s bits raises ``MessageTooLong`` naming round, player, bits
and limit. Isolation is structural (a player's ``message`` gets its own input and the board only)
and checked (the protocol object must not change and nobody may write out of turn).

``hop_blackboard_bound`` states P2 Prop. E.4 / Cor. 5.2–5.6 for a measured run: R ≥ k or
s ≥ c·N/k⁶ (c is unspecified in the paper; reports use c = 1 and say so).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

from .bounds import BoundCheck
from .errors import ProtocolError
from .twoparty import CommunicationError, IsolationError, MessageTooLong, check_bits, state_fingerprint


# --- sequence splits ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Block:
    """One player's share of a sequence: positions lo..hi-1 (0-indexed, half-open) and their
    entries ``data`` (len(data) == hi - lo). Block boundaries are public; ``data`` is private."""

    lo: int
    hi: int
    data: Any

    @property
    def length(self) -> int:
        return self.hi - self.lo


def contiguous_blocks(n: int, players: int) -> list[tuple[int, int]]:
    """The split of P2 Prop. E.4 for a sequence of length n: blocks of B = ⌊n/k⌋ positions in
    sequence order P_k, …, P_2, then P_1 with the tail. Returns [(lo, hi)] for P_1..P_k
    (equal to ``protocols.pointer_chasing.player_blocks`` when n = 2kq + 1)."""
    if players < 1:
        raise ValueError(f"need at least one player, got {players}")
    if n < players:
        raise ValueError(f"a sequence of length {n} cannot give each of {players} players a nonempty block")
    width = n // players
    blocks = []
    for j in range(1, players + 1):
        lo = (players - j) * width
        blocks.append((lo, n if j == 1 else lo + width))
    return blocks


def split_sequence(x: Any, blocks: Sequence[tuple[int, int]]) -> list[Block]:
    """Player inputs Z_1..Z_k: ``Block(lo, hi, x[lo:hi])`` for each (lo, hi) of P_1..P_k."""
    return [Block(lo, hi, x[lo:hi]) for lo, hi in blocks]


# --- the board ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoardEntry:
    round: int
    player: int
    bits: str


class Board:
    """The blackboard: messages in the order written, readable by (round, player)."""

    def __init__(self, players: int, rounds: int, public: Any = None):
        self.players = players
        self.rounds = rounds
        self.public = public
        self._entries: list[BoardEntry] = []
        self._index: dict[tuple[int, int], str] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> tuple[BoardEntry, ...]:
        return tuple(self._entries)

    def message(self, round: int, player: int) -> str:
        """P_player's round-``round`` message; an error if it is not on the board yet."""
        try:
            return self._index[(round, player)]
        except KeyError:
            raise CommunicationError(
                f"P_{player}'s round-{round} message is not on the board (yet): players speak P_{self.players}..P_1 "
                f"in each of rounds 1..{self.rounds}"
            ) from None

    def _write(self, round: int, player: int, bits: str) -> None:
        self._entries.append(BoardEntry(round, player, bits))
        self._index[(round, player)] = bits

    @property
    def total_bits(self) -> int:
        return sum(len(e.bits) for e in self._entries)

    @property
    def max_bits(self) -> int:
        """The largest message written: the s a run actually used."""
        return max((len(e.bits) for e in self._entries), default=0)

    def bits_by_round(self) -> list[int]:
        out = [0] * self.rounds
        for e in self._entries:
            out[e.round - 1] += len(e.bits)
        return out

    def bits_by_player(self) -> list[int]:
        """Bits written by P_1..P_k."""
        out = [0] * self.players
        for e in self._entries:
            out[e.player - 1] += len(e.bits)
        return out


# --- protocols ---------------------------------------------------------------------------------

class BlackboardProtocol(ABC):
    """A deterministic k-player, R-round, s-bit sequential blackboard protocol (P2 Def. E.1).

    Subclasses set ``players`` (k), ``rounds`` (R) and ``message_bits`` (s), implement
    ``message(round, player, own, board)`` and, if the output is not the raw bits,
    ``decode_output(bits)`` for P_1's last message. Protocols must be picklable and must not
    change while running (nothing may pass between players outside the board)."""

    players: int = 1
    rounds: int = 1
    message_bits: int = 0
    name: str = "blackboard protocol"

    @abstractmethod
    def message(self, round: int, player: int, own: Any, board: Board) -> str:
        """P_player's message in ``round``, from its own input Z_player and the board so far."""

    def decode_output(self, bits: str) -> Any:
        """The protocol's answer, read from P_1's last message."""
        return bits


@dataclass(frozen=True, eq=False)
class BlackboardResult:
    output: Any
    output_bits: str
    board: Board

    @property
    def bits(self) -> int:
        return self.board.total_bits

    @property
    def max_message_bits(self) -> int:
        return self.board.max_bits

    @property
    def rounds(self) -> int:
        return self.board.rounds


def run_blackboard(protocol: BlackboardProtocol, inputs: Sequence[Any], public: Any = None) -> BlackboardResult:
    """Run ``protocol`` with Z_j = ``inputs[j-1]`` (P2 Def. E.1): R rounds, P_k..P_1 in each round,
    every message at most s bits; the output is P_1's last message."""
    k, rounds, s = protocol.players, protocol.rounds, protocol.message_bits
    for field, value, low in (("players", k, 1), ("rounds", rounds, 1), ("message_bits", s, 0)):
        if not isinstance(value, int) or value < low:
            raise ProtocolError(f"{protocol.name}: {field} must be an int >= {low}, got {value!r}")
    if len(inputs) != k:
        raise ProtocolError(f"{protocol.name}: has {k} players but was given {len(inputs)} inputs")
    board = Board(k, rounds, public)
    fingerprint = state_fingerprint(protocol)
    for r in range(1, rounds + 1):
        for j in range(k, 0, -1):
            where = f"{protocol.name}: round {r}, player P_{j}"
            before = len(board)
            bits = check_bits(protocol.message(r, j, inputs[j - 1], board), where)
            if len(board) != before:
                raise IsolationError(f"{where}: wrote on the board out of turn")
            if state_fingerprint(protocol) != fingerprint:
                raise IsolationError(
                    f"{where}: the protocol object changed; players may share information only through the board"
                )
            if len(bits) > s:
                raise MessageTooLong(r, j, len(bits), s)
            board._write(r, j, bits)
    last = board.message(rounds, 1)
    return BlackboardResult(protocol.decode_output(last), last, board)


# --- the P2 §5 bound ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HopBlackboardBound:
    """P2 Prop. E.4 (and Cor. 5.2–5.6 through it): a k-player blackboard protocol that computes
    hop_k(X)_N on the Prop. E.4 split with success ≥ 2/3 has R ≥ k or s ≥ c·N/k⁶.

    The paper leaves c unspecified; ``c`` here is the constant chosen for the report (1 by
    default), so ``threshold`` = c·N/k⁶ is a reporting threshold, not a proven number."""

    rounds: int
    message_bits: int
    n: int
    k: int
    c: float = 1.0

    @property
    def threshold(self) -> float:
        return self.c * self.n / self.k ** 6

    @property
    def checks(self) -> tuple[BoundCheck, BoundCheck]:
        cite = "P2 Prop. E.4, Cor. 5.2-5.6"
        return (
            BoundCheck("rounds R >= k", self.rounds, self.k, ">=", cite),
            BoundCheck(f"message bits s >= {self.c:g}*N/k^6", self.message_bits, self.threshold, ">=", cite),
        )

    @property
    def rounds_side(self) -> bool:
        return self.checks[0].holds

    @property
    def size_side(self) -> bool:
        return self.checks[1].holds

    @property
    def holds(self) -> bool:
        return self.rounds_side or self.size_side

    @property
    def side(self) -> str:
        """Which side of the OR holds: 'rounds', 'size', 'both' or 'neither'."""
        return {(True, True): "both", (True, False): "rounds", (False, True): "size"}.get(
            (self.rounds_side, self.size_side), "neither"
        )

    def to_dict(self) -> dict:
        return {
            "rounds": self.rounds, "message_bits": self.message_bits, "n": self.n, "k": self.k, "c": self.c,
            "threshold": self.threshold, "rounds_side": self.rounds_side, "size_side": self.size_side,
            "side": self.side, "citation": "P2 Prop. E.4, Cor. 5.2-5.6 (c unspecified; c = 1 for reporting)",
        }


def hop_blackboard_bound(rounds: int, message_bits: int, n: int, k: int, c: float = 1.0) -> HopBlackboardBound:
    """The P2 §5 bound for a measured protocol: R ≥ k or s ≥ c·N/k⁶ (see ``HopBlackboardBound``)."""
    if k < 1 or n < 1:
        raise ValueError(f"need n >= 1 and k >= 1, got n={n}, k={k}")
    return HopBlackboardBound(rounds, message_bits, n, k, c)
