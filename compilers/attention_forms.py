"""Where a primitive becomes an attention head: the score form of each selector, in two views.

For every head the compiler designs *logical* scores s(i, j) that are integers (or, for the circle
code, cosines) with a known margin between the selected key positions and all others; hardmax
(P2 Lemma A.2) then makes the head's output an exact average over the selected positions. Each
form is given twice, next to each other, and a test checks that they agree:

* ``logical_scores``: s(i, j) computed from register *values* (used by ``reference_eval``);
* ``head_weights``: query/key maps on the residual stream with q_i · k_j = s(i, j) (used by
  ``layout_to_weights``), before the softmax scale is applied.

Forms (j = key position, i = query position, the start token is position 0):

==================  =========================================================  ========  ==========
form                score                                                      margin    Σ|q_t k_t|
==================  =========================================================  ========  ==========
table               2·P(key_j, query_i); start token d0 (1 = default, 2 = w)   1         d0 + 4
constant (TRUE)     2 for every real position; start token d0                  1         d0 + 4
position, binary    B − 2·hamming(bits(ptr_i), bits(j))  (±1 codes)            2         B
position, circle    cos(2π(ptr_i − j)/(N+1))                 (P2 Lemma D.1)    1−cos(2π/(N+1))  1
quadratic (keys=i)  2·q_i·k_j − k_j²  (= q² − (q−k)², max iff k = q)          1         3V²
quadratic (other)   4·q·k − 2·k²; start token 2q² − 1 (the default)            1         8V² + 1
last occurrence     M·[key_j = query_i] + j; start token M, M = N + 1         1         2N + 1
                    (P2 Lemma D.2 with a recency ramp instead of a circle)
last occ., binary   M·(C − 2·hamming(code_k, code_q)) + 2j; start M·C       2         M·C + 2N
  categorical code  (C = ⌈log2(|V|+1)⌉ bits; a mismatch costs ≥ 2M > 2N)
==================  =========================================================  ========  ==========

In a bidirectional program the start token's own query gets +4 on its own key (a "self" slot),
so its registers stay null; in a causal program it only sees itself anyway.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .encodings import Codes, category_bits, kind_feature, position_bits
from .errors import CompileError
from .ir import Comparison, Expr, Indices, Select
from .program_to_graph import Head

SELF_BONUS = 4  # start token's self slot: its row's other scores are ≤ 2, its own default ≥ −1, so +4 wins by ≥ 1


@dataclass(frozen=True)
class HeadNumerics:
    """What the numerics contract needs about a head at context length N: the logical margin
    between selected and unselected scores, a bound on Σ_t |q_t·k_t| (the rounding error of a
    float dot product is at most γ_n times this), the number n of products that can be nonzero,
    and whether the head averages over ties (then the count must be exact)."""

    margin: float
    abs_max: float
    n_terms: int
    averages: bool


@dataclass(frozen=True)
class HeadWeights:
    """Unscaled logical maps: q = x @ wq + bq, k = x @ wk + bk (so q·k = s), v = x @ wv,
    output += z @ wo."""

    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    qk_labels: tuple
    v_labels: tuple


def form_of(head: Head) -> str:
    if head.kind == "last_occurrence":
        return "last_occurrence"
    return head.pattern.form()


def _default_score(head: Head) -> int:
    """The start token's score in a table/constant head: 1 (a default below every selected score
    2) for aggregates; 2 (counted with the selected positions) for selector width."""
    return 2 if head.kind == "width" else 1


def _needs_self_slot(head: Head, causal: bool) -> bool:
    form = form_of(head)
    if causal or form == "position":
        return False
    return not (form == "quadratic" and isinstance(head.pattern.keys, Indices))


# ---- requirements (before the layout exists) -------------------------------------------------
def head_requirements(head: Head, codes: Codes) -> list[tuple[Expr, str]]:
    """(register, feature) pairs the head reads: query side, key side, values."""
    form = form_of(head)
    req: list[tuple[Expr, str]] = []
    if form == "last_occurrence":
        key, query = head.pattern
        feat = codes.category_feature
        if feat == "bincode" and key.type.proper_values != query.type.proper_values:
            raise CompileError(f"head {head.name}: the binary categorical code needs key '{key.name}' and query "
                               f"'{query.name}' to have the same values; use categorical_code='onehot'")
        req += [(key, feat), (query, feat), (Indices(), "value")]
    elif form == "table":
        req += [(head.pattern.keys, "onehot"), (head.pattern.queries, "onehot")]
    elif form == "position":
        feat = codes.pointer_feature
        req += [(head.pattern.keys, feat), (head.pattern.queries, feat)]
    elif form == "quadratic":
        keys, queries = head.pattern.keys, head.pattern.queries
        req += [(keys, "value"), (keys, "square"), (queries, "value")]
        if not isinstance(keys, Indices):
            req.append((queries, "square"))
    for value in head.values:
        if value is not None:
            req.append((value, value_feature(value, codes)))
    return req


def value_feature(value: Expr, codes: Codes) -> str:
    """What a head copies from a value register: its categorical code, the position code, or the number."""
    return kind_feature(value, codes)


# ---- numerics ------------------------------------------------------------------------------
def head_numerics(head: Head, max_n: int, codes: Codes, causal: bool) -> HeadNumerics:
    """Margin and magnitude of the logical scores at context length N = max_n (see the table)."""
    form = form_of(head)
    self_terms = 1 if _needs_self_slot(head, causal) else 0
    if form in ("table", "constant"):
        d0 = _default_score(head)
        return HeadNumerics(1.0, d0 + SELF_BONUS, 2 + self_terms, True)
    if form == "last_occurrence":
        if codes.categorical == "binary":
            c = category_bits(head.pattern[0].type)
            return HeadNumerics(2.0, (max_n + 1.0) * c + 2.0 * max_n, c + 2, False)
        return HeadNumerics(1.0, 2.0 * max_n + 1, 3, False)
    if form == "position":
        if codes.position == "binary":
            b = position_bits(max_n)
            return HeadNumerics(2.0, float(b), b, False)
        return HeadNumerics(1.0 - math.cos(2 * math.pi / (max_n + 1)), 1.0, 2, False)
    v = _value_bound(head.pattern, max_n)
    if isinstance(head.pattern.keys, Indices):
        return HeadNumerics(1.0, 3.0 * v * v, 2, False)
    return HeadNumerics(1.0, 8.0 * v * v + 1 + SELF_BONUS * self_terms, 3 + self_terms, False)


def _value_bound(sel: Select, max_n: int) -> float:
    """V: the largest |value| a quadratic selector's keys or queries take at N = max_n."""
    bounds = []
    for reg in (sel.keys, sel.queries):
        lo, hi, _ = reg.type.numeric_view()
        bounds += [abs(lo.at(max_n)), abs(hi.at(max_n))]
    return max(bounds + [1.0])


