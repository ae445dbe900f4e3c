"""hop_k compiled to transformer weights: one call, and the width each position code costs.

``compile_hop(k, max_n, alphabet_size)`` compiles ``library.hop_program`` (P2 Thm 4.2's scheme,
one head per layer, depth ``mpcsim.bounds.hop_transformer_depth(k)``) and returns the compiled
model; ``.run(tokens)`` gives hop_k with None for ⊥.

Position codes (P2 Lemma D.1 reads "the register at position τ(i)" with a code c(·) whose inner
product peaks at the target):

* ``binary``: ±1 codes of B = ⌈log2(N+1)⌉ bits; scores B − 2·hamming are integers, so the margin
  is 2 at every N and the float error grows only with B: width O(log N) per pointer register,
  exact up to N ≈ 3.5·10^5 in float32 (the binding constraint is the last-occurrence head).
* ``circle``: P2's (cos 2πi/(N+1), sin 2πi/(N+1)); width 2 per pointer register but the margin
  is 1 − cos(2π/(N+1)) ≈ 2π²/N², so float32 is exact only up to N ≈ 4·10^3.

Tokens (categorical registers) are one-hot (width |Σ| per register, one nonzero product per
match) up to ``ONEHOT_MAX_ALPHABET`` letters, and binary-coded beyond (width ⌈log2(|Σ|+1)⌉; the
last-occurrence scores grow by that factor, so the exact range shrinks accordingly).
"""
from __future__ import annotations

from dataclasses import dataclass

from .attention_forms import form_of, head_numerics
from .encodings import POSITION_CODES, Codes
from .graph_to_layout import graph_to_layout
from .library import hop_program
from .numerics import max_exact_n
from .pipeline import CompiledModel, compile_program
from .program_to_graph import program_to_graph


ONEHOT_MAX_ALPHABET = 64  # beyond this, binary token codes (width log |Σ|) keep the model small


def token_code_for(alphabet_size: int) -> str:
    return "onehot" if alphabet_size <= ONEHOT_MAX_ALPHABET else "binary"


@dataclass(eq=False)
class CompiledHop(CompiledModel):
    """A compiled hop_k model (``CompiledModel`` plus k and the alphabet)."""

    k: int = 0
    alphabet_size: int = 0

    @property
    def theorem_depth(self) -> int | None:
        """P2 Thm 4.2's ⌊log2 k⌋ + 2 (None for k = 0, where the theorem says nothing)."""
        from mpcsim.bounds import hop_theorem_depth

        return hop_theorem_depth(self.k) if self.k >= 1 else None

    def summary(self) -> dict:
        from mpcsim.bounds import hop_transformer_depth

        out = super().summary()
        out.update(k=self.k, alphabet_size=self.alphabet_size, achievable_depth=hop_transformer_depth(self.k),
                   theorem_depth=self.theorem_depth)
        return out


def compile_hop(k: int, max_n: int, alphabet_size: int, dtype: str = "float32", *,
                position_code: str = "binary", token_code: str | None = None,
                device: str | None = None) -> CompiledHop:
    """hop_k over tokens 0..alphabet_size−1 for sequences of up to ``max_n`` tokens. Raises
    ``NumericsError`` if max_n exceeds ``max_exact_n`` for the dtype and codes. ``token_code``
    (``onehot`` / ``binary``) defaults to ``token_code_for(alphabet_size)``."""
    for name, value, least in (("k", k, 0), ("max_n", max_n, 1), ("alphabet_size", alphabet_size, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    compiled = compile_program(hop_program(k, range(alphabet_size)), max_n, dtype=dtype, position_code=position_code,
                               categorical_code=token_code or token_code_for(alphabet_size), device=device)
    return CompiledHop(**{f: getattr(compiled, f) for f in (
        "program", "graph", "layout", "model", "dtype", "codes", "constraints", "max_exact_n")},
        k=k, alphabet_size=alphabet_size)


def position_code_table(k: int, max_n: int, alphabet_size: int, dtypes=("float32", "float64", "bfloat16")) -> list[dict]:
    """For each position code: residual width at N = max_n, directions per pointer register, the
    lookup heads' margin and score magnitude, and the largest exact N per dtype (no weights built)."""
    graph = program_to_graph(hop_program(k, range(alphabet_size)))
    rows = []
    for position in POSITION_CODES:
        code = Codes(position, token_code_for(alphabet_size))
        layout = graph_to_layout(graph, max_n, code)
        lookups = [head_numerics(h, max_n, code, True) for h in graph.heads if form_of(h) == "position"]
        pointer_dims = {b.size for b in layout.blocks if b.feature in ("bits", "circle")}
        rows.append({
            "position_code": position,
            "token_code": code.categorical,
            "width": layout.d_model,
            "pointer_dims": max(pointer_dims, default=0),
            "lookup_margin": min((h.margin for h in lookups), default=None),
            "lookup_score_bound": max((h.abs_max for h in lookups), default=None),
            "max_exact_n": {d: max_exact_n(graph, d, code) for d in dtypes},
        })
    return rows


def exact_range_table(k: int, alphabets=(4, 64, 65, 1000, 100_000),
                      dtypes=("float32", "float64", "bfloat16")) -> list[dict]:
    """The largest exact N per alphabet size and dtype (binary position code, automatic token
    code). With one-hot tokens (|Σ| ≤ ``ONEHOT_MAX_ALPHABET``) a match is one product, so the
    alphabet does not enter the numerics at all; with binary token codes the last-occurrence
    scores grow by ⌈log2(|Σ|+1)⌉ and the exact N shrinks by about that factor."""
    rows = []
    for a in alphabets:
        codes = Codes("binary", token_code_for(a))
        graph = program_to_graph(hop_program(k, range(a)))
        rows.append({"alphabet": a, "token_code": codes.categorical,
                     "max_exact_n": {d: max_exact_n(graph, d, codes) for d in dtypes}})
    return rows
