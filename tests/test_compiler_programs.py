"""Random token programs (mpcsim.testing.programs): the compiled transformer, the reference
evaluator and the MPC lowering agree on every program and input hypothesis finds; observed
score margins meet the contract."""
from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from compilers.numerics import max_exact_n, observed_margins
from compilers.pipeline import compile_program
from compilers.program_to_graph import program_to_graph
from compilers.program_to_mpc import run_program
from compilers.reference_eval import reference_outputs
from mpcsim.testing.programs import program_inputs, token_programs

MAX_N = 9


def _same(a: list, b: list, tol: float = 1e-6) -> bool:
    return len(a) == len(b) and all(x == y or (isinstance(x, float) and abs(x - y) <= tol * max(1.0, abs(y)))
                                    for x, y in zip(a, b))


@settings(max_examples=40)
@given(data=st.data())
def test_random_programs_three_ways(data):
    case = data.draw(token_programs())
    program = case.program
    batch_len = data.draw(st.integers(1, MAX_N))
    batch = data.draw(st.lists(program_inputs(program, batch_len, batch_len), min_size=1, max_size=3))
    model = compile_program(program, MAX_N)
    want = reference_outputs(model.graph, batch, MAX_N, model.codes)
    got = model.run_batch(batch)
    assert all(_same(g, w) for g, w in zip(got, want)), (str(program), batch, got, want)
    assert all(m.holds for m in observed_margins(model, model.token_ids(batch)))
    if case.lowerable:
        for xs, w in zip(batch, want):
            out, result, _ = run_program(program, xs)
            assert out == w, (str(program), xs, out, w)
            assert result.trace.within_limits()


@settings(max_examples=15)
@given(data=st.data())
def test_random_programs_in_bfloat16_within_their_exact_range(data):
    """Compiled in bfloat16 at the largest N the contract allows (at most 4): still exact (means
    are rounded to bfloat16's 8 bits)."""
    case = data.draw(token_programs(max_ops=3))
    n = min(4, max_exact_n(program_to_graph(case.program), "bfloat16"))
    assume(n >= 1)
    xs = data.draw(program_inputs(case.program, n, n))
    model = compile_program(case.program, n, dtype="bfloat16")
    assert _same(model.run(xs), reference_outputs(model.graph, [xs], n, model.codes)[0], tol=2.0 ** -7)
