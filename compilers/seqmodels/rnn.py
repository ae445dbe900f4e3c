"""torch's ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` and the binary-state RNN as blackboard protocols
(P2 Cor. 5.2; THEORY.md b.9, d.1). The protocol is ``recurrent.RecurrentProtocol``; this module
supplies the cells.

* float RNN/GRU (hidden size m, dtype with p bits): a boundary state is h (m·p bits);
* LSTM: a boundary state is (h, c), 2·m·p bits;
* binary RNN (``nets.binary_rnn``): h ∈ {0,1}^m, m bits.

The output (P_1's last message) is the top layer's output at position N: h_N^L, m·p bits (m for
the binary RNN). Hidden states are written exactly, so the protocol's output equals the module's
forward output up to the floating-point reassociation of running a block from a given h_0
(observed ≤ 1e-12; bit-exact for the binary RNN).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from mpcsim.blackboard import BlackboardResult, contiguous_blocks, run_blackboard, split_sequence

from .codec import binary_bits, bits_binary, bits_floats, float_bits, precision_bits
from .nets.binary_rnn import BinaryRNN
from .recurrent import RecurrentCell, RecurrentProtocol, recurrent_bits


class TorchRNNCell(RecurrentCell):
    """A unidirectional ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` used as it is."""

    def __init__(self, rnn: nn.RNNBase):
        if not isinstance(rnn, (nn.RNN, nn.GRU, nn.LSTM)):
            raise TypeError(f"expected torch.nn.RNN, GRU or LSTM, got {type(rnn).__name__}")
        if rnn.bidirectional:
            raise ValueError("a bidirectional RNN is not a left-to-right recurrence; the blackboard simulation needs one direction")
        if getattr(rnn, "proj_size", 0):
            raise ValueError("LSTM with proj_size > 0 is not supported")
        if rnn.training and rnn.dropout > 0:
            raise ValueError("the RNN has dropout and is in training mode; call .eval() for a deterministic forward")
        self.rnn = rnn
        self.lstm = isinstance(rnn, nn.LSTM)
        self.name = type(rnn).__name__.lower()
        self.num_layers, self.hidden = rnn.num_layers, rnn.hidden_size
        self.dtype = rnn.weight_ih_l0.dtype
        p = precision_bits(self.dtype)
        self.state_bits = (2 if self.lstm else 1) * self.hidden * p
        self.output_bits = self.hidden * p

    @torch.no_grad()
    def run(self, data: Any, states: Sequence[Any | None], layers: int) -> tuple[list[Any], Any]:
        x = torch.as_tensor(np.asarray(data), dtype=self.dtype)  # (n, d_in)
        x = x[None] if self.rnn.batch_first else x[:, None]
        h0 = torch.zeros(self.num_layers, 1, self.hidden, dtype=self.dtype)
        c0 = torch.zeros_like(h0)
        for l, s in enumerate(states):
            if s is not None:
                h0[l, 0] = s[0]
                c0[l, 0] = s[1]
        _, hn = self.rnn(x, (h0, c0) if self.lstm else h0)
        h, c = hn if self.lstm else (hn, hn)
        finals = [(h[l, 0], c[l, 0]) for l in range(layers)]
        return finals, finals[layers - 1][0]  # a layer's output at a position is its h there

    def encode_state(self, state: Any) -> str:
        h, c = state
        return float_bits(h, self.dtype) + (float_bits(c, self.dtype) if self.lstm else "")

    def decode_state(self, bits: str) -> Any:
        v = torch.from_numpy(bits_floats(bits, self.dtype))
        return (v[: self.hidden], v[self.hidden:]) if self.lstm else (v, v)

    def encode_output(self, output: Any) -> str:
        return float_bits(output, self.dtype)

    def decode_output(self, bits: str) -> np.ndarray:
        return bits_floats(bits, self.dtype)


class BinaryRNNCell(RecurrentCell):
    """``nets.binary_rnn.BinaryRNN``: states of m bits, written one bit per unit."""

    def __init__(self, rnn: BinaryRNN):
        self.rnn = rnn
        self.name = "binary-rnn"
        self.num_layers, self.hidden = rnn.num_layers, rnn.hidden_size
        self.dtype = rnn.bias[0].dtype
        self.state_bits = self.output_bits = self.hidden

    @torch.no_grad()
    def run(self, data: Any, states: Sequence[Any | None], layers: int) -> tuple[list[Any], Any]:
        x = torch.as_tensor(np.asarray(data), dtype=self.dtype)[None]  # (1, n, d_in)
        h0 = torch.zeros(self.num_layers, 1, self.hidden, dtype=self.dtype)
        for l, s in enumerate(states):
            if s is not None:
                h0[l, 0] = s
        _, hn = self.rnn(x, h0, layers=layers)
        finals = [hn[l, 0] for l in range(layers)]
        return finals, finals[layers - 1]

    def encode_state(self, state: Any) -> str:
        return binary_bits(state)

    def decode_state(self, bits: str) -> torch.Tensor:
        return torch.from_numpy(bits_binary(bits).astype(np.float64)).to(self.dtype)

    def encode_output(self, output: Any) -> str:
        return binary_bits(output)

    def decode_output(self, bits: str) -> np.ndarray:
        return bits_binary(bits).astype(np.int64)


def rnn_cell(model: nn.Module) -> RecurrentCell:
    """The cell for a torch RNN/GRU/LSTM or a ``BinaryRNN``."""
    return BinaryRNNCell(model) if isinstance(model, BinaryRNN) else TorchRNNCell(model)


def rnn_protocol(model: nn.Module, players: int) -> RecurrentProtocol:
    return RecurrentProtocol(rnn_cell(model), players)


def rnn_blackboard_bits(model: nn.Module, players: int) -> int:
    """Exact transcript bits for ``model`` on ``players`` players (see ``recurrent``)."""
    cell = rnn_cell(model)
    return recurrent_bits(players, cell.num_layers, cell.state_bits, cell.output_bits)


def run_rnn_blackboard(model: nn.Module, x: Any, players: int) -> BlackboardResult:
    """Split x (N, d_in) into the Prop. E.4 blocks and run the protocol; the output is the model's
    output at position N."""
    blocks = contiguous_blocks(len(x), players)
    return run_blackboard(rnn_protocol(model, players), split_sequence(np.asarray(x), blocks))
