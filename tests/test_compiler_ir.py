"""The token-program IR: typing at construction, ⊥, deterministic names, memoised passes, printing."""
from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compilers.errors import CompileError, IRTypeError
from compilers.ir import (
    BOTTOM, Aggregate, Comparison, Indices, Kind, LastOccurrence, Linear, LookUp, Map, NBound, Program, Select,
    SelectorWidth, SequenceMap, Shift, Tokens, topological_order,
)
from compilers.library import hop_program, reverse_program
from compilers.program_to_graph import describe_graph, program_to_graph
from compilers.semantics import decode_values, encode_values, eval_elementwise


def test_tokens_are_checked():
    with pytest.raises(IRTypeError, match="tokens: the vocabulary is empty"):
        Tokens(())
    with pytest.raises(IRTypeError, match="reserved for ⊥"):
        Tokens((1, None))
    with pytest.raises(IRTypeError, match="repeated"):
        Tokens(("a", "a"))


def test_errors_name_the_register_and_primitive():
    toks = Tokens(("a", "b"))
    with pytest.raises(IRTypeError, match=r"map 'bad'.*ZeroDivisionError.*'b'"):
        Map(lambda t: 1 / 0 if t == "b" else 1, toks, label="bad")
    with pytest.raises(IRTypeError, match=r"last_occurrence 'lo'.*key register 'indices'.*categorical"):
        LastOccurrence(Indices(), toks, toks, label="lo")
    with pytest.raises(IRTypeError, match=r"shift.*'tokens'.*not a pointer"):
        Shift(toks, -1)
    with pytest.raises(IRTypeError, match=r"select\(%indices, %tokens, EQ\).*integer-valued"):
        LookUp(toks, toks)  # 'a'/'b' are not positions
    with pytest.raises(IRTypeError, match=r"LT needs categorical keys and queries"):
        Select(Indices(), Indices(), Comparison.LT)
    with pytest.raises(IRTypeError, match=r"linear.*'tokens'.*no numeric reading"):
        Linear(((toks, 1),))
    with pytest.raises(IRTypeError, match="selector width"):
        SelectorWidth(Select(Indices(), Shift(Indices(), -1), Comparison.EQ))
    with pytest.raises(IRTypeError, match="needs a causal program"):
        Program(LastOccurrence(toks, toks, toks), causal=False)


def test_bottom_is_an_explicit_value():
    toks = Tokens((0, 1, 2))
    prev = LookUp(Shift(Indices(), -1), toks)
    assert prev.type.values[0] is BOTTOM and prev.type.proper_values == (0, 1, 2)
    calls = []
    plus = Map(lambda v: calls.append(v) or v + 1, prev)
    assert BOTTOM not in calls  # ⊥ propagates without calling the function
    assert dict(plus.table)[BOTTOM] is BOTTOM
    # ⊥ is decoded as None, never as the smallest label
    arr = encode_values(prev.type, [None, 0, 2])
    assert arr.tolist() == [-1, 0, 2]
    assert decode_values(prev.type, arr) == [None, 0, 2]


def test_types_and_bounds():
    toks = Tokens((1, 5))
    n = Linear(((Indices(), 2), (toks, -1)), 3)
    assert n.type.kind is Kind.NUMERIC and n.type.integer
    assert n.type.lo == NBound(3 - 5, 0) and n.type.hi == NBound(3 - 1, 2)
    assert SelectorWidth(Select(toks, toks, Comparison.EQ)).type.hi == NBound(0, 1)
    assert Aggregate(Select(toks, toks, Comparison.TRUE), Map(lambda t: t, toks, numeric=True)).type.integer is False


def _hop3_variant(order: int) -> Program:
    """hop_3 built with sub-expressions created in different orders (and unrelated nodes in between)."""
    toks = Tokens((0, 1, 2))
    idx = Indices()
    if order:
        Map(lambda t: t, toks)  # an unrelated register created first
        prev_pos = Shift(idx, -1, label="prev_pos")
        prev = LookUp(prev_pos, toks, label="prev_token")
    else:
        prev = LookUp(Shift(idx, -1, label="prev_pos"), toks, label="prev_token")
    x = LastOccurrence(prev, toks, toks, label="x_find1")
    f = LastOccurrence(prev, toks, idx, label="find1")
    f2 = LookUp(f, f, label="find2")
    return Program(LookUp(f2, x, label="x_find3"), name="hop_3")


def test_names_and_layout_do_not_depend_on_construction_order():
    from compilers.graph_to_layout import graph_to_layout

    a, b = _hop3_variant(0), _hop3_variant(1)
    assert str(a) == str(b)
    la = graph_to_layout(program_to_graph(a), 50)
    lb = graph_to_layout(program_to_graph(b), 50)
    assert la.directions() == lb.directions()
    # the library's hop_3 computes the same registers (under the same names)
    assert [n.name for n in hop_program(3, range(3)).nodes()] == [n.name for n in a.nodes()]


