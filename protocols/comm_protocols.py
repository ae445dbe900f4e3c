"""Communication protocols for the tasks of THEORY.md a.6, a.9, c.3 (instances from
``protocols.pointer_chasing``): two-party pointer chasing, INDEX and DISJ in the Alice–Bob model,
and (q, k)-layered pointer chasing on the sequential blackboard (P2 Def. E.1, E.2).

Pointers are written as their index in [n] (or in the layer V_j) in ⌈log2 n⌉ bits, most
significant bit first; every cost below is exact (THEORY.md b.14, d.1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mpcsim.blackboard import Board, BlackboardProtocol, BlackboardResult, run_blackboard
from mpcsim.twoparty import PLAYERS, Transcript, TwoPartyProtocol, bits_uint, ceil_log2, uint_bits

from .pointer_chasing import LayeredInstance


# --- two-party pointer chasing (THEORY.md a.9, b.14, c.3) --------------------------------------

class PointerChaseProtocol(TwoPartyProtocol):
    """Two-party k-step pointer chasing: Alice holds f_A, Bob holds f_B ([n] → [n] as tuples with
    f[v-1] = image of v); p_0 = ``start`` is public and the chase applies the function of
    ``chase_from`` first, then alternates. The output is p_k.

    ``first`` is the first speaker. The *right* player is the owner of the first function:
    * right player first: message r is p_r (⌈log2 n⌉ bits); k rounds, k·⌈log2 n⌉ bits (b.14);
    * wrong player first with a budget of ≥ k + 1 rounds: an empty first message, then the
      chase: k + 1 rounds, k·⌈log2 n⌉ bits;
    * wrong player first within k rounds: the first speaker sends its whole function
      (n·⌈log2 n⌉ bits) and the other player chases alone: 1 round. Any deterministic k-round
      protocol in this case costs ≥ n/8 bits (Viola 2025; THEORY.md b.14).
    """

    def __init__(self, n: int, k: int, first: str = "alice", chase_from: str = "alice", start: int = 1,
                 max_rounds: int | None = None):
        if n < 1 or k < 1:
            raise ValueError(f"pointer chasing needs n >= 1 and k >= 1, got n={n}, k={k}")
        if not 1 <= start <= n:
            raise ValueError(f"start pointer {start} is not in [1, {n}]")
        for field, player in (("first", first), ("chase_from", chase_from)):
            if player not in PLAYERS:
                raise ValueError(f"{field} must be 'alice' or 'bob', got {player!r}")
        self.n, self.k, self.first, self.chase_from, self.start = n, k, first, chase_from, start
        self.width = ceil_log2(n)
        budget = k if max_rounds is None else max_rounds
        if first == chase_from:
            self.strategy, self.rounds = "chase", k
        elif budget >= k + 1:
            self.strategy, self.rounds = "empty-then-chase", k + 1
        else:
            self.strategy, self.rounds = "send-function", 1
        self.name = f"pointer-chase(n={n}, k={k}, first={first}, {self.strategy})"

    @property
    def expected_bits(self) -> int:
        """The exact transcript length of this protocol."""
        return self.n * self.width if self.strategy == "send-function" else self.k * self.width

    def _pointer(self, transcript: Transcript) -> int:
        """The last pointer sent so far (p_0 = start before any)."""
        chase = transcript.messages[1:] if self.strategy == "empty-then-chase" else transcript.messages
        return bits_uint(chase[-1].bits) + 1 if chase else self.start

    def message(self, r: int, own: Sequence[int], transcript: Transcript) -> str:
        if self.strategy == "send-function":
            return "".join(uint_bits(v - 1, self.width) for v in own)
        if self.strategy == "empty-then-chase" and r == 1:
            return ""
        return uint_bits(own[self._pointer(transcript) - 1] - 1, self.width)

    def output(self, own: Sequence[int], transcript: Transcript) -> int:
        if self.strategy != "send-function":
            return self._pointer(transcript)
        bits = transcript[0].bits
        theirs = [bits_uint(bits[i * self.width:(i + 1) * self.width]) + 1 for i in range(self.n)]
        funcs = (own, theirs)  # the output player owns the first function here
        p = self.start
        for step in range(self.k):
            p = funcs[step % 2][p - 1]
        return p


# --- INDEX and DISJ (THEORY.md a.6) ------------------------------------------------------------

class IndexProtocol(TwoPartyProtocol):
    """INDEX_n, one-way: Alice (x ∈ {0,1}^n) sends x; Bob (i ∈ [n]) outputs x_i. Exactly n bits,
    which is optimal up to a constant for one-way protocols (Ω(n), THEORY.md d.2)."""

    first = "alice"
    rounds = 1

    def __init__(self, n: int):
        if n < 1:
            raise ValueError(f"INDEX_n needs n >= 1, got {n}")
        self.n = n
        self.name = f"index(n={n})"

    def message(self, r: int, own: Sequence[int], transcript: Transcript) -> str:
        _check_bit_vector(own, self.n, "Alice's x")
        return "".join("1" if b else "0" for b in own)

    def output(self, own: int, transcript: Transcript) -> int:
        if not 1 <= own <= self.n:
            raise ValueError(f"Bob's index i = {own} is not in [1, {self.n}]")
        return int(transcript[0].bits[own - 1])


class DisjProtocol(TwoPartyProtocol):
    """DISJ_n, trivial protocol: Alice sends x (n bits), Bob answers 1 iff no i has x_i = y_i = 1
    (1 bit), Alice reads the answer. Exactly n + 1 bits; any protocol needs Ω(n) (THEORY.md d.2)."""

    first = "alice"
    rounds = 2

    def __init__(self, n: int):
        if n < 1:
            raise ValueError(f"DISJ_n needs n >= 1, got {n}")
        self.n = n
        self.name = f"disj(n={n})"

    def message(self, r: int, own: Sequence[int], transcript: Transcript) -> str:
        who = "Alice's x" if r == 1 else "Bob's y"
        _check_bit_vector(own, self.n, who)
        if r == 1:
            return "".join("1" if b else "0" for b in own)
        x = transcript[0].bits
        return "0" if any(x[i] == "1" and own[i] for i in range(self.n)) else "1"

    def output(self, own: Sequence[int], transcript: Transcript) -> int:
        return int(transcript[1].bits)


def _check_bit_vector(v: Sequence[int], n: int, what: str) -> None:
    if len(v) != n or any(b not in (0, 1) for b in v):
        raise ValueError(f"{what} must be {n} bits (0/1), got {list(v)[:8]}{'...' if len(v) > 8 else ''}")


# --- multi-party layered pointer chasing on the blackboard (P2 Def. E.2, Prop. E.3) -------------

@dataclass(frozen=True)
class LayeredPublic:
    """The public part of a (q, k)-layered instance: the start vertex v ∈ V_1 and V^1_{k+1}."""

    q: int
    k: int
    start: int
    first_half: frozenset


def layered_inputs(inst: LayeredInstance) -> tuple[list[dict], LayeredPublic]:
    """Player inputs Z_j = E_j (j = 1..k) and the public data of P2 Def. E.2."""
    return list(inst.matchings), LayeredPublic(inst.q, inst.k, inst.start, inst.first_half)


class LayeredChaseProtocol(BlackboardProtocol):
    """(q, k)-layered pointer chasing on the k-player blackboard, P_j holding E_j (P2 Def. E.2).

    Vertices of V_j are written as their index in the layer, in w = ⌈log2 q⌉ bits. The output
    is reported as the hop_k token of P2 Prop. E.4: 2q+1 if the path ends in V^1_{k+1}, else 2q+2.

    * ``rounds`` ≥ k (the chase, R = k): in round r < k, P_r writes v_{r+1} = E_r(v_r) (w bits);
      in round k, P_k writes the bit [v_{k+1} ∈ V^1_{k+1}] and P_1 repeats it. Everyone else
      writes nothing. s = max(w, 1); total (k − 1)·w + 2 bits (1 bit when k = 1).
    * ``rounds`` < k (R = 1, no time to chase): P_k writes the bit [E_k(a) ∈ V^1_{k+1}] for every
      a ∈ V_k (q bits), P_j for 1 < j < k writes E_j on V_j in order (q·w bits), and P_1 chases on
      the board. s = max(q·w, q) — the price P2 Prop. E.3 predicts for R < k.
    """

    def __init__(self, q: int, k: int, rounds: int | None = None):
        if q < 1 or k < 1:
            raise ValueError(f"need q >= 1 and k >= 1, got q={q}, k={k}")
        self.q, self.k, self.players = q, k, k
        self.width = ceil_log2(q)
        self.strategy = "chase" if rounds is None or rounds >= k else "write-matchings"
        self.rounds = k if self.strategy == "chase" else 1
        self.message_bits = max(self.width, 1) if self.strategy == "chase" else max(q * self.width, q)
        self.name = f"layered-chase(q={q}, k={k}, {self.strategy})"

    @property
    def expected_bits(self) -> int:
        if self.strategy == "chase":
            return 1 if self.k == 1 else (self.k - 1) * self.width + 2
        middle = max(self.k - 2, 0) * self.q * self.width
        return (self.q if self.k > 1 else 0) + middle + 1

    def _offset(self, j: int) -> int:
        """Labels of V_j are offset+1..offset+q (P2 Prop. E.4's labelling)."""
        return 0 if j % 2 == 1 else self.q

    def _vertex(self, j: int, bits: str) -> int:
        return self._offset(j) + bits_uint(bits) + 1

    def _index(self, j: int, vertex: int) -> str:
        return uint_bits(vertex - self._offset(j) - 1, self.width)

    def message(self, round: int, player: int, own: dict, board: Board) -> str:
        pub: LayeredPublic = board.public
        if self.strategy == "write-matchings":
            return self._write_matchings(player, own, board, pub)
        if player != round and not (player == 1 and round == self.k):
            return ""
        if player == 1 and round == self.k and self.k > 1:
            return board.message(self.k, self.k)  # repeat P_k's answer bit as the output
        v = pub.start if round == 1 else self._vertex(round, board.message(round - 1, round - 1))
        image = own[v]
        if round < self.k:
            return self._index(round + 1, image)
        return "1" if image in pub.first_half else "0"

    def _write_matchings(self, player: int, own: dict, board: Board, pub: LayeredPublic) -> str:
        k, q = self.k, self.q
        layer = range(self._offset(player) + 1, self._offset(player) + q + 1)
        if player == k and k > 1:
            return "".join("1" if own[a] in pub.first_half else "0" for a in layer)
        if player > 1:
            return "".join(self._index(player + 1, own[a]) for a in layer)
        v = own[pub.start]  # P_1 chases E_2..E_k on the board
        for j in range(2, k + 1):
            row = board.message(1, j)
            t = v - self._offset(j) - 1
            if j == k:
                return row[t]
            v = self._vertex(j + 1, row[t * self.width:(t + 1) * self.width])
        return "1" if v in pub.first_half else "0"  # k = 1: v = E_1(start) ∈ V_2

    def decode_output(self, bits: str) -> int:
        return 2 * self.q + 1 if bits == "1" else 2 * self.q + 2


def run_layered_chase(inst: LayeredInstance, rounds: int | None = None) -> BlackboardResult:
    """Run ``LayeredChaseProtocol`` on ``inst`` (round budget ``rounds``, default k)."""
    inputs, public = layered_inputs(inst)
    return run_blackboard(LayeredChaseProtocol(inst.q, inst.k, rounds), inputs, public)


__all__ = [
    "DisjProtocol", "IndexProtocol", "LayeredChaseProtocol", "LayeredPublic", "PointerChaseProtocol",
    "layered_inputs", "run_layered_chase",
]
