"""Causal kernel attention as an L-round blackboard protocol (P2 Cor. 5.3 proof; THEORY.md b.9, d.1).

Blocks as in P2 Prop. E.4 (P_k earliest, P_1 latest). In round ℓ, P_j (j ≥ 2) writes, per head, the
summaries of its block at layer ℓ

    S_j = Σ_{t ∈ block j} φ(k_t) v_tᵀ ∈ R^{m′×d_head}   and   z_j = Σ_{t ∈ block j} φ(k_t) ∈ R^{m′}

(the K′ᵀV of the corollary plus the normaliser K′ᵀ1 that a normalised attention needs). Causal
attention at a position of block j needs only the earlier blocks' sums, which P_{j'} (j' > j) wrote
before it in the same round; inside its block a player uses prefix sums. A player recomputes
layers 1..ℓ−1 of its block from its tokens and the board. P_1's summaries have no reader; in round
L it writes the model's output at position N. Exactly

    bits = (k − 1)·L·H·m′·(d_head + 1)·p + d_out·p,   s = max(H·m′·(d_head + 1)·p, d_out·p),

with p the bits of the model's dtype; d.1's m·m′·H·p counts K′ᵀV alone.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mpcsim.blackboard import Block, Board, BlackboardProtocol, BlackboardResult, run_blackboard, split_sequence

from .codec import bits_floats, float_bits, precision_bits
from .nets.kernel_attention import KernelTransformer
from .transformer_parts import embed_at, finish_block, head_inputs, heads_out, output_width, readout


def kernel_summary_bits(n_heads: int, n_features: int, d_head: int, p: int) -> int:
    """One player's message per layer: H·m′·(d_head + 1) numbers of p bits."""
    return n_heads * n_features * (d_head + 1) * p


def kernel_blackboard_bits(model: KernelTransformer, players: int) -> int:
    cfg, p = model.cfg, precision_bits(model.cfg.torch_dtype)
    summary = kernel_summary_bits(cfg.n_heads, model.n_features, cfg.d_head, p)
    return (players - 1) * cfg.n_layers * summary + output_width(model) * p


class KernelProtocol(BlackboardProtocol):
    def __init__(self, model: KernelTransformer, blocks: Sequence[tuple[int, int]]):
        cfg = model.cfg
        if cfg.n_layers < 1:
            raise ValueError("a kernel-attention model needs at least one layer")
        self.model, self.blocks = model, [tuple(b) for b in blocks]
        self.players, self.rounds = len(self.blocks), cfg.n_layers
        self.dtype = cfg.torch_dtype
        p = precision_bits(self.dtype)
        self.summary_shape = (cfg.n_heads, model.n_features, cfg.d_head + 1)
        self.summary_bits = kernel_summary_bits(cfg.n_heads, model.n_features, cfg.d_head, p)
        self.message_bits = max(self.summary_bits if self.players > 1 else 0, output_width(model) * p)
        self.name = f"kernel-blackboard(k={self.players}, L={cfg.n_layers}, m'={model.n_features})"

    @property
    def expected_bits(self) -> int:
        return kernel_blackboard_bits(self.model, self.players)

    def _prefix(self, board: Board, layer: int, player: int) -> torch.Tensor:
        """Σ over the earlier blocks (P_{j'}, j' > player) of [S | z] at ``layer``: (H, m′, d_head + 1)."""
        total = torch.zeros(self.summary_shape, dtype=self.dtype)
        for j in range(player + 1, self.players + 1):
            total += torch.from_numpy(bits_floats(board.message(layer, j), self.dtype, self.summary_shape))
        return total

    def _keys(self, layer: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """φ(q), φ(k) (H, n, m′) and v (H, n, d_head) of a block's residuals x at ``layer``."""
        block = self.model.blocks[layer - 1]
        q, k, v = head_inputs(block, x)
        return block.attn.features(q), block.attn.features(k), v

    def _layer(self, layer: int, x: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """Layer ``layer`` on a block, given the earlier blocks' summaries (linear-time causal form)."""
        fq, fk, v = self._keys(layer, x)
        v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)  # (H, n, d_head + 1): [v | 1]
        running = prefix[:, None] + torch.cumsum(fk[..., None] * v1[:, :, None, :], dim=1)  # (H, n, m′, d_head + 1)
        both = torch.einsum("hnf,hnfe->hne", fq, running)  # (H, n, d_head + 1): [numerator | denominator]
        z = both[..., :-1] / both[..., -1:]  # (H, n, d_head)
        block = self.model.blocks[layer - 1]
        return finish_block(block, x, heads_out(block.attn, z))

    def _residuals(self, own: Block, board: Board, player: int, layers: int) -> torch.Tensor:
        x = embed_at(self.model, torch.as_tensor(np.asarray(own.data), dtype=torch.long), torch.arange(own.lo, own.hi))
        for t in range(1, layers + 1):
            x = self._layer(t, x, self._prefix(board, t, player))
        return x  # (n, d_model)

    @torch.no_grad()
    def message(self, round: int, player: int, own: Block, board: Board) -> str:
        if player == 1:
            if round < self.rounds:
                return ""  # P_1's summaries have no reader
            x = self._residuals(own, board, player, self.rounds)
            return float_bits(readout(self.model, x[-1:])[0], self.dtype)
        x = self._residuals(own, board, player, round - 1)
        _, fk, v = self._keys(round, x)
        v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
        return float_bits(torch.einsum("hnf,hne->hfe", fk, v1), self.dtype)  # [K′ᵀV | K′ᵀ1] per head

    def decode_output(self, bits: str) -> np.ndarray:
        return bits_floats(bits, self.dtype)


def run_kernel_blackboard(model: KernelTransformer, tokens: Sequence[int], blocks: Sequence[tuple[int, int]]
                          ) -> BlackboardResult:
    return run_blackboard(KernelProtocol(model, blocks), split_sequence(np.asarray(tokens, dtype=np.int64), blocks))