# ---- logical scores (reference semantics) --------------------------------------------------
def logical_scores(head: Head, vals: dict, max_n: int, codes: Codes, causal: bool) -> np.ndarray:
    """s(i, j) for a batch: ``vals[name]`` are logical arrays (batch, n+1) whose column 0 is the
    start token. Returns (batch, n+1 queries, n+1 keys), float64."""
    form = form_of(head)
    any_val = next(iter(vals.values()))
    batch, n1 = any_val.shape
    pos = np.arange(n1)
    is_bos_key = (pos == 0)[None, None, :]
    if form == "last_occurrence":
        key, query = head.pattern
        k, q = _match_codes(key, query, vals)
        m = max_n + 1
        if codes.categorical == "binary":  # ±1 codes of 1 + index (0 for ⊥)
            c = category_bits(key.type)
            ham = _popcount(np.bitwise_xor(k[:, None, :] + 1, q[:, :, None] + 1), c)
            s = m * (c - 2.0 * ham) + 2.0 * pos[None, None, :]
            return np.where(is_bos_key, float(m * c), s)
        match = (k[:, None, :] == q[:, :, None]) & (q[:, :, None] >= 0)
        s = m * match + pos[None, None, :]
        return np.where(is_bos_key, float(m), s.astype(float))
    if form in ("table", "constant"):
        sel = head.pattern
        if form == "table":
            table = np.array([[2.0 * sel.predicate(kv, qv) for kv in sel.keys.type.proper_values]
                              for qv in sel.queries.type.proper_values]).reshape(
                len(sel.queries.type.proper_values), len(sel.keys.type.proper_values))
            qc, kc = vals[sel.queries.name], vals[sel.keys.name]
            s = np.zeros((batch, n1, n1))
            ok = (qc[:, :, None] >= 0) & (kc[:, None, :] >= 0)
            s[ok] = table[np.broadcast_to(qc[:, :, None], s.shape)[ok], np.broadcast_to(kc[:, None, :], s.shape)[ok]]
        else:
            s = np.full((batch, n1, n1), 2.0 if sel.predicate is Comparison.TRUE else 0.0)
        s = np.where(is_bos_key, float(_default_score(head)), s)
    elif form == "position":
        p, j = vals[head.pattern.queries.name], pos[None, None, :]
        if codes.position == "binary":
            b = position_bits(max_n)
            s = b - 2.0 * _popcount(np.bitwise_xor(p[:, :, None], j), b)
        else:
            s = np.cos(2 * math.pi * (p[:, :, None] - j) / (max_n + 1))
    else:  # quadratic
        sel = head.pattern
        q = _number(sel.queries, vals)[:, :, None]
        k = _number(sel.keys, vals)[:, None, :]
        if isinstance(sel.keys, Indices):
            s = 2 * q * k - k * k
        else:
            s = np.where(is_bos_key, 2 * q * q - 1, 4 * q * k - 2 * k * k)
    if _needs_self_slot(head, causal):
        s = s.copy()
        s[:, 0, 0] += SELF_BONUS
    return s


