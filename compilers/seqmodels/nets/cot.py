"""A one-layer causal transformer with chain of thought (P2 Def. 5.5, Cor. 5.6; THEORY.md a.8).

On input X (N tokens) the model writes N_CoT tokens greedily — token N + t is the argmax of its
output at position N + t − 1 — and its answer is the output at position N + N_CoT. The network is
``compilers.model.Transformer`` with one causal layer; its outputs must be tokens again, so
``d_vocab_out`` equals ``d_vocab``.
"""
from __future__ import annotations

import torch

from ...model import Transformer, TransformerConfig


class CoTTransformer(Transformer):
    def __init__(self, cfg: TransformerConfig):
        if cfg.n_layers != 1 or not cfg.causal or not cfg.unembed:
            raise ValueError("a CoT transformer has exactly one causal layer and an unembedding (P2 Def. 5.5)")
        if cfg.d_vocab_out not in (0, cfg.d_vocab):
            raise ValueError(f"CoT outputs are fed back as tokens: d_vocab_out must equal d_vocab = {cfg.d_vocab}")
        super().__init__(cfg)

    @torch.no_grad()
    def generate(self, tokens: torch.Tensor, n_cot: int) -> tuple[list[int], torch.Tensor]:
        """tokens (N,) → (the N_CoT chain-of-thought tokens, the output logits at position N + N_CoT)."""
        seq = tokens.reshape(-1)
        if seq.numel() + n_cot > self.cfg.n_ctx:
            raise ValueError(f"N + N_CoT = {seq.numel() + n_cot} exceeds the model's context n_ctx = {self.cfg.n_ctx}")
        cot: list[int] = []
        for _ in range(n_cot):
            nxt = int(self(seq[None])[0, -1].argmax())
            cot.append(nxt)
            seq = torch.cat([seq, seq.new_tensor([nxt])])
        return cot, self(seq[None])[0, -1]
