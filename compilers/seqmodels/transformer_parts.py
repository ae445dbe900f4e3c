"""The token-local pieces of ``compilers.model.Transformer`` that a communication protocol runs
itself: embedding at given positions, the head output projection, the rest of a block after
attention (residual + MLP) and the readout. Only attention mixes positions (P2 Def. 2.1–2.2), so a
protocol reproduces a forward pass by communicating attention summaries and calling these.
"""
from __future__ import annotations

import torch

from ..model import Attention, Block, Transformer


def embed_at(model: Transformer, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x_i = W_E[X_i] + W_pos[i] for the given (0-indexed) positions: (n,) → (n, d_model)."""
    if positions.numel() and int(positions.max()) >= model.cfg.n_ctx:
        raise ValueError(f"position {int(positions.max())} is beyond the model's context n_ctx = {model.cfg.n_ctx}")
    return model.W_E[tokens] + model.W_pos[positions]  # (n, d_model)


def head_inputs(block: Block, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of every head for residuals x (n, d_model) → three (H, n, d_head)."""
    q, k, v = block.attn.qkv(block.ln1(x)[None])  # (1, H, n, d_head)
    return q[0], k[0], v[0]


def heads_out(attn: Attention, z: torch.Tensor) -> torch.Tensor:
    """Σ_h z_h W_O[h] + b_O for per-head attention outputs z (H, n, d_head) → (n, d_model)."""
    return torch.einsum("hne,hed->nd", z, attn.W_O) + attn.b_O


def finish_block(block: Block, x: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
    """The block after its attention: x ← x + attn_out; x ← x + MLP(LN2(x)) (as ``Block.forward``)."""
    x = x + attn_out
    if block.mlp is not None:
        x = x + block.mlp(block.ln2(x))
    return x  # (n, d_model)


def readout(model: Transformer, x: torch.Tensor) -> torch.Tensor:
    """ψ: final layer norm and unembedding (or the residual itself when the model has none)."""
    x = model.ln_final(x)
    return x @ model.W_U + model.b_U if model.cfg.unembed else x


def output_width(model: Transformer) -> int:
    """Numbers in one position's output: d_vocab_out (or d_vocab), or d_model without unembedding."""
    cfg = model.cfg
    return (cfg.d_vocab_out or cfg.d_vocab) if cfg.unembed else cfg.d_model
