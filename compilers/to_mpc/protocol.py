"""The MPC protocol that simulates a transformer (P2 Thm 3.4 and Thm C.1, proof; THEORY.md b.4).

Machines, numbering and the 2D + 3 rounds of a layer are in ``plan.py``; the per-token maps in
``token_maps.py``; the softmax merging in ``numerics.py``. Each round, a shard reads its memory by
role (token machines, inner-product leaves, tree nodes) and every role acts on all of its
machines in the shard at once, with numpy. Real numbers travel as exact IEEE-754 bit patterns
(``encoding.py``), so the simulator computes exactly what the numpy maps compute.

Input: the N token ids, one word each, in the first ⌈N/s⌉ machines (P2 Def. 2.3). Output: the
N × d_out rows ψ(X^L_i) in the first ⌈N·d_out·w/s⌉ machines, in order; ``decode_output`` turns
the words back into an (N, d_out) float array.
"""
from __future__ import annotations

import numpy as np

from mpcsim.config import MPCConfig
from mpcsim.errors import ProtocolError
from mpcsim.messages import Messages
from mpcsim.protocol import Protocol, ShardOutput, ShardView, Step

from .encoding import WORD_BITS, FloatCodec
from .numerics import leaf_partials, merge_partials
from .plan import RoundPhase, TreePlan
from .routing import Inbox, layout_to_rows, rows_to_layout
from .token_maps import ModelWeights


