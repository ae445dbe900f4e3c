"""Random small transformers in the project's format (``compilers.model``), as plain builders and
as hypothesis strategies. torch is imported only when a model is built.

Weights are drawn with numpy from a seed, so a (config, seed) pair names a model exactly:
matrices ~ N(0, scale²/fan_in) (fan_in = the contracted axis), embeddings ~ N(0, 1), biases
~ N(0, (scale/10)²), LayerNorm gains ~ 1 + N(0, 1/100). Activations then stay O(1) through a few
layers, so relative errors measure the arithmetic, not blown-up values.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

__all__ = ["random_transformer", "transformer_configs", "transformers", "transformer_inputs"]

BIAS_SCALE = 0.1  # biases are a tenth of the weights' scale: present, but not dominating
_DTYPES = ("float32", "float64")


def random_transformer(cfg, seed: int, scale: float = 1.0):
    """A ``compilers.model.Transformer`` for ``cfg`` (a TransformerConfig) with seeded random weights."""
    import torch

    from compilers.model import Transformer

    rng = np.random.default_rng(seed)
    model = Transformer(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            *owners, leaf = name.split(".")
            if any(o.startswith("ln") for o in owners):  # LayerNorm gain w or bias b
                base = 1.0 if leaf == "w" else 0.0
                values = base + BIAS_SCALE * rng.standard_normal(p.shape)
            elif leaf in ("W_E", "W_pos"):
                values = rng.standard_normal(p.shape)
            elif leaf.startswith("W_"):
                values = rng.standard_normal(p.shape) * scale / np.sqrt(p.shape[-2])
            else:  # b_Q, b_K, b_V, b_O, b_in, b_out, b_U
                values = rng.standard_normal(p.shape) * scale * BIAS_SCALE
            p.copy_(torch.as_tensor(values, dtype=p.dtype))
    return model


@st.composite
def transformer_configs(draw, *, dtypes=("float64",), max_layers: int = 2, max_heads: int = 3,
                        max_d_model: int = 8, max_d_head: int = 4, max_d_mlp: int = 8, max_vocab: int = 6,
                        n_ctx: int = 16):
    """Small ``TransformerConfig``s over every option of the format: activation, LayerNorm, causal
    or full mask, unembedding or not, default or explicit attention scale."""
    from compilers.model import TransformerConfig

    d_vocab = draw(st.integers(2, max_vocab))
    unembed = draw(st.booleans())
    return TransformerConfig(
        d_model=draw(st.integers(1, max_d_model)),
        n_layers=draw(st.integers(1, max_layers)),
        n_heads=draw(st.integers(1, max_heads)),
        d_head=draw(st.integers(1, max_d_head)),
        d_mlp=draw(st.integers(0, max_d_mlp)),
        d_vocab=d_vocab,
        n_ctx=n_ctx,
        act=draw(st.sampled_from(("relu", "gelu", "gelu_new"))),
        layer_norm=draw(st.booleans()),
        causal=draw(st.booleans()),
        unembed=unembed,
        d_vocab_out=draw(st.integers(1, max_vocab)) if unembed else 0,
        attn_scale=draw(st.one_of(st.none(), st.floats(0.25, 2.0))),
        dtype=draw(st.sampled_from(dtypes)),
    )


@st.composite
def transformers(draw, **config_options):
    """A random ``Transformer`` (config from ``transformer_configs(**config_options)``, seeded weights)."""
    cfg = draw(transformer_configs(**config_options))
    return random_transformer(cfg, draw(st.integers(0, 2**32 - 1)))


@st.composite
def transformer_inputs(draw, *, min_tokens: int = 1, max_tokens: int = 12, **config_options):
    """(Transformer, token ids as a list) with 1 ≤ N ≤ min(max_tokens, n_ctx)."""
    model = draw(transformers(**config_options))
    n = draw(st.integers(min_tokens, min(max_tokens, model.cfg.n_ctx)))
    tokens = draw(st.lists(st.integers(0, model.cfg.d_vocab - 1), min_size=n, max_size=n))
    return model, tokens
