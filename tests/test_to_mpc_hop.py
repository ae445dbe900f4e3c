"""Round trip token program → transformer (``compilers.hop_compile``, P2 Thm 4.2) → MPC protocol
(P2 Thm 3.4) → simulator: the answers are exactly ``protocols.hop_reference.hop``'s, in L·(2D + 3) rounds.

``compile_hop(k, max_n, alphabet_size)`` gives a ``CompiledHop``: its ``token_ids`` prepend the start
token, its ``decode`` reads positions 1..n of the readout (⊥ as None).
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from compilers.to_mpc import FLOAT32_REL_TOL, FLOAT64_REL_TOL, from_torch, run_to_mpc
from compilers.to_mpc.plan import min_memory
from protocols.hop_reference import hop

from compilers import hop_compile  # noqa: E402

MAX_N, ALPHABET = 16, 4


def hop_cases() -> list[list[int]]:
    """Random sequences plus the edge cases of THEORY.md c.2 (adjacent repeats, one symbol, no repeats)."""
    rng = random.Random(0)
    cases = [[rng.randrange(ALPHABET) for _ in range(rng.randint(1, MAX_N))] for _ in range(6)]
    cases += [[0, 0, 1, 1, 0, 0], [2] * MAX_N, list(range(ALPHABET)), [1, 2, 1, 2, 3, 1, 2, 3, 3, 0, 1, 2, 1, 0, 0, 2]]
    return cases


@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_compiled_hop_model_through_the_mpc_protocol(k):
    compiled = hop_compile.compile_hop(k, MAX_N, ALPHABET)
    model = compiled.model
    shape = from_torch(model).shape
    tol = FLOAT64_REL_TOL if model.cfg.dtype == "float64" else FLOAT32_REL_TOL
    for seq in hop_cases():
        ids = compiled.token_ids([seq])[0]  # the start token, then the sequence's token ids
        run = run_to_mpc(model, np.asarray(ids), memory=2 * min_memory(shape))
        plan = run.protocol.plan
        assert run.result.trace.num_rounds == model.cfg.n_layers * (2 * plan.depth + 3)
        assert run.errors[1] <= tol
        assert compiled.decode(np.asarray(run.output)[None])[0] == hop(seq, k), f"k = {k}, sequence {seq}"
