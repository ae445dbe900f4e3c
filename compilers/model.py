"""The project's transformer format: one readable PyTorch model (nanoGPT-style, in data-flow order).

Weights follow the TransformerLens naming and shapes (P2 Def. 2.1/2.2 with the usual extras):

    W_E[d_vocab, d_model], W_pos[n_ctx, d_model]                    embedding (token + position)
    per block ℓ:  ln1_w/ln1_b[d_model] (if layer_norm)
                  W_Q, W_K, W_V[n_heads, d_model, d_head], b_Q, b_K, b_V[n_heads, d_head]
                  W_O[n_heads, d_head, d_model], b_O[d_model]
                  ln2_w/ln2_b[d_model] (if layer_norm)
                  W_in[d_model, d_mlp], b_in[d_mlp], W_out[d_mlp, d_model], b_out[d_model]
    ln_final_w/ln_final_b[d_model] (if layer_norm)
    W_U[d_model, d_vocab_out], b_U[d_vocab_out]  (if unembed; else the output is the residual)

Block: x ← x + Σ_h Attn_h(LN1(x)); x ← x + MLP(LN2(x)). Attention uses torch's
scaled_dot_product_attention with its default 1/√d_head scale (compilers fold compensation into
W_Q), and the causal mask when ``causal``. ``attn_scale`` overrides the scale if set.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("relu", "gelu", "gelu_new")


@dataclass(frozen=True)
class TransformerConfig:
    d_model: int
    n_layers: int
    n_heads: int
    d_head: int
    d_mlp: int
    d_vocab: int
    n_ctx: int
    act: str = "relu"
    layer_norm: bool = False
    ln_eps: float = 1e-5
    causal: bool = True
    unembed: bool = True
    d_vocab_out: int = 0
    attn_scale: float | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {ACTIVATIONS}, got {self.act!r}")
        if self.n_layers < 0:
            raise ValueError(f"TransformerConfig.n_layers must be >= 0, got {self.n_layers}")
        for name in ("d_model", "n_heads", "d_head", "d_vocab", "n_ctx"):
            if getattr(self, name) < 1:
                raise ValueError(f"TransformerConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_mlp < 0:
            raise ValueError(f"TransformerConfig.d_mlp must be >= 0, got {self.d_mlp}")
        if self.dtype not in ("float32", "float64", "bfloat16", "float16"):
            raise ValueError(f"unsupported dtype {self.dtype!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    @property
    def scale(self) -> float:
        """The factor multiplying q·k in the scores."""
        return self.attn_scale if self.attn_scale is not None else 1.0 / math.sqrt(self.d_head)

    def to_dict(self) -> dict:
        return asdict(self)


def _activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return F.relu(x)
    if name == "gelu":
        return F.gelu(x)
    return F.gelu(x, approximate="tanh")  # gelu_new (GPT-2)


class LayerNorm(nn.Module):
    def __init__(self, d: int, eps: float, dtype: torch.dtype):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(d, dtype=dtype))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.w, self.b, self.eps)


class Attention(nn.Module):
    """H heads with explicit per-head Q, K, V, O matrices (P2 Def. 2.1)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        h, d, e, dt = cfg.n_heads, cfg.d_model, cfg.d_head, cfg.torch_dtype
        self.cfg = cfg
        self.W_Q = nn.Parameter(torch.zeros(h, d, e, dtype=dt))
        self.W_K = nn.Parameter(torch.zeros(h, d, e, dtype=dt))
        self.W_V = nn.Parameter(torch.zeros(h, d, e, dtype=dt))
        self.b_Q = nn.Parameter(torch.zeros(h, e, dtype=dt))
        self.b_K = nn.Parameter(torch.zeros(h, e, dtype=dt))
        self.b_V = nn.Parameter(torch.zeros(h, e, dtype=dt))
        self.W_O = nn.Parameter(torch.zeros(h, e, d, dtype=dt))
        self.b_O = nn.Parameter(torch.zeros(d, dtype=dt))

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x[:, None]  # (B, 1, N, d_model): one matmul per projection, broadcast over heads
        q = torch.matmul(x, self.W_Q) + self.b_Q[None, :, None, :]  # (B, H, N, d_head)
        k = torch.matmul(x, self.W_K) + self.b_K[None, :, None, :]  # (B, H, N, d_head)
        v = torch.matmul(x, self.W_V) + self.b_V[None, :, None, :]  # (B, H, N, d_head)
        return q, k, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        z = F.scaled_dot_product_attention(q, k, v, is_causal=self.cfg.causal, scale=self.cfg.scale)  # (B, H, N, d_head)
        return torch.matmul(z, self.W_O).sum(dim=1) + self.b_O  # (B, N, d_model): Σ_h z_h W_O,h


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        d, m, dt = cfg.d_model, cfg.d_mlp, cfg.torch_dtype
        self.act = cfg.act
        self.W_in = nn.Parameter(torch.zeros(d, m, dtype=dt))
        self.b_in = nn.Parameter(torch.zeros(m, dtype=dt))
        self.W_out = nn.Parameter(torch.zeros(m, d, dtype=dt))
        self.b_out = nn.Parameter(torch.zeros(d, dtype=dt))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = _activation(self.act, x @ self.W_in + self.b_in)  # (B, N, d_mlp)
        return hidden @ self.W_out + self.b_out  # (B, N, d_model)


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1 = LayerNorm(cfg.d_model, cfg.ln_eps, cfg.torch_dtype) if cfg.layer_norm else nn.Identity()
        self.attn = Attention(cfg)
        self.ln2 = LayerNorm(cfg.d_model, cfg.ln_eps, cfg.torch_dtype) if cfg.layer_norm else nn.Identity()
        self.mlp = MLP(cfg) if cfg.d_mlp > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # (B, N, d_model)
        if self.mlp is not None:
            x = x + self.mlp(self.ln2(x))  # (B, N, d_model)
        return x


class Transformer(nn.Module):
    """tokens (B, N) int64 → outputs (B, N, d_vocab_out), or the final residual (B, N, d_model)
    when ``unembed`` is False."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        dt = cfg.torch_dtype
        self.W_E = nn.Parameter(torch.zeros(cfg.d_vocab, cfg.d_model, dtype=dt))
        self.W_pos = nn.Parameter(torch.zeros(cfg.n_ctx, cfg.d_model, dtype=dt))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = LayerNorm(cfg.d_model, cfg.ln_eps, dt) if cfg.layer_norm else nn.Identity()
        if cfg.unembed:
            d_out = cfg.d_vocab_out or cfg.d_vocab
            self.W_U = nn.Parameter(torch.zeros(cfg.d_model, d_out, dtype=dt))
            self.b_U = nn.Parameter(torch.zeros(d_out, dtype=dt))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[-1]
        if n > self.cfg.n_ctx:
            raise ValueError(f"input has {n} positions but the model's context is n_ctx = {self.cfg.n_ctx}")
        return self.W_E[tokens] + self.W_pos[:n]  # (B, N, d_model)

    def residuals(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream after the embedding and after each block (L + 1 tensors)."""
        x = self.embed(tokens)
        out = [x]
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (B, N, d_model)
        for block in self.blocks:
            x = block(x)
        x = self.ln_final(x)
        if not self.cfg.unembed:
            return x  # (B, N, d_model)
        return x @ self.W_U + self.b_U  # (B, N, d_vocab_out)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def pick_device(requested: str | None = None) -> torch.device:
    """``cuda`` when available (or requested), else the CPU. Asking for cuda without one is an error."""
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but torch.cuda.is_available() is False on this machine")
    return torch.device(requested)
