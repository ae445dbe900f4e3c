"""An explicit k-layer RNN that computes hop_k exactly (the contrast of P2 §5; THEORY.md c.2, a.8).

Layer ℓ maps (X_i, Z^{ℓ−1}_i) to (X_i, Z^ℓ_i) with Z^0 = X and Z^ℓ_i = hop_ℓ(X)_i, using

    hop_ℓ(X)_i = hop_{ℓ−1}(X)_{find¹(i)},   find¹(i) = 1 + (last t < i with X_t = X_i)

(find^ℓ = find^{ℓ−1} ∘ find¹, P2 Def. 4.1), so the layer needs, per symbol a, the value
Z^{ℓ−1}_{t+1} right after the last occurrence t of a. Its state is one code per symbol of the
alphabet Σ = {1..A}: 0 = none/⊥, v ∈ Σ = that value, A + 1 = "pending" (a occurred at the previous
position, whose successor value arrives with the current input). At position i the layer
(1) resolves the pending entry with Z^{ℓ−1}_i, (2) outputs the entry of X_i, (3) marks X_i pending.
At most one entry is pending, and step (1) before (2) realises j = i in find¹ (an adjacent repeat).

State: A codes of ⌈log2(A + 2)⌉ bits. That equals A·⌈log2(A + 1)⌉ unless A + 1 is a power of two;
the Prop. E.4 alphabets (A = 2q + 2, so A + 1 is odd and ≥ 5) never are. Tokens are ints 1..A;
outputs use 0 for ⊥.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mpcsim.twoparty import ceil_log2


@dataclass(frozen=True)
class HopRNN:
    alphabet: int
    k: int

    def __post_init__(self) -> None:
        if self.alphabet < 1 or self.k < 1:
            raise ValueError(f"HopRNN needs alphabet >= 1 and k >= 1, got {self.alphabet}, {self.k}")

    @property
    def num_layers(self) -> int:
        return self.k

    @property
    def pending(self) -> int:
        return self.alphabet + 1

    @property
    def code_bits(self) -> int:
        """⌈log2(A + 2)⌉: codes 0 (⊥), 1..A (values), A + 1 (pending)."""
        return ceil_log2(self.alphabet + 2)

    @property
    def state_bits(self) -> int:
        return self.alphabet * self.code_bits

    @property
    def value_bits(self) -> int:
        """⌈log2(A + 1)⌉: one output value of Σ ∪ {⊥}."""
        return ceil_log2(self.alphabet + 1)

    def initial_state(self) -> np.ndarray:
        return np.zeros(self.alphabet, np.int64)

    def check_tokens(self, tokens: Sequence[int]) -> np.ndarray:
        x = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if x.size and (x.min() < 1 or x.max() > self.alphabet):
            raise ValueError(f"HopRNN tokens must lie in 1..{self.alphabet}, got {x.min()}..{x.max()}")
        return x

    def layer(self, x: np.ndarray, z: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One layer over a stretch of positions from ``state``: (Z^ℓ there, the state after)."""
        table = state.copy()
        out = np.zeros(len(x), np.int64)
        pending = np.flatnonzero(table == self.pending)
        prev = int(pending[0]) if pending.size else -1  # the symbol waiting for its successor value
        for i in range(len(x)):
            if prev >= 0:
                table[prev] = z[i]
            a = int(x[i]) - 1
            out[i] = table[a]
            table[a] = self.pending
            prev = a
        return out, table

    def forward(self, tokens: Sequence[int], states: Sequence[np.ndarray | None] | None = None,
                layers: int | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Run the first ``layers`` layers (default k) from per-layer initial ``states`` (None =
        empty). Returns Z^layers (hop_layers(X) with 0 for ⊥ when starting empty) and the final
        state of each run layer."""
        x = self.check_tokens(tokens)
        layers = self.k if layers is None else layers
        states = list(states) if states is not None else [None] * layers
        z, finals = x, []
        for l in range(layers):
            z, table = self.layer(x, z, self.initial_state() if states[l] is None else states[l])
            finals.append(table)
        return z, finals

    def hop(self, tokens: Sequence[int]) -> list:
        """hop_k(X) at every position, None for ⊥ (the format of ``protocols.hop_reference.hop``)."""
        z, _ = self.forward(tokens)
        return [int(v) if v else None for v in z]