def test_unlabelled_names_come_from_content():
    toks = Tokens(("a", "b"))
    m1 = Map(lambda t: t.upper(), toks)
    m2 = Map(lambda t: t.upper(), toks)  # a different lambda with the same table: the same register
    assert m1.name == m2.name and m1.key == m2.key
    m3 = Map(lambda t: t * 2, toks)
    assert m3.name != m1.name
    assert Shift(Indices(), -2).name == "shift(indices,-2)"


def test_shared_subexpressions_are_visited_once():
    """tracr's passes blow up on shared sub-expressions; ours are memoised by structural key."""
    toks = Tokens((0, 1))
    x = toks
    for _ in range(60):  # a DAG with 2^60 root-to-leaf paths
        x = SequenceMap(lambda a, b: a ^ b, x, x)
    start = time.perf_counter()
    nodes = topological_order([x])
    graph = program_to_graph(Program(x))
    assert len(nodes) == 61 and len(graph.nodes) == 61
    assert time.perf_counter() - start < 5


def test_two_registers_with_one_name_are_rejected():
    toks = Tokens((0, 1))
    a = Map(lambda t: t, toks, label="same")
    b = Map(lambda t: 1 - t, toks, label="same")
    with pytest.raises(IRTypeError, match="two different registers are named 'same'"):
        Program(SequenceMap(lambda u, v: u, a, b)).nodes()


def test_programs_print():
    text = str(hop_program(5, "abc"))
    for expected in ("program hop_5 (causal)", "%prev_token", "last_occurrence(key=%prev_token, query=%tokens",
                     "aggregate(select(%indices, %find4, EQ), %x_find1)", "output %x_find5"):
        assert expected in text
    graph = describe_graph(program_to_graph(reverse_program("ab")))
    assert "inlined (linear, no directions): opp_index" in graph
    assert "layer 3 head [aggregate] select(%indices, %opp_index, EQ) -> reverse" in graph


def test_selector_forms():
    toks, idx = Tokens((0, 1, 2)), Indices()
    assert Select(toks, toks, Comparison.LT).form() == "table"
    assert Select(toks, toks, Comparison.TRUE).form() == "constant"
    assert Select(idx, Shift(idx, -1), Comparison.EQ).form() == "position"
    assert Select(idx, Linear(((idx, -1),), 5), Comparison.EQ).form() == "quadratic"


def test_unsupported_programs_are_rejected_at_compile_time():
    from compilers.pipeline import compile_program

    toks = Tokens((0, 1))
    ptr = LastOccurrence(toks, toks, Indices())
    with pytest.raises(CompileError, match="shifting a computed pointer"):
        compile_program(Program(LookUp(Shift(ptr, -1), toks)), 8)
    with pytest.raises(CompileError, match="binary categorical code needs key"):
        compile_program(Program(LastOccurrence(LookUp(Shift(Indices(), -1), toks), Map(lambda t: t + 5, toks), toks)),
                        8, categorical_code="binary")


@settings(max_examples=30)
@given(st.lists(st.integers(0, 4), min_size=5, max_size=5), st.lists(st.integers(0, 4), min_size=1, max_size=20))
def test_map_semantics_is_the_function(table, xs):
    """eval_elementwise on codes equals applying the Python function (⊥ ↦ ⊥)."""
    toks = Tokens(tuple(range(5)))
    m = Map(lambda v: table[v], toks)
    got = decode_values(m.type, eval_elementwise(m, [encode_values(toks.type, xs)]))
    assert got == [table[v] for v in xs]
    pair = SequenceMap(lambda a, b: (a + b) % 3, toks, m)
    got2 = decode_values(pair.type, eval_elementwise(pair, [encode_values(toks.type, xs), encode_values(m.type, [table[v] for v in xs])]))
    assert got2 == [(v + table[v]) % 3 for v in xs]
    lin = Linear(((toks, 2), (m, -1)), 1)
    assert np.allclose(eval_elementwise(lin, [encode_values(toks.type, xs), encode_values(m.type, [table[v] for v in xs])]),
                       [2 * v - table[v] + 1 for v in xs])


def test_programs_without_an_exact_form_are_refused_when_built():
    """Found by a new user: these compiled without complaint and then answered wrongly."""
    toks = Tokens(vocab=(1, 2, 3))
    with pytest.raises(IRTypeError, match="points forward"):
        LookUp(Shift(Indices(), 1), toks)  # reading position i + 1
    with pytest.raises(IRTypeError, match="mean of pointer register 'indices'"):
        Aggregate(Select(toks, toks, Comparison.TRUE), Indices())  # a mean of positions is no pointer
