"""Stage 2: graph → layout. Name every residual direction and say what it holds.

The residual stream is a list of blocks, in a deterministic order: the two flags ``bos`` (1 on
the start token) and ``one`` (1 on every real position), then each register in the graph's
topological order. A register computed by a layer owns one block, its primary encoding
(``encodings.primary_feature``); a register the embedding computes owns one block per feature
something reads from it (e.g. ``indices`` may own ``bits`` for lookups and ``value`` for the
recency ramp of a last-occurrence head). A feature that is neither the primary encoding, nor a
linear function of it, nor computable by the embedding is rejected here, naming the register.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .attention_forms import head_requirements
from .encodings import Codes, derived_functional, feature_labels, primary_feature
from .errors import CompileError
from .ir import Expr, Kind
from .mlp_gadgets import mlp_requirements
from .program_to_graph import Graph

FLAGS = ("bos", "one")
FEATURE_ORDER = ("onehot", "bincode", "bits", "circle", "value", "square", "thermo", "ramp")


@dataclass(frozen=True)
class Block:
    """Residual directions start..start+size−1, named ``register:label``."""

    register: str
    feature: str
    start: int
    labels: tuple

    @property
    def size(self) -> int:
        return len(self.labels)

    @property
    def stop(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Readout:
    """How the output register becomes the model's output columns: categorical registers give one
    logit per value (one-hot: ⊥ is a logit fixed at 1/2, beaten by any one-hot 1; binary code:
    C − 2·hamming to each value's code, ⊥ being code 0); numbers and binary pointers give their
    value; circle pointers give (cos, sin)."""

    register: str
    kind: str  # "categorical" | "number" | "circle"
    columns: tuple  # decoded value per column (categorical), else labels
    feature: str = "value"  # what it reads: onehot / bincode / value / circle


@dataclass(frozen=True, eq=False)
class Layout:
    graph: Graph
    max_n: int
    codes: Codes
    blocks: tuple
    readout: Readout

    @property
    def d_model(self) -> int:
        return self.blocks[-1].stop if self.blocks else 0

    @cached_property
    def _index(self) -> dict:
        return {(b.register, b.feature): b for b in self.blocks}

    def unit(self, flag: str) -> np.ndarray:
        """The residual vector of a flag direction (``bos`` or ``one``)."""
        v = np.zeros(self.d_model)
        v[self._index[(flag, "flag")].start] = 1.0
        return v

    def primary_block(self, node: Expr) -> Block:
        block = self._index.get((node.name, primary_feature(node, self.codes)))
        if block is None:
            raise CompileError(f"register '{node.name}' has no residual directions in this layout")
        return block

    def functional(self, node: Expr, feature: str) -> np.ndarray:
        """A matrix (d_model, f): the residual read as ``feature`` of the register."""
        if node.name in self.graph.virtual:
            if feature != "value":
                raise CompileError(f"register '{node.name}' is inlined (a linear function of others); its {feature} "
                                   "is not available")
            total = node.bias * self.unit("one")[:, None]
            for x, c in node.terms:
                total = total + c * self.functional(x, "value")
            return total
        out = np.zeros((self.d_model, len(feature_labels(node.type, feature, self.max_n))))
        own = self._index.get((node.name, feature))
        if own is not None:
            out[own.start:own.stop] = np.eye(own.size)
            return out
        primary = self.primary_block(node)
        m = derived_functional(node.type, primary.feature, feature, self.max_n)
        if m is None:
            raise CompileError(f"register '{node.name}' is stored as {primary.feature}; its {feature} is not a "
                               "linear function of that, and the embedding does not compute it")
        out[primary.start:primary.stop] = m
        return out

    def directions(self) -> list[str]:
        return [f"{b.register}:{label}" for b in self.blocks for label in b.labels]

    def to_json(self) -> dict:
        """The residual-layout map written into exported configs."""
        return {
            "d_model": self.d_model,
            "max_n": self.max_n,
            "codes": self.codes.to_json(),
            "blocks": [{"register": b.register, "feature": b.feature, "start": b.start, "labels": list(b.labels)}
                       for b in self.blocks],
            "readout": {"register": self.readout.register, "kind": self.readout.kind,
                        "columns": [_jsonable(c) for c in self.readout.columns]},
        }

    def describe(self) -> str:
        lines = [f"residual layout: d_model = {self.d_model} (N = {self.max_n}, {self.codes.position} position code, "
                 f"{self.codes.categorical} categorical code)"]
        for b in self.blocks:
            shown = ", ".join(b.labels[:6]) + (", …" if b.size > 6 else "")
            lines.append(f"  [{b.start:>4}:{b.stop:<4}] {b.register}:{b.feature} ({shown})")
        return "\n".join(lines)


def _jsonable(v):
    return v if v is None or isinstance(v, (int, float, str, bool)) else repr(v)


def readout_for(node: Expr, codes: Codes) -> Readout:
    """The readout of the output register (and the feature it reads)."""
    t = node.type
    if t.kind is Kind.CATEGORICAL:
        return Readout(node.name, "categorical", t.values, codes.category_feature)
    if t.kind is Kind.POINTER and codes.position == "circle":
        return Readout(node.name, "circle", ("cos", "sin"), "circle")
    return Readout(node.name, "number", ("value",), "value")


def collect_requirements(graph: Graph, codes: Codes) -> list[tuple[Expr, str]]:
    """Every (register, feature) some head, MLP or the readout reads."""
    req: list[tuple[Expr, str]] = []
    for head in graph.heads:
        req += head_requirements(head, codes)
    for layer in sorted(graph.mlp_nodes):
        for node in graph.mlp_nodes[layer]:
            req += mlp_requirements(node)
    req.append((graph.output, readout_for(graph.output, codes).feature))
    todo = [node for node, _ in req if node.name in graph.virtual]
    while todo:  # an inlined register is read through its terms, as numbers
        node = todo.pop()
        for x, _ in node.terms:
            req.append((x, "value"))
            if x.name in graph.virtual:
                todo.append(x)
    return req


def graph_to_layout(graph: Graph, max_n: int, codes: Codes = Codes()) -> Layout:
    if max_n < 1:
        raise CompileError(f"max_n must be >= 1, got {max_n}")
    wanted: dict = {}
    for node, feature in collect_requirements(graph, codes):
        wanted.setdefault(node.name, set()).add(feature)
    blocks: list[Block] = []
    start = 0

    def add(register: str, feature: str, labels: tuple) -> None:
        nonlocal start
        blocks.append(Block(register, feature, start, labels))
        start += len(labels)

    for flag in FLAGS:
        add(flag, "flag", (flag,))
    for node in graph.nodes:
        features = wanted.get(node.name, set())
        if node.name in graph.virtual:
            continue
        if graph.folded.get(node.name) is not None:  # the embedding computes every feature asked for
            bad = features & {"ramp"}
            if bad:
                raise CompileError(f"register '{node.name}': feature {sorted(bad)} cannot be computed by the embedding")
            for feature in sorted(features, key=FEATURE_ORDER.index):
                add(node.name, feature, feature_labels(node.type, feature, max_n))
            continue
        primary = primary_feature(node, codes)
        add(node.name, primary, feature_labels(node.type, primary, max_n))
        for feature in sorted(features - {primary}, key=FEATURE_ORDER.index):
            if derived_functional(node.type, primary, feature, max_n) is None:
                users = _users(graph, node)
                raise CompileError(
                    f"register '{node.name}' ({node.type}) is stored as {primary}, but {users} reads its {feature}, "
                    "which is not a linear function of it; compute it from tokens or indices alone "
                    "(the embedding then holds it) or use a categorical register")
    return Layout(graph, max_n, codes, tuple(blocks), readout_for(graph.output, codes))


def _users(graph: Graph, node: Expr) -> str:
    names = graph.consumers.get(node.name, ())
    return ", ".join(f"'{n}'" for n in names) or "the readout"


def embedding_tables(layout: Layout, vocab: tuple) -> tuple[np.ndarray, np.ndarray]:
    """W_E (1 + |vocab|, d_model; row 0 is the start token) and W_pos (N + 1, d_model; row 0 is
    the start token's position): every block of a register the embedding computes, evaluated on
    each token / position, and the two flags."""
    from .encodings import feature_values
    from .semantics import eval_elementwise

    graph, n = layout.graph, layout.max_n
    w_e = np.zeros((1 + len(vocab), layout.d_model))
    w_pos = np.zeros((n + 1, layout.d_model))
    w_e[0, layout._index[("bos", "flag")].start] = 1.0
    w_pos[1:, layout._index[("one", "flag")].start] = 1.0
    values = {
        "tokens": np.arange(len(vocab), dtype=np.int64),  # token codes 0..|V|-1 (rows 1.. of W_E)
        "indices": np.arange(1, n + 1, dtype=np.int64),   # positions 1..N (rows 1.. of W_pos)
    }
    computed: dict = {}
    for node in graph.nodes:
        source = graph.folded.get(node.name)
        if source is None:
            continue
        if node.children():
            computed[node.name] = eval_elementwise(node, [computed[c.name] for c in node.children()])
        else:
            computed[node.name] = values[source]
        table = w_e if source == "tokens" else w_pos
        for b in layout.blocks:
            if b.register == node.name:
                table[1:, b.start:b.stop] = feature_values(node.type, b.feature, computed[node.name], n)
                if b.feature == "circle":  # the start token's position 0 has the code (1, 0)
                    table[0, b.start:b.stop] = feature_values(node.type, "circle", np.zeros(1, np.int64), n)[0]
    return w_e, w_pos


def read_registers(layout: Layout, residual: np.ndarray) -> dict:
    """Decode a residual stream (B, n+1, d_model) into logical register values — the inverse of
    the encodings, to read a compiled model: one-hot → argmax (⊥ if all < 1/2), binary codes and
    bits → their integer, circle → the nearest position, numbers → their value, thermometer →
    Σ [step > 1/2]. Registers the stream does not hold (yet) come out null."""
    res = np.asarray(residual, dtype=np.float64)
    out: dict = {}
    for b in layout.blocks:
        if b.register in out or b.feature in ("flag", "ramp", "square"):
            continue
        x = res[..., b.start:b.stop]
        if b.feature == "onehot":
            out[b.register] = np.where(x.max(axis=-1) > 0.5, x.argmax(axis=-1), -1)
        elif b.feature in ("bincode", "bits"):
            v = ((x > 0.5) * (2 ** np.arange(b.size))).sum(axis=-1).astype(np.int64)
            out[b.register] = v - 1 if b.feature == "bincode" else v
        elif b.feature == "circle":
            angle = np.mod(np.arctan2(x[..., 1], x[..., 0]), 2 * np.pi)
            out[b.register] = np.mod(np.rint(angle * (layout.max_n + 1) / (2 * np.pi)), layout.max_n + 1).astype(np.int64)
        elif b.feature == "thermo":
            out[b.register] = (x > 0.5).sum(axis=-1).astype(np.float64)
        else:
            out[b.register] = x[..., 0]
    return out


def encode_registers(layout: Layout, vals: dict, upto_stage: int | None = None) -> np.ndarray:
    """The residual stream (B, n+1, d_model) holding the given logical register values (those
    scheduled at or before ``upto_stage``, e.g. the input of layer ℓ is stage 2ℓ − 2), the flags
    and the embedding's blocks: what the model's residual is, block by block, when it is exact."""
    from .encodings import feature_values

    any_val = next(iter(vals.values()))
    batch, n1 = np.shape(any_val)
    res = np.zeros((batch, n1, layout.d_model))
    res[:, 0, layout._index[("bos", "flag")].start] = 1.0
    res[:, 1:, layout._index[("one", "flag")].start] = 1.0
    by_name = layout.graph.by_name
    for b in layout.blocks:
        if b.feature == "flag" or b.register not in vals:
            continue
        if upto_stage is not None and layout.graph.stage[b.register] > upto_stage:
            continue
        node = by_name[b.register]
        res[..., b.start:b.stop] = feature_values(node.type, b.feature, np.asarray(vals[b.register]), layout.max_n)
        if b.feature == "circle":
            continue
        res[:, 0, b.start:b.stop] = 0.0  # null at the start token (circle: position 0 = (1, 0))
    return res
