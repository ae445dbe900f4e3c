"""Where an element-wise primitive becomes MLP units (P2 §2.1: per-token maps are MLPs).

Every gadget is exact in floating point because each unit's pre-activation is an integer (or, for
the selector-width ramp, is ≤ 0 or ≥ 1 with room to spare) and each output is a sum of integers:

* **table** (Map / SequenceMap over categorical registers): one unit per input combination whose
  output is not null, pre-activation Σ_t [x_t = v_t] − (m − 1) ∈ {1, ≤ 0}; it writes the output's
  encoding. ⊥ inputs give ⊥ (Map propagates ⊥), which is the zero vector, so they need no unit.
* **integer map** (Map over an integer register lo..hi): thermometer steps
  [x ≥ k] = ReLU(x − k + 1) − ReLU(x − k), output f(lo) + Σ_k (f(k) − f(k−1))·[x ≥ k].
* **linear**: z = Σ c·x + b·one, written as ReLU(z) − ReLU(−z).
* **width ramp / steps** (SelectorWidth): y_k = ReLU(S_k·(θ_k − r)) with r = 1/(w+1), θ_k halfway
  between 1/k and 1/(k+1) and S_k = 2^⌈log2 4k(k+1)⌉, so y_k = 0 when w < k and y_k ≥ 2 when
  w ≥ k; then step_k = ReLU(y_k) − ReLU(y_k − 1) = [w ≥ k] exactly, because y_k − 1 and
  y_k − (y_k − 1) are exact floats while y_k < 2^p.

The start token's registers are null (zero); every gadget maps null inputs to a null output, using
the ``one`` direction (1 at real positions, 0 at the start token) wherever a constant is needed,
and subtracting G·bos from pre-activations where a null input could otherwise fire a unit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CompileError
from .ir import BOTTOM, Expr, Kind, Linear, Map, SequenceMap, Shift
from .program_to_graph import WidthRamp, WidthSteps


@dataclass(frozen=True)
class MLPPart:
    """Units of one register: hidden = ReLU(x @ w_in + b_in); output += hidden @ w_out."""

    w_in: np.ndarray
    b_in: np.ndarray
    w_out: np.ndarray
    labels: tuple

    @property
    def width(self) -> int:
        return len(self.b_in)


def ramp_scale(k: int) -> int:
    """S_k = 2^⌈log2 4k(k+1)⌉ ≥ 4/gap_k with gap_k = 1/k − 1/(k+1): a power of two, so S_k·r is exact."""
    return 1 << math.ceil(math.log2(4 * k * (k + 1)))


def ramp_threshold(k: int) -> float:
    """θ_k halfway between r = 1/k (width k−1) and r = 1/(k+1) (width k)."""
    return (1.0 / k + 1.0 / (k + 1)) / 2


def mlp_kind(node: Expr) -> str:
    if isinstance(node, WidthRamp):
        return "ramp"
    if isinstance(node, WidthSteps):
        return "steps"
    if isinstance(node, Linear):
        return "linear"
    if isinstance(node, (Map, SequenceMap)):
        if all(c.type.kind is Kind.CATEGORICAL for c in node.children()):
            return "table"
        if isinstance(node, Map) and node.x.type.kind is Kind.NUMERIC:
            return "integer_map"
        raise CompileError(f"{node.describe()}: an MLP table needs categorical inputs (or one integer "
                           f"input); got {', '.join(str(c.type) for c in node.children())}")
    if isinstance(node, Shift):
        raise CompileError(f"{node.describe()}: shifting a computed pointer is not compiled (it would need "
                           "binary arithmetic on position codes); shift `indices` instead")
    raise CompileError(f"{node.describe()} has no MLP form")


def mlp_requirements(node: Expr) -> list[tuple[Expr, str]]:
    kind = mlp_kind(node)
    if kind == "table":
        return [(c, "onehot") for c in node.children()]
    if kind in ("integer_map", "linear", "ramp"):
        return [(c, "value") for c in node.children()]
    return [(node.ramp, "ramp")]


def mlp_max_integer(node: Expr, max_n: int) -> float:
    """The largest magnitude of a pre-activation or output that must be an exact float."""
    kind = mlp_kind(node)
    if kind == "table":
        return float(len(node.children()) + 1)
    if kind == "integer_map":
        dom = node.x.type.finite_domain()
        return float(max(abs(dom[0]), abs(dom[-1])) + 1)
    if kind == "linear":
        if not node.type.integer:
            return 0.0  # a rounded fraction: no exactness claimed (reported, never fed to a selector)
        return max(abs(node.type.lo.at(max_n)), abs(node.type.hi.at(max_n)))
    return float(ramp_scale(max_n))  # ramps and steps: y_k < S_k ≤ S_N


def mlp_part(node: Expr, layout, max_n: int) -> MLPPart:
    kind = mlp_kind(node)
    d = layout.d_model
    out_block = layout.primary_block(node)
    bos, one = layout.unit("bos"), layout.unit("one")
    w_in, b_in, w_out, labels = [], [], [], []

    def unit(label: str, win: np.ndarray, bin_: float, wout: np.ndarray) -> None:
        w_in.append(win)
        b_in.append(bin_)
        w_out.append(wout)
        labels.append(f"{node.name}:{label}")

    def write(value) -> np.ndarray:
        """The residual vector of output value ``value`` (zero for the null value)."""
        row = np.zeros(d)
        if value is BOTTOM:
            return row
        if node.type.kind is Kind.CATEGORICAL:
            row[out_block.start + node.type.index_of(value)] = 1.0
        else:
            row[out_block.start] = float(value)
        return row

    if kind == "table":
        feats = [layout.functional(c, "onehot") for c in node.children()]
        types = [c.type for c in node.children()]
        for inputs, out in node.table:
            inputs = inputs if isinstance(node, SequenceMap) else (inputs,)
            if out is BOTTOM or (node.type.kind is Kind.NUMERIC and out == 0) or any(v is BOTTOM for v in inputs):
                continue
            win = sum(f[:, t.index_of(v)] for f, t, v in zip(feats, types, inputs))
            unit(f"{inputs!r}", win, -(len(inputs) - 1.0), write(out))
    elif kind == "integer_map":
        x = layout.functional(node.x, "value")[:, 0]
        dom = node.x.type.finite_domain()
        gate = float(max(abs(dom[0]), abs(dom[-1])) + 1)
        table = dict(node.table)
        unit(f"base={table[dom[0]]!r}", one, 0.0, write(table[dom[0]]))
        for k in dom[1:]:
            delta = write(table[k]) - write(table[k - 1])
            if not delta.any():
                continue
            unit(f">={k}:a", x - gate * bos, -(k - 1.0), delta)
            unit(f">={k}:b", x - gate * bos, -float(k), -delta)
    elif kind == "linear":
        z = sum(c * layout.functional(x, "value")[:, 0] for x, c in node.terms) + node.bias * one
        unit("+", z, 0.0, write(1.0))
        unit("-", -z, 0.0, write(-1.0))
    elif kind == "ramp":
        r = layout.functional(node.inverse, "value")[:, 0]
        for k in range(1, max_n + 1):
            s = float(ramp_scale(k))
            row = np.zeros(d)
            row[out_block.start + k - 1] = 1.0
            unit(f"ramp{k}", s * ramp_threshold(k) * one - s * r, 0.0, row)
    else:  # steps
        ramp = layout.primary_block(node.ramp)
        for k in range(1, max_n + 1):
            y = np.zeros(d)
            y[ramp.start + k - 1] = 1.0
            row = np.zeros(d)
            row[out_block.start + k - 1] = 1.0
            unit(f"ge{k}:a", y, 0.0, row)
            unit(f"ge{k}:b", y - one, 0.0, -row)
    if not labels:
        return MLPPart(np.zeros((d, 0)), np.zeros(0), np.zeros((0, d)), ())
    return MLPPart(np.stack(w_in, axis=1), np.array(b_in), np.stack(w_out, axis=0), tuple(labels))
