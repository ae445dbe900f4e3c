"""The numerics contract: exact at the edge of the range, refusal just past it, real score margins,
and every attention form's weights realising its logical scores."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from compilers.attention_forms import form_of, head_numerics, logical_scores
from compilers.errors import NumericsError
from compilers.graph_to_layout import encode_registers
from compilers.hop_compile import compile_hop
from compilers.ir import (
    Aggregate, Comparison, Indices, LastOccurrence, Linear, LookUp, Map, Program, Select, SelectorWidth, Shift, Tokens,
)
from compilers.library import hop_program, sort_unique_program
from compilers.numerics import DTYPES, dtype_facts, max_exact_n, observed_margins, softmax_scale
from compilers.pipeline import compile_program
from compilers.program_to_graph import program_to_graph
from compilers.reference_eval import evaluate
from protocols.hop_reference import hop


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "float16"])
def test_exp_of_minus_t_is_zero_in_the_dtype(dtype):
    """T is chosen so that e^{−T} rounds to exactly 0 (unselected keys get weight 0), and it is
    not absurdly large: e^{−T/8} is still a positive number."""
    facts = dtype_facts(dtype)
    dt = getattr(torch, dtype)
    assert torch.exp(torch.tensor(-facts.underflow, dtype=dt)).item() == 0.0
    assert torch.exp(torch.tensor(-facts.underflow / 8, dtype=torch.float32)).item() > 0.0
    assert float(torch.finfo(dt).eps) == 2.0 ** (1 - facts.precision)  # p significand bits


def _gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u)


def test_hop_exact_range_is_the_last_occurrence_bound():
    """Recompute N_max from the contract by hand: the last-occurrence head has scores
    M·match + j (M = N + 1, 3 nonzero products, margin 1), so 4·γ_6·(2N + 1) ≤ 1."""
    graph = program_to_graph(hop_program(3, range(4)))
    for dtype in ("float32", "bfloat16"):
        u = 2.0 ** -DTYPES[dtype].precision
        expected = math.floor((1 / (4 * _gamma(6, u)) - 1) / 2)
        assert max_exact_n(graph, dtype) == expected
    assert max_exact_n(graph, "float32") == 349_524
    assert max_exact_n(graph, "bfloat16") == 4
    # hop_0 and hop_1 share the head; hop_0 has none and nothing binds below the search cap
    assert max_exact_n(program_to_graph(hop_program(0, range(4))), "bfloat16") >= 1 << 40


def test_exact_at_the_edge_and_refused_just_past_it_bfloat16():
    """bfloat16: exact on every sequence at N = N_max (exhaustively), refused at N_max + 1."""
    n_max = max_exact_n(program_to_graph(hop_program(2, range(3))), "bfloat16")
    model = compile_hop(2, n_max, 3, "bfloat16")
    for n in range(1, n_max + 1):
        batch = [list(x) for x in itertools.product(range(3), repeat=n)]
        assert model.run_batch(batch) == [hop(x, 2) for x in batch]
    with pytest.raises(NumericsError, match=rf"largest exact N = {n_max}\b.*binding constraint: layer 2 head"):
        compile_hop(2, n_max + 1, 3, "bfloat16")


def test_refused_just_past_the_float32_edge():
    n_max = max_exact_n(program_to_graph(hop_program(16, range(4))), "float32")
    with pytest.raises(NumericsError, match=rf"N = {n_max + 1} is beyond.*largest exact N = {n_max}"):
        compile_hop(16, n_max + 1, 4)


def test_float32_margin_at_the_edge_of_the_range():
    """At N = N_max(float32), run the last-occurrence head's real float32 scores for the last
    query rows of a random sequence (on the exact layer-2 input): the best key is find¹(i), every
    other key trails by ≥ T, and softmax puts weight exactly 1 on it."""
    n = max_exact_n(program_to_graph(hop_program(1, range(4))), "float32")
    model = compile_hop(1, n, 4)
    rng = np.random.default_rng(0)
    xs = rng.integers(0, 4, size=(1, n))
    # the reference evaluator is O(n²); the registers before layer 2 are simple enough to write down
    tokens = np.concatenate([[-1], xs[0]])
    prev = np.concatenate([[-1, -1], xs[0, :-1]])
    vals = {"tokens": tokens[None], "indices": np.arange(n + 1)[None], "prev_pos": np.maximum(np.arange(n + 1) - 1, 0)[None],
            "prev_token": prev[None]}
    x = torch.as_tensor(encode_registers(model.layout, vals, upto_stage=2), dtype=torch.float32)
    attn = model.model.blocks[1].attn
    rows = slice(n - 64, n + 1)
    with torch.no_grad():
        q, k, _ = attn.qkv(x)
        scores = (q[:, :, rows] @ k.transpose(-1, -2)) * model.model.cfg.scale  # (1, 1, 65, n+1)
        visible = torch.arange(n + 1)[None, :] <= torch.arange(n + 1)[rows][:, None]
        scores = scores.masked_fill(~visible, -math.inf)[0, 0].double()
        weights = torch.softmax(scores.float(), dim=-1)
    best = scores.argmax(dim=-1).numpy()
    expected = [max([j for j in range(2, i + 1) if xs[0, j - 2] == xs[0, i - 1]], default=0) for i in range(n - 64, n + 1)]
    assert best.tolist() == expected
    top = scores.max(dim=-1).values
    second = scores.masked_fill(scores == top[:, None], -math.inf).max(dim=-1).values
    assert (top - second).min().item() >= DTYPES["float32"].underflow
    assert torch.equal(weights.max(dim=-1).values, torch.ones(65))
    assert int((weights > 0).sum()) == 65


@pytest.mark.parametrize("program,alphabet", [
    (hop_program(16, range(4)), None),
    (sort_unique_program(tuple(range(12))), None),
])
def test_observed_margins_meet_the_contract(program, alphabet):
    """On the inputs actually run, every head's best score beats every other by ≥ T."""
    model = compile_program(program, 12 if "sort" in program.name else 64)
    rng = np.random.default_rng(1)
    if "sort" in program.name:
        batch = [rng.permutation(12).tolist() for _ in range(8)]
    else:
        batch = rng.integers(0, 4, size=(8, 64)).tolist()
    margins = observed_margins(model, model.token_ids(batch))
    assert margins and all(m.holds for m in margins), [m for m in margins if not m.holds]


