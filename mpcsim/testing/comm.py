"""Hypothesis strategies and seeded builders for the communication models (THEORY.md a.6–a.9).

Use them to test your own protocols against the models of ``mpcsim.twoparty`` and
``mpcsim.blackboard``::

    from hypothesis import given
    from mpcsim.testing import layered_instances, rnn_models  # layered_instances: testing.sequences

    @given(layered_instances(max_q=6, max_k=4))
    def test_my_protocol(inst): ...

Inputs and splits
    ``bit_vectors(n)``; ``two_party_splits(n)`` → (Alice's positions, public target held by Bob);
    ``contiguous_splits(n, players)`` → blocks [(lo, hi)] for P_1..P_k, P_k earliest, all nonempty;
    ``hop_sequences(max_alphabet, max_len)`` → (A, tokens in 1..A).
Instances
    ``pointer_chase_instances(max_n, max_k)`` → (n, k, f_A, f_B). Multi-party (q, k)-layered
    instances come from ``mpcsim.testing.sequences.layered_instances``.
Models (float64 unless asked; small; built from a drawn seed, so a failing example names its model)
    ``rnn_models(kinds)`` (torch ``nn.RNN``/``nn.GRU``/``nn.LSTM``), ``binary_rnns()``,
    ``kernel_models()``, ``longformer_models()``, ``cot_models()``, ``one_layer_transformers()``.
Builders (plain functions, also used by the CLI and the benchmark)
    ``random_rnn``, ``random_binary_rnn``, ``random_kernel_transformer``, ``random_longformer``,
    ``random_cot``, ``one_hot``.

torch is imported only when a model is built.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .transformers import random_transformer

__all__ = [
    "RNN_KINDS", "binary_rnns", "bit_vectors", "contiguous_splits", "cot_models", "hop_sequences", "kernel_models",
    "longformer_models", "one_hot", "one_layer_transformers", "pointer_chase_instances",
    "random_binary_rnn", "random_cot", "random_kernel_transformer", "random_longformer", "random_rnn",
    "rnn_models", "token_runs", "two_party_splits",
]

RNN_KINDS = ("rnn", "gru", "lstm")
BIAS_SCALE = 0.1  # as in ``transformers``: biases a tenth of the weights' scale


# --- builders ----------------------------------------------------------------------------------

def one_hot(tokens, vocab: int) -> np.ndarray:
    """Tokens (ints in [0, vocab)) as float64 one-hot rows (N, vocab): the input of the RNN models."""
    t = np.asarray(tokens, dtype=np.int64)
    out = np.zeros((len(t), vocab), dtype=np.float64)
    out[np.arange(len(t)), t] = 1.0
    return out


def _fill(module, seed: int, scale: float) -> None:
    """Seeded weights: matrices ~ N(0, scale²/fan_in), vectors (biases) ~ N(0, (scale·BIAS_SCALE)²)."""
    import torch

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                values = rng.standard_normal(p.shape) * scale / np.sqrt(p.shape[-1])
            else:
                values = rng.standard_normal(p.shape) * scale * BIAS_SCALE
            p.copy_(torch.as_tensor(values, dtype=p.dtype))


def random_rnn(kind: str, input_size: int, hidden: int, layers: int, seed: int, *, nonlinearity: str = "tanh",
               dtype: str = "float64", scale: float = 1.0):
    """A seeded ``torch.nn.RNN`` / ``GRU`` / ``LSTM`` (batch_first, unidirectional, eval mode)."""
    import torch
    from torch import nn

    if kind not in RNN_KINDS:
        raise ValueError(f"kind must be one of {RNN_KINDS}, got {kind!r}")
    cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
    extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    model = cls(input_size, hidden, layers, batch_first=True, dtype=getattr(torch, dtype), **extra).eval()
    _fill(model, seed, scale)
    return model


def random_binary_rnn(input_size: int, hidden: int, layers: int, seed: int, *, scale: float = 1.0):
    """A seeded ``compilers.seqmodels.nets.binary_rnn.BinaryRNN`` (float64 arithmetic, {0,1} states)."""
    from compilers.seqmodels.nets.binary_rnn import BinaryRNN

    model = BinaryRNN(input_size, hidden, layers).eval()
    _fill(model, seed, scale)
    return model


def _from_transformer(model, cfg, seed: int):
    """Copy the weights of ``random_transformer(cfg, seed)`` into ``model`` (same parameter names)."""
    missing, unexpected = model.load_state_dict(random_transformer(cfg, seed).state_dict(), strict=False)
    if unexpected or any(not name.endswith("omega") for name in missing):
        raise RuntimeError(f"weights do not match: missing {missing}, unexpected {unexpected}")
    return model.eval()


def random_kernel_transformer(cfg, n_features: int, seed: int):
    """A seeded ``KernelTransformer``: the weights of ``random_transformer(cfg, seed)`` and feature
    matrices Ω drawn from the same seed."""
    import torch

    from compilers.seqmodels.nets.kernel_attention import KernelTransformer

    return _from_transformer(KernelTransformer(cfg, n_features, torch.Generator().manual_seed(seed)), cfg, seed)


def random_longformer(cfg, window: int, stride: int, seed: int):
    """A seeded ``LongformerTransformer`` with mask Λ^{w,g}."""
    from compilers.seqmodels.nets.longformer import LongformerTransformer

    return _from_transformer(LongformerTransformer(cfg, window, stride), cfg, seed)


def random_cot(cfg, seed: int):
    """A seeded one-layer causal ``CoTTransformer``."""
    from compilers.seqmodels.nets.cot import CoTTransformer

    return _from_transformer(CoTTransformer(cfg), cfg, seed)


# --- inputs, splits, instances -----------------------------------------------------------------

def bit_vectors(n: int):
    return st.lists(st.integers(0, 1), min_size=n, max_size=n)


@st.composite
def two_party_splits(draw, n: int):
    """(Alice's positions, the target position) for a sequence of length n ≥ 1: Bob holds the
    target and every position Alice does not."""
    target = draw(st.integers(0, n - 1))
    alice = draw(st.sets(st.integers(0, n - 1).filter(lambda i: i != target), max_size=n - 1))
    return sorted(alice), target


@st.composite
def token_runs(draw, models, max_players: int = 4, max_n: int = 14):
    """(model, tokens (N,), blocks of k ≤ max_players players) for a token-input model from ``models``
    (its ``cfg.d_vocab`` bounds the tokens); k ≤ N ≤ max_n."""
    model = draw(models)
    k = draw(st.integers(1, max_players))
    n = draw(st.integers(k, max_n))
    tokens = draw(st.lists(st.integers(0, model.cfg.d_vocab - 1), min_size=n, max_size=n))
    return model, np.array(tokens), draw(contiguous_splits(n, k))


@st.composite
def contiguous_splits(draw, n: int, players: int):
    """Blocks [(lo, hi)] of P_1..P_k covering 0..n-1 in sequence order P_k, …, P_1, all nonempty."""
    if not 1 <= players <= n:
        raise ValueError(f"need 1 <= players <= n, got players={players}, n={n}")
    if players == 1:
        return [(0, n)]
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), min_size=players - 1, max_size=players - 1)))
    edges = [0, *cuts, n]
    in_order = [(edges[t], edges[t + 1]) for t in range(players)]  # P_k's block first
    return in_order[::-1]


@st.composite
def hop_sequences(draw, max_alphabet: int = 5, max_len: int = 24, min_len: int = 1):
    """(A, tokens) with tokens in 1..A (the alphabet of ``nets.hop_rnn.HopRNN``)."""
    a = draw(st.integers(1, max_alphabet))
    return a, draw(st.lists(st.integers(1, a), min_size=min_len, max_size=max_len))


@st.composite
def pointer_chase_instances(draw, max_n: int = 16, max_k: int = 6):
    """(n, k, f_A, f_B): two functions [n] → [n] as tuples (f[v-1] = image of v)."""
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(1, max_k))
    func = st.lists(st.integers(1, n), min_size=n, max_size=n).map(tuple)
    return n, k, draw(func), draw(func)


# --- models ------------------------------------------------------------------------------------

_seeds = st.integers(0, 2**32 - 1)


@st.composite
def rnn_models(draw, kinds=RNN_KINDS, max_input: int = 4, max_hidden: int = 5, max_layers: int = 3):
    """A seeded float64 torch RNN/GRU/LSTM (tanh or relu for ``rnn``)."""
    kind = draw(st.sampled_from(kinds))
    nonlinearity = draw(st.sampled_from(("tanh", "relu"))) if kind == "rnn" else "tanh"
    return random_rnn(kind, draw(st.integers(1, max_input)), draw(st.integers(1, max_hidden)),
                      draw(st.integers(1, max_layers)), draw(_seeds), nonlinearity=nonlinearity)


@st.composite
def binary_rnns(draw, max_input: int = 4, max_hidden: int = 6, max_layers: int = 3):
    return random_binary_rnn(draw(st.integers(1, max_input)), draw(st.integers(1, max_hidden)),
                             draw(st.integers(1, max_layers)), draw(_seeds))


@st.composite
def _configs(draw, *, layers, causal, max_vocab: int = 6, n_ctx: int = 32):
    from compilers.model import TransformerConfig

    d_vocab = draw(st.integers(2, max_vocab))
    return TransformerConfig(
        d_model=draw(st.integers(1, 6)), n_layers=draw(layers), n_heads=draw(st.integers(1, 2)),
        d_head=draw(st.integers(1, 3)), d_mlp=draw(st.integers(0, 6)), d_vocab=d_vocab, n_ctx=n_ctx,
        act=draw(st.sampled_from(("relu", "gelu"))), layer_norm=draw(st.booleans()), causal=draw(causal),
        attn_scale=draw(st.one_of(st.none(), st.floats(0.25, 1.0))), dtype="float64",
    )


@st.composite
def kernel_models(draw, max_layers: int = 3, max_features: int = 5, **config_options):
    cfg = draw(_configs(layers=st.integers(1, max_layers), causal=st.just(True), **config_options))
    return random_kernel_transformer(cfg, draw(st.integers(1, max_features)), draw(_seeds))


@st.composite
def longformer_models(draw, max_layers: int = 3, max_window: int = 4, max_stride: int = 12, **config_options):
    cfg = draw(_configs(layers=st.integers(1, max_layers), causal=st.booleans(), **config_options))
    return random_longformer(cfg, draw(st.integers(0, max_window)), draw(st.integers(1, max_stride)), draw(_seeds))


@st.composite
def cot_models(draw, **config_options):
    cfg = draw(_configs(layers=st.just(1), causal=st.just(True), **config_options))
    return random_cot(cfg, draw(_seeds))


@st.composite
def one_layer_transformers(draw, **config_options):
    """A seeded one-layer ``compilers.model.Transformer`` (causal or not), the model of the
    attention-as-protocol lemma (THEORY.md a.6)."""
    cfg = draw(_configs(layers=st.just(1), causal=st.booleans(), **config_options))
    return random_transformer(cfg, draw(_seeds))
