"""hop_k in plain vectorised numpy (pointer doubling on arrays): the speed floor that the MPC
simulation is benchmarked against (benchmarks/engine.py). Same definition as ``hop_reference``
(P2 Def. 4.1, 1-indexed, 0 absorbing)."""
from __future__ import annotations

import numpy as np


def find1_numpy(tokens: np.ndarray) -> np.ndarray:
    """f[0..n] with f[0] = 0 and f[i] = max({0} ∪ {j ≤ i : X_{j−1} = X_i})."""
    x = np.asarray(tokens, dtype=np.int64)
    n = len(x)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    pos = np.arange(1, n + 1, dtype=np.int64)
    # key records (X_{j-1}, j) for j = 2..n, and queries (X_i, i); a key record at j = i sorts first
    keys = np.concatenate([x[:-1], x])
    where = np.concatenate([pos[1:], pos])
    kind = np.concatenate([np.zeros(n - 1, np.int64), np.ones(n, np.int64)])
    order = np.lexsort((kind, where, keys))
    span = n + 1
    value = np.where(kind[order] == 0, keys[order] * span + where[order], keys[order] * span)
    best = np.maximum.accumulate(value)
    is_query = kind[order] == 1
    q_keys = keys[order][is_query]
    q_best = best[is_query]
    answer = np.where(q_best // span == q_keys, q_best % span, 0)
    f = np.zeros(n + 1, dtype=np.int64)
    f[where[order][is_query]] = answer
    return f


def find_k_numpy(tokens: np.ndarray, k: int) -> np.ndarray:
    """find^k(i) for i = 0..n by repeated squaring of the find¹ map (0 absorbing)."""
    f = find1_numpy(tokens)
    result = np.arange(len(f), dtype=np.int64)
    power = f
    while k:
        if k & 1:
            result = power[result]
        k >>= 1
        if k:
            power = power[power]
    return result


def hop_numpy(tokens: np.ndarray, k: int, bottom: int = -1) -> np.ndarray:
    """hop_k(X)_i for i = 1..n as an int array, ``bottom`` where find^k(i) = 0."""
    x = np.asarray(tokens, dtype=np.int64)
    j = find_k_numpy(x, k)[1:]
    out = np.full(len(x), bottom, dtype=np.int64)
    hit = j > 0
    out[hit] = x[j[hit] - 1]
    return out
