"""The compiler's entry point: program → graph → layout → weights, and the compiled model.

``compile_program`` runs the stages in order (each its own module, named source_to_target):

    program_to_graph     dedupe, desugar, fold into the embedding, schedule (layers, heads)
    numerics.check_exact refuse N beyond the exact range of the dtype (NumericsError)
    graph_to_layout      named residual directions
    layout_to_weights    a plain compilers.model.Transformer

and returns a ``CompiledModel``: the torch model plus what is needed to read it (layout, graph,
the numerics constraints) and to run it on token values (start token added, outputs decoded,
⊥ decoded as None).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .encodings import Codes
from .errors import CompileError, EvaluationError
from .graph_to_layout import Layout, graph_to_layout
from .ir import Program
from .layout_to_weights import layout_to_weights
from .numerics import Constraint, check_exact, max_exact_n
from .program_to_graph import Graph, program_to_graph

BOS_ID = 0  # token id of the start token; vocabulary entry v has id 1 + its index


@dataclass(eq=False)
class CompiledModel:
    program: Program
    graph: Graph
    layout: Layout
    model: object  # compilers.model.Transformer
    dtype: str
    codes: Codes
    constraints: list = field(repr=False)
    max_exact_n: int = 0

    # ---- shape ---------------------------------------------------------------------------
    @property
    def max_n(self) -> int:
        return self.layout.max_n

    @property
    def layers(self) -> int:
        return self.model.cfg.n_layers

    @property
    def heads(self) -> int:
        return self.model.cfg.n_heads

    @property
    def width(self) -> int:
        return self.model.cfg.d_model

    @property
    def params(self) -> int:
        return self.model.num_params()

    @property
    def vocab(self) -> tuple:
        return self.program.vocab

    @property
    def device(self):
        return next(self.model.parameters()).device

    def to(self, device) -> "CompiledModel":
        self.model.to(device)
        return self

    def summary(self) -> dict:
        cfg = self.model.cfg
        return {
            "program": self.program.name, "layers": self.layers, "heads": self.heads, "width": self.width,
            "d_head": cfg.d_head, "d_mlp": cfg.d_mlp, "params": self.params, "dtype": self.dtype,
            "max_n": self.max_n, "max_exact_n": self.max_exact_n, "position_code": self.codes.position,
            "categorical_code": self.codes.categorical,
        }

    # ---- running -------------------------------------------------------------------------
    def token_ids(self, batch) -> np.ndarray:
        """Token values (B, n) → ids (B, n+1) with the start token prepended."""
        rows = [list(seq) for seq in batch]
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise EvaluationError(f"sequences of a batch must have one length, got {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        if n > self.max_n:
            raise EvaluationError(f"input has {n} tokens; this model was compiled for max_n = {self.max_n}")
        ids = np.zeros((len(rows), n + 1), dtype=np.int64)
        vocab = self.vocab
        if not vocab:  # the program ignores its tokens: every token is the (empty) row 1
            ids[:, 1:] = 1
            return ids
        if vocab and all(isinstance(v, int) and not isinstance(v, bool) for v in vocab) \
                and tuple(vocab) == tuple(range(len(vocab))):
            flat = [t for row in rows for t in row]
            bad = next((t for t in flat if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer))), None)
            if bad is not None:  # no silent truncation of 1.7 or conversion of '1' / True
                raise EvaluationError(f"token {bad!r} ({type(bad).__name__}) is not in the vocabulary 0..{len(vocab) - 1}")
            arr = np.asarray(rows, dtype=np.int64).reshape(len(rows), n)
            bad = (arr < 0) | (arr >= len(vocab))
            if bad.any():
                b, i = np.argwhere(bad)[0]
                raise EvaluationError(f"token {arr[b, i]!r} at position {i + 1} (sequence {b}) is not in the vocabulary 0..{len(vocab) - 1}")
            ids[:, 1:] = arr + 1
            return ids
        index = {v: j + 1 for j, v in enumerate(vocab)}
        for b, row in enumerate(rows):
            for i, tok in enumerate(row):
                if tok not in index:
                    raise EvaluationError(f"token {tok!r} at position {i + 1} (sequence {b}) is not in the vocabulary")
                ids[b, i + 1] = index[tok]
        return ids

    def forward_ids(self, ids, batch_size: int | None = None):
        """Raw outputs (B, n+1, columns) for token ids, in chunks of ``batch_size`` sequences."""
        import torch

        ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
        chunk = batch_size or max(1, ids.shape[0])
        outs = []
        with torch.no_grad():
            for s in range(0, ids.shape[0], chunk):
                outs.append(self.model(ids[s:s + chunk].to(self.device)).float().cpu())
        return torch.cat(outs) if outs else torch.zeros((0, ids.shape[1], len(self.layout.readout.columns)))

    def decode(self, out) -> list[list]:
        """Model outputs (B, n+1, columns) → decoded values at positions 1..n."""
        r, t = self.layout.readout, self.graph.output.type
        arr = np.asarray(out)[:, 1:]
        if r.kind == "categorical":
            cols = np.asarray(arr.argmax(axis=-1))
            return [[r.columns[c] for c in row] for row in cols.tolist()]
        if r.kind == "circle":
            pos = np.rint(np.mod(np.arctan2(arr[..., 1], arr[..., 0]), 2 * math.pi) * (self.max_n + 1) / (2 * math.pi))
            return np.mod(pos, self.max_n + 1).astype(int).tolist()
        vals = arr[..., 0]
        if t.integer:
            return np.rint(vals).astype(int).tolist()
        return vals.astype(float).tolist()

    def run_batch(self, batch, batch_size: int | None = None) -> list[list]:
        return self.decode(self.forward_ids(self.token_ids(batch), batch_size))

    def run(self, tokens: Sequence) -> list:
        """The program's output at every position of one sequence (⊥ as None)."""
        return self.run_batch([list(tokens)])[0]


def compile_program(program: Program, max_n: int, *, dtype: str = "float32", position_code: str = "binary",
                    categorical_code: str = "onehot", device: str | None = None) -> CompiledModel:
    """Compile ``program`` for contexts of up to ``max_n`` tokens. Raises ``NumericsError`` when
    ``max_n`` is beyond the largest N exact in ``dtype``, ``CompileError`` / ``IRTypeError`` for
    programs with no exact transformer form."""
    from .model import pick_device

    codes = Codes(position_code, categorical_code)
    graph = program_to_graph(program)
    cons: list[Constraint] = check_exact(graph, max_n, dtype, codes)
    layout = graph_to_layout(graph, max_n, codes)
    _check_size(layout, max_n, dtype)
    model = layout_to_weights(layout, dtype).to(pick_device(device))
    return CompiledModel(program, graph, layout, model, dtype, codes, cons, max_exact_n(graph, dtype, codes))


__all__ = ["BOS_ID", "CompiledModel", "compile_program"]


MAX_WEIGHT_BYTES = 8 << 30  # refuse to allocate models over 8 GiB (the position table W_pos dominates)


def _check_size(layout: Layout, max_n: int, dtype: str) -> None:
    """Refuse, before allocating, a model whose position embedding alone would not fit in memory."""
    import torch

    bytes_per = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    need = (max_n + 1) * layout.d_model * bytes_per
    if need > MAX_WEIGHT_BYTES:
        raise CompileError(f"max_n = {max_n} needs a {max_n + 1} × {layout.d_model} position table "
                           f"({need / 2**30:.1f} GiB in {dtype}), over the {MAX_WEIGHT_BYTES >> 30} GiB limit; "
                           "compile for a smaller max_n")
