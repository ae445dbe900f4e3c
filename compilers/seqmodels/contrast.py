"""The P2 §5 contrast, measured: each sequence model run as a blackboard protocol on a hop_k task,
with its rounds, its largest message s and the bound "R ≥ k or s ≥ c·N/k⁶" (P2 Prop. E.4,
Cor. 5.2–5.6; THEORY.md b.9, d.3), next to the ⌊log2 k⌋ + 2-layer transformer (P2 Thm 4.2).

The task (``hop_task``): with k players, a random (q, k)-layered pointer-chasing instance encoded
as hop_k (P2 Prop. E.4: N = 2kq + 1, q = ⌊N/(2k)⌋, |Σ| = 2q + 2, P_j holding block j); with
another number of players, a uniformly random sequence split into contiguous blocks (the bound is
then reported but not applicable: it is stated for the Prop. E.4 split).

Random models (rnn, gru, lstm, binary-rnn, kernel, longformer, cot) are untrained: the point is
the communication pattern, and that the protocol's output equals the model's forward output.
The hop-rnn is the explicit construction and must answer hop_k(X)_N correctly.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mpcsim.blackboard import (
    BlackboardResult, HopBlackboardBound, contiguous_blocks, hop_blackboard_bound, run_blackboard, split_sequence,
)
from mpcsim.bounds import hop_theorem_depth
from protocols.hop_reference import hop_fast
from protocols.pointer_chasing import LayeredInstance, encode_as_hop, player_blocks, random_layered_instance

MODEL_KINDS = ("rnn", "gru", "lstm", "binary-rnn", "kernel", "longformer", "cot", "hop-rnn")
RNN_FAMILY = ("rnn", "gru", "lstm", "binary-rnn")
MATCH_RTOL = 1e-9  # protocol vs forward: |Δ| ≤ MATCH_RTOL·max(1, |forward|) (float64 reassociation is ~1e-15)


@dataclass(frozen=True, eq=False)
class HopTask:
    """hop_k(X)_N on a split sequence: tokens in 1..alphabet, blocks [(lo, hi)] of P_1..P_k."""

    tokens: tuple[int, ...]
    blocks: tuple[tuple[int, int], ...]
    alphabet: int
    k: int
    instance: LayeredInstance | None = None

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def players(self) -> int:
        return len(self.blocks)

    @property
    def prop_e4(self) -> bool:
        """Whether this is a Prop. E.4 instance (the bound applies)."""
        return self.instance is not None

    @property
    def answer(self) -> int | None:
        """hop_k(X)_N from the plain-Python reference (None for ⊥)."""
        return hop_fast(self.tokens, self.k)[-1]


def hop_task(n: int, k: int, players: int | None = None, seed: int = 0, alphabet: int = 4) -> HopTask:
    """A Prop. E.4 instance of length 2kq + 1 with q = ⌊n/(2k)⌋ when ``players`` is k (default);
    otherwise a random sequence of length n over 1..``alphabet`` on ``players`` contiguous blocks."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    players = k if players is None else players
    rng = random.Random(seed)
    if players == k:
        q = n // (2 * k)
        if q < 1:
            raise ValueError(f"Prop. E.4 needs N >= 2k (q = floor(N/2k) >= 1); got N={n}, k={k}")
        inst = random_layered_instance(q, k, rng)
        return HopTask(tuple(encode_as_hop(inst)), tuple(player_blocks(inst)), 2 * q + 2, k, inst)
    tokens = tuple(rng.randint(1, alphabet) for _ in range(n))
    return HopTask(tokens, tuple(contiguous_blocks(n, players)), alphabet, k)


@dataclass(frozen=True)
class ModelOptions:
    """Sizes of the random models (all float64). ``width`` is the hidden size / d_model."""

    width: int = 8
    layers: int = 2
    heads: int = 1
    d_head: int = 4
    d_mlp: int = 8
    features: int = 4
    window: int = 2
    stride: int = 16
    cot_steps: int = 1
    seed: int = 0


