"""Stage 3: layout → weights. Fill a plain ``compilers.model.Transformer`` (TransformerLens names).

* W_E / W_pos: the flags and every block the embedding computes (``graph_to_layout.embedding_tables``).
* Layer ℓ, head h: W_Q = c·√d_head·wq (c = 2T/margin from ``numerics``; √d_head cancels torch's
  1/√d_head), W_K = wk, biases likewise; W_V copies the value registers' features and W_O writes
  them into the output registers' blocks (``attention_forms.head_weights``). Unused heads and
  unused d_head columns are zero.
* Layer ℓ's MLP: the units of every register scheduled there, side by side (``mlp_gadgets``).
* W_U / b_U: the readout of the output register.

Weights are assembled in float64 and cast once to the model's dtype.
"""
from __future__ import annotations

import math

import numpy as np

from .attention_forms import head_numerics, head_weights
from .graph_to_layout import Layout, embedding_tables
from .mlp_gadgets import mlp_part
from .numerics import dtype_facts, softmax_scale


def layout_to_weights(layout: Layout, dtype: str = "float32"):
    """The compiled ``Transformer`` (on the CPU; move it with ``.to(device)``)."""
    import torch

    from .model import Transformer, TransformerConfig

    graph, n = layout.graph, layout.max_n
    facts = dtype_facts(dtype)
    heads = {layer: [(h, head_weights(h, layout, n, layout.codes, graph.causal)) for h in graph.heads_of(layer)]
             for layer in range(1, graph.n_layers + 1)}
    mlps = {layer: [mlp_part(node, layout, n) for node in graph.mlp_nodes.get(layer, ())]
            for layer in range(1, graph.n_layers + 1)}
    d_head = max([max(w.wq.shape[1], w.wv.shape[1]) for hs in heads.values() for _, w in hs], default=1)
    d_mlp = max([sum(p.width for p in parts) for parts in mlps.values()], default=0)
    vocab = graph.program.vocab
    cfg = TransformerConfig(
        d_model=layout.d_model, n_layers=graph.n_layers, n_heads=graph.n_heads, d_head=d_head, d_mlp=d_mlp,
        d_vocab=1 + max(len(vocab), 1), n_ctx=n + 1, act="relu", layer_norm=False, causal=graph.causal,
        unembed=True, d_vocab_out=len(layout.readout.columns), dtype=dtype,
    )
    state: dict[str, np.ndarray] = {}
    w_e, w_pos = embedding_tables(layout, vocab)
    state["W_E"] = np.zeros((cfg.d_vocab, cfg.d_model))
    state["W_E"][: w_e.shape[0]] = w_e
    state["W_pos"] = w_pos
    root = math.sqrt(d_head)
    for layer in range(1, graph.n_layers + 1):
        p = f"blocks.{layer - 1}"
        wq, wk, wv = (np.zeros((cfg.n_heads, cfg.d_model, d_head)) for _ in range(3))
        bq, bk = np.zeros((cfg.n_heads, d_head)), np.zeros((cfg.n_heads, d_head))
        wo = np.zeros((cfg.n_heads, d_head, cfg.d_model))
        for h, (head, w) in enumerate(heads[layer]):
            c = softmax_scale(head_numerics(head, n, layout.codes, graph.causal).margin, facts) * root
            e, v = w.wq.shape[1], w.wv.shape[1]
            wq[h, :, :e], bq[h, :e] = c * w.wq, c * w.bq
            wk[h, :, :e], bk[h, :e] = w.wk, w.bk
            wv[h, :, :v], wo[h, :v, :] = w.wv, w.wo
        state.update({f"{p}.attn.W_Q": wq, f"{p}.attn.b_Q": bq, f"{p}.attn.W_K": wk, f"{p}.attn.b_K": bk,
                      f"{p}.attn.W_V": wv, f"{p}.attn.W_O": wo})
        if d_mlp:
            w_in, b_in, w_out = np.zeros((cfg.d_model, d_mlp)), np.zeros(d_mlp), np.zeros((d_mlp, cfg.d_model))
            col = 0
            for part in mlps[layer]:
                w_in[:, col:col + part.width] = part.w_in
                b_in[col:col + part.width] = part.b_in
                w_out[col:col + part.width] = part.w_out
                col += part.width
            state.update({f"{p}.mlp.W_in": w_in, f"{p}.mlp.b_in": b_in, f"{p}.mlp.W_out": w_out})
    state["W_U"], state["b_U"] = readout_weights(layout)
    model = Transformer(cfg)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(torch.as_tensor(value, dtype=torch.float64).to(cfg.torch_dtype))
    model.eval()
    return model


def readout_weights(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """W_U, b_U: one-hot → logits with ⊥ fixed at 1/2 (any present value scores 1); binary
    categorical code → logit C − 2·hamming(code, code of the column's value), exact integers with
    margin 2; numbers and binary pointers → their value; circle pointers → (cos, sin)."""
    node = layout.graph.output
    r = layout.readout
    b_u = np.zeros(len(r.columns))
    if r.kind == "categorical" and r.feature == "bincode":
        bits = layout.functional(node, "bincode")  # (d_model, C)
        c = bits.shape[1]
        w_u = np.zeros((layout.d_model, len(r.columns)))
        for col, v in enumerate(r.columns):
            code = 0 if v is None else 1 + node.type.index_of(v)
            sign = 2.0 * ((code >> np.arange(c)) & 1) - 1.0  # ±1 code of the column's value
            w_u[:, col] = bits @ (2 * sign)
            b_u[col] = -sign.sum()
        return w_u, b_u
    if r.kind == "categorical":
        w_u = np.zeros((layout.d_model, len(r.columns)))
        onehot = layout.functional(node, "onehot")
        for j, v in enumerate(node.type.proper_values):
            w_u[:, r.columns.index(v)] = onehot[:, j]
        if None in r.columns:
            b_u[r.columns.index(None)] = 0.5
        return w_u, b_u
    if r.kind == "circle":
        return layout.functional(node, "circle"), b_u
    return layout.functional(node, "value"), b_u
