"""A one-layer transformer as a two-message Alice–Bob protocol (attention-as-protocol lemma,
THEORY.md a.6, two-way version; the reduction behind P1 and IH1).

The positions are split between Alice (any set A) and Bob (the rest, B); the target position i
is public and held by Bob. Per head h (P2 Def. 2.1 with the model's scale c):

1. Bob → Alice: q_i^h for every head — H·d_head numbers.
2. Alice → Bob: (M_A, Z_A, S_A) per head over her positions j (j ≤ i when causal), in the
   max-shifted form of ``softmax_split`` — H·(d_head + 2) numbers.
3. Bob merges with his own (M_B, Z_B, S_B), applies W_O, the residual, the MLP and ψ: the model's
   output at i.

Exact cost: bits = H·(2·d_head + 2)·p, with p the bits of the model's dtype (64 for float64);
this is the O(m·H·p) of the lemma with m = d_head per head.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from mpcsim.twoparty import Transcript, TwoPartyProtocol

from ..model import Transformer
from .codec import bits_floats, float_bits, precision_bits
from .softmax_split import bits_partial, merge, partial_bits, partial_softmax
from .transformer_parts import embed_at, finish_block, head_inputs, heads_out, readout


@dataclass(frozen=True)
class PartyTokens:
    """One party's share: the tokens at its (0-indexed) positions."""

    positions: tuple[int, ...]
    tokens: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.positions) != len(self.tokens):
            raise ValueError(f"{len(self.positions)} positions but {len(self.tokens)} tokens")


def split_tokens(tokens: Sequence[int], alice_positions: Sequence[int]) -> tuple[PartyTokens, PartyTokens]:
    """Alice gets ``alice_positions``, Bob every other position."""
    a = sorted(set(alice_positions))
    b = [i for i in range(len(tokens)) if i not in set(a)]
    return (PartyTokens(tuple(a), tuple(int(tokens[i]) for i in a)),
            PartyTokens(tuple(b), tuple(int(tokens[i]) for i in b)))


def split_attention_bits(n_heads: int, d_head: int, p: int) -> int:
    """The exact transcript length: H·d_head·p (Bob's queries) + H·(d_head + 2)·p (Alice's summaries)."""
    return n_heads * (2 * d_head + 2) * p


class SplitAttentionProtocol(TwoPartyProtocol):
    """The two-message protocol above for a one-layer ``Transformer`` and public target ``target``."""

    first = "bob"
    rounds = 2

    def __init__(self, model: Transformer, target: int):
        if model.cfg.n_layers != 1:
            raise ValueError(f"the attention-as-protocol lemma is for one layer, the model has {model.cfg.n_layers}")
        if not 0 <= target < model.cfg.n_ctx:
            raise ValueError(f"target position {target} is outside the context [0, {model.cfg.n_ctx})")
        self.model = model.eval()
        self.target = target
        self.dtype = model.cfg.torch_dtype
        self.name = f"split-attention(target={target})"

    @property
    def expected_bits(self) -> int:
        cfg = self.model.cfg
        return split_attention_bits(cfg.n_heads, cfg.d_head, precision_bits(self.dtype))

    def _residuals(self, own: PartyTokens) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.tensor(own.positions, dtype=torch.long)
        keep = pos <= self.target if self.model.cfg.causal else torch.ones_like(pos, dtype=torch.bool)
        pos = pos[keep]
        toks = torch.tensor(own.tokens, dtype=torch.long)[keep]
        return pos, embed_at(self.model, toks, pos)  # (n,), (n, d_model)

    def _partial_over(self, own: PartyTokens, q: torch.Tensor):
        _, x = self._residuals(own)
        _, k, v = head_inputs(self.model.blocks[0], x)
        return partial_softmax(q, k, v, self.model.cfg.scale)

    def _target_row(self, own: PartyTokens) -> torch.Tensor:
        if self.target not in own.positions:
            raise ValueError(f"{self.name}: Bob must hold the target position {self.target}")
        t = own.positions.index(self.target)
        return embed_at(self.model, torch.tensor([own.tokens[t]]), torch.tensor([self.target]))  # (1, d_model)

    @torch.no_grad()
    def message(self, r: int, own: PartyTokens, transcript: Transcript) -> str:
        cfg = self.model.cfg
        if r == 1:  # Bob: the target's query, per head
            q, _, _ = head_inputs(self.model.blocks[0], self._target_row(own))
            return float_bits(q[:, 0], self.dtype)  # H·d_head numbers
        q = torch.from_numpy(bits_floats(transcript[0].bits, self.dtype, (cfg.n_heads, cfg.d_head)))
        return partial_bits(self._partial_over(own, q), self.dtype)  # Alice: H·(d_head + 2) numbers

    @torch.no_grad()
    def output(self, own: PartyTokens, transcript: Transcript) -> np.ndarray:
        cfg, block = self.model.cfg, self.model.blocks[0]
        x_i = self._target_row(own)
        q = torch.from_numpy(bits_floats(transcript[0].bits, self.dtype, (cfg.n_heads, cfg.d_head)))
        alice = bits_partial(transcript[1].bits, cfg.n_heads, cfg.d_head, self.dtype)
        z = merge([alice, self._partial_over(own, q)])  # (H, d_head)
        x = finish_block(block, x_i, heads_out(block.attn, z[:, None, :]))
        return readout(self.model, x)[0].numpy()