@dataclass(frozen=True, eq=False)
class ContrastRow:
    model: str
    n: int
    k: int
    players: int
    rounds: int
    message_bits: int | None
    transcript_bits: int | None
    formula_bits: int | None
    bound: HopBlackboardBound | None
    max_abs_diff: float | None = None
    matches_model: bool | None = None
    answer: Any = None
    expected: Any = None
    correct: bool | None = None
    seconds: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {name: getattr(self, name) for name in (
            "model", "n", "k", "players", "rounds", "message_bits", "transcript_bits", "formula_bits",
            "max_abs_diff", "matches_model", "answer", "expected", "correct", "seconds", "note")}
        out["bound"] = self.bound.to_dict() if self.bound is not None else None
        out.update(self.extra)
        return out


def build_model(kind: str, task: HopTask, opts: ModelOptions) -> Any:
    """A seeded random model of ``kind`` for ``task`` (tokens 1..A, so vocabulary A + 1)."""
    from mpcsim.testing import comm

    vocab = task.alphabet + 1
    if kind == "hop-rnn":
        from .nets.hop_rnn import HopRNN

        return HopRNN(task.alphabet, task.k)
    if kind in ("rnn", "gru", "lstm"):
        return comm.random_rnn(kind, vocab, opts.width, opts.layers, opts.seed)
    if kind == "binary-rnn":
        return comm.random_binary_rnn(vocab, opts.width, opts.layers, opts.seed)
    from compilers.model import TransformerConfig

    cfg = TransformerConfig(
        d_model=opts.width, n_layers=1 if kind == "cot" else opts.layers, n_heads=opts.heads, d_head=opts.d_head,
        d_mlp=opts.d_mlp, d_vocab=vocab, n_ctx=task.n + (opts.cot_steps if kind == "cot" else 0),
        causal=kind != "longformer", dtype="float64",
    )
    if kind == "kernel":
        return comm.random_kernel_transformer(cfg, opts.features, opts.seed)
    if kind == "longformer":
        return comm.random_longformer(cfg, opts.window, opts.stride, opts.seed)
    if kind == "cot":
        return comm.random_cot(cfg, opts.seed)
    raise ValueError(f"unknown model {kind!r}; choose from {MODEL_KINDS}")


def _protocol_and_inputs(kind: str, model: Any, task: HopTask, opts: ModelOptions):
    """(protocol, player inputs, public input) for ``kind``."""
    tokens = np.asarray(task.tokens, dtype=np.int64)
    if kind in RNN_FAMILY:
        from mpcsim.testing.comm import one_hot

        from .rnn import rnn_protocol

        return rnn_protocol(model, task.players), split_sequence(one_hot(tokens, task.alphabet + 1), task.blocks), None
    inputs = split_sequence(tokens, task.blocks)
    if kind == "hop-rnn":
        from .hop_rnn import HopRNNCell
        from .recurrent import RecurrentProtocol

        return RecurrentProtocol(HopRNNCell(model), task.players), inputs, None
    if kind == "kernel":
        from .kernel import KernelProtocol

        return KernelProtocol(model, task.blocks), inputs, None
    if kind == "longformer":
        from .longformer import LongformerProtocol

        return LongformerProtocol(model, task.blocks), inputs, None
    from .cot import CoTProtocol

    return CoTProtocol(model, task.blocks, opts.cot_steps), inputs, int(tokens[-1])


def model_forward(kind: str, model: Any, task: HopTask, opts: ModelOptions) -> Any:
    """The model's own output at position N (after the CoT steps for ``cot``), by its forward pass."""
    if kind == "hop-rnn":
        z, _ = model.forward(task.tokens)
        return int(z[-1]) or None
    import torch

    tokens = torch.tensor(task.tokens, dtype=torch.long)
    with torch.no_grad():
        if kind in RNN_FAMILY:
            from mpcsim.testing.comm import one_hot

            x = torch.from_numpy(one_hot(task.tokens, task.alphabet + 1))[None]
            return model(x)[0][0, -1].numpy()
        if kind == "cot":
            return model.generate(tokens, opts.cot_steps)[1].numpy()
        return model(tokens[None])[0, -1].numpy()