def _form_programs():
    toks = Tokens((0, 1, 2))
    idx = Indices()
    prev = LookUp(Shift(idx, -1), toks, label="prev")
    width = SelectorWidth(Select(toks, toks, Comparison.LEQ), label="width")
    return [
        ("position", Program(prev), {}),
        ("position-circle", Program(prev), {"position_code": "circle"}),
        ("last_occurrence", Program(LastOccurrence(prev, toks, idx)), {}),
        ("last_occurrence-binary", Program(LastOccurrence(prev, toks, idx)), {"categorical_code": "binary"}),
        ("table", Program(Aggregate(Select(toks, toks, Comparison.LT), Map(lambda t: t, toks, numeric=True))), {}),
        ("constant", Program(Aggregate(Select(toks, toks, Comparison.TRUE), Map(lambda t: t, toks, numeric=True)),
                             causal=False), {}),
        ("width", Program(width, causal=False), {}),
        ("quadratic-indices", Program(Aggregate(Select(idx, Linear(((idx, -1),), 7), Comparison.EQ), toks),
                                      causal=False), {}),
        ("quadratic-default", Program(LookUp(width, toks)), {}),
    ]


@pytest.mark.parametrize("name,program,options", _form_programs(), ids=[p[0] for p in _form_programs()])
def test_weights_realise_the_logical_scores(name, program, options):
    """For each attention form: (x W_Q + b_Q)·(x W_K + b_K) / (c·√d_head) on the model's own
    residual equals the logical score of ``attention_forms.logical_scores`` (float64 model)."""
    n = 6
    model = compile_program(program, n, dtype="float64", **options)
    rng = np.random.default_rng(5)
    xs = rng.integers(0, 3, size=(4, n))
    vals = evaluate(model.graph, xs, n, model.codes)
    with torch.no_grad():
        residuals = model.model.residuals(torch.as_tensor(model.token_ids(xs.tolist())))
    facts = dtype_facts("float64")
    for head in model.graph.heads:
        num = head_numerics(head, n, model.codes, model.graph.causal)
        c = softmax_scale(num.margin, facts) * math.sqrt(model.model.cfg.d_head)
        attn = model.model.blocks[head.layer - 1].attn
        h = model.graph.heads_of(head.layer).index(head)
        with torch.no_grad():
            q, k, _ = attn.qkv(residuals[head.layer - 1])
        raw = (q[:, h] @ k[:, h].transpose(-1, -2)).numpy() / c
        want = logical_scores(head, vals, n, model.codes, model.graph.causal)
        assert np.allclose(raw, want, rtol=1e-12, atol=1e-9), (name, form_of(head))
        if form_of(head) != "position" or model.codes.position != "circle":
            assert np.array_equal(np.rint(want), want)  # integer scores


def test_how_the_alphabet_enters_the_exact_range():
    """One-hot tokens: the alphabet does not change N_max; binary token codes: N_max shrinks as
    the code length ⌈log2(|Σ|+1)⌉ grows (the last-occurrence scores scale with it)."""
    from compilers.hop_compile import exact_range_table

    rows = exact_range_table(4, (2, 64, 65, 1000, 100_000), ("float32",))
    onehot = [r["max_exact_n"]["float32"] for r in rows if r["token_code"] == "onehot"]
    binary = [r["max_exact_n"]["float32"] for r in rows if r["token_code"] == "binary"]
    assert onehot == [349_524, 349_524]
    assert binary == sorted(binary, reverse=True) and binary[0] < onehot[0]
    u = 2.0 ** -24
    for r in rows[2:]:  # 4·γ_{C+5}·((N+1)·C + 2N) ≤ 2 with C = ⌈log2(|Σ|+1)⌉ (margin 2)
        c = r["alphabet"].bit_length()
        n = r["max_exact_n"]["float32"]
        assert 4 * _gamma(c + 5, u) * ((n + 1) * c + 2 * n) <= 2 < 4 * _gamma(c + 5, u) * ((n + 2) * c + 2 * n + 2)
