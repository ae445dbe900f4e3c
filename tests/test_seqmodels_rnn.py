"""torch RNN/GRU/LSTM and binary-state RNNs as L-round blackboard protocols (P2 Cor. 5.2;
THEORY.md b.9, d.1): output == the module's own forward output, bits == the exact formula.

Tolerance: float64 throughout; the protocol re-runs blocks from transmitted (exact) states, so it
agrees with the forward to |Δ| ≤ 1e-12 (observed: 0); the binary RNN agrees exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from compilers.seqmodels.rnn import rnn_blackboard_bits, rnn_protocol
from mpcsim.blackboard import run_blackboard, split_sequence
from mpcsim.testing import binary_rnns, contiguous_splits, random_binary_rnn, rnn_models

TOL = 1e-12
P = 64  # float64


@st.composite
def runs(draw, models):
    """(model, x (N, d_in), blocks of k players)."""
    model = draw(models)
    k = draw(st.integers(1, 4))
    n = draw(st.integers(k, 12))
    x = draw(arrays(np.float64, (n, model.input_size), elements=st.floats(-2, 2)))
    return model, x, draw(contiguous_splits(n, k))


@settings(max_examples=40)
@given(runs(rnn_models()))
def test_torch_rnn_protocol_equals_forward(case):
    model, x, blocks = case
    k, layers, m = len(blocks), model.num_layers, model.hidden_size
    result = run_blackboard(rnn_protocol(model, k), split_sequence(x, blocks))
    with torch.no_grad():
        reference = model(torch.from_numpy(x)[None])[0][0, -1].numpy()
    assert np.abs(result.output - reference).max() <= TOL
    state = (2 if isinstance(model, nn.LSTM) else 1) * m * P  # (h, c) for an LSTM
    assert result.bits == (k - 1) * layers * state + m * P == rnn_blackboard_bits(model, k)
    assert result.rounds == layers
    for e in result.board.entries:  # one boundary state per player per layer; P_1 only answers
        if e.player > 1:
            assert len(e.bits) == state
        else:
            assert len(e.bits) == (m * P if e.round == layers else 0)


@settings(max_examples=40)
@given(runs(binary_rnns()))
def test_binary_rnn_protocol_is_exact(case):
    model, x, blocks = case
    k, layers, m = len(blocks), model.num_layers, model.hidden_size
    result = run_blackboard(rnn_protocol(model, k), split_sequence(x, blocks))
    with torch.no_grad():
        out, _ = model(torch.from_numpy(x)[None])
    assert result.output.tolist() == out[0, -1].numpy().astype(np.int64).tolist()
    assert result.bits == (k - 1) * layers * m + m
    assert result.max_message_bits == m


@settings(max_examples=30)
@given(runs(binary_rnns()))
def test_boundary_states_are_the_true_hidden_states(case):
    """P_j's round-ℓ message is H^ℓ at the last position of its block in the full forward pass."""
    model, x, blocks = case
    result = run_blackboard(rnn_protocol(model, len(blocks)), split_sequence(x, blocks))
    with torch.no_grad():
        for layer in range(1, model.num_layers + 1):
            states, _ = model(torch.from_numpy(x)[None], layers=layer)  # layer ℓ's outputs = its states
            for j in range(2, len(blocks) + 1):
                hi = blocks[j - 1][1]
                written = [int(b) for b in result.board.message(layer, j)]
                assert written == states[0, hi - 1].numpy().astype(int).tolist()


def test_binary_rnn_matches_its_definition():
    """BinaryRNN.forward against a plain loop over H_i = 1[W_ih z_i + W_hh H_{i-1} + b > 0]."""
    model = random_binary_rnn(3, 4, 2, seed=7)
    x = np.random.default_rng(0).standard_normal((9, 3))
    z = x
    for l in range(2):
        w_ih, w_hh, b = (p.detach().numpy() for p in (model.weight_ih[l], model.weight_hh[l], model.bias[l]))
        h, outs = np.zeros(4), []
        for i in range(len(z)):
            h = (w_ih @ z[i] + w_hh @ h + b > 0).astype(float)
            outs.append(h)
        z = np.array(outs)
    with torch.no_grad():
        out, hn = model(torch.from_numpy(x)[None])
    assert out[0].numpy().tolist() == z.tolist()
    assert hn[1, 0].numpy().tolist() == z[-1].tolist()


def test_rejected_models():
    with pytest.raises(ValueError, match="bidirectional"):
        rnn_protocol(nn.GRU(2, 3, bidirectional=True, dtype=torch.float64), 2)
    with pytest.raises(ValueError, match="proj_size"):
        rnn_protocol(nn.LSTM(2, 3, proj_size=2, dtype=torch.float64), 2)
    with pytest.raises(TypeError, match="expected torch.nn.RNN, GRU or LSTM"):
        rnn_protocol(nn.Linear(2, 3), 2)


def test_float32_models_count_32_bit_numbers():
    """p is the model's dtype: a float32 LSTM writes (h, c) as 2·m·32 bits per boundary state."""
    from mpcsim.testing import random_rnn

    model = random_rnn("lstm", 3, 5, 2, seed=4, dtype="float32")
    x = np.random.default_rng(2).standard_normal((10, 3)).astype(np.float32)
    blocks = [(7, 10), (3, 7), (0, 3)]
    result = run_blackboard(rnn_protocol(model, 3), split_sequence(x, blocks))
    with torch.no_grad():
        reference = model(torch.from_numpy(x)[None])[0][0, -1].numpy()
    assert result.output.dtype == np.float32
    assert np.abs(result.output - reference).max() <= 1e-6
    assert result.bits == 2 * 2 * (2 * 5 * 32) + 5 * 32
