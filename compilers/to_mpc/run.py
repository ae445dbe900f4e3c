"""Entry points: a transformer → its MPC protocol (P2 Thm 3.4), a simulator run, and the report
that puts rounds, machines and memory next to the theorem's exact numbers and the torch forward.

torch is imported only when a torch model is passed in or a reference forward is computed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mpcsim.backends import Backend
from mpcsim.bounds import BoundCheck, mpc_limits
from mpcsim.simulator import Result, Simulator

from .plan import TreePlan, machine_count
from .protocol import TransformerProtocol
from .token_maps import ModelWeights, from_torch

FLOAT64_REL_TOL = 1e-9  # agreement asked of a float64 simulation with the torch forward
FLOAT32_REL_TOL = 1e-5  # and of a float32 one


def as_weights(model) -> ModelWeights:
    """A ``ModelWeights`` as is, or a ``compilers.model.Transformer`` copied into numpy."""
    return model if isinstance(model, ModelWeights) else from_torch(model)


def compile_to_mpc(model, n_tokens: int, *, delta: float | None = None, c: int = 1,
                   memory: int | None = None) -> TransformerProtocol:
    """The P2 Thm 3.4 protocol for ``model`` on N = ``n_tokens`` positions, with local memory
    s = ⌈N^δ′⌉·c words (``delta``) or s = ``memory`` words. Refuses s < 8mH (b < 2) with an error
    naming a δ′ that works."""
    weights = as_weights(model)
    if (delta is None) == (memory is None):
        raise ValueError("give exactly one of delta (s = ⌈N^δ′⌉·c) or memory (s in words)")
    if n_tokens > weights.n_ctx:
        raise ValueError(f"N = {n_tokens} tokens exceed the model's context n_ctx = {weights.n_ctx}")
    if delta is not None:
        plan = TreePlan.for_delta(weights.shape, n_tokens, delta, c)
    else:
        plan = TreePlan.build(weights.shape, n_tokens, memory)
    return TransformerProtocol(weights, plan)


def check_tokens(tokens, d_vocab: int) -> np.ndarray:
    """Token ids as an int64 vector, each in [0, d_vocab) (the error names the position)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be a 1-d integer sequence, got shape {tokens.shape} dtype {tokens.dtype}")
    bad = np.flatnonzero((tokens < 0) | (tokens >= d_vocab))
    if len(bad):
        raise ValueError(f"token {int(tokens[bad[0]])} at position {int(bad[0])} is outside the vocabulary [0, {d_vocab})")
    return tokens.astype(np.int64)


def torch_forward(model, tokens: np.ndarray) -> np.ndarray:
    """The reference: ``compilers.model.Transformer.forward`` on one sequence, as numpy (N, d_out)."""
    import torch

    with torch.no_grad():
        out = model(torch.as_tensor(tokens, dtype=torch.long)[None])
    return out[0].cpu().numpy()


def relative_error(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(max |out − ref|, max |out − ref| / max |ref|): the error relative to the output's scale."""
    diff = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64)), initial=0.0))
    scale = float(np.max(np.abs(ref.astype(np.float64)), initial=0.0))
    return diff, diff / scale if scale > 0 else diff


@dataclass
class ToMPCRun:
    """A simulator run of the protocol, its Trace, and the checks against P2 Thm C.1's exact numbers
    (and the torch forward, when a reference was given)."""

    protocol: TransformerProtocol
    result: Result
    seconds: float
    reference: np.ndarray | None = None
    checks: list[BoundCheck] = field(default_factory=list)

    @property
    def output(self) -> np.ndarray:
        return self.result.output

    @property
    def errors(self) -> tuple[float, float] | None:
        return None if self.reference is None else relative_error(self.output, self.reference)

    def report(self) -> dict:
        plan, trace = self.protocol.plan, self.result.trace
        doc = {
            "plan": plan.summary(),
            "dtype": self.protocol.weights.dtype,
            "word_bits": trace.config.word_bits,
            "words_per_float": plan.shape.words_per_float,
            "rounds": trace.num_rounds,
            "machines_used": trace.machines_used,
            "max_memory_words": trace.max_memory,
            "max_sent_words": trace.max_sent,
            "max_received_words": trace.max_received,
            "total_words": trace.total_words,
            "total_bits": trace.total_bits,
            "seconds": round(self.seconds, 4),
            "bounds": [c.to_dict() for c in self.checks],
        }
        if self.errors is not None:
            doc["max_abs_error"], doc["rel_error"] = self.errors
        return doc


def theorem_checks(protocol: TransformerProtocol, result: Result) -> list[BoundCheck]:
    """Rounds = L·(2D + 3), q = M + M² + M·Σ b^d, and every machine within s (P2 Thm C.1)."""
    plan, trace = protocol.plan, result.trace
    return [
        BoundCheck("rounds", trace.num_rounds, plan.total_rounds, "==", "L·(2D+3), P2 Thm C.1 proof"),
        BoundCheck("machines q", trace.config.q, machine_count(plan.n_tokens, plan.b, plan.depth), "==",
                   "M + M² + M·Σ_{d=1}^{D-1} b^d, P2 Thm C.1 proof"),
        BoundCheck("machines used", trace.machines_used, plan.q, "<=", "P2 Thm C.1 proof"),
        *mpc_limits(trace),
    ]


def run_to_mpc(model, tokens, *, delta: float | None = None, c: int = 1, memory: int | None = None,
               backend: Backend | None = None, reference: np.ndarray | None | bool = True,
               progress: bool = False) -> ToMPCRun:
    """Compile ``model``, run it on ``tokens`` on the simulator (strict: any s-violation raises), and
    check it. ``reference``: True computes the torch forward of ``model`` (a Transformer), an array
    is used as given, None/False skips the comparison."""
    weights = as_weights(model)
    tokens = check_tokens(tokens, weights.d_vocab)
    protocol = compile_to_mpc(weights, len(tokens), delta=delta, c=c, memory=memory)
    start = time.perf_counter()
    result = Simulator(backend, strict=True, progress=progress).run(protocol, tokens)
    seconds = time.perf_counter() - start
    if reference is True:
        if isinstance(model, ModelWeights):
            raise ValueError("reference=True needs the torch Transformer, not ModelWeights")
        reference = torch_forward(model, tokens)
    elif reference is False:
        reference = None
    return ToMPCRun(protocol, result, seconds, reference, theorem_checks(protocol, result))
