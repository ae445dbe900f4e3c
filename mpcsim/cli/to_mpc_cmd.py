"""``mpcsim to-mpc``: run a transformer as the MPC protocol of P2 Thm 3.4 on the simulator and
report rounds vs L·(2D+3), machines vs M + M² + M·Σ b^d, memory/sent/received vs s, and the
agreement with the torch forward (and with HuggingFace's, for GPT-2 weights)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common import add_backend_options, backend_from_args, bounds_table, print_json

DEMO_SHAPE = dict(d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=32, d_vocab=32, act="gelu_new",
                  layer_norm=True, causal=True, unembed=False, dtype="float64")  # a small GPT-2-like model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("to-mpc", help="simulate a transformer as an MPC protocol (P2 Thm 3.4)",
                       description=__doc__)
    p.add_argument("model_dir", nargs="?", metavar="MODEL_DIR",
                   help="a model saved by compilers.export.save (safetensors + JSON config)")
    p.add_argument("--demo", action="store_true", help="a seeded random small GPT-2-like model instead of MODEL_DIR")
    p.add_argument("--gpt2-random", metavar="CONFIG_JSON",
                   help="a random transformers.GPT2Model from a GPT2Config given as a JSON file or inline JSON")
    mem = p.add_mutually_exclusive_group(required=True)
    mem.add_argument("--delta", type=float, help="δ′: local memory s = ceil(N^δ′)·c words")
    mem.add_argument("--memory", type=int, help="local memory s in words")
    p.add_argument("--c", type=int, default=None, help="the constant c in s = ceil(N^δ′)·c (default 1)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="FILE", help="token ids: whitespace/comma separated, or a JSON list")
    src.add_argument("--random", metavar="N", type=int, help="N uniformly random token ids")
    p.add_argument("--seed", type=int, default=0, help="seed for --random, --demo and --gpt2-random (default 0)")
    add_backend_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=to_mpc_command)


@dataclass
class LoadedModel:
    model: object  # compilers.model.Transformer
    description: str
    hf_reference: object = None  # a transformers.GPT2Model, for --gpt2-random
    compiled: dict | None = None  # for a compiled model's export: vocabulary, start token, readout


def _compiled_ids(compiled: dict, values: list) -> np.ndarray:
    """A compiled model's input: the start token, then the id (1 + index in the vocabulary) of each value."""
    index = {v: j + 1 for j, v in enumerate(compiled["vocab"])}
    missing = [v for v in values if v not in index]
    if missing:
        raise ValueError(f"token {missing[0]!r} is not in the compiled model's vocabulary "
                         f"({len(index)} values, e.g. {list(index)[:5]})")
    return np.array([compiled["start_token_id"]] + [index[v] for v in values], dtype=np.int64)


def _decode_compiled(compiled: dict, output: np.ndarray) -> list | None:
    """Read positions 1..n of a categorical readout (argmax over its columns; null is ⊥)."""
    readout = compiled["layout"]["readout"]
    if readout.get("kind") != "categorical":
        return None
    columns = readout["columns"]
    return [columns[int(j)] for j in np.asarray(output)[1:, : len(columns)].argmax(axis=1)]


def _load_model(args) -> LoadedModel:
    chosen = [x for x in (args.model_dir is not None, args.demo, args.gpt2_random is not None) if x]
    if len(chosen) != 1:
        raise ValueError("give exactly one model: MODEL_DIR, --demo or --gpt2-random CONFIG_JSON")
    if args.demo:
        from compilers.model import TransformerConfig
        from mpcsim.testing.transformers import random_transformer

        n_ctx = max(args.random or 0, 512)
        cfg = TransformerConfig(n_ctx=n_ctx, **DEMO_SHAPE)
        return LoadedModel(random_transformer(cfg, args.seed), f"demo (random, seed {args.seed}): {_describe(cfg)}")
    if args.gpt2_random is not None:
        from compilers.gpt2_import import from_gpt2_model, random_gpt2

        text = args.gpt2_random
        fields = json.loads(text if text.lstrip().startswith("{") else Path(text).read_text())
        hf = random_gpt2(fields, args.seed, noise=0.0)
        model = from_gpt2_model(hf)
        return LoadedModel(model, f"random GPT-2 (seed {args.seed}): {_describe(model.cfg)}", hf)
    from compilers.export import load_config

    path = Path(args.model_dir)
    model = _load_model_dir(path)
    return LoadedModel(model, f"{args.model_dir}", compiled=load_config(path).get("compiled"))


def _load_model_dir(path: Path):
    if not path.is_dir():
        raise ValueError(f"MODEL_DIR {path}: no such directory")
    from safetensors import SafetensorError

    from compilers import export
    from compilers.model import Transformer

    try:
        loaded = export.load(path)
    except (SafetensorError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"MODEL_DIR {path}: not a readable mpcsim export ({type(exc).__name__}: {exc})") from None
    model = loaded if isinstance(loaded, Transformer) else getattr(loaded, "model", None)
    if not isinstance(model, Transformer):
        raise ValueError(f"compilers.export.load({path}) gave {type(loaded).__name__}, not a Transformer")
    return model


def _describe(cfg) -> str:
    return (f"d_model={cfg.d_model}, L={cfg.n_layers}, H={cfg.n_heads}, d_head={cfg.d_head}, d_mlp={cfg.d_mlp}, "
            f"vocab={cfg.d_vocab}, {cfg.act}, {'LayerNorm' if cfg.layer_norm else 'no LayerNorm'}, "
            f"{'causal' if cfg.causal else 'full'} mask, {cfg.dtype}")