class TransformerProtocol(Protocol):
    """Runs ``weights`` on N tokens with the machines and rounds of ``plan`` (P2 Thm C.1)."""

    def __init__(self, weights: ModelWeights, plan: TreePlan):
        if plan.shape != weights.shape:
            raise ValueError(f"plan was made for {plan.shape}, the weights have {weights.shape}")
        if plan.n_tokens > weights.n_ctx:
            raise ValueError(f"N = {plan.n_tokens} tokens exceed the model's context n_ctx = {weights.n_ctx}")
        self.weights = weights
        self.plan = plan
        self.codec = FloatCodec(weights.dtype)
        self.config = MPCConfig(n=plan.n_tokens, q=plan.q, s=plan.s, word_bits=WORD_BITS)
        self.expected_rounds = plan.total_rounds

    # ---- the Protocol interface ----------------------------------------------------------------
    def local(self, round: int, view: ShardView) -> Step:
        if round > self.plan.total_rounds:
            return Step.stop()
        phase = self.plan.phase(round)
        handler = getattr(self, "_" + phase.stage.name.lower())
        return Step.send(handler(phase, view.memory))

    def output(self, view: ShardView) -> ShardOutput:
        return ShardOutput.from_memory(view)

    def decode_output(self, words: np.ndarray) -> np.ndarray:
        """The output words → (N, d_out) floats ψ(X^L)."""
        shape = self.plan.shape
        return self.codec.decode(np.asarray(words).reshape(self.plan.n_tokens, shape.out_words))

    # ---- helpers ----------------------------------------------------------------------------------
    def _tokens(self, memory: Messages) -> Inbox:
        return Inbox.of(memory, 0, self.plan.n_tokens)

    def _keep_tokens(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Token machines send their residual X_i to themselves (nothing else persists, P2 Def. 2.3)."""
        inbox, what = self._tokens(memory), f"round {phase.round} ({phase.stage.value})"
        if np.any(inbox.src != inbox.dst):
            bad = int(np.flatnonzero(inbox.src != inbox.dst)[0])
            raise ProtocolError(f"{what}: token machine {int(inbox.dst[bad])} holds a message from machine "
                                f"{int(inbox.src[bad])}; only its own kept row was expected")
        return Messages.from_records(inbox.dst, inbox.dst, inbox.records(self.plan.shape.x_words, what))

    def _tree_inbox(self, phase: RoundPhase, memory: Messages) -> tuple[Inbox, np.ndarray, np.ndarray]:
        """Messages held by tree machines, and (i, k) of each one's holder (i, d, k), which must lie at
        depth d = phase.depth."""
        inbox = Inbox.of(memory, self.plan.tree_base, self.plan.q)
        i, d, k = self.plan.tree_node(inbox.dst)
        if np.any(d != phase.depth):
            bad = int(np.flatnonzero(d != phase.depth)[0])
            raise ProtocolError(f"round {phase.round} ({phase.stage.value}): tree machine {int(inbox.dst[bad])} "
                                f"at depth {int(d[bad])} holds data; only depth {phase.depth} should")
        return inbox, i, k

    def _fan_down(self, d: int, i: np.ndarray, k: np.ndarray, payload: np.ndarray) -> Messages:
        """Nodes (i, d, k) send (q, k, v) words to their children; the last level sends q_i to leaf
        (i, j) and (k_i, v_i) to leaf (j, i) for every leaf j under the node."""
        plan = self.plan
        rows, child = plan.children(d, k)
        src = plan.node_id(i, d, k)[rows]
        if d + 1 < plan.depth:
            return Messages.from_records(src, plan.tree_id(i[rows], d + 1, child), payload[rows])
        qw = plan.shape.q_words
        return Messages.concat([
            Messages.from_records(src, plan.leaf_id(i[rows], child), payload[rows, :qw]),
            Messages.from_records(src, plan.leaf_id(child, i[rows]), payload[rows, qw:]),
        ])

    def _fan_up(self, d: int, i: np.ndarray, k: np.ndarray, partial: np.ndarray) -> Messages:
        """Nodes (i, d, k) (leaves when d = D) send their partial to (i, d − 1, ⌊k/b⌋)."""
        plan = self.plan
        return Messages.from_records(plan.node_id(i, d, k), plan.node_id(i, d - 1, k // plan.b), partial)

    def _encode_partials(self, ell: np.ndarray, s: np.ndarray) -> np.ndarray:
        """(n, H), (n, H, e) → (n, H·(e + 1)·w) words: per head log Z then S."""
        shape = self.plan.shape
        both = np.concatenate([ell[..., None], s], axis=-1).reshape(len(ell), shape.n_heads * (shape.d_head + 1))
        return self.codec.encode(both)

    def _decode_partials(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shape = self.plan.shape
        both = self.codec.decode(words).reshape(len(words), shape.n_heads, shape.d_head + 1)
        return both[..., 0], both[..., 1:]

    # ---- the stages (P2 Thm C.1 proof) ------------------------------------------------------------
    def _scatter(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Stage 1: the layout machines send each token its row (a token id, or a residual)."""
        row_words = 1 if phase.layer == 0 else self.plan.shape.x_words
        return layout_to_rows(Inbox.of(memory, 0, self.plan.q), self.plan.s, row_words, self.plan.n_tokens)

    def _token_qkv(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Stage 2, first round: token machine i embeds (layer 1), computes q_i, k_i, v_i, sends them
        to its tree's depth 1 and keeps X_i."""
        shape, what = self.plan.shape, f"round {phase.round} (token-qkv)"
        inbox = self._tokens(memory)
        if phase.layer == 0:
            ids, tokens = inbox.rows_per_machine(1, what)
            tokens = tokens[:, 0]
            bad = np.flatnonzero(tokens >= self.weights.d_vocab)
            if len(bad):
                raise ProtocolError(f"{what}: token machine {int(ids[bad[0]])} holds token id {int(tokens[bad[0]])}, "
                                    f"outside the vocabulary [0, {self.weights.d_vocab})")
            x = self.weights.embed(tokens, ids)
        else:
            ids, rows = inbox.rows_per_machine(shape.x_words, what)
            x = self.codec.decode(rows)
        q, k, v = self.weights.qkv(phase.layer, x)  # (n, H, d_head) each
        qkv = np.concatenate([q, k, v], axis=1).reshape(len(ids), 3 * shape.n_heads * shape.d_head)
        payload = self.codec.encode(qkv)  # (n, qkv_words)
        return Messages.concat([
            Messages.from_records(ids, ids, self.codec.encode(x)),
            self._fan_down(0, ids, np.zeros_like(ids), payload),
        ])

    def _down(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Stage 2: tree depth d forwards (q_i, k_i, v_i) one level down."""
        inbox, i, k = self._tree_inbox(phase, memory)
        payload = inbox.records(self.plan.shape.qkv_words, f"round {phase.round} (down)")
        return Messages.concat([self._keep_tokens(phase, memory), self._fan_down(phase.depth, i, k, payload)])

    def _leaf(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Stage 3, first round: leaf (i, j) scores q_i·k_j per head and sends the partial
        (a_ij, v_j), or (−∞, 0) when the mask hides j from i."""
        plan, shape, what = self.plan, self.plan.shape, f"round {phase.round} (leaf)"
        inbox = Inbox.of(memory, plan.leaf_base, plan.tree_base)
        q_in = inbox.select(inbox.sizes == shape.q_words)
        kv_in = inbox.select(inbox.sizes == shape.kv_words)
        if len(q_in) + len(kv_in) != len(inbox) or not np.array_equal(q_in.dst, kv_in.dst) \
                or np.any(q_in.dst[1:] == q_in.dst[:-1]):
            raise ProtocolError(f"{what}: every inner-product machine must hold one query row "
                                f"({shape.q_words} words) and one key/value row ({shape.kv_words} words)")
        n, h, e = len(q_in), shape.n_heads, shape.d_head
        row, col = plan.leaf_pair(q_in.dst)
        q = self.codec.decode(q_in.records(shape.q_words, what)).reshape(n, h, e)
        kv = self.codec.decode(kv_in.records(shape.kv_words, what)).reshape(n, 2, h, e)
        visible = col <= row if self.weights.causal else np.ones(n, dtype=bool)
        ell, s = leaf_partials(self.weights.scores(q, kv[:, 0]), kv[:, 1], visible)
        return Messages.concat([
            self._keep_tokens(phase, memory),
            self._fan_up(plan.depth, row, col, self._encode_partials(ell, s)),
        ])

    def _up(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Stage 3: tree depth d merges its children's partials and sends the result up."""
        inbox, i, k = self._tree_inbox(phase, memory)
        nodes, first = inbox.machines()
        ell, s = self._decode_partials(inbox.records(self.plan.shape.partial_words, f"round {phase.round} (up)"))
        ell, s = merge_partials(ell, s, first)
        return Messages.concat([
            self._keep_tokens(phase, memory),
            self._fan_up(phase.depth, i[first], k[first], self._encode_partials(ell, s)),
        ])

    def _finish(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Stage 3, last round: token machine i merges its children into the attention output
        z_i = softmax(a_i)·V per head, adds the residual, applies the MLP (and ψ after the last
        layer) and keeps the result."""
        shape, what = self.plan.shape, f"round {phase.round} (finish)"
        inbox = self._tokens(memory)
        kept = inbox.select(inbox.src == inbox.dst)
        children = inbox.select(inbox.src != inbox.dst)
        ids = kept.dst
        x = self.codec.decode(kept.records(shape.x_words, what))
        merged_ids, first = children.machines()
        if not np.array_equal(merged_ids, ids):
            raise ProtocolError(f"{what}: token machines {ids.tolist()[:8]} hold rows but the partials reached "
                                f"{merged_ids.tolist()[:8]}")
        _, z = merge_partials(*self._decode_partials(children.records(shape.partial_words, what)), first)
        x = self.weights.finish(phase.layer, x, z)
        if phase.layer == shape.n_layers - 1:
            x = self.weights.readout(x)
        return Messages.from_records(ids, ids, self.codec.encode(x))

    def _compress(self, phase: RoundPhase, memory: Messages) -> Messages:
        """Stage 4: token rows go to the first ⌈M·width/s⌉ machines, in order."""
        width = self.plan.shape.row_words(phase.layer)
        ids, rows = self._tokens(memory).rows_per_machine(width, f"round {phase.round} (compress)")
        return rows_to_layout(ids, rows, self.plan.s)
