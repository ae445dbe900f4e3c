"""The transformer → MPC protocol of P2 Thm 3.4 / C.1 on the simulator: its output equals the torch
forward; rounds, machines and words moved equal the theorem's exact numbers; every machine stays
within s (strict mode); the result does not depend on the sharding; bad input gets a clear error."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compilers.model import TransformerConfig
from compilers.to_mpc import (
    FLOAT32_REL_TOL, FLOAT64_REL_TOL, MemoryTooSmall, TransformerProtocol, TreePlan, compile_to_mpc, from_torch,
    run_to_mpc,
)
from mpcsim import MPCViolationError, Simulator
from mpcsim.backends import InProcessBackend
from mpcsim.testing.transformers import random_transformer, transformer_inputs


def theorem_numbers(cfg: TransformerConfig, n: int, s: int) -> dict:
    """P2 Thm C.1's numbers for this model, computed here from the config alone."""
    w = 2 if cfg.dtype == "float64" else 1
    d_out = (cfg.d_vocab_out or cfg.d_vocab) if cfg.unembed else cfg.d_model
    m = max(cfg.d_model, cfg.d_head + 1, d_out) * w  # the widest vector a message carries, in words
    b = s // (4 * m * cfg.n_heads)
    depth = 1
    while b**depth < n:
        depth += 1
    width = [-(-n // b ** (depth - d)) for d in range(depth + 1)]  # nodes per level above some leaf
    x, qkv = cfg.d_model * w, 3 * cfg.n_heads * cfg.d_head * w
    partial, out = cfg.n_heads * (cfg.d_head + 1) * w, d_out * w
    words = 0
    for layer in range(cfg.n_layers):
        row_in = 1 if layer == 0 else x
        row_out = out if layer == cfg.n_layers - 1 else x
        words += n * row_in  # Stage 1: scatter
        words += sum(n * x + n * width[d + 1] * qkv for d in range(depth))  # Stage 2, keeping X_i
        words += sum(n * x + n * width[d] * partial for d in range(depth, 0, -1))  # Stage 3 up to the roots
        words += 2 * n * row_out  # finish (kept), then Stage 4: compress
    return {
        "b": b, "D": depth, "rounds": cfg.n_layers * (2 * depth + 3),
        "q": n + n * n + n * sum(b**d for d in range(1, depth)),
        "used": n + n * n + n * sum(width[1:depth]), "words": words, "out_machines": -(-n * out // s),
    }


def memory_for(cfg: TransformerConfig, extra: int) -> int:
    w = 2 if cfg.dtype == "float64" else 1
    d_out = (cfg.d_vocab_out or cfg.d_vocab) if cfg.unembed else cfg.d_model
    return 8 * max(cfg.d_model, cfg.d_head + 1, d_out) * w * cfg.n_heads + extra  # 8mH: b ≥ 2


def check_run(model, tokens, s: int, tol: float, backend=None):
    cfg, n = model.cfg, len(tokens)
    run = run_to_mpc(model, tokens, memory=s, backend=backend)
    expect = theorem_numbers(cfg, n, s)
    plan, trace = run.protocol.plan, run.result.trace
    assert (plan.b, plan.depth) == (expect["b"], expect["D"])
    assert trace.num_rounds == expect["rounds"]
    assert trace.config.q == expect["q"]
    assert trace.machines_used == expect["used"]
    assert trace.total_words == expect["words"]
    assert trace.total_bits == 32 * expect["words"]
    assert max(trace.max_memory, trace.max_sent, trace.max_received) <= s
    assert run.result.output_machines.max() == expect["out_machines"] - 1  # P2 Def. 2.3: output up front
    assert run.output.shape == run.reference.shape
    _, rel = run.errors
    assert rel <= tol, f"relative error {rel:.3e} > {tol:g}"
    return run


@settings(max_examples=25)
@given(case=transformer_inputs(dtypes=("float64",)), extra=st.integers(0, 2000))
def test_float64_simulation_equals_the_torch_forward(case, extra):
    model, tokens = case
    check_run(model, tokens, memory_for(model.cfg, extra), FLOAT64_REL_TOL)


@settings(max_examples=12)
@given(case=transformer_inputs(dtypes=("float32",)), extra=st.integers(0, 1000))
def test_float32_simulation_equals_the_torch_forward(case, extra):
    model, tokens = case
    check_run(model, tokens, memory_for(model.cfg, extra), FLOAT32_REL_TOL)


def gpt2_like(n_ctx: int = 64, dtype: str = "float64", **over) -> TransformerConfig:
    fields = dict(d_model=8, n_layers=2, n_heads=2, d_head=4, d_mlp=16, d_vocab=11, n_ctx=n_ctx, act="gelu_new",
                  layer_norm=True, causal=True, unembed=False, dtype=dtype)
    fields.update(over)
    return TransformerConfig(**fields)


@pytest.mark.parametrize("n, s", [(1, 256), (2, 256), (33, 256), (64, 256), (40, 10**5)])
def test_edges_of_the_tree_shape(n, s):
    """One token; b = 2 with M a power of b and one past it; D = 1 (b ≥ M)."""
    model = random_transformer(gpt2_like(), seed=n)
    tokens = np.random.default_rng(n).integers(0, 11, n)
    check_run(model, tokens, s, FLOAT64_REL_TOL)


@settings(max_examples=10)
@given(shards=st.integers(2, 9), seed=st.integers(0, 100))
def test_output_and_trace_do_not_depend_on_the_sharding(shards, seed):
    model = random_transformer(gpt2_like(causal=bool(seed % 2)), seed)
    tokens = np.random.default_rng(seed).integers(0, 11, 10)
    protocol = compile_to_mpc(model, 10, memory=300)
    one = Simulator(InProcessBackend(1)).run(protocol, tokens)
    many = Simulator(InProcessBackend(shards)).run(protocol, tokens)
    assert np.array_equal(one.output_words, many.output_words)
    assert one.trace.equals(many.trace)


def test_causal_mask_hides_the_future():
    """Changing the last token changes only the last output row under the causal mask, and every row
    under the full mask (the simulator, not torch, is asked)."""
    for causal, changed_rows in ((True, [7]), (False, list(range(8)))):
        model = random_transformer(gpt2_like(causal=causal), 3)
        a = run_to_mpc(model, [1, 2, 3, 4, 5, 6, 7, 8], memory=256, reference=False).output
        b = run_to_mpc(model, [1, 2, 3, 4, 5, 6, 7, 9], memory=256, reference=False).output
        assert np.flatnonzero(np.any(a != b, axis=1)).tolist() == changed_rows


def test_the_headroom_in_b_is_needed():
    """With a branching factor 4× the formula's (b = 8, D = 2 for M = 16), a depth-1 node forwards
    (q, k, v) to 8 leaves in round 3: 8·48 words > s. Strict mode stops the run and names the round,
    machine and limit."""
    model = random_transformer(gpt2_like(), 0)
    weights = from_torch(model)
    honest = TreePlan.build(weights.shape, 16, 256)
    greedy = TreePlan(weights.shape, 16, 256, 4 * honest.b, 2)  # 8² ≥ 16
    with pytest.raises(MPCViolationError) as info:
        Simulator().run(TransformerProtocol(weights, greedy), np.zeros(16, dtype=np.int64))
    err = info.value
    qkv_words = 3 * 2 * 4 * 2  # q, k, v × H = 2 heads × d_head = 4 × 2 words per float64
    assert (err.round, err.machine, err.value, err.limit) == (3, 16 + 16**2, 8 * qkv_words, 256)
    assert "round 3, machine 272: sends 384 words; limit s = 256" in str(err)


def test_bad_input_is_refused_clearly():
    model = random_transformer(gpt2_like(n_ctx=8), 0)
    with pytest.raises(ValueError, match="token 11 at position 2 is outside the vocabulary"):
        run_to_mpc(model, [0, 1, 11], memory=256)
    with pytest.raises(ValueError, match="N = 9 tokens exceed the model's context n_ctx = 8"):
        compile_to_mpc(model, 9, memory=256)
    with pytest.raises(MemoryTooSmall, match=r"s >= 8mH = 256 words"):
        compile_to_mpc(model, 8, memory=255)
    with pytest.raises(ValueError, match="exactly one of delta"):
        compile_to_mpc(model, 8)
    with pytest.raises(ValueError, match="float32 or float64"):
        from_torch(random_transformer(gpt2_like(dtype="bfloat16"), 0))
    with pytest.raises(ValueError, match="at least one layer"):
        from_torch(random_transformer(gpt2_like(n_layers=0), 0))


def test_delta_sets_the_memory():
    """s = ⌈N^δ′⌉·c (P2 Thm 3.4 with s = O(N^δ′))."""
    model = random_transformer(gpt2_like(), 1)
    protocol = compile_to_mpc(model, 64, delta=0.5, c=40)
    assert protocol.config.s == 8 * 40
    assert protocol.plan.b == 320 // (4 * 8 * 2 * 2)


def test_256_tokens_two_layers_with_the_deepest_trees():
    """N = 256, L = 2 at b = 2 (D = 8, q = 130,816 machines, 38 rounds) in-process, exactly."""
    model = random_transformer(gpt2_like(n_ctx=256, d_model=16, d_head=8), 7)  # m = 32 words, 8mH = 512
    tokens = np.random.default_rng(7).integers(0, 11, 256)
    run = check_run(model, tokens, 512, FLOAT64_REL_TOL)
    assert (run.protocol.plan.depth, run.protocol.config.q, run.result.rounds) == (8, 130_816, 38)
