"""Longformer attention (mask Λ^{w,g}) as an L-round blackboard protocol (P2 Cor. 5.4; THEORY.md
b.9, d.1): output == the model's forward (|Δ| ≤ 1e-12·max(1, |y|), float64), bits == the exact
count of boundary and global tokens written, each message within d.1's (2w + ⌈B/g⌉)·m·H·p."""
from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compilers.seqmodels.longformer import LongformerProtocol, exported_positions
from compilers.seqmodels.nets.longformer import longformer_allowed
from mpcsim.blackboard import run_blackboard, split_sequence
from mpcsim.testing import contiguous_splits, longformer_models, token_runs

TOL = 1e-12
P = 64


def allowed(i: int, j: int, w: int, g: int, causal: bool) -> bool:
    """Λ^{w,g}_{ij} = 0 (attend) iff |i − j| ≤ w or j ≡ 0 (mod g), 1-indexed (THEORY.md a.8)."""
    ok = abs(i - j) <= w or j % g == 0
    return ok and (j <= i or not causal)


def written_tokens(lo: int, hi: int, w: int, g: int) -> int:
    """Tokens of block [lo, hi) (0-indexed) within w of an end, or global."""
    return sum(1 for t in range(lo, hi) if t - lo < w or hi - 1 - t < w or (t + 1) % g == 0)


def runs():
    return token_runs(longformer_models())


@settings(max_examples=30)
@given(runs())
def test_longformer_protocol_equals_forward(case):
    model, tokens, blocks = case
    cfg, k, w, g = model.cfg, len(blocks), model.window, model.stride
    result = run_blackboard(LongformerProtocol(model, blocks), split_sequence(tokens, blocks))
    with torch.no_grad():
        reference = model(torch.from_numpy(tokens)[None])[0, -1].numpy()
    assert np.abs(result.output - reference).max() <= TOL * max(1.0, np.abs(reference).max())
    sizes = [written_tokens(lo, hi, w, g) if k > 1 else 0 for lo, hi in blocks]
    assert result.bits == (cfg.n_layers * sum(sizes) - sizes[0]) * cfg.d_model * P + cfg.d_vocab * P
    assert result.rounds == cfg.n_layers
    for e in result.board.entries:
        if not (e.player == 1 and e.round == cfg.n_layers):
            lo, hi = blocks[e.player - 1]
            assert len(e.bits) <= (2 * w + math.ceil((hi - lo) / g)) * cfg.d_model * cfg.n_heads * P


@settings(max_examples=60)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, min(n, 5)))).flatmap(
    lambda c: st.tuples(st.just(c[0]), contiguous_splits(*c), st.integers(0, 5), st.integers(1, 8))))
def test_every_needed_token_is_written(case):
    """If a position outside block b attends to token j of block b, then j is exported by b."""
    n, blocks, w, g = case
    owner = {t: b for b, (lo, hi) in enumerate(blocks) for t in range(lo, hi)}
    exported = [set(exported_positions(lo, hi, w, g).tolist()) for lo, hi in blocks]
    for i in range(n):
        for j in range(n):
            if owner[i] != owner[j] and allowed(i + 1, j + 1, w, g, causal=False):
                assert j in exported[owner[j]]


def test_mask_matches_the_definition():
    pos = torch.arange(12)
    for w, g, causal in ((0, 1, False), (1, 4, False), (2, 5, True), (3, 20, False)):
        got = longformer_allowed(pos, pos, w, g, causal).numpy()
        want = [[allowed(i + 1, j + 1, w, g, causal) for j in range(12)] for i in range(12)]
        assert got.tolist() == want
