"""How a register's value is written into named residual directions (tracr's "basis directions").

Every encoding writes the start token's null value (⊥, position 0, the number 0) as the zero
vector, except the circle code, whose position 0 is (1, 0). Features are the vectors the
attention forms and MLP gadgets read:

==========  ======================  =============================================================
feature     dims                    value
==========  ======================  =============================================================
onehot      one per proper value    e_v for a categorical value v; ⊥ = 0
bincode     ⌈log2(|V|+1)⌉           the binary digits of 1 + (index of v); ⊥ = 0 (EQ and copies
                                    only: width log |V| instead of |V|, for large vocabularies)
bits        B = ⌈log2(N+1)⌉         the binary digits of a position (±1 codes are 2·bits − 1;
                                    P2 Lemma D.1 with a binary instead of a circle code)
circle      2                       (cos 2πp/(N+1), sin 2πp/(N+1)): P2 Lemma D.1's code
value       1                       the register read as a number
square      1                       its square (for the quadratic EQ form 2qk − k²)
thermo      N                       [x ≥ k] for k = 1..N (an integer 0..N)
ramp        N                       the selector-width ramps (internal to SelectorWidth)
==========  ======================  =============================================================

A feature is either the register's own (primary) encoding, a linear function of it (e.g. the
value of a thermometer code is Σ_k step_k, its square Σ_k (2k−1)·step_k, the value of a binary
pointer Σ_b 2^b·bit_b), or — for registers the embedding computes — its own materialised block.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ir import Expr, Kind, ValueType
from .semantics import numeric_view

POSITION_CODES = ("binary", "circle")
CATEGORICAL_CODES = ("onehot", "binary")


@dataclass(frozen=True)
class Codes:
    """The compiler's choice of codes: for positions (``binary`` ±1 codes or P2's ``circle``) and
    for categorical registers (``onehot``, or ``binary`` for large vocabularies, which supports
    EQ matches and copies but not predicate tables or MLP lookups)."""

    position: str = "binary"
    categorical: str = "onehot"

    def __post_init__(self) -> None:
        if self.position not in POSITION_CODES:
            raise ValueError(f"position code must be one of {POSITION_CODES}, got {self.position!r}")
        if self.categorical not in CATEGORICAL_CODES:
            raise ValueError(f"categorical code must be one of {CATEGORICAL_CODES}, got {self.categorical!r}")

    @property
    def pointer_feature(self) -> str:
        return "bits" if self.position == "binary" else "circle"

    @property
    def category_feature(self) -> str:
        return "onehot" if self.categorical == "onehot" else "bincode"

    def to_json(self) -> dict:
        return {"position": self.position, "categorical": self.categorical}


def position_bits(max_n: int) -> int:
    """B = ⌈log2(N+1)⌉ ≥ 1 bits name every position 0..N."""
    return max(1, int(max_n).bit_length())


def category_bits(t: ValueType) -> int:
    """⌈log2(|V| + 1)⌉: codes 1..|V| for the proper values, 0 for ⊥."""
    return max(1, len(t.proper_values).bit_length())


def primary_feature(node: Expr, codes: Codes) -> str:
    """The feature a computed register is stored as."""
    from .program_to_graph import WidthRamp, WidthSteps  # internal registers of SelectorWidth

    if isinstance(node, WidthSteps):
        return "thermo"
    if isinstance(node, WidthRamp):
        return "ramp"
    return kind_feature(node, codes)


def kind_feature(node: Expr, codes: Codes) -> str:
    """The feature of a register by its kind: its categorical code, the position code, or the number."""
    kind = node.type.kind
    if kind is Kind.CATEGORICAL:
        return codes.category_feature
    if kind is Kind.POINTER:
        return codes.pointer_feature
    return "value"


def feature_labels(t: ValueType, feature: str, max_n: int) -> tuple[str, ...]:
    """Names of the residual directions of a feature block."""
    if feature == "onehot":
        return tuple(repr(v) for v in t.proper_values)
    if feature == "bincode":
        return tuple(f"code{b}" for b in range(category_bits(t)))
    if feature == "bits":
        return tuple(f"bit{b}" for b in range(position_bits(max_n)))
    if feature == "circle":
        return ("cos", "sin")
    if feature in ("value", "square"):
        return (feature,)
    if feature == "thermo":
        return tuple(f"ge{k}" for k in range(1, max_n + 1))
    if feature == "ramp":
        return tuple(f"ramp{k}" for k in range(1, max_n + 1))
    raise ValueError(f"unknown feature {feature!r}")


def feature_values(t: ValueType, feature: str, arr: np.ndarray, max_n: int) -> np.ndarray:
    """The feature vectors of logical values ``arr`` (shape S) as an array S + (width,)."""
    arr = np.asarray(arr)
    if feature == "onehot":
        out = np.zeros(arr.shape + (len(t.proper_values),))
        np.put_along_axis(out, np.maximum(arr, 0)[..., None], (arr >= 0)[..., None].astype(float), axis=-1)
        return out
    if feature == "bincode":
        return (((arr[..., None].astype(np.int64) + 1) >> np.arange(category_bits(t))) & 1).astype(float)
    if feature == "bits":
        b = position_bits(max_n)
        return ((arr[..., None].astype(np.int64) >> np.arange(b)) & 1).astype(float)
    if feature == "circle":
        theta = 2 * math.pi * arr.astype(float) / (max_n + 1)
        return np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    value = numeric_view(t, arr)
    if feature == "value":
        return value[..., None]
    if feature == "square":
        return (value ** 2)[..., None]
    if feature == "thermo":
        return (value[..., None] >= np.arange(1, max_n + 1)).astype(float)
    raise ValueError(f"feature {feature!r} is not computed from logical values")


def derived_functional(t: ValueType, primary: str, feature: str, max_n: int) -> np.ndarray | None:
    """A matrix (primary width, feature width) reading ``feature`` linearly off the primary
    encoding, or None if the feature is not linear in it."""
    width = len(feature_labels(t, primary, max_n))
    if feature == primary:
        return np.eye(width)
    if primary == "onehot" and feature in ("value", "square"):
        vals = t.proper_values
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return None
        power = 1 if feature == "value" else 2
        return np.array([[float(v) ** power] for v in vals])
    if primary == "bits" and feature == "value":
        return (2.0 ** np.arange(width))[:, None]
    if primary == "thermo" and feature == "value":
        return np.ones((width, 1))
    if primary == "thermo" and feature == "square":
        return (2.0 * np.arange(1, width + 1) - 1)[:, None]
    return None
