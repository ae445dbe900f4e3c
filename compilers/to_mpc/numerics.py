"""Softmax attention as mergeable partial sums, in a numerically stable form (P2 Thm C.1 proof,
Stage 3; THEORY.md b.4).

For query row i and a set A of key positions, the partial is the pair

    ℓ_A = log Z_A,  Z_A = Σ_{j∈A} exp(a_{ij})       and     S_A = Σ_{j∈A} (exp(a_{ij}) / Z_A) · v_j,

so S over all positions is the attention output softmax(a_i)·V. A leaf (i, j) starts with
ℓ = a_{ij}, S = v_j (ℓ = −∞, S = 0 when the mask hides j), and a parent merges its children by

    Z_parent = Σ Z_child,     S_parent = Σ (Z_child / Z_parent) · S_child.

We never form Z itself: with μ = max ℓ_child, the weights are ω_c = exp(ℓ_c − μ) ≤ 1 and
Z_child/Z_parent = ω_c / Σ ω, and ℓ_parent = μ + log Σ ω (log-sum-exp), so no exp overflows.
A set whose every member is masked stays (−∞, 0).
"""
from __future__ import annotations

import numpy as np


def leaf_partials(scores: np.ndarray, values: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leaves: scores (n, H), values (n, H, e), visible (n,) bool → (ℓ (n, H), S (n, H, e))."""
    neg_inf = scores.dtype.type(-np.inf)
    ell = np.where(visible[:, None], scores, neg_inf)
    s = np.where(visible[:, None, None], values, values.dtype.type(0))
    return ell, s


def merge_partials(ell: np.ndarray, s: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive groups of partials: group g is rows starts[g]..starts[g+1]-1 (the last runs
    to the end). ell (n, H), s (n, H, e) → (ℓ (G, H), S (G, H, e))."""
    starts = np.asarray(starts, dtype=np.int64)
    if len(starts) == 0:  # a shard that holds no partials this round
        return ell[:0], s[:0]
    counts = np.diff(np.append(starts, len(ell)))
    if np.any(counts < 1):
        raise ValueError("merge_partials: every group needs at least one partial")
    mu = np.maximum.reduceat(ell, starts, axis=0)  # (G, H)
    mu_rows = np.repeat(mu, counts, axis=0)  # (n, H)
    alive = np.isfinite(mu_rows)  # a group whose partials are all masked has μ = −∞
    omega = np.where(alive, np.exp(ell - np.where(alive, mu_rows, 0)), 0).astype(ell.dtype)  # (n, H), ≤ 1
    z = np.add.reduceat(omega, starts, axis=0)  # (G, H), ≥ 1 where alive
    z_rows = np.repeat(z, counts, axis=0)
    share = np.where(alive, omega / np.where(alive, z_rows, 1), 0).astype(ell.dtype)  # Z_child / Z_parent
    s_parent = np.add.reduceat(share[..., None] * s, starts, axis=0)  # (G, H, e)
    with np.errstate(divide="ignore"):
        ell_parent = np.where(np.isfinite(mu), mu + np.log(np.where(np.isfinite(mu), z, 1)), mu)
    return ell_parent.astype(ell.dtype), s_parent.astype(s.dtype)
