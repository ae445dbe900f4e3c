"""``mpcsim compile hop`` and ``mpcsim check hop`` (in-process: ``mpcsim.cli.main``)."""
from __future__ import annotations

import json

import numpy as np
import torch

from compilers import export
from mpcsim.cli import main
from protocols.hop_reference import hop_fast


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_compile_hop_writes_a_loadable_model(tmp_path, capsys):
    assert main(["compile", "hop", "--k", "4", "--max-n", "30", "--alphabet", "3", "-o", str(tmp_path), "--json"]) == 0
    doc = _json(capsys)
    assert (doc["layers"], doc["heads"], doc["theorem_depth"]) == (4, 1, 4)
    model = export.load(tmp_path)
    cfg = export.load_config(tmp_path)
    xs = np.random.default_rng(0).integers(0, 3, size=30).tolist()
    ids = torch.tensor([[0] + [t + 1 for t in xs]])
    cols = cfg["compiled"]["layout"]["readout"]["columns"]
    with torch.no_grad():
        got = [cols[c] for c in model(ids)[0, 1:].argmax(-1).tolist()]
    assert got == hop_fast(xs, 4)


def test_check_hop_k16_random_json(capsys):
    """The issue's acceptance check (on a shorter input): full agreement and depth 6."""
    code = main(["check", "hop", "--k", "16", "--random", "3000", "--seed", "3", "--json"])
    doc = _json(capsys)
    assert code == 0 and doc["agree"] is True
    assert (doc["layers"], doc["theorem_depth"], doc["achievable_depth"], doc["heads"]) == (6, 6, 6, 1)
    assert doc["disagreements"] == {"simulator_vs_reference": 0, "transformer_vs_reference": 0,
                                    "simulator_vs_transformer": 0}
    for key in ("width", "params", "dtype", "max_exact_n", "rounds", "total_bits", "max_memory_words", "s"):
        assert key in doc
    assert doc["max_memory_words"] <= doc["s"] and doc["max_exact_n"] >= 3000
    assert all(row["holds"] is not False for row in doc["table"])


def test_check_hop_text_table(tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("the cat sat on the mat and the cat ran to the mat " * 20)
    assert main(["check", "hop", "--k", "3", "--input", str(path), "--tokens", "words"]) == 0
    out = capsys.readouterr().out
    for expected in ("MPC rounds", "transformer layers", "P2 Thm 4.2 depth", "heads per layer", "width m",
                     "max memory per machine", "simulator vs transformer: disagreements",
                     "simulator, transformer and reference agree"):
        assert expected in out


def test_check_refuses_beyond_the_exact_range(capsys):
    code = main(["check", "hop", "--k", "2", "--random", "50", "--dtype", "bfloat16"])
    err = capsys.readouterr().err
    assert code == 2 and "beyond the exact range in bfloat16" in err and "largest exact N = 4" in err
