"""Hypothesis strategies for random token programs (compilers.ir) and inputs for them.

``token_programs()`` draws a small program: a DAG of element-wise maps with random tables,
lookups at pointers that are always valid (positions ≤ i in causal programs), last occurrences,
selector widths (which are valid pointers too) and, optionally, means. Every choice comes from a
hypothesis draw, so failing programs shrink. ``program_inputs(program, max_n)`` draws token
sequences for it. ``ProgramCase`` carries both, and whether the MPC lowering applies (it holds
integer words, so programs with means are compiled but not lowered).
"""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from compilers.ir import (
    BOTTOM, Aggregate, Comparison, Expr, Indices, Kind, LastOccurrence, LookUp, Map, Program, Select,
    SelectorWidth, SequenceMap, Shift, Tokens,
)

PREDICATES = (Comparison.EQ, Comparison.NEQ, Comparison.LT, Comparison.LEQ, Comparison.GT, Comparison.GEQ,
              Comparison.TRUE)
OPS = ("map", "sequence_map", "lookup", "last_occurrence", "width", "mean")


@dataclass(frozen=True)
class ProgramCase:
    program: Program
    lowerable: bool  # no fractions: the MPC lowering applies


def _table_map(draw, x: Expr, out_values: tuple, allow_bottom: bool, label: str) -> Map:
    """A Map with a drawn table over x's proper values."""
    domain = x.type.proper_values
    outs = draw(st.lists(st.sampled_from(out_values + ((BOTTOM,) if allow_bottom else ())),
                         min_size=len(domain), max_size=len(domain)))
    if all(o is BOTTOM for o in outs):  # keep at least one proper value (a register that is always ⊥ is useless)
        outs[0] = out_values[0]
    table = dict(zip(domain, outs))
    return Map(lambda v, t=table: t[v], x, label=label)


@st.composite
def token_programs(draw, *, vocab_size: int | None = None, max_ops: int = 5, causal: bool | None = None,
                   allow_means: bool = True) -> ProgramCase:
    """A random valid token program (see the module docstring)."""
    a = vocab_size if vocab_size is not None else draw(st.integers(2, 4))
    vocab = tuple(range(a))
    is_causal = draw(st.booleans()) if causal is None else causal
    tokens = Tokens(vocab)
    idx = Indices()
    cats: list[Expr] = [tokens]
    ptrs: list[Expr] = [idx, Shift(idx, -draw(st.integers(1, 3)), label="shifted")]
    nums: list[Expr] = []
    lowerable = True
    n_ops = draw(st.integers(1, max_ops))
    for step in range(n_ops):
        ops = [o for o in OPS if (o != "last_occurrence" or is_causal) and (o != "mean" or allow_means)]
        op = draw(st.sampled_from(ops))
        label = f"r{step}"
        if op == "map":
            x = draw(st.sampled_from(cats))
            cats.append(_table_map(draw, x, vocab, True, label))
        elif op == "sequence_map":
            x, y = draw(st.sampled_from(cats)), draw(st.sampled_from(cats))
            dom = [(u, v) for u in x.type.proper_values for v in y.type.proper_values]
            outs = draw(st.lists(st.sampled_from(vocab), min_size=len(dom), max_size=len(dom)))
            table = dict(zip(dom, outs))
            cats.append(SequenceMap(lambda u, v, t=table: t[(u, v)], x, y, label=label))
        elif op == "lookup":
            ptr = draw(st.sampled_from(ptrs + [n for n in nums if n.type.integer]))
            value = draw(st.sampled_from(cats + ptrs))
            out = LookUp(ptr, value, label=label)
            (ptrs if out.type.kind is Kind.POINTER else cats).append(out)
        elif op == "last_occurrence":
            key, query = draw(st.sampled_from(cats)), draw(st.sampled_from(cats))
            value = draw(st.sampled_from(cats + [idx]))
            out = LastOccurrence(key, query, value, label=label)
            (ptrs if out.type.kind is Kind.POINTER else cats).append(out)
        elif op == "width":
            k, q = draw(st.sampled_from(cats)), draw(st.sampled_from(cats))
            pred = draw(st.sampled_from(PREDICATES))
            nums.append(SelectorWidth(Select(k, q, pred), label=label))
        else:
            k, q = draw(st.sampled_from(cats)), draw(st.sampled_from(cats))
            pred = draw(st.sampled_from(PREDICATES))
            weights = _table_map_numeric(draw, tokens, f"{label}_w")
            nums.append(Aggregate(Select(k, q, pred), weights, label=label))
            lowerable = False
    created = [r for r in cats + ptrs + nums if r.label and r.label.startswith("r")]
    output = draw(st.sampled_from(created)) if created else tokens
    return ProgramCase(Program(output, causal=is_causal, name="random"), lowerable)


def _table_map_numeric(draw, x: Expr, label: str) -> Map:
    domain = x.type.proper_values
    outs = draw(st.lists(st.integers(0, 3), min_size=len(domain), max_size=len(domain)))
    table = dict(zip(domain, outs))
    return Map(lambda v, t=table: t[v], x, numeric=True, label=label)


def program_inputs(program: Program, max_n: int, min_n: int = 1) -> st.SearchStrategy:
    """Token sequences of length min_n..max_n over the program's vocabulary."""
    return st.lists(st.sampled_from(program.vocab or (0,)), min_size=min_n, max_size=max_n)


__all__ = ["ProgramCase", "program_inputs", "token_programs"]