def _tokens(args, d_vocab: int) -> np.ndarray:
    if args.random is not None:
        if args.random < 1:
            raise ValueError(f"--random N needs N >= 1, got {args.random}")
        return np.random.default_rng(args.seed).integers(0, d_vocab, args.random)
    path = Path(args.input)
    if not path.is_file():
        raise ValueError(f"--input {path}: no such file")
    text = path.read_text()
    try:
        values = json.loads(text) if text.lstrip().startswith("[") else text.replace(",", " ").split()
        return np.array([int(v) for v in values], dtype=np.int64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--input {path}: expected integer token ids ({exc})") from None


def to_mpc_command(args) -> int:
    from compilers.to_mpc import FLOAT32_REL_TOL, FLOAT64_REL_TOL, relative_error, run_to_mpc

    loaded = _load_model(args)
    model = loaded.model
    values = None
    if loaded.compiled is not None:  # token values of the program's vocabulary, after the start token
        vocab = loaded.compiled["vocab"]
        if args.random is not None:
            picks = _tokens(args, len(vocab))
            values = [vocab[int(j)] for j in picks]
        else:
            values = _tokens(args, len(vocab)).tolist()
        tokens = _compiled_ids(loaded.compiled, values)
    else:
        tokens = _tokens(args, model.cfg.d_vocab)
    with backend_from_args(args) as backend:
        run = run_to_mpc(model, tokens, delta=args.delta, c=args.c, memory=args.memory, backend=backend,
                         progress=not (args.no_progress or args.json) and sys.stderr.isatty())
    tol = FLOAT64_REL_TOL if model.cfg.dtype == "float64" else FLOAT32_REL_TOL
    doc = {"model": loaded.description, "backend": args.backend, "N": len(tokens), **run.report(),
           "tolerance": tol}
    if loaded.hf_reference is not None:
        import torch

        with torch.no_grad():
            hf_out = loaded.hf_reference(torch.as_tensor(tokens)[None]).last_hidden_state[0].numpy()
        doc["hf_max_abs_error"], doc["hf_rel_error"] = relative_error(run.output, hf_out)
    if loaded.compiled is not None:
        doc["N"] = len(tokens)  # the start token is a position of the model
        decoded = _decode_compiled(loaded.compiled, run.output)
        doc["inputs"] = values
        doc["decoded_output"] = decoded
        hop_k = _hop_k_of(loaded.compiled)
        if decoded is not None and hop_k is not None:
            from protocols.hop_reference import hop_fast

            reference = hop_fast(values, hop_k)
            doc["reference_task"] = f"hop_{hop_k}"
            doc["disagreements_with_reference"] = sum(a != b for a, b in zip(decoded, reference))
    ok = all(c.holds for c in run.checks) and doc["rel_error"] <= tol and doc.get("hf_rel_error", 0.0) <= tol
    ok = ok and doc.get("disagreements_with_reference", 0) == 0
    doc["ok"] = ok
    if args.json:
        print_json(doc)
    else:
        _print_human(doc, run)
    return 0 if ok else 1


def _print_human(doc: dict, run) -> None:
    plan = doc["plan"]
    print(f"model: {doc['model']}")
    print(f"MPC (P2 Thm 3.4): N = {plan['N']}, s = {plan['s']} words of {doc['word_bits']} bits "
          f"({doc['dtype']}: {doc['words_per_float']} word(s) per real), m = {plan['m_words']} words, H = {plan['H']}, "
          f"b = ⌊s/(4mH)⌋ = {plan['b']}, D = ⌈log_b N⌉ = {plan['D']}, backend {doc['backend']}")
    print(f"rounds {doc['rounds']} (L·(2D+3) = {plan['layers']}·{plan['rounds_per_layer']}), "
          f"q = {plan['q']} machines ({doc['machines_used']} used), {doc['total_words']} words "
          f"= {doc['total_bits']} bits moved, {doc['seconds']} s")
    print("bounds:")
    for line in bounds_table(run.checks):
        print(line)
    print(f"agreement with the torch forward: max abs error {doc['max_abs_error']:.3e}, "
          f"relative {doc['rel_error']:.3e} (tolerance {doc['tolerance']:g})")
    if "hf_rel_error" in doc:
        print(f"agreement with transformers.GPT2Model: max abs error {doc['hf_max_abs_error']:.3e}, "
              f"relative {doc['hf_rel_error']:.3e}")
    if doc.get("decoded_output") is not None:
        shown = ", ".join("⊥" if v is None else repr(v) for v in doc["decoded_output"][:12])
        print(f"decoded output (first {min(12, len(doc['decoded_output']))}): {shown}")
    if "disagreements_with_reference" in doc:
        print(f"decoded output vs the plain-Python {doc['reference_task']}: "
              f"{doc['disagreements_with_reference']} disagreements")
    print("OK" if doc["ok"] else "FAILED")


def _hop_k_of(compiled: dict) -> int | None:
    """k when the exported program is the library's hop_k (its printed form starts "program hop_K")."""
    import re

    match = re.match(r"program hop_(\d+)\b", compiled.get("program", ""))
    return int(match.group(1)) if match else None
