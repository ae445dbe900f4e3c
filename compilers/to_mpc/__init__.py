"""Transformer weights → MPC protocol (P2 Thm 3.4 and its generalisation Thm C.1).

The pipeline, one module per step:

    token_maps.py  a ``compilers.model.Transformer`` as numpy arrays, and the row-wise maps a
                   token machine computes (embedding, Q/K/V, residual + MLP, ψ)
    plan.py        b = ⌊s/(4mH)⌋, D = ⌈log_b M⌉, machine numbering, the 2D + 3 rounds of a layer
    encoding.py    real numbers as exact 32-bit words (float32: 1 word, float64: 2 words)
    numerics.py    softmax as mergeable (log Z, S) partials, merged stably up the trees
    routing.py     reading memory by role; scatter, compress and tree fan-out as message batches
    protocol.py    the vectorised ``mpcsim.Protocol``
    run.py         compile, run on the simulator, compare with the torch forward

torch is never imported by ``import compilers.to_mpc``.
"""
from .encoding import WORD_BITS, FloatCodec
from .plan import MemoryTooSmall, ModelShape, RoundPhase, Stage, TreePlan, machine_count, min_delta, tree_depth
from .protocol import TransformerProtocol
from .run import (
    FLOAT32_REL_TOL, FLOAT64_REL_TOL, ToMPCRun, compile_to_mpc, relative_error, run_to_mpc, theorem_checks,
    torch_forward,
)
from .token_maps import LayerWeights, ModelWeights, from_torch

__all__ = [
    "FLOAT32_REL_TOL", "FLOAT64_REL_TOL", "FloatCodec", "LayerWeights", "MemoryTooSmall", "ModelShape",
    "ModelWeights", "RoundPhase", "Stage", "ToMPCRun", "TransformerProtocol", "TreePlan", "WORD_BITS",
    "compile_to_mpc", "from_torch", "machine_count", "min_delta", "relative_error", "run_to_mpc",
    "theorem_checks", "torch_forward", "tree_depth",
]
