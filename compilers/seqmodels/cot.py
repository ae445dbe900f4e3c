"""A one-layer causal transformer with chain of thought as an (N_CoT + 1)-round blackboard protocol
(P2 Def. 5.5, Cor. 5.6 proof; THEORY.md b.9, d.1).

Round r = 1..N_CoT + 1 computes the model's output at the query position N + r − 1 (1-indexed):
its token is X_N for r = 1 and the (r − 1)-th CoT token otherwise. As in P2 Prop. E.3/E.4 the
query token X_N (the start vertex v there) is public, and CoT tokens are public once written.

* P_j (j ≥ 2) writes, per head, the max-shifted softmax summary (M, Z, S) of its block for that
  query (``softmax_split``): H·(d_head + 2) numbers.
* P_1 merges these with the summaries of its own block and of the CoT tokens so far, finishes the
  layer (W_O, residual, MLP, ψ) and writes the next CoT token (⌈log2 d_vocab⌉ bits) — or, in the
  last round, the output logits (d_vocab·p bits).

Exactly: bits = (N_CoT + 1)·(k − 1)·H·(d_head + 2)·p + N_CoT·⌈log2 d_vocab⌉ + d_vocab·p.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mpcsim.blackboard import Block, Board, BlackboardProtocol, BlackboardResult, run_blackboard, split_sequence
from mpcsim.errors import ProtocolError
from mpcsim.twoparty import bits_uint, ceil_log2, uint_bits

from .codec import bits_floats, float_bits, precision_bits
from .nets.cot import CoTTransformer
from .softmax_split import bits_partial, merge, partial_bits, partial_softmax
from .transformer_parts import embed_at, finish_block, head_inputs, heads_out, readout


def cot_blackboard_bits(n_heads: int, d_head: int, d_vocab: int, players: int, n_cot: int, p: int) -> int:
    return (n_cot + 1) * (players - 1) * n_heads * (d_head + 2) * p + n_cot * ceil_log2(d_vocab) + d_vocab * p


class CoTProtocol(BlackboardProtocol):
    def __init__(self, model: CoTTransformer, blocks: Sequence[tuple[int, int]], n_cot: int):
        cfg = model.cfg
        if n_cot < 0:
            raise ValueError(f"N_CoT must be >= 0, got {n_cot}")
        self.model, self.blocks, self.n_cot = model, [tuple(b) for b in blocks], n_cot
        self.n = self.blocks[0][1]  # P_1's block ends the input: N
        if self.n + n_cot > cfg.n_ctx:
            raise ValueError(f"N + N_CoT = {self.n + n_cot} exceeds the model's context n_ctx = {cfg.n_ctx}")
        self.players, self.rounds = len(self.blocks), n_cot + 1
        self.dtype = cfg.torch_dtype
        p = precision_bits(self.dtype)
        self.partial_bits = cfg.n_heads * (cfg.d_head + 2) * p
        self.token_bits = ceil_log2(cfg.d_vocab)
        self.message_bits = max(self.partial_bits if self.players > 1 else 0, self.token_bits, cfg.d_vocab * p)
        self.name = f"cot-blackboard(k={self.players}, N_CoT={n_cot})"

    @property
    def expected_bits(self) -> int:
        cfg = self.model.cfg
        return cot_blackboard_bits(cfg.n_heads, cfg.d_head, cfg.d_vocab, self.players, self.n_cot,
                                   precision_bits(self.dtype))

    def cot_tokens(self, board: Board, upto: int | None = None) -> list[int]:
        """The CoT tokens P_1 wrote in rounds 1..upto (default all N_CoT)."""
        upto = self.n_cot if upto is None else upto
        return [bits_uint(board.message(r, 1)) for r in range(1, upto + 1)]

    def _query(self, round: int, board: Board) -> tuple[torch.Tensor, torch.Tensor]:
        """(H, d_head) query and the (1, d_model) residual at position N + round − 1."""
        token = board.public if round == 1 else bits_uint(board.message(round - 1, 1))
        x = embed_at(self.model, torch.tensor([int(token)]), torch.tensor([self.n + round - 2]))
        q, _, _ = head_inputs(self.model.blocks[0], x)
        return q[:, 0], x

    def _partial(self, tokens: Sequence[int], lo: int, q: torch.Tensor):
        x = embed_at(self.model, torch.as_tensor(np.asarray(tokens, dtype=np.int64)), torch.arange(lo, lo + len(tokens)))
        _, k, v = head_inputs(self.model.blocks[0], x)
        return partial_softmax(q, k, v, self.model.cfg.scale)

    @torch.no_grad()
    def message(self, round: int, player: int, own: Block, board: Board) -> str:
        if board.public is None:
            raise ProtocolError(f"{self.name}: the query token X_N must be given as the public input")
        q, x_q = self._query(round, board)
        if player > 1:
            return partial_bits(self._partial(own.data, own.lo, q), self.dtype)
        if int(np.asarray(own.data)[-1]) != int(board.public):
            raise ProtocolError(f"{self.name}: the public query token {board.public} is not P_1's last token X_N")
        cfg = self.model.cfg
        parts = [bits_partial(board.message(round, j), cfg.n_heads, cfg.d_head, self.dtype)
                 for j in range(2, self.players + 1)]
        parts.append(self._partial(own.data, own.lo, q))
        parts.append(self._partial(self.cot_tokens(board, round - 1), self.n, q))  # CoT positions N..N+r−2
        block = self.model.blocks[0]
        x = finish_block(block, x_q, heads_out(block.attn, merge(parts)[:, None, :]))
        logits = readout(self.model, x)[0]  # (d_vocab,)
        if round <= self.n_cot:
            return uint_bits(int(logits.argmax()), self.token_bits)
        return float_bits(logits, self.dtype)

    def decode_output(self, bits: str) -> np.ndarray:
        return bits_floats(bits, self.dtype)


def run_cot_blackboard(model: CoTTransformer, tokens: Sequence[int], blocks: Sequence[tuple[int, int]], n_cot: int
                       ) -> BlackboardResult:
    """Run the protocol on ``tokens`` (X_N public). Read the CoT tokens with ``CoTProtocol.cot_tokens``."""
    x = np.asarray(tokens, dtype=np.int64)
    return run_blackboard(CoTProtocol(model, blocks, n_cot), split_sequence(x, blocks), public=int(x[-1]))
