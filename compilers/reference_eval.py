"""The reference evaluator: a scheduled program run on logical values, with exactly the semantics
of the emitted model.

Same start token (position 0, every register null there), same causal mask, same logical scores
(``attention_forms.logical_scores``), and hardmax = the uniform average over the arg-max set
(P2 Lemma A.2), which is what the compiled softmax computes bit for bit inside the numerics
contract. No temperature, no approximation. Where the model's behaviour is an accident rather
than the program's meaning, this evaluator refuses (``EvaluationError``): a pointer to a position
the mask hides, an integer key that no position holds, a categorical mean over differing values.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .attention_forms import form_of, logical_scores
from .encodings import Codes
from .errors import EvaluationError
from .ir import Indices, Kind, Tokens
from .program_to_graph import ATTENTION, Graph, Head, WidthRamp, WidthSteps
from .semantics import decode_values, encode_values, eval_elementwise, null_array


def token_codes(graph: Graph, sequences: Sequence[Sequence]) -> np.ndarray:
    """Token values → codes (B, n) (index into the vocabulary); all sequences one length."""
    vocab_t = Tokens(graph.program.vocab).type if graph.program.vocab else None
    lengths = {len(s) for s in sequences}
    if len(lengths) > 1:
        raise EvaluationError(f"sequences of a batch must have one length, got lengths {sorted(lengths)}")
    if vocab_t is None:
        return np.zeros((len(sequences), lengths.pop() if lengths else 0), dtype=np.int64)
    return np.stack([encode_values(vocab_t, list(s), where="tokens") for s in sequences]) if sequences else \
        np.zeros((0, 0), dtype=np.int64)


def evaluate(graph: Graph, tokens: np.ndarray, max_n: int, codes: Codes = Codes()) -> dict:
    """Logical arrays (B, n+1) of every register, column 0 being the start token; ``tokens``
    are token codes (B, n) (``token_codes``)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    batch, n = tokens.shape
    if n > max_n:
        raise EvaluationError(f"input has {n} positions but the program was compiled for max_n = {max_n}")
    vals: dict = {}
    done_heads: set = set()
    for node in graph.nodes:
        if node.name in vals:
            continue
        if isinstance(node, Tokens):
            vals[node.name] = np.concatenate([np.full((batch, 1), -1), tokens], axis=1)
        elif isinstance(node, Indices):
            vals[node.name] = np.broadcast_to(np.arange(n + 1), (batch, n + 1)).copy()
        elif isinstance(node, WidthRamp):
            vals[node.name] = vals[node.inverse.name]  # the ramps encode r; the steps register decodes it
        elif isinstance(node, WidthSteps):
            r = vals[node.ramp.name]
            vals[node.name] = np.rint(1.0 / r) - 1.0
            vals[node.name][:, 0] = 0.0
        elif isinstance(node, ATTENTION):
            head = next(h for h in graph.heads if any(o.name == node.name for o in h.outputs))
            if head.name not in done_heads:
                vals.update(_run_head(head, vals, graph, max_n, codes))
                done_heads.add(head.name)
        else:
            out = eval_elementwise(node, [vals[c.name] for c in node.children()])
            out[:, 0] = null_array(node.type, batch)
            vals[node.name] = out
    return vals


def _run_head(head: Head, vals: dict, graph: Graph, max_n: int, codes: Codes) -> dict:
    s = logical_scores(head, vals, max_n, codes, graph.causal)
    n1 = s.shape[1]
    visible = np.ones((n1, n1), dtype=bool)
    if graph.causal:
        visible = np.tril(visible)
    s = np.where(visible[None], s, -np.inf)
    best = s.max(axis=-1, keepdims=True)
    chosen = s == best  # (B, n+1 queries, n+1 keys): the arg-max set
    _check_pattern(head, vals, chosen, visible, graph, codes)
    count = chosen.sum(axis=-1)
    out = {}
    for reg, value in zip(head.outputs, head.values):
        if value is None:  # selector width: the start-token indicator averaged over the arg-max set
            out[reg.name] = chosen[:, :, 0] / count
            continue
        v = vals[value.name]
        if value.type.kind is Kind.NUMERIC:
            out[reg.name] = np.where(chosen, v[:, None, :], 0.0).sum(axis=-1) / count
            continue
        hi = np.where(chosen, v[:, None, :], np.iinfo(np.int64).min).max(axis=-1)
        lo = np.where(chosen, v[:, None, :], np.iinfo(np.int64).max).min(axis=-1)
        if np.any(hi != lo):
            b, i = np.argwhere(hi != lo)[0]
            raise EvaluationError(f"head {head.name}: register '{reg.name}' at position {i} (batch {b}) would average "
                                  f"the differing values of '{value.name}' over {int(count[b, i])} positions")
        out[reg.name] = hi
    return out


def _check_pattern(head: Head, vals: dict, chosen: np.ndarray, visible: np.ndarray, graph: Graph,
                   codes: Codes) -> None:
    """Refuse inputs on which the head's arg-max is not the program's meaning."""
    form = form_of(head)
    if form == "position":
        ptr = vals[head.pattern.queries.name]
        hidden = ~np.take_along_axis(np.broadcast_to(visible, chosen.shape), np.minimum(ptr, chosen.shape[-1] - 1)[..., None], -1)[..., 0]
        hidden |= ptr >= chosen.shape[-1]
        if hidden.any():
            b, i = np.argwhere(hidden)[0]
            raise EvaluationError(f"head {head.name}: pointer '{head.pattern.queries.name}' = {int(ptr[b, i])} at "
                                  f"position {i} (batch {b}) names a position the model cannot see")
    elif form == "quadratic":
        from .semantics import numeric_view

        sel = head.pattern
        q = numeric_view(sel.queries.type, vals[sel.queries.name])
        k = numeric_view(sel.keys.type, vals[sel.keys.name])
        hit = np.where(chosen, k[:, None, :] == q[:, :, None], False).any(axis=-1)
        if not isinstance(sel.keys, Indices):  # the start token is the default when nothing matches
            hit |= chosen[:, :, 0] & ~((k[:, None, :] == q[:, :, None]) & visible[None]).any(axis=-1)
        hit[:, 0] = True
        if not hit.all():
            b, i = np.argwhere(~hit)[0]
            raise EvaluationError(f"head {head.name}: no visible key '{sel.keys.name}' equals query "
                                  f"'{sel.queries.name}' = {q[b, i]:g} at position {i} (batch {b})")


def reference_outputs(graph: Graph, sequences: Sequence[Sequence], max_n: int, codes: Codes = Codes()) -> list[list]:
    """Decoded output values (positions 1..n) for each sequence."""
    vals = evaluate(graph, token_codes(graph, sequences), max_n, codes)
    out = vals[graph.output.name][:, 1:]
    return [decode_values(graph.output.type, row) for row in out]


__all__ = ["evaluate", "reference_outputs", "token_codes"]
