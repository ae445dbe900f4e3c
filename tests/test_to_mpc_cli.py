"""``mpcsim to-mpc``: the report's numbers are P2 Thm C.1's, the run agrees with torch, and bad input
or too little memory gives a clear error and exit code 2."""
from __future__ import annotations

import json

import pytest

from mpcsim.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["to-mpc", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_json_report_has_the_theorem_numbers(capsys):
    # demo model: d_model = 16, d_head = 8, H = 2, L = 2, float64 → m = 16·2 = 32 words;
    # s = 16^1·32 = 512 → b = ⌊512/(4·32·2)⌋ = 2, D = ⌈log_2 16⌉ = 4
    code, out, _ = run_cli(capsys, "--demo", "--random", "16", "--delta", "1", "--c", "32", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"]
    plan = doc["plan"]
    assert (plan["s"], plan["m_words"], plan["b"], plan["D"]) == (512, 32, 2, 4)
    assert doc["rounds"] == 2 * (2 * 4 + 3)
    assert plan["q"] == 16 + 16**2 + 16 * (2 + 4 + 8)
    assert max(doc["max_memory_words"], doc["max_sent_words"], doc["max_received_words"]) <= 512
    assert doc["rel_error"] <= 1e-9 and doc["word_bits"] == 32 and doc["words_per_float"] == 2
    assert all(b["holds"] for b in doc["bounds"])


def test_human_report_and_input_file(capsys, tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("3, 1 4 1\n5 9 2 6\n")  # N = 8; s = 600 → b = ⌊600/256⌋ = 2, D = 3: 9 rounds a layer
    code, out, _ = run_cli(capsys, "--demo", "--input", str(tokens), "--memory", "600", "--no-progress")
    assert code == 0
    assert "b = ⌊s/(4mH)⌋ = 2" in out and "rounds 18 (L·(2D+3) = 2·9)" in out and out.rstrip().endswith("OK")
    tokens.write_text("[3, 1, 99]")
    code, _, err = run_cli(capsys, "--demo", "--input", str(tokens), "--memory", "600")
    assert code == 2 and "token 99 at position 2 is outside the vocabulary [0, 32)" in err


def test_too_little_memory_names_what_would_work(capsys):
    code, _, err = run_cli(capsys, "--demo", "--random", "64", "--delta", "0.5")
    assert code == 2 and "s >= 8mH = 512 words" in err and "--c 8" in err
    code, _, err = run_cli(capsys, "--demo", "--random", "4096", "--delta", "0.5", "--c", "1")
    assert code == 2 and "--delta 0.75" in err


def test_gpt2_random_agrees_with_huggingface(capsys):
    pytest.importorskip("transformers")
    config = '{"n_embd": 8, "n_layer": 2, "n_head": 2, "n_positions": 32, "vocab_size": 20}'
    code, out, _ = run_cli(capsys, "--gpt2-random", config, "--random", "12", "--memory", "300", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["hf_rel_error"] <= 1e-9 and doc["rel_error"] <= 1e-9


def test_model_choice_is_checked(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--random", "4", "--memory", "600")
    assert code == 2 and "exactly one model" in err
    code, _, err = run_cli(capsys, str(tmp_path / "absent"), "--random", "4", "--memory", "600")
    assert code == 2 and "no such directory" in err


def test_compiled_model_dir_gets_the_start_token_and_decoded_answers(capsys, tmp_path):
    """A directory written by ``mpcsim compile hop``: to-mpc feeds the start token first, maps token
    values through the exported vocabulary and decodes the readout into hop_k answers."""
    from protocols.hop_reference import hop

    assert main(["compile", "hop", "--k", "2", "--max-n", "20", "-o", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    seq = [0, 1, 1, 2, 3, 0, 1, 2, 0, 3]
    (tmp_path / "in.json").write_text(json.dumps(seq))
    code, out, _ = run_cli(capsys, str(tmp_path / "m"), "--input", str(tmp_path / "in.json"),
                           "--delta", "1", "--c", "64", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"]
    assert doc["N"] == len(seq) + 1  # the start token is a position
    assert doc["decoded_output"] == hop(seq, 2)
    assert doc["disagreements_with_reference"] == 0
    (tmp_path / "bad.json").write_text("[0, 7]")  # 7 is outside the alphabet 0..3
    code, _, err = run_cli(capsys, str(tmp_path / "m"), "--input", str(tmp_path / "bad.json"), "--delta", "1", "--c", "64")
    assert code == 2 and "not in the compiled model's vocabulary" in err
