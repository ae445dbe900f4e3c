"""The explicit k-layer hop_k RNN (``nets.hop_rnn``) as a k-round blackboard protocol — the
model P2 §5 contrasts with the ⌊log2 k⌋ + 2-layer transformer (THEORY.md b.6, b.9, d.3).

It is an RNN with binary states of m = A·⌈log2(A + 2)⌉ bits per layer (A = |Σ|), so
``recurrent.RecurrentProtocol`` simulates it in L = k rounds with one boundary state per player
per layer; the output, hop_k(X)_N, is written in ⌈log2(A + 1)⌉ bits (0 = ⊥). Exactly

    bits = (k_players − 1)·k·A·⌈log2(A + 2)⌉ + ⌈log2(A + 1)⌉.

On a P2 Prop. E.4 instance (k players, N = 2kq + 1, A = 2q + 2) it answers the layered
pointer-chasing question with R = k rounds: the "R ≥ k" side of "R ≥ k or s ≥ c·N/k⁶".
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mpcsim.blackboard import BlackboardResult, contiguous_blocks, run_blackboard, split_sequence
from mpcsim.twoparty import bits_uint, uint_bits

from .codec import bits_codes, codes_bits
from .nets.hop_rnn import HopRNN
from .recurrent import RecurrentCell, RecurrentProtocol, recurrent_bits


class HopRNNCell(RecurrentCell):
    def __init__(self, model: HopRNN):
        self.model = model
        self.name = "hop-rnn"
        self.num_layers = model.num_layers
        self.state_bits = model.state_bits
        self.output_bits = model.value_bits

    def run(self, data: Any, states: Sequence[Any | None], layers: int) -> tuple[list[Any], Any]:
        z, finals = self.model.forward(data, states, layers)
        return finals, int(z[-1])

    def encode_state(self, state: np.ndarray) -> str:
        return codes_bits(state, self.model.code_bits)

    def decode_state(self, bits: str) -> np.ndarray:
        return bits_codes(bits, self.model.code_bits)

    def encode_output(self, output: int) -> str:
        return uint_bits(output, self.output_bits)

    def decode_output(self, bits: str) -> int | None:
        """hop_k(X)_N, or None for ⊥."""
        return bits_uint(bits) or None


def hop_rnn_bits(alphabet: int, k: int, players: int) -> int:
    m = HopRNN(alphabet, k)
    return recurrent_bits(players, k, m.state_bits, m.value_bits)


def hop_rnn_protocol(alphabet: int, k: int, players: int) -> RecurrentProtocol:
    return RecurrentProtocol(HopRNNCell(HopRNN(alphabet, k)), players)


def run_hop_rnn_blackboard(tokens: Sequence[int], alphabet: int, k: int, players: int,
                           blocks: Sequence[tuple[int, int]] | None = None) -> BlackboardResult:
    """Run the protocol on ``tokens`` (ints in 1..alphabet) split into ``blocks`` (default: the
    Prop. E.4 split ``contiguous_blocks``). The output is hop_k(X)_N (None for ⊥)."""
    x = np.asarray(tokens, dtype=np.int64)
    blocks = contiguous_blocks(len(x), players) if blocks is None else blocks
    return run_blackboard(hop_rnn_protocol(alphabet, k, players), split_sequence(x, blocks))
