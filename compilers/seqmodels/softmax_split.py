"""Softmax attention split across parties (the attention-as-protocol lemma, THEORY.md a.6).

For a query q and a set X of positions, head h's partial summary is (M_X, Z_X, S_X) with

    M_X = max_{j∈X} c·q·k_j,   Z_X = Σ_{j∈X} e^{c·q·k_j − M_X},   S_X = Σ_{j∈X} e^{c·q·k_j − M_X} v_j,

(M = −∞, Z = 0, S = 0 for an empty X). Summaries of disjoint sets merge exactly into the
attention output: with M = max_X M_X, out = Σ_X e^{M_X−M} S_X / Σ_X e^{M_X−M} Z_X. The shift by
the maximum keeps every exponential ≤ 1 (the numerically stable form). One summary is
H·(d_head + 2) numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .codec import bits_floats, float_bits


@dataclass(frozen=True, eq=False)
class Partial:
    """Per-head partial softmax summary: m (H,), z (H,), s (H, d_head)."""

    m: torch.Tensor
    z: torch.Tensor
    s: torch.Tensor

    @property
    def numbers(self) -> int:
        return self.m.numel() + self.z.numel() + self.s.numel()


def partial_softmax(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> Partial:
    """The summary of keys k (H, n, d_head) and values v (H, n, d_head) for queries q (H, d_head)."""
    scores = scale * torch.einsum("he,hne->hn", q, k)  # (H, n)
    if scores.shape[1] == 0:
        h, e = v.shape[0], v.shape[2]
        return Partial(torch.full((h,), float("-inf"), dtype=v.dtype), torch.zeros(h, dtype=v.dtype),
                       torch.zeros(h, e, dtype=v.dtype))
    m = scores.max(dim=1).values  # (H,)
    w = torch.exp(scores - m[:, None])  # (H, n), entries in (0, 1]
    return Partial(m, w.sum(1), torch.einsum("hn,hne->he", w, v))


def merge(parts: list[Partial]) -> torch.Tensor:
    """The attention output (H, d_head) from summaries of a partition of the attended positions."""
    m = torch.stack([p.m for p in parts]).max(dim=0).values  # (H,)
    num = sum(torch.exp(p.m - m)[:, None] * p.s for p in parts)  # (H, d_head)
    den = sum(torch.exp(p.m - m) * p.z for p in parts)  # (H,)
    return num / den[:, None]


def partial_bits(p: Partial, dtype) -> str:
    """Write a summary: m, then z, then s, each number in the model's precision."""
    return float_bits(p.m, dtype) + float_bits(p.z, dtype) + float_bits(p.s, dtype)


def bits_partial(bits: str, n_heads: int, d_head: int, dtype) -> Partial:
    vals = torch.from_numpy(bits_floats(bits, dtype))
    h = n_heads
    return Partial(vals[:h], vals[h:2 * h], vals[2 * h:].reshape(h, d_head))