def _popcount(x: np.ndarray, bits: int) -> np.ndarray:
    """Set bits among the lowest ``bits`` of each entry."""
    count = np.zeros(x.shape)
    for b in range(bits):
        count += (x >> b) & 1
    return count


def _number(reg: Expr, vals: dict) -> np.ndarray:
    from .semantics import numeric_view

    return numeric_view(reg.type, vals[reg.name])


def _match_codes(key: Expr, query: Expr, vals: dict) -> tuple[np.ndarray, np.ndarray]:
    """Key and query codes in a common numbering (values present in both types), −1 = none."""
    kvals, qvals = key.type.proper_values, query.type.proper_values
    common = {v: j for j, v in enumerate(kvals)}
    qmap = np.array([-1] + [common.get(v, -2) for v in qvals])  # -2: a query value no key has
    return vals[key.name], qmap[vals[query.name] + 1]


# ---- weights -------------------------------------------------------------------------------
def head_weights(head: Head, layout, max_n: int, codes: Codes, causal: bool) -> HeadWeights:
    """Query/key/value/output maps realising ``logical_scores`` on the residual stream."""
    d = layout.d_model
    form = form_of(head)
    cols_q, cols_k, bq, bk, labels = [], [], [], [], []

    def slot(label: str, qcol: np.ndarray, kcol: np.ndarray, qb: float = 0.0, kb: float = 0.0) -> None:
        cols_q.append(qcol)
        cols_k.append(kcol)
        bq.append(qb)
        bk.append(kb)
        labels.append(label)

    zero = np.zeros(d)
    bos, one = layout.unit("bos"), layout.unit("one")
    if form == "last_occurrence":
        key, query = head.pattern
        m = float(max_n + 1)
        recency = layout.functional(Indices(), "value")[:, 0]
        if codes.categorical == "binary":  # M·(C − 2·hamming) + 2j: ±1 codes on both sides
            kf, qf = layout.functional(key, "bincode"), layout.functional(query, "bincode")
            for b in range(kf.shape[1]):  # key 2·bit − one: zero on the start token, whose score is the default
                slot(f"code{b}", 2 * m * qf[:, b], 2 * kf[:, b] - one, qb=-m)
            slot("default", zero, bos, qb=m * kf.shape[1])
            slot("recency", zero, recency, qb=2.0)
        else:
            kf, qf = layout.functional(key, "onehot"), layout.functional(query, "onehot")
            qvals = list(query.type.proper_values)
            for j, v in enumerate(key.type.proper_values):
                qcol = m * qf[:, qvals.index(v)] if v in qvals else zero
                slot(f"match:{v!r}", qcol, kf[:, j])
            slot("default", zero, bos, qb=m)
            slot("recency", zero, recency, qb=1.0)
    elif form in ("table", "constant"):
        sel = head.pattern
        if form == "table":
            kf, qf = layout.functional(sel.keys, "onehot"), layout.functional(sel.queries, "onehot")
            for j, kv in enumerate(sel.keys.type.proper_values):
                weights = np.array([2.0 * sel.predicate(kv, qv) for qv in sel.queries.type.proper_values])
                slot(f"key:{kv!r}", qf @ weights if len(weights) else zero, kf[:, j])
        else:
            slot("select", zero, one, qb=2.0 if sel.predicate is Comparison.TRUE else 0.0)
        slot("default", zero, bos, qb=float(_default_score(head)))
    elif form == "position":
        feat = codes.pointer_feature
        kf, qf = layout.functional(head.pattern.keys, feat), layout.functional(head.pattern.queries, feat)
        if codes.position == "binary":  # ±1 codes: 2·bits − 1 on both sides
            for b in range(kf.shape[1]):
                slot(f"bit{b}", 2 * qf[:, b], 2 * kf[:, b], qb=-1.0, kb=-1.0)
        else:
            slot("cos", qf[:, 0], kf[:, 0])
            slot("sin", qf[:, 1], kf[:, 1])
    else:
        sel = head.pattern
        kv, ks = layout.functional(sel.keys, "value")[:, 0], layout.functional(sel.keys, "square")[:, 0]
        qv = layout.functional(sel.queries, "value")[:, 0]
        if isinstance(sel.keys, Indices):
            slot("2qk", 2 * qv, kv)
            slot("-k2", zero, ks, qb=-1.0)
        else:
            qs = layout.functional(sel.queries, "square")[:, 0]
            slot("4qk", 4 * qv, kv)
            slot("-2k2", zero, ks, qb=-2.0)
            slot("default", 2 * qs, bos, qb=-1.0)
    if _needs_self_slot(head, causal):
        slot("self", SELF_BONUS * bos, bos)

    wv_cols, wo_rows, v_labels = [], [], []
    for out, value in zip(head.outputs, head.values):
        dst = layout.primary_block(out)
        if value is None:  # selector width: average the start-token indicator
            src = bos[:, None]
        else:
            src = layout.functional(value, value_feature(value, codes))
        if src.shape[1] != dst.size:
            raise CompileError(f"head {head.name}: value '{getattr(value, 'name', 'bos')}' has {src.shape[1]} "
                               f"components but register '{out.name}' has {dst.size} directions")
        for c in range(src.shape[1]):
            wv_cols.append(src[:, c])
            row = np.zeros(d)
            row[dst.start + c] = 1.0
            wo_rows.append(row)
            v_labels.append(f"{out.name}:{dst.labels[c]}")
    return HeadWeights(
        np.stack(cols_q, axis=1), np.array(bq), np.stack(cols_k, axis=1), np.array(bk),
        np.stack(wv_cols, axis=1), np.stack(wo_rows, axis=0), tuple(labels), tuple(v_labels),
    )
