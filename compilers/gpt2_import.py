"""GPT-2 weights (HuggingFace ``GPT2Model`` / ``GPT2LMHeadModel``) → the project's transformer format
(``compilers/model.py``), so that P2 Thm 3.4's protocol can run the models of P2's experiments
(THEORY.md a.2: GPT-2, learned positions, LayerNorm, gelu_new MLP, causal multi-head attention, ln_f).

Layout differences handled here:

* GPT-2's ``Conv1D`` stores weights as (in, out) and computes x @ W + b, which is already our
  orientation (W_Q[h] is (d_model, d_head)), so no transpose is needed.
* ``attn.c_attn`` fuses Q, K and V: its 3·d_model output columns are [Q | K | V], and inside each
  block head h owns columns h·d_head … (h+1)·d_head − 1.
* ``attn.c_proj`` maps the concatenated heads back: head h owns its rows h·d_head … (h+1)·d_head − 1.
* ``GPT2Model`` has no LM head: its output is ln_f of the last residual (our ``unembed=False``).
  With ``lm_head=True`` the ``lm_head.weight`` (or the tied ``wte``) becomes W_U with b_U = 0.

Only the state dict and the config's numbers are read; ``transformers`` itself is needed only by
``random_gpt2`` and the tests. torch is imported by the functions, not at module import.
"""
from __future__ import annotations

from typing import Any, Mapping

ACTIVATIONS = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}


def _config_dict(config: Any) -> dict:
    return dict(config) if isinstance(config, Mapping) else config.to_dict()


def config_from_gpt2(config: Any, *, dtype: str = "float64", lm_head: bool = False):
    """Our ``TransformerConfig`` for a ``GPT2Config`` (or its ``to_dict()``)."""
    from .model import TransformerConfig

    c = _config_dict(config)
    d_model, n_heads = int(c["n_embd"]), int(c["n_head"])
    if d_model % n_heads:
        raise ValueError(f"GPT-2 config: n_embd = {d_model} is not divisible by n_head = {n_heads}")
    act = c.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise ValueError(f"GPT-2 config: activation_function {act!r} is not supported; use one of {sorted(ACTIVATIONS)}")
    if c.get("scale_attn_by_inverse_layer_idx", False):
        raise ValueError("GPT-2 config: scale_attn_by_inverse_layer_idx = True gives each layer its own attention "
                         "scale, which the project's format (one attn_scale per model) cannot express")
    if c.get("add_cross_attention", False):
        raise ValueError("GPT-2 config: cross-attention (add_cross_attention = True) is not a decoder-only transformer")
    d_head = d_model // n_heads
    return TransformerConfig(
        d_model=d_model, n_layers=int(c["n_layer"]), n_heads=n_heads, d_head=d_head,
        d_mlp=int(c.get("n_inner") or 4 * d_model),  # GPT-2: n_inner = None means 4·n_embd
        d_vocab=int(c["vocab_size"]), n_ctx=int(c["n_positions"]), act=ACTIVATIONS[act],
        layer_norm=True, ln_eps=float(c.get("layer_norm_epsilon", 1e-5)), causal=True,
        unembed=lm_head, attn_scale=None if c.get("scale_attn_weights", True) else 1.0, dtype=dtype,
    )


def from_gpt2_state_dict(state_dict: Mapping[str, Any], config: Any, *, dtype: str = "float64",
                         lm_head: bool = False):
    """A ``compilers.model.Transformer`` with the weights of a GPT-2 state dict (keys of ``GPT2Model``,
    or of ``GPT2LMHeadModel`` with their ``transformer.`` prefix)."""
    import torch

    from .model import Transformer

    cfg = config_from_gpt2(config, dtype=dtype, lm_head=lm_head)
    sd = {k.removeprefix("transformer."): v for k, v in state_dict.items()}
    h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head

    def get(key: str) -> torch.Tensor:
        if key not in sd:
            raise KeyError(f"GPT-2 state dict has no {key!r} (keys start {sorted(sd)[:4]})")
        return sd[key].detach().to(dtype=cfg.torch_dtype, device="cpu")

    def heads_in(w: torch.Tensor) -> torch.Tensor:
        """(d_model, H·d_head) columns → (H, d_model, d_head)."""
        return w.reshape(d, h, e).permute(1, 0, 2)

    model = Transformer(cfg).eval()
    with torch.no_grad():
        model.W_E.copy_(get("wte.weight"))
        model.W_pos.copy_(get("wpe.weight"))
        for layer, block in enumerate(model.blocks):
            p = f"h.{layer}."
            w_q, w_k, w_v = get(p + "attn.c_attn.weight").split(d, dim=1)  # each (d_model, d_model)
            b_q, b_k, b_v = get(p + "attn.c_attn.bias").split(d)  # each (d_model,)
            a = block.attn
            for weight, bias, w, b in ((a.W_Q, a.b_Q, w_q, b_q), (a.W_K, a.b_K, w_k, b_k), (a.W_V, a.b_V, w_v, b_v)):
                weight.copy_(heads_in(w))
                bias.copy_(b.reshape(h, e))
            a.W_O.copy_(get(p + "attn.c_proj.weight").reshape(h, e, d))  # rows of head h → (d_head, d_model)
            a.b_O.copy_(get(p + "attn.c_proj.bias"))
            for ln, name in ((block.ln1, "ln_1"), (block.ln2, "ln_2")):
                ln.w.copy_(get(p + name + ".weight"))
                ln.b.copy_(get(p + name + ".bias"))
            block.mlp.W_in.copy_(get(p + "mlp.c_fc.weight"))
            block.mlp.b_in.copy_(get(p + "mlp.c_fc.bias"))
            block.mlp.W_out.copy_(get(p + "mlp.c_proj.weight"))
            block.mlp.b_out.copy_(get(p + "mlp.c_proj.bias"))
        model.ln_final.w.copy_(get("ln_f.weight"))
        model.ln_final.b.copy_(get("ln_f.bias"))
        if lm_head:
            head = get("lm_head.weight") if "lm_head.weight" in sd else get("wte.weight")  # tied by default
            model.W_U.copy_(head.T)
            model.b_U.zero_()
    return model


def from_gpt2_model(hf_model, *, dtype: str = "float64", lm_head: bool | None = None):
    """Import a ``GPT2Model`` (hidden states after ln_f) or ``GPT2LMHeadModel`` (logits; ``lm_head``
    defaults to True for it)."""
    state = hf_model.state_dict()
    if lm_head is None:
        lm_head = "lm_head.weight" in state
    return from_gpt2_state_dict(state, hf_model.config, dtype=dtype, lm_head=lm_head)


def random_gpt2(config: Any, seed: int, *, dtype: str = "float64", noise: float = 0.0):
    """A ``transformers.GPT2Model`` with seeded random weights, in eval mode with dropout off.
    ``config`` is a ``GPT2Config`` or a dict of its fields. GPT-2's own initialisation sets biases to
    0 and LayerNorm gains to 1; ``noise`` > 0 adds N(0, noise²) to every parameter so that an
    importer that misplaces a bias or a gain is caught."""
    import torch
    from transformers import GPT2Config, GPT2Model

    fields = _config_dict(config)
    fields.update(attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0)
    fields.setdefault("bos_token_id", None)  # GPT-2's 50256 is outside a small test vocabulary
    fields.setdefault("eos_token_id", None)
    torch.manual_seed(seed)
    model = GPT2Model(GPT2Config(**fields)).to(getattr(torch, dtype)).eval()
    if noise > 0:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * noise)
    return model
