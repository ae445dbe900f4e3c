"""Logical values of registers as numpy arrays, and the element-wise primitives on them.

A register's values over a batch of positions are held as:

* categorical: int64 codes, the index into ``type.proper_values``; −1 is ⊥;
* pointer: int64 positions (0 = the start token);
* numeric: float64.

The element-wise primitives (Shift, Map, SequenceMap, Linear) have one definition, here; the
reference evaluator, the embedding tables and the MPC lowering all use it. Attention primitives
are defined separately by each of them (so they check one another).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import EvaluationError
from .ir import BOTTOM, Expr, Kind, Linear, Map, SequenceMap, Shift, ValueType


def null_array(t: ValueType, shape) -> np.ndarray:
    """The start token's value of a register: ⊥, position 0, or 0."""
    if t.kind is Kind.CATEGORICAL:
        return np.full(shape, -1, dtype=np.int64)
    if t.kind is Kind.POINTER:
        return np.zeros(shape, dtype=np.int64)
    return np.zeros(shape, dtype=np.float64)


def encode_values(t: ValueType, values: Sequence[Any], *, where: str = "") -> np.ndarray:
    """Python values → logical array (categorical values must lie in the type's value set)."""
    if t.kind is Kind.CATEGORICAL:
        index = {v: j for j, v in enumerate(t.proper_values)}
        out = np.empty(len(values), dtype=np.int64)
        for p, v in enumerate(values):
            if v is BOTTOM:
                out[p] = -1
            elif v in index:
                out[p] = index[v]
            else:
                raise EvaluationError(f"{where or 'register'}: {v!r} (position {p + 1}) is not in {t}")
        return out
    if t.kind is Kind.POINTER:
        return np.asarray(values, dtype=np.int64)
    return np.asarray(values, dtype=np.float64)


def decode_values(t: ValueType, arr: np.ndarray) -> list:
    """Logical array → Python values (⊥ as None)."""
    if t.kind is Kind.CATEGORICAL:
        vals = t.proper_values
        return [BOTTOM if c < 0 else vals[c] for c in np.asarray(arr).tolist()]
    if t.kind is Kind.POINTER or t.integer:
        return [int(round(v)) for v in np.asarray(arr).tolist()]
    return [float(v) for v in np.asarray(arr).tolist()]


def numeric_view(t: ValueType, arr: np.ndarray) -> np.ndarray:
    """The register read as a number (categorical values must be numbers; ⊥ reads as 0)."""
    if t.kind is Kind.CATEGORICAL:
        table = np.array([0.0] + [float(v) for v in t.proper_values])
        return table[arr + 1]
    return np.asarray(arr, dtype=np.float64)


_TABLES: dict = {}


def _table_codes(node: Expr, in_types: Sequence[ValueType]) -> tuple[np.ndarray, list[int]]:
    """The table of a (Sequence)Map as an array over input slots (memoised by structural key);
    returns (table, slots per input)."""
    if node.key not in _TABLES:
        _TABLES[node.key] = _build_table(node, in_types)
    return _TABLES[node.key]


def _build_table(node: Expr, in_types: Sequence[ValueType]) -> tuple[np.ndarray, list[int]]:
    out_t = node.type
    sizes = [len(_domain(t)) + (1 if t.kind is Kind.CATEGORICAL else 0) for t in in_types]
    table = null_array(out_t, int(np.prod(sizes)))
    for inputs, out in node.table:
        idx = 0
        for t, v, size in zip(in_types, inputs if len(in_types) > 1 else (inputs,), sizes):
            idx = idx * size + _input_slot(t, v)
        if out_t.kind is Kind.CATEGORICAL:
            table[idx] = -1 if out is BOTTOM else out_t.index_of(out)
        else:
            table[idx] = 0.0 if out is BOTTOM else float(out)
    return table, sizes


def _domain(t: ValueType) -> tuple:
    return t.proper_values if t.kind is Kind.CATEGORICAL else t.finite_domain()


def _input_slot(t: ValueType, v: Any) -> int:
    if t.kind is Kind.CATEGORICAL:
        return 0 if v is BOTTOM else 1 + t.index_of(v)
    return int(v) - int(t.finite_domain()[0])


def _slots(t: ValueType, arr: np.ndarray, node: Expr) -> np.ndarray:
    if t.kind is Kind.CATEGORICAL:
        return arr + 1
    lo, hi = t.finite_domain()[0], t.finite_domain()[-1]
    ints = np.rint(arr).astype(np.int64)
    if np.any((ints < lo) | (ints > hi)) or np.any(ints != arr):
        bad = arr[(ints < lo) | (ints > hi) | (ints != arr)][0]
        raise EvaluationError(f"{node.describe()}: input value {bad} is outside the integer domain {lo}..{hi}")
    return ints - lo


def eval_elementwise(node: Expr, args: Sequence[np.ndarray]) -> np.ndarray:
    """The value of an element-wise register given its children's logical arrays (any shape)."""
    if isinstance(node, Shift):
        return np.maximum(args[0] + node.offset, 0)
    if isinstance(node, (Map, SequenceMap)):
        in_types = [c.type for c in node.children()]
        table, sizes = _table_codes(node, in_types)
        idx = np.zeros(np.shape(args[0]), dtype=np.int64)
        for t, a, size in zip(in_types, args, sizes):
            idx = idx * size + _slots(t, np.asarray(a), node)
        return table[idx]
    if isinstance(node, Linear):
        total = np.full(np.shape(args[0]), float(node.bias))
        for (x, c), a in zip(node.terms, args):
            total = total + c * numeric_view(x.type, a)
        return total
    raise TypeError(f"{node.op} is not an element-wise primitive")
