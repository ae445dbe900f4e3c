"""A one-layer causal transformer with chain of thought as an (N_CoT + 1)-round blackboard protocol
(P2 Def. 5.5, Cor. 5.6; THEORY.md b.9, d.1): the CoT tokens and the final output equal the model's
own greedy generation (logits to |Δ| ≤ 1e-12·max(1, |y|), float64), bits == the exact formula."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compilers.seqmodels.cot import CoTProtocol, run_cot_blackboard
from mpcsim.blackboard import run_blackboard, split_sequence
from mpcsim.errors import ProtocolError
from mpcsim.testing import contiguous_splits, cot_models, random_cot

TOL = 1e-12
P = 64


def width(values: int) -> int:
    w = 0
    while 2 ** w < values:
        w += 1
    return w


@st.composite
def runs(draw):
    model = draw(cot_models())
    k = draw(st.integers(1, 4))
    n = draw(st.integers(k, 12))
    n_cot = draw(st.integers(0, 3))
    tokens = draw(st.lists(st.integers(0, model.cfg.d_vocab - 1), min_size=n, max_size=n))
    return model, np.array(tokens), draw(contiguous_splits(n, k)), n_cot


@settings(max_examples=30)
@given(runs())
def test_cot_protocol_equals_generation(case):
    model, tokens, blocks, n_cot = case
    cfg, k = model.cfg, len(blocks)
    result = run_cot_blackboard(model, tokens, blocks, n_cot)
    cot, logits = model.generate(torch.from_numpy(tokens), n_cot)
    protocol = CoTProtocol(model, blocks, n_cot)
    assert protocol.cot_tokens(result.board) == cot
    assert np.abs(result.output - logits.numpy()).max() <= TOL * max(1.0, logits.abs().max().item())
    assert result.rounds == n_cot + 1
    partial = cfg.n_heads * (cfg.d_head + 2) * P  # (M, Z, S) per head
    assert result.bits == (n_cot + 1) * (k - 1) * partial + n_cot * width(cfg.d_vocab) + cfg.d_vocab * P


def test_query_token_must_be_public_and_match():
    from compilers.model import TransformerConfig

    model = random_cot(TransformerConfig(d_model=4, n_layers=1, n_heads=1, d_head=2, d_mlp=4, d_vocab=5, n_ctx=12,
                                         dtype="float64"), seed=1)
    tokens = np.array([1, 2, 3, 4, 0, 1])
    blocks = [(3, 6), (0, 3)]
    with pytest.raises(ProtocolError, match="public input"):
        run_blackboard(CoTProtocol(model, blocks, 1), split_sequence(tokens, blocks))
    with pytest.raises(ProtocolError, match="not P_1's last token"):
        run_blackboard(CoTProtocol(model, blocks, 1), split_sequence(tokens, blocks), public=3)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        CoTProtocol(model, blocks, 7)
