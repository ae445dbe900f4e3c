"""Causal kernel attention ("KernelFormer", Performer-style; P2 §5, Cor. 5.3; THEORY.md a.8).

The attention matrix softmax(QKᵀ) is replaced by Q′Kᵀ′ with element-wise feature maps, here the
positive random features of Performer (Choromanski et al. 2021, FAVOR+):

    φ(u) = exp(√c·Ω u − c·|u|²/2) / √m′,   Ω ∈ R^{m′×d_head} fixed, i.i.d. N(0, 1),

so that E_Ω[φ(q)·φ(k)] = exp(c·q·k) with c the model's attention scale. Head h at position i is

    out_i = Σ_{j≤i} (φ(q_i)·φ(k_j)) v_j / Σ_{j≤i} φ(q_i)·φ(k_j)    (causal, normalised).

``forward`` is the quadratic form (the masked N×N matrix Q′K′ᵀ), the textbook definition; the
blackboard protocol uses the linear-time form with the summaries K′ᵀV and K′ᵀ1 instead.
The rest of the model (embedding, residual blocks with MLP, readout) is ``compilers.model.Transformer``.
"""
from __future__ import annotations

import math

import torch

from ...model import Attention, Transformer, TransformerConfig


class KernelAttention(Attention):
    """H heads of causal kernel attention with m′ = ``n_features`` random features per head."""

    def __init__(self, cfg: TransformerConfig, n_features: int, generator: torch.Generator | None = None):
        super().__init__(cfg)
        if n_features < 1:
            raise ValueError(f"kernel attention needs n_features >= 1, got {n_features}")
        omega = torch.randn(cfg.n_heads, n_features, cfg.d_head, generator=generator, dtype=torch.float64)
        self.register_buffer("omega", omega.to(cfg.torch_dtype))  # (H, m′, d_head)

    @property
    def n_features(self) -> int:
        return self.omega.shape[1]

    def features(self, u: torch.Tensor) -> torch.Tensor:
        """φ(u) for u (..., H, N, d_head) → (..., H, N, m′)."""
        c = self.cfg.scale
        proj = math.sqrt(c) * torch.einsum("...hne,hfe->...hnf", u, self.omega)  # (..., H, N, m′)
        return torch.exp(proj - 0.5 * c * (u * u).sum(-1, keepdim=True)) / math.sqrt(self.n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)  # (B, H, N, d_head)
        a = self.features(q) @ self.features(k).transpose(-1, -2)  # (B, H, N, N): Q′K′ᵀ
        a = torch.tril(a)  # causal: j ≤ i
        z = (a @ v) / a.sum(-1, keepdim=True)  # (B, H, N, d_head)
        return torch.einsum("bhne,hed->bnd", z, self.W_O) + self.b_O  # (B, N, d_model)


class KernelTransformer(Transformer):
    """``compilers.model.Transformer`` with every attention layer replaced by ``KernelAttention``."""

    def __init__(self, cfg: TransformerConfig, n_features: int, generator: torch.Generator | None = None):
        super().__init__(cfg)
        for block in self.blocks:
            block.attn = KernelAttention(cfg, n_features, generator)

    @property
    def n_features(self) -> int:
        return self.blocks[0].attn.n_features if len(self.blocks) else 0
