"""``mpcsim run hop`` / ``run pointer-chase``: the JSON document's fields, its answers against the
plain-Python definition, the round formula, and clear errors for bad option combinations."""
from __future__ import annotations

import json
import math
import random

import pytest

from mpcsim.cli import main
from protocols.generators import random_sequence
from protocols.hop_reference import hop
from protocols.pointer_chasing import random_layered_instance

FIELDS = ("task", "k", "n", "q", "s", "word_bits", "rounds", "max_memory_words", "max_sent_words",
          "max_received_words", "total_words", "total_bits", "output", "bounds")


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["run", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, 8, 16])
def test_random_input_json_matches_the_definition(capsys, k):
    code, doc = run_json(capsys, "hop", "--k", str(k), "--random", "3000", "--alphabet", "5", "--seed", "7")
    assert code == 0
    assert all(field in doc for field in FIELDS)
    tokens = random_sequence(3000, 5, 7)  # the CLI's documented generator and seed
    expected = [None if v is None else str(v) for v in hop(tokens, k)]
    assert doc["output"] == expected
    # the stated formula: 7 + ceil(log2 k) rounds (0 for k = 0, where hop_0 is the identity)
    assert doc["rounds"] == (0 if k == 0 else 7 + math.ceil(math.log2(k)))
    assert doc["total_bits"] == doc["total_words"] * doc["word_bits"]
    assert max(doc["max_memory_words"], doc["max_sent_words"], doc["max_received_words"]) <= doc["s"]
    assert all(b["holds"] for b in doc["bounds"])


def test_text_input_and_words(capsys, tmp_path):
    text = "the cat sat on the mat and the cat ran\r\nto the mat\n"
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode())
    code, doc = run_json(capsys, "hop", "--k", "2", "--input", str(path), "--tokens", "words")
    words = text.split()
    assert code == 0 and doc["n"] == len(words)
    assert doc["output"] == hop(words, 2)
    code, doc = run_json(capsys, "hop", "--k", "1", "--input", str(path))
    assert doc["n"] == len(text)  # read verbatim: the \r survives
    assert doc["output"] == hop(list(text), 1)


def test_pointer_chase_matches_chasing_the_pointers(capsys):
    for seed in range(4):
        code, doc = run_json(capsys, "pointer-chase", "--q", "5", "--k", "3", "--seed", str(seed))
        inst = random_layered_instance(5, 3, random.Random(seed))
        assert code == 0 and doc["agree"] and doc["answer_in_first_half"] == inst.answer()
        assert doc["n"] == 2 * 3 * 5 + 1  # P2 Prop. E.4: N = 2kq + 1


@pytest.mark.parametrize("argv,message", [
    (["--random", "50", "--tokens", "words"], "--tokens applies to text input"),
    (["--stdlib-module", "argparse", "--alphabet", "3"], "--alphabet applies to --random only"),
    (["--random", "50", "--c", "2"], "--c applies with --delta only"),
    (["--random", "50", "--ray-hosts", "3"], "--ray-hosts applies to --backend ray only"),
    (["--stdlib-module", "numpy"], "not part of the Python standard library"),
    (["--random", "100", "--delta", "0.3"], "need local memory s >="),
    (["--random", "50", "--naive", "--k", "1000000"], "over its cap"),
])
def test_bad_combinations_are_clear_errors(capsys, argv, message):
    if "--k" not in argv:
        argv = argv + ["--k", "2"]
    code = main(["run", "hop", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err
