"""The numerics contract: softmax scales from score margins, and the largest exact N per dtype.

A compiled head is exact when hardmax holds bit for bit: every key outside the selected set gets
softmax weight exactly 0, and the selected keys get exactly equal weights (P2 Lemma A.2, made
exact in floating point). With logical scores s of margin ξ and Σ_t |q_t k_t| ≤ A over at most
n nonzero products, the float score of every key is within γ_{n+3}·c·A of c·s, where c is the
scale and γ_m = m·u / (1 − m·u) (Higham, *Accuracy and Stability*, Lemma 3.1; the 3 extra
roundings are the W_Q entry, the √d_head compensation and the attention scale). We choose

    c = 2T / ξ                       (T: exp(−T) rounds to 0 in the dtype)

and require 4·γ_{n+3}·A ≤ ξ, so every unselected key trails the best by ≥ c·ξ/2 = T and its
weight underflows to 0. Selected keys tie exactly because their scores are single products of
equal floats. torch's 1/√d_head is compensated by multiplying W_Q by √d_head explicitly.

Integers held in the residual stream (positions, squares, ramps, MLP pre-activations) must be
exact floats: at most 2^p for p significand bits. The largest N satisfying every constraint is
``max_exact_n``; the compiler refuses anything beyond it (``NumericsError``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .attention_forms import form_of, head_numerics
from .encodings import Codes
from .errors import NumericsError
from .mlp_gadgets import mlp_kind, mlp_max_integer, ramp_scale
from .program_to_graph import Graph

N_CAP = 1 << 40  # search ceiling: far beyond any context whose W_pos fits in memory


@dataclass(frozen=True)
class DtypeFacts:
    """p: significand bits (with the implicit one); T: exp(−T) rounds to 0; largest finite value."""

    name: str
    precision: int
    underflow: float
    max_finite: float

    @property
    def unit_roundoff(self) -> float:
        return 2.0 ** -self.precision

    @property
    def max_exact_integer(self) -> int:
        return 1 << self.precision

    def gamma(self, n: int) -> float:
        nu = n * self.unit_roundoff
        return math.inf if nu >= 1 else nu / (1 - nu)


DTYPES = {
    # e^-745.1 is half the smallest float64 subnormal (4.9e-324): e^-768 rounds to 0
    "float64": DtypeFacts("float64", 53, 768.0, 1.7976931348623157e308),
    # e^-103.97 is half the smallest float32 subnormal (1.4e-45): e^-128 rounds to 0
    "float32": DtypeFacts("float32", 24, 128.0, 3.4028234663852886e38),
    # bfloat16 has float32's exponent range (8 significand bits)
    "bfloat16": DtypeFacts("bfloat16", 8, 128.0, 3.3895313892515355e38),
    # float16: e^-128 is 0 whether the softmax runs in float16 or float32
    "float16": DtypeFacts("float16", 11, 128.0, 65504.0),
}


def dtype_facts(dtype: str) -> DtypeFacts:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def softmax_scale(margin: float, facts: DtypeFacts) -> float:
    """c = 2T/ξ: the unselected keys trail by ≥ T after rounding (see the module docstring)."""
    return 2.0 * facts.underflow / margin


@dataclass(frozen=True)
class Constraint:
    """One inequality ``value <= limit`` of the contract at a given N."""

    name: str
    value: float
    limit: float
    why: str

    @property
    def holds(self) -> bool:
        return self.value <= self.limit

    def describe(self) -> str:
        return f"{self.name}: {self.value:.6g} <= {self.limit:.6g} ({self.why})"


def constraints(graph: Graph, max_n: int, dtype: str, codes: Codes = Codes()) -> list[Constraint]:
    """Every inequality the compiled model must satisfy at context length N = max_n."""
    from .graph_to_layout import collect_requirements

    facts = dtype_facts(dtype)
    big = float(facts.max_exact_integer)
    out: list[Constraint] = []
    for head in graph.heads:
        num = head_numerics(head, max_n, codes, graph.causal)
        where = f"layer {head.layer} head {head.name} ({form_of(head)})"
        out.append(Constraint(f"{where}: score rounding 4·γ_{num.n_terms + 3}·A vs margin",
                              4 * facts.gamma(num.n_terms + 3) * num.abs_max, num.margin,
                              "unselected keys must trail by c·margin/2 = T after rounding"))
        scaled = softmax_scale(num.margin, facts) * num.abs_max * 2
        out.append(Constraint(f"{where}: largest scaled score", scaled, facts.max_finite, "no overflow"))
        if num.averages:
            out.append(Constraint(f"{where}: positions averaged", max_n + 1.0, big,
                                  "the softmax denominator counts exactly"))
    for node, feature in collect_requirements(graph, codes):
        if feature in ("value", "square") and node.type.numeric_view() is not None:
            lo, hi, integer = node.type.numeric_view()
            if not integer:
                continue
            v = max(abs(lo.at(max_n)), abs(hi.at(max_n)))
            out.append(Constraint(f"register {node.name}: {feature}", v if feature == "value" else v * v, big,
                                  "integers in the residual stream are exact floats"))
    for layer in sorted(graph.mlp_nodes):
        for node in graph.mlp_nodes[layer]:
            kind = mlp_kind(node)
            limit = big / 2 if kind in ("ramp", "steps") else big
            why = ("ramps y_k < S_N must leave y − 1 exact" if kind in ("ramp", "steps")
                   else "MLP pre-activations are exact integers")
            value = float(ramp_scale(max_n)) if kind in ("ramp", "steps") else mlp_max_integer(node, max_n)
            out.append(Constraint(f"layer {layer} mlp {node.name} ({kind})", value, limit, why))
    # dedupe identical lines (a register read by several heads)
    seen: dict = {}
    for c in out:
        seen.setdefault((c.name, c.value, c.limit), c)
    return list(seen.values())


def max_exact_n(graph: Graph, dtype: str, codes: Codes = Codes()) -> int:
    """The largest N for which every constraint holds (every constraint is monotone in N);
    ``N_CAP`` when nothing binds."""
    def ok(n: int) -> bool:
        return all(c.holds for c in constraints(graph, n, dtype, codes))

    if not ok(1):
        return 0
    lo, hi = 1, 2
    while hi < N_CAP and ok(hi):
        lo, hi = hi, min(hi * 2, N_CAP)
    if hi >= N_CAP and ok(hi):
        return N_CAP
    while hi - lo > 1:  # ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def check_exact(graph: Graph, max_n: int, dtype: str, codes: Codes = Codes()) -> list[Constraint]:
    """The constraints at ``max_n``; raises ``NumericsError`` naming the first that fails."""
    cons = constraints(graph, max_n, dtype, codes)
    failing = [c for c in cons if not c.holds]
    if failing:
        limit = max_exact_n(graph, dtype, codes)
        raise NumericsError(
            f"{graph.program.name}: N = {max_n} is beyond the exact range in {dtype} "
            f"(largest exact N = {limit}); binding constraint: {failing[0].describe()}")
    return cons


@dataclass(frozen=True)
class HeadMargin:
    """Observed on real inputs: the smallest gap, over query rows, between the best float score
    and the best score not tied with it (after the softmax scale), against the T needed."""

    layer: int
    head: int
    name: str
    min_gap: float
    required: float

    @property
    def holds(self) -> bool:
        return self.min_gap >= self.required


def observed_margins(compiled, token_ids) -> list[HeadMargin]:
    """Run the compiled model on ``token_ids`` (B, n+1, with the start token) and measure every
    head's real score gap in the model's dtype (a margin check on the inputs actually run)."""
    import torch

    model = compiled.model
    facts = dtype_facts(model.cfg.dtype)
    ids = torch.as_tensor(token_ids, device=next(model.parameters()).device)
    out = []
    with torch.no_grad():
        residuals = model.residuals(ids)
        for layer, block in enumerate(model.blocks, start=1):
            q, k, _ = block.attn.qkv(block.ln1(residuals[layer - 1]))
            scores = torch.einsum("bhne,bhme->bhnm", q, k) * model.cfg.scale  # (B, H, N, N)
            n1 = scores.shape[-1]
            if model.cfg.causal:
                mask = torch.ones(n1, n1, dtype=torch.bool, device=scores.device).tril()
                scores = scores.masked_fill(~mask, -math.inf)
            scores = scores.double()
            best = scores.max(dim=-1, keepdim=True).values
            others = scores.masked_fill(scores == best, -math.inf).max(dim=-1).values
            gap = (best.squeeze(-1) - others)  # +inf when every visible key ties (e.g. row 0)
            heads = compiled.graph.heads_of(layer)
            for h, head in enumerate(heads):
                g = gap[:, h].min().item()
                out.append(HeadMargin(layer, h, head.name, g, facts.underflow))
    return out
