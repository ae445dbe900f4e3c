"""Export a compiled model: safetensors weights + a JSON config with the residual-layout map.

``save(model, path)`` writes ``path/model.safetensors`` (TransformerLens names and shapes, the
model's dtype, no pickle) and ``path/config.json``: the ``TransformerConfig`` fields, and for a
compiled model the vocabulary (token id 1 + j is vocab[j], id 0 the start token), the readout
(output columns, ⊥ as null) and the residual layout (every named direction). ``load(path)``
rebuilds a plain ``compilers.model.Transformer`` from those two files alone — it imports nothing
from the compiler — and its outputs are bit-identical to the saved model's.
"""
from __future__ import annotations

import json
from pathlib import Path

FORMAT = "mpcsim-transformer/1"
WEIGHTS, CONFIG = "model.safetensors", "config.json"


def _jsonable(v):
    return v if v is None or isinstance(v, (bool, int, float, str)) else repr(v)


def save(model, path: str | Path) -> Path:
    """Write ``model`` (a ``CompiledModel`` or a plain ``Transformer``) to the directory ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    net = getattr(model, "model", model)
    doc = {"format": FORMAT, "config": net.cfg.to_dict()}
    layout = getattr(model, "layout", None)
    if layout is not None:  # a compiled model: everything needed to read its inputs and outputs
        doc["compiled"] = {
            "program": str(model.program),
            "vocab": [_jsonable(v) for v in model.vocab],
            "start_token_id": 0,
            "layout": layout.to_json(),
            "max_exact_n": model.max_exact_n,
            "summary": {k: _jsonable(v) for k, v in model.summary().items()},
        }
    tensors = {name: p.detach().contiguous().cpu() for name, p in net.state_dict().items()}
    save_file(tensors, str(path / WEIGHTS), metadata={"format": FORMAT})
    (path / CONFIG).write_text(json.dumps(doc, indent=2) + "\n")
    return path


def load_config(path: str | Path) -> dict:
    """The JSON document ``save`` wrote (config, vocabulary, readout, residual layout)."""
    doc = json.loads((Path(path) / CONFIG).read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{Path(path) / CONFIG}: not an {FORMAT} export (format = {doc.get('format')!r})")
    return doc


def load(path: str | Path, device: str | None = None):
    """The saved model as a plain ``compilers.model.Transformer`` (eval mode)."""
    import torch
    from safetensors.torch import load_file

    from .model import Transformer, TransformerConfig

    doc = load_config(path)
    cfg = TransformerConfig(**doc["config"])
    model = Transformer(cfg)
    tensors = load_file(str(Path(path) / WEIGHTS))
    expected = set(model.state_dict())
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise ValueError(f"{Path(path) / WEIGHTS}: missing tensors {missing[:5]}, unexpected {extra[:5]}")
    with torch.no_grad():
        for name, p in model.named_parameters():
            t = tensors[name]
            if tuple(t.shape) != tuple(p.shape) or t.dtype != p.dtype:
                raise ValueError(f"{name}: saved {tuple(t.shape)} {t.dtype}, config says {tuple(p.shape)} {p.dtype}")
            p.copy_(t)
    model.eval()
    return model.to(device) if device else model
