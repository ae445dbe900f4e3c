"""Longformer attention (mask Λ^{w,g}) as an L-round blackboard protocol (P2 Cor. 5.4 proof;
THEORY.md b.9, d.1).

A token t of block j is *exported* if another block can attend to it: it lies within w of the
block's ends (t − lo < w or hi − 1 − t < w) or it is global ((t + 1) ≡ 0 mod g, 1-indexed). Every
position a player needs from outside its block is exported by its owner, because a window that
reaches into a block reaches it through one of its ends.

Round ℓ: each player writes the residuals x^{ℓ−1} (d_model numbers each) of its exported tokens —
the keys and values layer ℓ needs. A player computes x^{ℓ−1} on its own block from its tokens and
rounds 1..ℓ−1 of the board (layer t needs everyone's exported x^{t−1}, all written in round t).
In round L, P_1 instead takes the round-L residuals the others wrote, computes layer L at N and
writes the model's output there. Exactly

    bits = (L·Σ_j |E_j| − |E_1|)·d_model·p + d_out·p

(with one player nothing is exported), and every message is within d.1's bound
(2w + ⌈B/g⌉)·m·H·p, B = the player's block length.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mpcsim.blackboard import Block, Board, BlackboardProtocol, BlackboardResult, run_blackboard, split_sequence

from .codec import bits_floats, float_bits, precision_bits
from .nets.longformer import LongformerTransformer, longformer_allowed
from .transformer_parts import embed_at, finish_block, head_inputs, heads_out, output_width, readout


def exported_positions(lo: int, hi: int, window: int, stride: int) -> np.ndarray:
    """The positions of block [lo, hi) that another block may attend to under Λ^{w,g}."""
    t = np.arange(lo, hi)
    return t[(t - lo < window) | (hi - 1 - t < window) | ((t + 1) % stride == 0)]


def exported_sets(blocks: Sequence[tuple[int, int]], window: int, stride: int) -> list[np.ndarray]:
    """E_1..E_k; all empty when there is one player (nobody else reads)."""
    if len(blocks) == 1:
        return [np.zeros(0, np.int64)]
    return [exported_positions(lo, hi, window, stride) for lo, hi in blocks]


def longformer_blackboard_bits(model: LongformerTransformer, blocks: Sequence[tuple[int, int]]) -> int:
    cfg, p = model.cfg, precision_bits(model.cfg.torch_dtype)
    sizes = [len(e) for e in exported_sets(blocks, model.window, model.stride)]
    return (cfg.n_layers * sum(sizes) - sizes[0]) * cfg.d_model * p + output_width(model) * p


class LongformerProtocol(BlackboardProtocol):
    def __init__(self, model: LongformerTransformer, blocks: Sequence[tuple[int, int]]):
        cfg = model.cfg
        if cfg.n_layers < 1:
            raise ValueError("a Longformer model needs at least one layer")
        self.model, self.blocks = model, [tuple(b) for b in blocks]
        self.players, self.rounds = len(self.blocks), cfg.n_layers
        self.dtype = cfg.torch_dtype
        p = precision_bits(self.dtype)
        self.exported = exported_sets(self.blocks, model.window, model.stride)
        widest = max(len(e) for e in self.exported[1:]) if self.players > 1 else 0
        first = len(self.exported[0]) if self.rounds > 1 else 0
        self.message_bits = max(widest, first) * cfg.d_model * p
        self.message_bits = max(self.message_bits, output_width(model) * p)
        self.name = f"longformer-blackboard(k={self.players}, L={cfg.n_layers}, w={model.window}, g={model.stride})"

    @property
    def expected_bits(self) -> int:
        return longformer_blackboard_bits(self.model, self.blocks)

    def _others(self, board: Board, layer: int, player: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions and residuals x^{layer−1} that the other players exported in round ``layer``."""
        d = self.model.cfg.d_model
        pos, xs = [], []
        for j in range(1, self.players + 1):
            if j != player:
                pos.append(torch.from_numpy(self.exported[j - 1]))
                xs.append(torch.from_numpy(bits_floats(board.message(layer, j), self.dtype, (-1, d))))
        if not pos:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, d, dtype=self.dtype)
        return torch.cat(pos), torch.cat(xs)

    def _layer(self, layer: int, pos: torch.Tensor, x: torch.Tensor, key_pos: torch.Tensor, key_x: torch.Tensor
               ) -> torch.Tensor:
        """Layer ``layer`` at positions ``pos`` (residuals x), attending to keys at ``key_pos``."""
        block, cfg = self.model.blocks[layer - 1], self.model.cfg
        q, _, _ = head_inputs(block, x)
        _, k, v = head_inputs(block, key_x)
        allowed = longformer_allowed(pos, key_pos, self.model.window, self.model.stride, cfg.causal)  # (n, n_keys)
        scores = (cfg.scale * q @ k.transpose(-1, -2)).masked_fill(~allowed, float("-inf"))  # (H, n, n_keys)
        z = torch.softmax(scores, dim=-1) @ v  # (H, n, d_head)
        return finish_block(block, x, heads_out(block.attn, z))

    def _residuals(self, own: Block, board: Board, player: int, layers: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(own.lo, own.hi)
        x = embed_at(self.model, torch.as_tensor(np.asarray(own.data), dtype=torch.long), pos)
        for t in range(1, layers + 1):
            other_pos, other_x = self._others(board, t, player)
            x = self._layer(t, pos, x, torch.cat([pos, other_pos]), torch.cat([x, other_x]))
        return pos, x  # x^{layers} on the block: (n, d_model)

    @torch.no_grad()
    def message(self, round: int, player: int, own: Block, board: Board) -> str:
        if player == 1 and round == self.rounds:
            pos, x = self._residuals(own, board, player, self.rounds - 1)
            other_pos, other_x = self._others(board, self.rounds, player)
            y = self._layer(self.rounds, pos[-1:], x[-1:], torch.cat([pos, other_pos]), torch.cat([x, other_x]))
            return float_bits(readout(self.model, y)[0], self.dtype)
        pos, x = self._residuals(own, board, player, round - 1)
        return float_bits(x[torch.from_numpy(self.exported[player - 1] - own.lo)], self.dtype)

    def decode_output(self, bits: str) -> np.ndarray:
        return bits_floats(bits, self.dtype)


def run_longformer_blackboard(model: LongformerTransformer, tokens: Sequence[int], blocks: Sequence[tuple[int, int]]
                              ) -> BlackboardResult:
    return run_blackboard(LongformerProtocol(model, blocks), split_sequence(np.asarray(tokens, dtype=np.int64), blocks))
