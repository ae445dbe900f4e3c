"""Stage 1: program → graph. Deduplicate, desugar, fold into the embedding, schedule into layers.

* **Deduplicate / dead code**: only registers the output depends on, once per structural key
  (``ir.topological_order``; each pass below visits each register once — memoised).
* **Desugar** ``SelectorWidth`` into its three transformer steps: an attention head averaging the
  start-token indicator over the selected positions ∪ {start} (value 1/(w+1)), an MLP that turns
  that fraction into exact ramps, and an MLP that saturates the ramps into a thermometer code.
* **Fold**: an element-wise register that depends on the token alone or on the position alone is
  computed by the embedding tables W_E / W_pos (P2 §2.1: per-token maps are free), so it costs
  no layer.
* **Inline** a ``Linear`` register that nothing reads as a square: it is a linear function of
  registers the residual stream already holds linearly, so the heads, MLPs and readout that use
  it apply that function themselves (no MLP, no directions).
* **Schedule** (ASAP = longest path, hence minimal depth): stage 0 is the embedding, stage 2ℓ−1
  the attention of layer ℓ, stage 2ℓ its MLP. Attention registers of one stage that share a
  selector become one head reading several values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

from .errors import CompileError
from .ir import (
    Aggregate,
    Expr,
    Indices,
    LastOccurrence,
    Linear,
    Map,
    NBound,
    Program,
    Select,
    SelectorWidth,
    SequenceMap,
    Shift,
    Tokens,
    ValueType,
    topological_order,
)


# ---- internal registers of a desugared SelectorWidth ------------------------------------------
@dataclass(frozen=True, eq=False)
class WidthInverse(Expr):
    """1/(w+1): the start-token indicator averaged over the selected positions and the start token."""

    op: ClassVar[str] = "width_inverse"
    selector: Select = None

    def children(self) -> tuple[Expr, ...]:
        return (self.selector.keys, self.selector.queries)

    def params(self) -> tuple:
        return (self.selector.predicate.name,)

    def _infer_type(self) -> ValueType:
        return ValueType.numeric(0, 1, False)


@dataclass(frozen=True, eq=False)
class WidthRamp(Expr):
    """Ramps y_k = max(0, S_k·(θ_k − r)), k = 1..N: 0 when w < k, at least 1 when w ≥ k."""

    op: ClassVar[str] = "width_ramp"
    inverse: Expr = None

    def children(self) -> tuple[Expr, ...]:
        return (self.inverse,)

    def _infer_type(self) -> ValueType:
        return ValueType.numeric(0, NBound(0, 1), False)


@dataclass(frozen=True, eq=False)
class WidthSteps(Expr):
    """The selector width w as a thermometer code: step_k = min(1, y_k) = [w ≥ k]."""

    op: ClassVar[str] = "width_steps"
    ramp: Expr = None

    def children(self) -> tuple[Expr, ...]:
        return (self.ramp,)

    def _infer_type(self) -> ValueType:
        return ValueType.numeric(0, NBound(0, 1), True)


ELEMENTWISE = (Shift, Map, SequenceMap, Linear, WidthRamp, WidthSteps)
ATTENTION = (Aggregate, LastOccurrence, WidthInverse)


@dataclass(frozen=True)
class Head:
    """One attention head: the registers it writes (``outputs``) and the registers it reads at the
    attended position (``values``, aligned with outputs). ``pattern`` is the ``Select`` of an
    aggregate or width head, or the (key, query) pair of a last-occurrence head."""

    layer: int
    kind: str  # "aggregate" | "width" | "last_occurrence"
    pattern: object
    outputs: tuple[Expr, ...]
    values: tuple[Expr, ...]

    @property
    def name(self) -> str:
        return "+".join(o.name for o in self.outputs)

    def query_key_registers(self) -> tuple[Expr, Expr]:
        if self.kind == "last_occurrence":
            key, query = self.pattern
            return query, key
        return self.pattern.queries, self.pattern.keys


@dataclass(frozen=True, eq=False)
class Graph:
    """A scheduled program. ``stage[name]``: 0 embedding, 2ℓ−1 attention and 2ℓ MLP of layer ℓ.
    ``folded[name]``: "tokens" / "indices" if the register is computed by W_E / W_pos."""

    program: Program
    nodes: tuple[Expr, ...]
    stage: dict
    folded: dict
    heads: tuple[Head, ...]
    mlp_nodes: dict  # layer -> registers computed by that layer's MLP
    output: Expr
    consumers: dict = field(repr=False)
    virtual: frozenset = frozenset()

    @property
    def causal(self) -> bool:
        return self.program.causal

    @property
    def n_layers(self) -> int:
        return (max(self.stage.values(), default=0) + 1) // 2

    @property
    def n_heads(self) -> int:
        """Heads per layer (the most any layer needs; at least 1 so the model format is valid)."""
        per_layer: dict = {}
        for h in self.heads:
            per_layer[h.layer] = per_layer.get(h.layer, 0) + 1
        return max(per_layer.values(), default=1)

    def heads_of(self, layer: int) -> tuple[Head, ...]:
        return tuple(h for h in self.heads if h.layer == layer)

    @cached_property
    def by_name(self) -> dict:
        return {n.name: n for n in self.nodes}

    def materialized(self, node: Expr) -> bool:
        """Whether the register needs residual directions: every non-folded register does; a
        folded one only if something outside the embedding reads it (or it is the output)."""
        if node.name in self.virtual:
            return False
        if self.folded.get(node.name) is None:
            return True
        if node.name == self.output.name:
            return True
        return any(self.folded.get(c) is None for c in self.consumers.get(node.name, ()))


def program_to_graph(program: Program) -> Graph:
    """Run the passes above on ``program`` (P2 Thm 4.2's layer structure for hop_k programs)."""
    nodes, output = _desugar(program.nodes(), program.output)
    if any(isinstance(n, LastOccurrence) for n in nodes) and not any(isinstance(n, Indices) for n in nodes):
        nodes = topological_order([output, Indices()])  # the recency ramp reads the position
    folded = _fold(nodes)
    virtual = _inline(nodes, folded)
    stage = _schedule(nodes, folded, virtual)
    consumers: dict = {}
    for n in nodes:
        for c in n.children():
            consumers.setdefault(c.name, []).append(n.name)
    heads = _group_heads(nodes, stage)
    mlp_nodes: dict = {}
    for n in nodes:
        s = stage[n.name]
        if s > 0 and s % 2 == 0 and n.name not in virtual:
            mlp_nodes.setdefault(s // 2, []).append(n)
    return Graph(program, tuple(nodes), stage, folded, heads,
                 {k: tuple(v) for k, v in mlp_nodes.items()}, output,
                 {k: tuple(v) for k, v in consumers.items()}, virtual)


def _desugar(nodes: list[Expr], output: Expr) -> tuple[list[Expr], Expr]:
    """Replace every SelectorWidth by inverse → ramp → steps (the steps register keeps the name),
    and rebuild the registers above it so that they read the steps register. Memoised by key."""
    if not any(isinstance(n, SelectorWidth) for n in nodes):
        return nodes, output
    memo: dict = {}

    def rebuild(node: Expr) -> Expr:
        if node.key not in memo:
            if isinstance(node, SelectorWidth):
                sel = _rebuild_select(node.selector, rebuild)
                inverse = WidthInverse(sel, label=f"{node.name}__inverse")
                memo[node.key] = WidthSteps(WidthRamp(inverse, label=f"{node.name}__ramp"), label=node.name)
            else:
                memo[node.key] = _with_children(node, rebuild)
        return memo[node.key]

    for n in nodes:  # children first, so the recursion in rebuild stays shallow
        rebuild(n)
    new_output = rebuild(output)
    return topological_order([new_output]), new_output


def _rebuild_select(sel: Select, rebuild) -> Select:
    return Select(rebuild(sel.keys), rebuild(sel.queries), sel.predicate)


def _with_children(node: Expr, rebuild) -> Expr:
    """A copy of ``node`` whose children are rebuilt (the node itself if none changed); labels are kept,
    unlabelled registers get the name their new content gives them."""
    if not node.children():
        return node
    if isinstance(node, (Aggregate,)):
        sel = _rebuild_select(node.selector, rebuild)
        val = rebuild(node.value)
        if sel.keys is node.selector.keys and sel.queries is node.selector.queries and val is node.value:
            return node
        return Aggregate(sel, val, label=node.label)
    if isinstance(node, LastOccurrence):
        k, q, v = (rebuild(c) for c in node.children())
        return LastOccurrence(k, q, v, label=node.label)
    if isinstance(node, Shift):
        return Shift(rebuild(node.x), node.offset, label=node.label)
    if isinstance(node, Map):
        return Map(node.fn, rebuild(node.x), node.numeric, label=node.label)
    if isinstance(node, SequenceMap):
        return SequenceMap(node.fn, rebuild(node.x), rebuild(node.y), node.numeric, label=node.label)
    if isinstance(node, Linear):
        return Linear(tuple((rebuild(x), c) for x, c in node.terms), node.bias, label=node.label)
    raise CompileError(f"cannot rebuild {node.describe()} while desugaring")


def _fold(nodes: list[Expr]) -> dict:
    """'tokens' / 'indices' for registers computed from that input alone by element-wise maps."""
    folded: dict = {}
    for n in nodes:
        if isinstance(n, Tokens):
            folded[n.name] = "tokens"
        elif isinstance(n, Indices):
            folded[n.name] = "indices"
        elif isinstance(n, (Shift, Map, SequenceMap, Linear)):
            sources = {folded.get(c.name) for c in n.children()}
            folded[n.name] = sources.pop() if len(sources) == 1 and None not in sources else None
        else:
            folded[n.name] = None
    return folded


def _inline(nodes: list[Expr], folded: dict) -> frozenset:
    """Linear registers read only linearly (not as the square of a quadratic EQ selector)."""
    squared: set = set()
    for n in nodes:
        if isinstance(n, Aggregate) and n.selector.form() == "quadratic":
            squared.add(n.selector.keys.name)
            if not isinstance(n.selector.keys, Indices):
                squared.add(n.selector.queries.name)
    return frozenset(n.name for n in nodes if isinstance(n, Linear) and folded.get(n.name) is None
                     and n.name not in squared)


def _schedule(nodes: list[Expr], folded: dict, virtual: frozenset = frozenset()) -> dict:
    stage: dict = {}
    for n in nodes:
        if folded.get(n.name) is not None:
            stage[n.name] = 0
            continue
        after = max((stage[c.name] for c in n.children()), default=0)
        if n.name in virtual:  # readable as soon as its inputs are
            stage[n.name] = after
        elif isinstance(n, ATTENTION):
            stage[n.name] = after + 1 if after % 2 == 0 else after + 2
        elif isinstance(n, ELEMENTWISE):
            stage[n.name] = after + 1 if after % 2 == 1 else after + 2
        else:
            raise CompileError(f"no transformer form for {n.describe()}")
    return stage


def _group_heads(nodes: list[Expr], stage: dict) -> tuple[Head, ...]:
    groups: dict = {}
    for n in nodes:
        if not isinstance(n, ATTENTION):
            continue
        layer = (stage[n.name] + 1) // 2
        if isinstance(n, LastOccurrence):
            gkey = (layer, "last_occurrence", n.key_reg.key, n.query.key)
            kind, pattern, value = "last_occurrence", (n.key_reg, n.query), n.value
        elif isinstance(n, WidthInverse):
            gkey = (layer, "width", n.selector.key)
            kind, pattern, value = "width", n.selector, None
        else:
            gkey = (layer, "aggregate", n.selector.key)
            kind, pattern, value = "aggregate", n.selector, n.value
        entry = groups.setdefault(gkey, [kind, pattern, [], []])
        entry[2].append(n)
        entry[3].append(value)
    heads = [Head(gkey[0], kind, pattern, tuple(outs), tuple(vals))
             for gkey, (kind, pattern, outs, vals) in groups.items()]
    return tuple(sorted(heads, key=lambda h: (h.layer, h.name)))


def describe_graph(graph: Graph) -> str:
    """The schedule as text: per layer, the heads (pattern → registers) and the MLP registers."""
    lines = [f"graph of {graph.program.name}: {graph.n_layers} layers, {graph.n_heads} head(s) per layer"]
    emb = [n.name for n in graph.nodes if graph.stage[n.name] == 0 and graph.materialized(n)]
    lines.append(f"  embedding: {', '.join(emb)}")
    if graph.virtual:
        lines.append(f"  inlined (linear, no directions): {', '.join(sorted(graph.virtual))}")
    for layer in range(1, graph.n_layers + 1):
        for h in graph.heads_of(layer):
            pat = h.pattern.describe() if isinstance(h.pattern, Select) else \
                f"last({h.pattern[0].name} = {h.pattern[1].name})"
            lines.append(f"  layer {layer} head [{h.kind}] {pat} -> {', '.join(o.name for o in h.outputs)}")
        mlp = graph.mlp_nodes.get(layer, ())
        if mlp:
            lines.append(f"  layer {layer} mlp -> {', '.join(n.name for n in mlp)}")
    return "\n".join(lines)


__all__ = ["ATTENTION", "ELEMENTWISE", "Graph", "Head", "WidthInverse", "WidthRamp", "WidthSteps", "describe_graph",
           "program_to_graph"]
