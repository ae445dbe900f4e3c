"""The P2 §5 table (THEORY.md b.9, d.3): every model runs as a blackboard protocol on a Prop. E.4
instance, agrees with its own forward pass, and lands on the predicted side of R ≥ k or s ≥ N/k⁶."""
from __future__ import annotations

import pytest

from compilers.seqmodels.contrast import MODEL_KINDS, ModelOptions, hop_task, run_row, transformer_row
from mpcsim.bounds import hop_transformer_depth, hop_theorem_depth
from protocols.hop_reference import hop
from protocols.pointer_chasing import encode_as_hop

OPTS = ModelOptions(width=4, layers=2, d_head=2, d_mlp=4, features=3, window=1, stride=5, cot_steps=1, seed=3)


@pytest.fixture(scope="module")
def task():
    return hop_task(30, 3, seed=5)  # q = 5, N = 31, |Σ| = 12


def test_task_is_prop_e4(task):
    assert task.prop_e4 and task.n == 2 * 3 * 5 + 1 and task.alphabet == 12
    assert list(task.tokens) == encode_as_hop(task.instance)
    assert task.answer == hop(list(task.tokens), 3)[-1] == (11 if task.instance.answer() else 12)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_each_model_row(task, kind):
    row = run_row(kind, task, OPTS)
    assert row.matches_model
    assert row.transcript_bits == row.formula_bits
    assert row.bound is not None and row.bound.holds
    if kind == "hop-rnn":
        assert row.correct and row.rounds == 3 and row.bound.rounds_side
    else:  # L = 2 (or N_CoT + 1 = 2) < k = 3: these protocols sit on the size side
        assert row.rounds == 2 and not row.bound.rounds_side and row.bound.size_side


def test_random_split_rows_are_not_bound_checked():
    row = run_row("hop-rnn", hop_task(20, 2, players=3, seed=1), OPTS)
    assert row.correct and row.bound is None and "not applicable" in row.note


def test_transformer_row(task):
    row = transformer_row(task)
    assert row.model == "transformer" and row.bound is None
    if "absent" in row.note:
        assert row.rounds == hop_theorem_depth(3) == 3


def test_bad_task():
    with pytest.raises(ValueError, match="N >= 2k"):
        hop_task(5, 3)
    with pytest.raises(ValueError, match="unknown model"):
        run_row("mamba", hop_task(12, 2), OPTS)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_compiled_transformer_answers_prop_e4(k):
    task = hop_task(2 * k * 2 + 1, k, seed=k)
    row = transformer_row(task)
    assert row.correct, row.note
    assert row.rounds == hop_transformer_depth(k)
