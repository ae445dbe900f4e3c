"""A multi-layer RNN as an L-round blackboard protocol (P2 Cor. 5.2 proof; THEORY.md b.9, d.1).

The sequence is split into contiguous blocks, P_k holding the earliest and P_1 the latest
(``mpcsim.blackboard.contiguous_blocks``). In round ℓ (= layer ℓ), players speak P_k..P_1, i.e. left
to right, and P_j (j ≥ 2) writes its boundary state H^ℓ at the end of its block: it recomputes
layers 1..ℓ over its block from its input and the boundary states P_{j+1} wrote in rounds 1..ℓ (a
player keeps nothing between turns: everything is a function of its input and the board). Nobody
reads P_1's boundary states, so P_1 writes nothing until round L, where it writes the model's
output at position N (the top layer's output there). Hence, exactly,

    bits = (k − 1)·L·state_bits + output_bits,   s = max(state_bits, output_bits)   (k ≥ 2),

with state_bits = m·p for a float RNN/GRU, 2·m·p for an LSTM (h and c), m for a binary RNN.

A ``RecurrentCell`` adapts one kind of RNN (``rnn``: torch and binary; ``hop_rnn``: the hop_k RNN).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

from mpcsim.blackboard import Block, Board, BlackboardProtocol


class RecurrentCell(ABC):
    """One multi-layer RNN seen through its boundary states."""

    name: str = "rnn"
    num_layers: int
    state_bits: int
    output_bits: int

    @abstractmethod
    def run(self, data: Any, states: Sequence[Any | None], layers: int) -> tuple[list[Any], Any]:
        """Run layers 1..``layers`` over one block from the initial states ``states[l]`` (None = the
        model's H_0). Returns the final state of each run layer, and the output of layer
        ``layers`` at the block's last position."""

    @abstractmethod
    def encode_state(self, state: Any) -> str: ...

    @abstractmethod
    def decode_state(self, bits: str) -> Any: ...

    @abstractmethod
    def encode_output(self, output: Any) -> str: ...

    @abstractmethod
    def decode_output(self, bits: str) -> Any: ...


def recurrent_bits(players: int, layers: int, state_bits: int, output_bits: int) -> int:
    """The exact transcript length of ``RecurrentProtocol``: (k − 1)·L·state_bits + output_bits."""
    return (players - 1) * layers * state_bits + output_bits


class RecurrentProtocol(BlackboardProtocol):
    """The L-round, k-player blackboard protocol of P2 Cor. 5.2 for ``cell``; inputs are
    ``Block``s whose ``data`` the cell reads."""

    def __init__(self, cell: RecurrentCell, players: int):
        if players < 1:
            raise ValueError(f"need at least one player, got {players}")
        self.cell, self.players, self.rounds = cell, players, cell.num_layers
        self.message_bits = max(cell.state_bits if players > 1 else 0, cell.output_bits)
        self.name = f"{cell.name}-blackboard(k={players}, L={cell.num_layers})"

    @property
    def expected_bits(self) -> int:
        return recurrent_bits(self.players, self.rounds, self.cell.state_bits, self.cell.output_bits)

    def message(self, round: int, player: int, own: Block, board: Board) -> str:
        if player == 1 and round < self.rounds:
            return ""  # P_1's boundary states have no reader
        if player < self.players:
            states = [self.cell.decode_state(board.message(t, player + 1)) for t in range(1, round + 1)]
        else:
            states = [None] * round
        finals, top = self.cell.run(own.data, states, round)
        return self.cell.encode_output(top) if player == 1 else self.cell.encode_state(finals[round - 1])

    def decode_output(self, bits: str) -> Any:
        return self.cell.decode_output(bits)
