"""Softmax attention under the Longformer mask Λ^{w,g} (P2 §5, Cor. 5.4; THEORY.md a.8).

Λ^{w,g}_{ij} = 0 iff |i − j| ≤ w or j ≡ 0 (mod g) (1-indexed positions), and −∞ otherwise: every
position sees a window of w on each side plus the "global" columns at multiples of g. With
``cfg.causal`` the mask is further restricted to j ≤ i. The rest of the model is
``compilers.model.Transformer``.
"""
from __future__ import annotations

import torch

from ...model import Attention, Transformer, TransformerConfig


def longformer_allowed(rows: torch.Tensor, cols: torch.Tensor, window: int, stride: int, causal: bool) -> torch.Tensor:
    """Λ^{w,g} as a boolean (len(rows), len(cols)) matrix for 0-indexed positions (True = attend)."""
    i, j = rows[:, None], cols[None, :]
    allowed = ((i - j).abs() <= window) | ((j + 1) % stride == 0)
    return allowed & (j <= i) if causal else allowed


class LongformerAttention(Attention):
    def __init__(self, cfg: TransformerConfig, window: int, stride: int):
        super().__init__(cfg)
        if window < 0 or stride < 1:
            raise ValueError(f"Longformer needs window w >= 0 and stride g >= 1, got w={window}, g={stride}")
        self.window, self.stride = window, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)  # (B, H, N, d_head)
        pos = torch.arange(x.shape[1])
        mask = longformer_allowed(pos, pos, self.window, self.stride, self.cfg.causal)  # (N, N)
        scores = self.cfg.scale * q @ k.transpose(-1, -2)  # (B, H, N, N)
        scores = scores.masked_fill(~mask, float("-inf"))
        z = torch.softmax(scores, dim=-1) @ v  # (B, H, N, d_head)
        return torch.einsum("bhne,hed->bnd", z, self.W_O) + self.b_O  # (B, N, d_model)


class LongformerTransformer(Transformer):
    """``compilers.model.Transformer`` with every attention layer masked by Λ^{w,g}."""

    def __init__(self, cfg: TransformerConfig, window: int, stride: int):
        super().__init__(cfg)
        self.window, self.stride = window, stride
        for block in self.blocks:
            block.attn = LongformerAttention(cfg, window, stride)
