"""The parameters, machine numbering and round schedule of the transformer → MPC protocol
(P2 Thm 3.4 and its generalisation Thm C.1, proof; THEORY.md b.4, d.1).

One layer on M token positions uses

* token machines i ∈ [M] (ids 0..M−1): they compute Q, K, V and ψ and keep X_i for the residual;
* inner-product machines (i, i′) ∈ [M]² (ids M + i·M + i′): they score Q_{h,i}·K_{h,i′};
* one b-ary propagation tree per token, nodes (i, d, k) for d ∈ 1..D−1, k ∈ [b^d]
  (ids M + M² + i·T + Σ_{d′<d} b^{d′} + k, with T = Σ_{d=1}^{D−1} b^d). Its root is token machine i
  and its leaves are the inner-product machines: going down, node (i, d, k) forwards (q_i, k_i,
  v_i); at the last level q_i goes to (i, i′) and (k_i, v_i) to (i′, i) for the leaves i′ under
  it. Going up, the same tree merges the softmax partials of row i. One tree serves both
  directions, which is why the machine count is q = M + M² + M·Σ_{d=1}^{D−1} b^d (P2 Thm C.1).

with b = ⌊s/(4mH)⌋ and D = ⌈log_b M⌉ (at least 1: with D = 1 token machines talk to the
inner-product machines directly). A layer takes exactly 2D + 3 rounds:

  t = 1            SCATTER    Stage 1: the layer input (tokens, or the previous layer's
                              residuals) goes from the first ⌈n/s⌉ machines to the token machines
  t = 2            TOKEN_QKV  Stage 2: token machines compute q, k, v and send them to tree depth 1
  t = 3 … D+1      DOWN       Stage 2: tree depth t−2 forwards to depth t−1 (the last to the leaves)
  t = D+2          LEAF       Stage 3: inner-product machines send (log Z, S) to their parent
  t = D+3 … 2D+1   UP         Stage 3: tree depth 2D+2−t merges its children, sends to its parent
  t = 2D+2         FINISH     Stage 3: token machines merge, add the residual, apply the MLP (ψ
                              after the last layer) and keep the result
  t = 2D+3         COMPRESS   Stage 4: the rows go to the first ⌈M·width/s⌉ machines, in order

Token machines send X_i to themselves in rounds 2 … 2D+2 to keep it (nothing else persists,
P2 Def. 2.3). Why b = ⌊s/(4mH)⌋ keeps every machine within s words, for m as in ``ModelShape``
(so 4mH·b ≤ s and m ≤ s/8 when b ≥ 2):

  token, t = 2:      sends b·3H·d_head·w + d_model·w ≤ 3bmH + m ≤ s
  token, t = 2D+2:   holds b·H(d_head+1)·w + d_model·w ≤ bmH + m ≤ s/2
  tree node, down:   receives 3H·d_head·w ≤ 3mH, sends b times that ≤ 3s/4
  tree node, up:     receives b·H(d_head+1)·w ≤ bmH ≤ s/4
  leaf:              holds 3H·d_head·w ≤ 3s/4
  layout machines:   hold ≤ s by construction; a token row (≤ m words) spans at most 2 of them.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mpcsim.config import memory_for_delta

HEADROOM = 4  # the 4 in b = ⌊s/(4mH)⌋ (P2 Thm C.1): q, k and v down plus the kept residual fit in s
MIN_BRANCHING = 2  # a tree with b = 1 never reaches M > 1 leaves


@dataclass(frozen=True)
class ModelShape:
    """What the protocol needs to know about a transformer's sizes. ``words_per_float`` is w of
    ``encoding.FloatCodec`` (1 for float32, 2 for float64)."""

    d_model: int
    n_heads: int
    d_head: int
    d_out: int
    n_layers: int
    words_per_float: int

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "d_head", "d_out", "n_layers", "words_per_float"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelShape.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def x_words(self) -> int:
        """One residual row X_i."""
        return self.d_model * self.words_per_float

    @property
    def out_words(self) -> int:
        """One output row ψ(X_i)."""
        return self.d_out * self.words_per_float

    @property
    def q_words(self) -> int:
        """q_i for all heads (the query half of a leaf's input)."""
        return self.n_heads * self.d_head * self.words_per_float

    @property
    def kv_words(self) -> int:
        """(k_i, v_i) for all heads."""
        return 2 * self.q_words

    @property
    def qkv_words(self) -> int:
        return self.q_words + self.kv_words

    @property
    def partial_words(self) -> int:
        """A softmax partial (log Z, S) for every head: H·(d_head + 1) floats (P2's (m+1)H)."""
        return self.n_heads * (self.d_head + 1) * self.words_per_float

    @property
    def m_words(self) -> int:
        """P2's width m, in words: the longest per-head or per-token vector a message carries —
        a residual row (d_model), one head's partial (d_head + 1) or an output row (d_out)."""
        return max(self.d_model, self.d_head + 1, self.d_out) * self.words_per_float

    def row_words(self, layer: int) -> int:
        """Words per token in the layout after ``layer`` (0-based): residuals, ψ after the last."""
        return self.out_words if layer == self.n_layers - 1 else self.x_words


class MemoryTooSmall(ValueError):
    """s is below 8mH, so b = ⌊s/(4mH)⌋ < 2 and the propagation trees cannot be built."""


def branching(s: int, shape: ModelShape) -> int:
    """b = ⌊s/(4mH)⌋ (P2 Thm C.1 proof)."""
    return s // (HEADROOM * shape.m_words * shape.n_heads)


def min_memory(shape: ModelShape) -> int:
    """The least s with b ≥ 2: 8mH words."""
    return MIN_BRANCHING * HEADROOM * shape.m_words * shape.n_heads


def tree_depth(b: int, n_tokens: int) -> int:
    """D = ⌈log_b M⌉ computed in integers (the least D with b^D ≥ M), and at least 1."""
    if b < MIN_BRANCHING:
        raise ValueError(f"branching factor b must be >= {MIN_BRANCHING}, got {b}")
    depth, reach = 1, b
    while reach < n_tokens:
        depth, reach = depth + 1, reach * b
    return depth


def machine_count(n_tokens: int, b: int, depth: int) -> int:
    """q = M + M² + M·Σ_{d=1}^{D−1} b^d (P2 Thm C.1 proof)."""
    return n_tokens + n_tokens**2 + n_tokens * sum(b**d for d in range(1, depth))


def min_delta(shape: ModelShape, n_tokens: int, c: int) -> float | None:
    """The least δ′ on a 0.001 grid with ⌈N^δ′⌉·c ≥ 8mH, or None if even δ′ = 1 is too small.
    ⌈N^δ′⌉ ≥ K = ⌈8mH/c⌉ holds iff N^δ′ > K − 1, so start just below log_N(K − 1) and step up."""
    need = min_memory(shape)
    if memory_for_delta(n_tokens, 1.0, c) < need:
        return None
    k = -(-need // c)
    start = math.floor(1000 * math.log(k - 1) / math.log(n_tokens)) / 1000 if k > 1 and n_tokens > 1 else 0.0
    delta = max(round(start, 3), 0.001)
    while memory_for_delta(n_tokens, delta, c) < need:  # at most a couple of steps (float rounding)
        delta = round(delta + 0.001, 3)
    return delta


def refusal(shape: ModelShape, n_tokens: int, s: int, delta: float | None = None, c: int = 1) -> MemoryTooSmall:
    """The error for s < 8mH, saying which δ′ (or memory) would work."""
    m, h, need = shape.m_words, shape.n_heads, min_memory(shape)
    msg = (f"local memory s = {s} words gives b = ⌊s/(4mH)⌋ = ⌊{s}/(4·{m}·{h})⌋ = {branching(s, shape)} < 2 "
           f"(m = {m} words per vector, H = {h} heads); the protocol of P2 Thm 3.4 needs s >= 8mH = {need} words")
    if delta is not None:
        better = min_delta(shape, n_tokens, c)
        if better is not None:
            msg += f"; at N = {n_tokens} and c = {c} use --delta {better} or more"
        else:
            msg += f"; at N = {n_tokens} even delta = 1 is too small with c = {c}: use --c {math.ceil(need / n_tokens)} or more"
    return MemoryTooSmall(msg)


class Stage(enum.Enum):
    """What the machines do in one round of a layer (P2 Thm C.1 proof, Stages 1–4)."""

    SCATTER = "scatter"
    TOKEN_QKV = "token-qkv"
    DOWN = "down"
    LEAF = "leaf"
    UP = "up"
    FINISH = "finish"
    COMPRESS = "compress"


@dataclass(frozen=True)
class RoundPhase:
    """Round ``round`` (1-based) is round ``t`` (1..2D+3) of layer ``layer`` (0-based);
    ``depth`` is the tree depth of the senders for DOWN and UP (0 = token machines, D = leaves)."""

    round: int
    layer: int
    t: int
    stage: Stage
    depth: int


@dataclass(frozen=True)
class TreePlan:
    """b, D, machine numbering and round schedule for M tokens with s words of local memory.
    Build it with ``TreePlan.build``, which refuses s < 8mH."""

    shape: ModelShape
    n_tokens: int
    s: int
    b: int
    depth: int

    @staticmethod
    def build(shape: ModelShape, n_tokens: int, s: int) -> "TreePlan":
        if n_tokens < 1:
            raise ValueError(f"the protocol needs at least one token, got N = {n_tokens}")
        b = branching(s, shape)
        if b < MIN_BRANCHING:
            raise refusal(shape, n_tokens, s)
        return TreePlan(shape, n_tokens, s, b, tree_depth(b, n_tokens))

    @staticmethod
    def for_delta(shape: ModelShape, n_tokens: int, delta: float, c: int = 1) -> "TreePlan":
        """s = ⌈N^δ′⌉·c words (P2 Thm 3.4: s = O(N^δ′)); the refusal names a δ′ that works."""
        s = memory_for_delta(n_tokens, delta, c)
        if branching(s, shape) < MIN_BRANCHING:
            raise refusal(shape, n_tokens, s, delta, c)
        return TreePlan.build(shape, n_tokens, s)

    # ---- counts ---------------------------------------------------------------------------
    @property
    def rounds_per_layer(self) -> int:
        """2D + 3 (P2 Thm C.1 proof)."""
        return 2 * self.depth + 3

    @property
    def total_rounds(self) -> int:
        return self.shape.n_layers * self.rounds_per_layer

    @property
    def q(self) -> int:
        return machine_count(self.n_tokens, self.b, self.depth)

    @cached_property
    def level_start(self) -> np.ndarray:
        """level_start[d] = Σ_{d′=1}^{d−1} b^{d′}: where depth d begins inside a token's tree (d = 1..D)."""
        sizes = [0, 0] + [self.b**d for d in range(1, self.depth)]
        return np.cumsum(sizes).astype(np.int64)

    @property
    def tree_size(self) -> int:
        """T = Σ_{d=1}^{D−1} b^d machines per token tree."""
        return int(self.level_start[self.depth])

    @cached_property
    def level_width(self) -> np.ndarray:
        """Nodes of depth d that lie above at least one of the M leaves: ⌈M / b^{D−d}⌉ (d = 0..D)."""
        m = self.n_tokens
        return np.array([-(-m // self.b ** (self.depth - d)) for d in range(self.depth + 1)], dtype=np.int64)

    @property
    def machines_active(self) -> int:
        """Machines that ever hold data: M tokens, M² leaves, and the tree nodes above some leaf."""
        m = self.n_tokens
        return m + m * m + m * int(self.level_width[1:self.depth].sum())

    def layout_machines(self, layer: int) -> int:
        """⌈M·width/s⌉: the machines that hold the layer's output (Stage 4)."""
        return -(-self.n_tokens * self.shape.row_words(layer) // self.s)

    # ---- numbering --------------------------------------------------------------------------
    @property
    def leaf_base(self) -> int:
        return self.n_tokens

    @property
    def tree_base(self) -> int:
        return self.n_tokens + self.n_tokens**2

    def leaf_id(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Inner-product machine (i, j): query row i, key/value column j."""
        return self.leaf_base + np.asarray(i, np.int64) * self.n_tokens + j

    def leaf_pair(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = np.asarray(ids, np.int64) - self.leaf_base
        return rel // self.n_tokens, rel % self.n_tokens

    def tree_id(self, i: np.ndarray, d: int, k: np.ndarray) -> np.ndarray:
        """Tree node (i, d, k), 1 ≤ d ≤ D−1."""
        return self.tree_base + np.asarray(i, np.int64) * self.tree_size + self.level_start[d] + k

    def tree_node(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, d, k) of tree machines ``ids``."""
        rel = np.asarray(ids, np.int64) - self.tree_base
        i, r = rel // self.tree_size, rel % self.tree_size
        d = np.searchsorted(self.level_start[1:], r, side="right")
        return i, d, r - self.level_start[d]

    def node_id(self, i: np.ndarray, d: int, k: np.ndarray) -> np.ndarray:
        """The machine at depth d of token i's tree: token i (d = 0), node (i, d, k), or for d = D
        the leaf (i, k) that ends the query path."""
        if d == 0:
            return np.asarray(i, np.int64)
        if d == self.depth:
            return self.leaf_id(i, k)
        return self.tree_id(i, d, k)

    def children(self, d: int, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For nodes at depth d with indices k: (row into k, child index at depth d+1), over the
        children that lie above some leaf."""
        k = np.asarray(k, np.int64)
        ck = k[:, None] * self.b + np.arange(self.b, dtype=np.int64)  # (n, b)
        rows, cols = np.nonzero(ck < self.level_width[d + 1])
        return rows.astype(np.int64), ck[rows, cols]

    # ---- schedule ----------------------------------------------------------------------------
    def phase(self, round: int) -> RoundPhase:
        if not 1 <= round <= self.total_rounds:
            raise ValueError(f"round {round} is outside 1..{self.total_rounds}")
        layer, t = divmod(round - 1, self.rounds_per_layer)
        t += 1
        d = self.depth
        if t == 1:
            return RoundPhase(round, layer, t, Stage.SCATTER, 0)
        if t == 2:
            return RoundPhase(round, layer, t, Stage.TOKEN_QKV, 0)
        if t <= d + 1:
            return RoundPhase(round, layer, t, Stage.DOWN, t - 2)
        if t == d + 2:
            return RoundPhase(round, layer, t, Stage.LEAF, d)
        if t <= 2 * d + 1:
            return RoundPhase(round, layer, t, Stage.UP, 2 * d + 2 - t)
        if t == 2 * d + 2:
            return RoundPhase(round, layer, t, Stage.FINISH, 0)
        return RoundPhase(round, layer, t, Stage.COMPRESS, 0)

    def summary(self) -> dict:
        return {
            "N": self.n_tokens, "s": self.s, "m_words": self.shape.m_words, "H": self.shape.n_heads,
            "b": self.b, "D": self.depth, "rounds_per_layer": self.rounds_per_layer,
            "layers": self.shape.n_layers, "rounds": self.total_rounds, "q": self.q,
            "machines_active": self.machines_active,
        }
