"""Causal kernel attention as an L-round blackboard protocol (P2 Cor. 5.3; THEORY.md b.9, d.1):
output == the model's forward (|Δ| ≤ 1e-12·max(1, |y|), float64), bits == the exact formula."""
from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings

from compilers.model import TransformerConfig
from compilers.seqmodels.kernel import KernelProtocol
from compilers.seqmodels.nets.kernel_attention import KernelAttention
from mpcsim.blackboard import run_blackboard, split_sequence
from mpcsim.testing import kernel_models, token_runs

TOL = 1e-12
P = 64


def runs():
    return token_runs(kernel_models())


@settings(max_examples=30)
@given(runs())
def test_kernel_protocol_equals_forward(case):
    model, tokens, blocks = case
    cfg, k = model.cfg, len(blocks)
    result = run_blackboard(KernelProtocol(model, blocks), split_sequence(tokens, blocks))
    with torch.no_grad():
        reference = model(torch.from_numpy(tokens)[None])[0, -1].numpy()
    assert np.abs(result.output - reference).max() <= TOL * max(1.0, np.abs(reference).max())
    summary = cfg.n_heads * model.n_features * (cfg.d_head + 1) * P  # K'ᵀV and K'ᵀ1 per head
    assert result.bits == (k - 1) * cfg.n_layers * summary + cfg.d_vocab * P
    assert result.rounds == cfg.n_layers
    assert all(len(e.bits) == summary for e in result.board.entries if e.player > 1)


def test_kernel_attention_matches_its_definition():
    """KernelAttention.forward against loops over out_i = Σ_{j≤i} φ(q_i)·φ(k_j) v_j / Σ_{j≤i} φ(q_i)·φ(k_j)."""
    cfg = TransformerConfig(d_model=4, n_layers=1, n_heads=2, d_head=3, d_mlp=0, d_vocab=5, n_ctx=8, dtype="float64")
    attn = KernelAttention(cfg, 6, torch.Generator().manual_seed(3))
    rng = np.random.default_rng(1)
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(p.shape) * 0.5))
    x = rng.standard_normal((7, 4))
    with torch.no_grad():
        got = attn(torch.from_numpy(x)[None])[0].numpy()
    c, omega = cfg.scale, attn.omega.numpy()
    w_q, w_k, w_v, w_o = (getattr(attn, n).detach().numpy() for n in ("W_Q", "W_K", "W_V", "W_O"))
    b_q, b_k, b_v, b_o = (getattr(attn, n).detach().numpy() for n in ("b_Q", "b_K", "b_V", "b_O"))

    def phi(u, h):
        return np.exp(math.sqrt(c) * omega[h] @ u - c * (u @ u) / 2) / math.sqrt(6)

    want = np.zeros((7, 4))
    for i in range(7):
        for h in range(2):
            q = x[i] @ w_q[h] + b_q[h]
            num, den = np.zeros(3), 0.0
            for j in range(i + 1):
                kj, vj = x[j] @ w_k[h] + b_k[h], x[j] @ w_v[h] + b_v[h]
                a = phi(q, h) @ phi(kj, h)
                num, den = num + a * vj, den + a
            want[i] += (num / den) @ w_o[h]
        want[i] += b_o
    assert np.abs(got - want).max() <= 1e-12


def test_performer_features_estimate_the_softmax_kernel():
    """E_Ω[φ(q)·φ(k)] = exp(c·q·k) (FAVOR+): with m' = 40000 features the estimate is within 3%."""
    cfg = TransformerConfig(d_model=2, n_layers=1, n_heads=1, d_head=2, d_mlp=0, d_vocab=2, n_ctx=2, dtype="float64")
    attn = KernelAttention(cfg, 40000, torch.Generator().manual_seed(0))
    q = torch.tensor([[[0.3, -0.5]]], dtype=torch.float64)  # (H, n, d_head)
    k = torch.tensor([[[0.6, 0.2]]], dtype=torch.float64)
    estimate = float((attn.features(q) * attn.features(k)).sum())
    exact = math.exp(cfg.scale * float((q * k).sum()))
    assert abs(estimate / exact - 1) < 0.03
