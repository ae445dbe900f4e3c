"""Export: safetensors + JSON (with the residual-layout map); load gives a plain Transformer with
bit-identical outputs, without importing the compiler; never pickle."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

from compilers import export
from compilers.hop_compile import compile_hop
from compilers.library import reverse_program
from compilers.pipeline import compile_program

TL_SHAPES = {  # TransformerLens names and shapes (compilers/model.py)
    "W_E": ("d_vocab", "d_model"), "W_pos": ("n_ctx", "d_model"),
    "blocks.0.attn.W_Q": ("n_heads", "d_model", "d_head"), "blocks.0.attn.W_O": ("n_heads", "d_head", "d_model"),
    "blocks.0.attn.b_Q": ("n_heads", "d_head"), "W_U": ("d_model", "d_vocab_out"),
}


@pytest.mark.parametrize("dtype,n", [("float32", 40), ("bfloat16", 4), ("float64", 40)])
def test_round_trip_is_bit_identical(tmp_path, dtype, n):
    model = compile_hop(5, n, 4, dtype)
    export.save(model, tmp_path)
    loaded = export.load(tmp_path)
    ids = torch.as_tensor(model.token_ids(np.random.default_rng(0).integers(0, 4, size=(8, n)).tolist()))
    with torch.no_grad():
        assert torch.equal(loaded(ids), model.model(ids))
    for name, p in model.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], p) and loaded.state_dict()[name].dtype == p.dtype


def test_files_names_shapes_and_layout_map(tmp_path):
    model = compile_program(reverse_program("abc"), 20)
    export.save(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    doc = json.loads((tmp_path / "config.json").read_text())
    cfg = doc["config"]
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        for name, dims in TL_SHAPES.items():
            assert tuple(f.get_slice(name).get_shape()) == tuple(cfg[d] for d in dims), name
    layout = doc["compiled"]["layout"]
    assert layout["d_model"] == cfg["d_model"] == model.width
    names = [f"{b['register']}:{label}" for b in layout["blocks"] for label in b["labels"]]
    assert names == model.layout.directions() and len(names) == cfg["d_model"]
    assert doc["compiled"]["vocab"] == ["a", "b", "c"] and layout["readout"]["register"] == "reverse"
    assert layout["codes"] == {"position": "binary", "categorical": "onehot"}
    assert not list(tmp_path.glob("*.pkl")) and b"pickle" not in (tmp_path / "model.safetensors").read_bytes()[:200]


def test_load_needs_no_compiler(tmp_path):
    """A fresh interpreter loads and runs the export importing only compilers.export/model."""
    model = compile_hop(3, 16, 3)
    export.save(model, tmp_path)
    ids = model.token_ids([[0, 1, 2, 0, 1, 2, 0, 0, 1]])
    with torch.no_grad():
        want = model.model(torch.as_tensor(ids)).numpy().tolist()
    code = (
        "import json, sys, torch\n"
        "from compilers.export import load\n"
        f"m = load({str(tmp_path)!r})\n"
        f"out = m(torch.tensor({ids.tolist()!r})).detach().numpy().tolist()\n"
        "bad = [k for k in sys.modules if k.startswith('compilers.') and k not in ('compilers.export', 'compilers.model')]\n"
        "print(json.dumps({'out': out, 'bad': bad}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    doc = json.loads(res.stdout)
    assert doc["bad"] == [] and doc["out"] == want


def test_tampered_exports_are_refused(tmp_path):
    export.save(compile_hop(2, 8, 2), tmp_path)
    doc = json.loads((tmp_path / "config.json").read_text())
    doc["config"]["d_model"] += 1
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="saved .* config says"):
        export.load(tmp_path)
    doc["format"] = "something else"
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not an mpcsim-transformer"):
        export.load(tmp_path)
