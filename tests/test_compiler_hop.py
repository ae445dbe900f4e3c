"""hop_k compiled to weights (P2 Thm 4.2 scheme): exact against the plain-Python reference on
hypothesis sequences, the paper's distribution, adjacent repeats and real text; depth and heads
against the theorem's numbers; every register of every layer against the reference evaluator."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compilers.graph_to_layout import read_registers
from compilers.hop_compile import compile_hop, position_code_table
from compilers.reference_eval import evaluate
from mpcsim.bounds import hop_theorem_depth, hop_transformer_depth
from protocols.generators import random_sequence, stdlib_text, text_tokens
from protocols.hop_reference import hop, hop_fast

THEORY_EXAMPLE = "abcadbcadb"  # THEORY.md c.2, with its table of hop_k for k = 0..4
THEORY_TABLE = {
    0: "a b c a d b c a d b",
    1: "⊥ ⊥ ⊥ b ⊥ c a d b c",
    2: "⊥ ⊥ ⊥ ⊥ ⊥ ⊥ b ⊥ c a",
    3: "⊥ ⊥ ⊥ ⊥ ⊥ ⊥ ⊥ ⊥ ⊥ b",
    4: "⊥ ⊥ ⊥ ⊥ ⊥ ⊥ ⊥ ⊥ ⊥ ⊥",
}
_CACHE: dict = {}


def compiled(k: int, max_n: int, alphabet: int, **kw):
    key = (k, max_n, alphabet, tuple(sorted(kw.items())))
    if key not in _CACHE:
        _CACHE[key] = compile_hop(k, max_n, alphabet, **kw)
    return _CACHE[key]


@pytest.mark.parametrize("k", sorted(THEORY_TABLE))
def test_the_worked_example_of_theory_c2(k):
    ids = ["abcd".index(c) for c in THEORY_EXAMPLE]
    out = compiled(k, 10, 4).run(ids)
    assert " ".join("⊥" if v is None else "abcd"[v] for v in out) == THEORY_TABLE[k]


def test_depth_and_heads_are_the_theorems_numbers():
    for k in range(0, 33):
        model = compile_hop(k, 16, 3)
        assert model.layers == hop_transformer_depth(k)
        assert model.heads == 1
        if k >= 1 and k & (k - 1) == 0:  # P2 Thm 4.2's ⌊log2 k⌋ + 2, exactly at powers of two
            assert model.layers == hop_theorem_depth(k)
    assert compile_hop(16, 16, 3).layers == 6
    assert compile_hop(0, 16, 3).model.cfg.n_layers == 0
    assert compile_hop(16, 16, 3).model.cfg.d_mlp == 0  # every register is an attention output


@settings(max_examples=25)
@given(k=st.integers(0, 9), alphabet=st.integers(1, 5), data=st.data())
def test_hypothesis_sequences(k, alphabet, data):
    xs = data.draw(st.lists(st.integers(0, alphabet - 1), min_size=1, max_size=24))
    assert compiled(k, 24, alphabet).run(xs) == hop(xs, k)


@settings(max_examples=15)
@given(k=st.integers(1, 6), data=st.data())
def test_adjacent_repeats_are_fixed_points(k, data):
    """find¹(i) = i iff X_{i−1} = X_i (j = i is allowed): runs of one token."""
    runs = data.draw(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=6))
    xs = [t for t, r in runs for _ in range(r)][:20]
    out = compiled(k, 20, 3).run(xs)
    assert out == hop(xs, k)
    for i in range(1, len(xs)):
        if xs[i] == xs[i - 1]:
            assert out[i] == xs[i]


def paper_batch(rng: np.random.Generator, count: int, length: int = 98, alphabet: int = 4) -> np.ndarray:
    """The paper's letters (THEORY.md c.2): S_1 uniform, S_{t+1} uniform over the other letters."""
    return np.stack([random_sequence(length, alphabet, rng, no_adjacent_repeats=True) for _ in range(count)])


