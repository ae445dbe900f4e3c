"""``mpcsim comm`` and ``mpcsim blackboard`` (THEORY.md c.3, b.9, b.14)."""
from __future__ import annotations

import json
import random

import pytest

from mpcsim.cli import main


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def width(n: int) -> int:
    w = 0
    while 2 ** w < n:
        w += 1
    return w


@pytest.mark.parametrize("n, k", [(4, 4), (16, 3), (9, 5)])
def test_pointer_chase_right_player(capsys, n, k):
    doc = run_json(capsys, "comm", "pointer-chase", "--n", str(n), "--k", str(k), "--seed", "2")
    rng = random.Random(2)  # the CLI's instance: f_A then f_B drawn from Random(seed)
    f_a = [rng.randint(1, n) for _ in range(n)]
    f_b = [rng.randint(1, n) for _ in range(n)]
    p = 1
    for step in range(k):
        p = (f_a, f_b)[step % 2][p - 1]
    assert doc["output"] == p and doc["correct"]
    assert doc["rounds"] == k and doc["bits"] == k * width(n) == doc["formula_bits"]
    assert [m["speaker"] for m in doc["transcript"]] == ["alice", "bob"] * (k // 2) + ["alice"] * (k % 2)


def test_pointer_chase_wrong_player(capsys):
    doc = run_json(capsys, "comm", "pointer-chase", "--n", "16", "--k", "3", "--first", "bob")
    assert doc["correct"] and doc["strategy"] == "send-function"
    assert doc["rounds"] == 1 and doc["bits"] == 16 * 4 and doc["wrong_first_lower_bound_bits"] == 2
    doc = run_json(capsys, "comm", "pointer-chase", "--n", "16", "--k", "3", "--first", "bob", "--rounds", "4")
    assert doc["correct"] and doc["rounds"] == 4 and doc["bits"] == 12


def test_index_and_disj(capsys):
    doc = run_json(capsys, "comm", "index", "--n", "13")
    assert doc["correct"] and doc["bits"] == 13 and doc["rounds"] == 1
    doc = run_json(capsys, "comm", "disj", "--n", "13")
    assert doc["correct"] and doc["bits"] == 14 and doc["rounds"] == 2


def test_text_output(capsys):
    assert main(["comm", "pointer-chase", "--n", "4", "--k", "4"]) == 0
    out = capsys.readouterr().out
    assert "rounds 4, transcript 8 bits" in out


@pytest.mark.parametrize("model", ["rnn", "gru", "lstm", "binary-rnn", "kernel", "longformer", "cot", "hop-rnn"])
def test_blackboard_models(capsys, model):
    doc = run_json(capsys, "blackboard", model, "--task", "hop", "--k", "2", "--n", "12", "--width", "3",
                   "--features", "2")
    row = doc["row"]
    assert row["n"] == 2 * 2 * 3 + 1 and row["players"] == 2
    assert row["transcript_bits"] == row["formula_bits"]
    assert row["matches_model"]
    assert row["bound"]["threshold"] == row["n"] / 2 ** 6
    if model == "hop-rnn":
        assert row["correct"] and row["rounds"] == 2 and row["bound"]["side"] in ("rounds", "both")
    assert doc["transformer"]["model"] == "transformer"


def test_blackboard_text_and_plot(capsys, tmp_path):
    png = tmp_path / "bits.png"
    assert main(["blackboard", "hop-rnn", "--task", "hop", "--k", "3", "--n", "60", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "hop-rnn" in out and "R>=k or s>=N/k^6" in out and "correct" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_blackboard_other_player_count(capsys):
    doc = run_json(capsys, "blackboard", "hop-rnn", "--k", "2", "--n", "20", "--players", "3", "--alphabet", "3")
    assert doc["row"]["players"] == 3 and doc["row"]["correct"] and doc["row"]["bound"] is None


def test_bad_arguments_are_reported(capsys):
    assert main(["blackboard", "rnn", "--k", "3", "--n", "4"]) == 2
    assert "N >= 2k" in capsys.readouterr().err
    assert main(["comm", "pointer-chase", "--n", "0", "--k", "2"]) == 2
    assert "--n and --k must be >= 1" in capsys.readouterr().err
