"""A multi-layer RNN with binary hidden states (P2 §5, THEORY.md a.8; Cor. 5.2).

Layer ℓ maps (Z^{ℓ−1}_i, H^ℓ_{i−1}) to H^ℓ_i = 1[W_ih Z^{ℓ−1}_i + W_hh H^ℓ_{i−1} + b > 0] ∈ {0,1}^m and
outputs Z^ℓ_i = H^ℓ_i, with H^ℓ_0 = 0. "Width m" is m bits of state per layer. The call convention is
that of ``torch.nn.RNN(batch_first=True)``: ``forward(x (B, N, d_in), h0 (L, B, m)) -> (out, h_n)``.
"""
from __future__ import annotations

import torch
from torch import nn


class BinaryRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dtype: torch.dtype = torch.float64):
        super().__init__()
        if min(input_size, hidden_size, num_layers) < 1:
            raise ValueError(f"BinaryRNN needs positive sizes, got {input_size}, {hidden_size}, {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.weight_ih = nn.ParameterList(nn.Parameter(torch.zeros(hidden_size, d, dtype=dtype)) for d in sizes)
        self.weight_hh = nn.ParameterList(
            nn.Parameter(torch.zeros(hidden_size, hidden_size, dtype=dtype)) for _ in sizes
        )
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(hidden_size, dtype=dtype)) for _ in sizes)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, layers: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the first ``layers`` layers (default all). Returns the top run layer's outputs
        (B, N, m) and the final states of the run layers (layers, B, m), all in {0, 1}."""
        layers = self.num_layers if layers is None else layers
        b, n, _ = x.shape
        if h0 is None:
            h0 = torch.zeros(self.num_layers, b, self.hidden_size, dtype=x.dtype)
        finals = []
        z = x  # (B, N, d)
        for l in range(layers):
            drive = z @ self.weight_ih[l].T + self.bias[l]  # (B, N, m): the input part, all positions at once
            h = h0[l]  # (B, m)
            outs = []
            for i in range(n):
                h = (drive[:, i] + h @ self.weight_hh[l].T > 0).to(x.dtype)  # (B, m)
                outs.append(h)
            z = torch.stack(outs, dim=1) if outs else drive[:, :0]  # (B, N, m)
            finals.append(h)
        return z, torch.stack(finals)
