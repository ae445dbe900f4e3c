"""A one-layer transformer as a two-message Alice–Bob protocol (attention-as-protocol lemma,
THEORY.md a.6): output at the target == the model's forward (|Δ| ≤ 1e-12·max(1, |y|), float64),
bits == H·(2·d_head + 2)·p exactly, in 2 rounds with Bob first."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compilers.seqmodels.attention_split import SplitAttentionProtocol, split_tokens
from compilers.seqmodels.softmax_split import merge, partial_softmax
from mpcsim.testing import one_layer_transformers, transformers, two_party_splits
from mpcsim.twoparty import run_two_party

TOL = 1e-12
P = 64


@st.composite
def runs(draw, models):
    model = draw(models)
    n = draw(st.integers(1, 12))
    tokens = draw(st.lists(st.integers(0, model.cfg.d_vocab - 1), min_size=n, max_size=n))
    alice, target = draw(two_party_splits(n))
    return model, tokens, alice, target


def check(model, tokens, alice, target):
    cfg = model.cfg
    a, b = split_tokens(tokens, alice)
    result = run_two_party(SplitAttentionProtocol(model, target), a, b)
    with torch.no_grad():
        reference = model(torch.tensor([tokens]))[0, target].numpy()
    assert np.abs(result.output - reference).max() <= TOL * max(1.0, np.abs(reference).max())
    assert [m.speaker for m in result.transcript.messages] == ["bob", "alice"]
    assert [m.length for m in result.transcript.messages] == [cfg.n_heads * cfg.d_head * P,
                                                               cfg.n_heads * (cfg.d_head + 2) * P]
    assert result.bits == cfg.n_heads * (2 * cfg.d_head + 2) * P
    assert result.output_player == "bob"


@settings(max_examples=40)
@given(runs(one_layer_transformers()))
def test_split_attention_equals_forward(case):
    check(*case)


@settings(max_examples=30)
@given(runs(transformers(max_layers=1)))
def test_split_attention_on_every_format_option(case):
    """Models from the project-wide strategy: unembedding or not, any d_vocab_out, activations."""
    check(*case)


@settings(max_examples=60)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 9), st.lists(st.integers(0, 3), max_size=9),
       st.floats(0.1, 300.0), st.integers(0, 2 ** 31))
def test_partials_merge_into_softmax(heads, d, n_extra, labels, scale, seed):
    """Summaries of any partition (empty parts included) merge into softmax attention; scores up to
    ~1e4 do not overflow thanks to the max shift."""
    rng = np.random.default_rng(seed)
    n = len(labels) + n_extra + 1
    labels = labels + [int(x) for x in rng.integers(0, 4, n - len(labels))]
    q, k, v = rng.standard_normal((heads, d)), rng.standard_normal((heads, n, d)), rng.standard_normal((heads, n, d))
    s = scale * np.einsum("he,hne->hn", q, k)
    w = np.exp(s - s.max(1, keepdims=True))
    want = np.einsum("hn,hne->he", w, v) / w.sum(1)[:, None]
    parts = []
    for label in range(5):  # label 4 is always empty
        idx = [i for i in range(n) if labels[i] == label]
        parts.append(partial_softmax(torch.from_numpy(q), torch.from_numpy(k[:, idx]), torch.from_numpy(v[:, idx]),
                                     scale))
    got = merge(parts).numpy()
    assert np.isfinite(got).all()
    assert np.abs(got - want).max() <= 1e-12


def test_target_must_be_bobs():
    from compilers.model import TransformerConfig
    from mpcsim.testing import random_transformer

    model = random_transformer(TransformerConfig(d_model=3, n_layers=1, n_heads=1, d_head=2, d_mlp=0, d_vocab=4,
                                                 n_ctx=6, dtype="float64"), 0)
    a, b = split_tokens([1, 2, 3], [2])
    with pytest.raises(ValueError, match="Bob must hold the target position 2"):
        run_two_party(SplitAttentionProtocol(model, 2), a, b)
    with pytest.raises(ValueError, match="one layer"):
        SplitAttentionProtocol(random_transformer(TransformerConfig(
            d_model=3, n_layers=2, n_heads=1, d_head=2, d_mlp=0, d_vocab=4, n_ctx=6, dtype="float64"), 0), 0)