def run_row(kind: str, task: HopTask, opts: ModelOptions = ModelOptions(), model: Any = None) -> ContrastRow:
    """Run ``kind`` on ``task`` as a blackboard protocol and compare with its forward pass."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model {kind!r}; choose from {MODEL_KINDS}")
    model = build_model(kind, task, opts) if model is None else model
    protocol, inputs, public = _protocol_and_inputs(kind, model, task, opts)
    start = time.perf_counter()
    result: BlackboardResult = run_blackboard(protocol, inputs, public)
    seconds = time.perf_counter() - start
    forward = model_forward(kind, model, task, opts)
    if kind == "hop-rnn":
        diff, matches, answer = None, result.output == forward, result.output
        correct: bool | None = answer == task.answer
        note = "explicit construction: L = k layers"
    else:
        out = np.asarray(result.output, dtype=np.float64)
        ref = np.asarray(forward, dtype=np.float64)
        diff = float(np.abs(out - ref).max())
        matches = diff <= MATCH_RTOL * max(1.0, float(np.abs(ref).max()))
        answer = None if kind in RNN_FAMILY else int(out.argmax())
        correct = None
        note = "random weights (untrained)"
    bound = hop_blackboard_bound(result.rounds, result.max_message_bits, task.n, task.k) if task.prop_e4 else None
    # the answer message (P_1's last) carries the full output vector for the differential check;
    # the largest of the other messages is the per-round communication the simulation needs
    relay = max((len(e.bits) for e in result.board.entries if (e.round, e.player) != (result.rounds, 1)), default=0)
    if not task.prop_e4:
        note += "; not a Prop. E.4 split, bound not applicable"
    return ContrastRow(
        kind, task.n, task.k, task.players, result.rounds, result.max_message_bits, result.bits,
        protocol.expected_bits, bound, diff, matches, answer, task.answer, correct, seconds, note,
        extra={"relay_message_bits": relay, "output_message_bits": len(result.output_bits)},
    )


def transformer_row(task: HopTask) -> ContrastRow:
    """The compiled hop_k transformer (``compilers.hop_compile``; P2 Thm 4.2's pointer doubling at depth
    ``hop_transformer_depth(k)`` — ⌊log2 k⌋ + 2 at powers of two) run on the task's tokens. A transformer
    layer is not a small-message blackboard round (attention reads every block), so no s is reported
    and the bound does not apply."""
    from compilers import hop_compile

    start = time.perf_counter()
    cfg, answer = _run_compiled(hop_compile, task)
    return ContrastRow(
        "transformer", task.n, task.k, task.players, cfg.n_layers, None, None, None, None,
        answer=answer, expected=task.answer, correct=answer == task.answer, seconds=time.perf_counter() - start,
        note=f"compiled hop_k transformer: {cfg.n_layers} layers (P2 Thm 4.2 states {hop_theorem_depth(task.k)}); "
             "attention reads every block, so a layer is not a small-message blackboard round",
        extra={"d_model": cfg.d_model, "n_heads": cfg.n_heads, "dtype": cfg.dtype},
    )


def _run_compiled(compiler: Any, task: HopTask) -> tuple[Any, int | None]:
    """``compile_hop(k, max_n, alphabet_size)`` over tokens 0..A−1 (ours are 1..A); runs the compiled
    transformer on the instance and returns (its config, hop_k(X)_N in our tokens)."""
    compiled = compiler.compile_hop(task.k, task.n, task.alphabet)
    last = compiled.run([t - 1 for t in task.tokens])[-1]
    return compiled.model.cfg, None if last is None else int(last) + 1