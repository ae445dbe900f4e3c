"""What a token machine computes locally: the row-wise maps of a transformer layer in numpy
(P2 Def. 2.1/2.2: Q, K, V and ψ are arbitrary per-position functions; App. A.1).

``ModelWeights`` is a plain-numpy copy of a ``compilers.model.Transformer`` (so the protocol is
picklable and Ray workers never import torch). Its methods mirror ``compilers/model.py`` step by
step, in the model's own dtype:

    embed:   x_i = W_E[t_i] + W_pos[i]
    qkv:     (q, k, v)_{h,i} = LN1(x_i) W_{Q,K,V}[h] + b_{Q,K,V}[h]
    scores:  scale · q_{h,i} · k_{h,j}
    finish:  x_i + Σ_h z_{h,i} W_O[h] + b_O, then + MLP(LN2(·))        (z = softmax average of v)
    readout: ψ(x_i) = LN_final(x_i) W_U + b_U (or LN_final(x_i) without an unembedding)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .encoding import FloatCodec
from .plan import ModelShape

_GELU_TANH_C = math.sqrt(2.0 / math.pi)  # gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
_ERF = np.frompyfunc(math.erf, 1, 1)  # exact gelu needs erf; numpy has none (and scipy is not a dependency)


def layer_norm(x: np.ndarray, ln: tuple[np.ndarray, np.ndarray] | None, eps: float) -> np.ndarray:
    """torch.nn.functional.layer_norm over the last axis (biased variance); identity if ``ln`` is None."""
    if ln is None:
        return x
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + x.dtype.type(eps)) * ln[0] + ln[1]


def activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0)
    if name == "gelu":
        erf = _ERF(x.astype(np.float64) / math.sqrt(2.0)).astype(np.float64).astype(x.dtype)
        return x * (1 + erf) / 2
    if name == "gelu_new":
        return 0.5 * x * (1 + np.tanh(x.dtype.type(_GELU_TANH_C) * (x + x.dtype.type(0.044715) * x**3)))
    raise ValueError(f"unknown activation {name!r}")


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """One block: W_Q/W_K/W_V (H, d_model, d_head), b_* (H, d_head), W_O (H, d_head, d_model),
    b_O (d_model,), optional LayerNorms (weight, bias) and an optional MLP."""

    W_Q: np.ndarray
    W_K: np.ndarray
    W_V: np.ndarray
    b_Q: np.ndarray
    b_K: np.ndarray
    b_V: np.ndarray
    W_O: np.ndarray
    b_O: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray] | None
    ln2: tuple[np.ndarray, np.ndarray] | None
    mlp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None  # W_in, b_in, W_out, b_out


@dataclass(frozen=True, eq=False)
class ModelWeights:
    """A transformer in the project's format (``compilers/model.py``) as numpy arrays."""

    dtype: str
    act: str
    ln_eps: float
    causal: bool
    scale: float
    W_E: np.ndarray
    W_pos: np.ndarray
    layers: tuple[LayerWeights, ...]
    ln_final: tuple[np.ndarray, np.ndarray] | None
    unembed: tuple[np.ndarray, np.ndarray] | None  # W_U (d_model, d_out), b_U (d_out,)

    @property
    def shape(self) -> ModelShape:
        first = self.layers[0]
        h, _, e = first.W_Q.shape
        d_out = self.unembed[0].shape[1] if self.unembed is not None else self.W_E.shape[1]
        return ModelShape(self.W_E.shape[1], h, e, d_out, len(self.layers), FloatCodec(self.dtype).words_per_float)

    @property
    def n_ctx(self) -> int:
        return self.W_pos.shape[0]

    @property
    def d_vocab(self) -> int:
        return self.W_E.shape[0]

    def embed(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """(n,) token ids at 0-based ``positions`` → (n, d_model)."""
        return self.W_E[tokens] + self.W_pos[positions]

    def qkv(self, layer: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, d_model) → q, k, v of shape (n, H, d_head)."""
        lw = self.layers[layer]
        h = layer_norm(x, lw.ln1, self.ln_eps)
        q = np.einsum("nd,hde->nhe", h, lw.W_Q) + lw.b_Q  # (n, H, d_head)
        k = np.einsum("nd,hde->nhe", h, lw.W_K) + lw.b_K  # (n, H, d_head)
        v = np.einsum("nd,hde->nhe", h, lw.W_V) + lw.b_V  # (n, H, d_head)
        return q, k, v

    def scores(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        """(n, H, d_head) × (n, H, d_head) → (n, H): the attention logits scale·q·k, pairwise by row."""
        return np.einsum("nhe,nhe->nh", q, k) * q.dtype.type(self.scale)

    def finish(self, layer: int, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Residual x (n, d_model) plus the attention output from the head averages z (n, H, d_head),
        then the MLP block."""
        lw = self.layers[layer]
        x = x + np.einsum("nhe,hed->nd", z, lw.W_O) + lw.b_O  # (n, d_model)
        if lw.mlp is not None:
            w_in, b_in, w_out, b_out = lw.mlp
            hidden = activation(self.act, layer_norm(x, lw.ln2, self.ln_eps) @ w_in + b_in)  # (n, d_mlp)
            x = x + hidden @ w_out + b_out  # (n, d_model)
        return x

    def readout(self, x: np.ndarray) -> np.ndarray:
        """ψ: (n, d_model) → (n, d_out)."""
        x = layer_norm(x, self.ln_final, self.ln_eps)
        if self.unembed is None:
            return x
        return x @ self.unembed[0] + self.unembed[1]


def from_torch(model) -> ModelWeights:
    """Copy a ``compilers.model.Transformer`` into numpy (imports torch only through the model)."""
    cfg = model.cfg
    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"the MPC protocol carries float32 or float64 words; the model's dtype is {cfg.dtype} "
                         "(convert it with model.to(torch.float32) and a float32 config)")
    if cfg.n_layers < 1:
        raise ValueError("the transformer → MPC protocol needs at least one layer (P2 Thm 3.4), got n_layers = 0")

    def arr(p) -> np.ndarray:
        return p.detach().cpu().numpy().copy()

    def ln(mod):
        return (arr(mod.w), arr(mod.b)) if cfg.layer_norm else None

    layers = []
    for block in model.blocks:
        a = block.attn
        mlp = None
        if block.mlp is not None:
            mlp = (arr(block.mlp.W_in), arr(block.mlp.b_in), arr(block.mlp.W_out), arr(block.mlp.b_out))
        layers.append(LayerWeights(arr(a.W_Q), arr(a.W_K), arr(a.W_V), arr(a.b_Q), arr(a.b_K), arr(a.b_V),
                                   arr(a.W_O), arr(a.b_O), ln(block.ln1), ln(block.ln2), mlp))
    unembed = (arr(model.W_U), arr(model.b_U)) if cfg.unembed else None
    return ModelWeights(cfg.dtype, cfg.act, float(cfg.ln_eps), bool(cfg.causal), float(cfg.scale),
                        arr(model.W_E), arr(model.W_pos), tuple(layers), ln(model.ln_final), unembed)