def _check_paper_distribution(samples: int) -> None:
    """Every output of the compiled model equals the reference on ``samples`` sequences, for k = 0..16."""
    rng = np.random.default_rng(2024)
    batch = paper_batch(rng, samples)
    rows = batch.tolist()
    for k in range(17):
        out = compiled(k, 98, 4).run_batch(batch, batch_size=256)
        bad = sum(o != hop_fast(r, k) for o, r in zip(out, rows))
        assert bad == 0, f"k={k}: {bad} of {samples} sequences differ"


def test_paper_distribution_every_k():
    """P2's experimental distribution (98 letters, |Σ| = 4, no adjacent repeats): 10,000 samples,
    exact for every k = 0..16 (issue 3's acceptance test)."""
    _check_paper_distribution(10_000)


def test_real_text_words():
    """Real text: CPython's _pydecimal source as words (a vocabulary of thousands: binary token code)."""
    text, _ = stdlib_text()
    ids = text_tokens(text, "words")[0][:3000]
    alphabet = max(ids) + 1
    for k in (1, 3, 16):
        model = compiled(k, len(ids), alphabet)
        assert model.codes.categorical == "binary"
        assert model.run(ids) == hop_fast(ids, k)


def test_real_text_chars():
    text, _ = stdlib_text()
    ids, vocab = text_tokens(text[:4000], "chars")
    for token_code in ("onehot", "binary"):
        model = compiled(4, len(ids), len(vocab), token_code=token_code)
        assert model.run(ids) == hop_fast(ids, 4)


@pytest.mark.parametrize("position_code,token_code", [("binary", "onehot"), ("circle", "onehot"),
                                                      ("binary", "binary"), ("circle", "binary")])
def test_every_register_of_every_layer_matches_the_reference_evaluator(position_code, token_code):
    """Read each register out of the model's residual stream after every layer and compare it with
    the reference evaluator's value (registers computed later are still null)."""
    model = compile_hop(6, 30, 3, position_code=position_code, token_code=token_code)
    rng = np.random.default_rng(7)
    xs = rng.integers(0, 3, size=(16, 30))
    vals = evaluate(model.graph, xs, 30, model.codes)
    with torch.no_grad():
        residuals = model.model.residuals(torch.as_tensor(model.token_ids(xs)))
    for layer, res in enumerate(residuals):
        got = read_registers(model.layout, res.numpy())
        for name, value in got.items():
            if model.graph.stage[name] <= 2 * layer:
                assert np.array_equal(value, vals[name]), (layer, name)
            else:
                assert not np.any(value[:, 1:] > 0), (layer, name)  # not written yet
    assert model.run(xs[0].tolist()) == hop(xs[0].tolist(), 6)


def test_position_code_widths():
    """Binary codes: B = ⌈log2(N+1)⌉ directions per pointer, margin 2; circle: 2, margin 1 − cos(2π/(N+1))."""
    rows = {r["position_code"]: r for r in position_code_table(16, 100, 4)}
    assert rows["binary"]["pointer_dims"] == 7 and rows["binary"]["lookup_margin"] == 2
    assert rows["circle"]["pointer_dims"] == 2
    assert rows["circle"]["lookup_margin"] == pytest.approx(1 - np.cos(2 * np.pi / 101))
    assert rows["circle"]["width"] < rows["binary"]["width"]
    assert rows["circle"]["max_exact_n"]["float32"] < rows["binary"]["max_exact_n"]["float32"]


def test_agrees_with_the_lead_protocol():
    """The compiled transformer against protocols.hop_mpc's pointer-doubling MPC protocol."""
    hop_mpc = pytest.importorskip("protocols.hop_mpc")
    rng = np.random.default_rng(3)
    for k in (1, 2, 5, 16):
        xs = rng.integers(0, 4, size=200).tolist()
        mpc_out, result, _ = hop_mpc.run_hop(xs, k, alphabet_size=4)
        assert compiled(k, 200, 4).run(xs) == mpc_out == hop_fast(xs, k)
        assert result.trace.within_limits()
