"""P2 Thm 3.4's protocol gives the same output and the same Trace on the Ray backend as in-process."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compilers.to_mpc import compile_to_mpc
from mpcsim import Simulator
from mpcsim.backends import InProcessBackend
from mpcsim.testing.transformers import transformer_inputs

pytestmark = pytest.mark.ray


@settings(max_examples=4)
@given(case=transformer_inputs(dtypes=("float32", "float64"), max_tokens=10), extra=st.integers(0, 300))
def test_same_output_and_trace_on_both_backends(ray_backend, case, extra):
    model, tokens = case
    shape = compile_to_mpc(model, len(tokens), memory=10**6).plan.shape
    protocol = compile_to_mpc(model, len(tokens), memory=8 * shape.m_words * shape.n_heads + extra)
    local = Simulator(InProcessBackend()).run(protocol, tokens)
    remote = Simulator(ray_backend).run(protocol, tokens)
    assert np.array_equal(local.output_words, remote.output_words)
    assert np.array_equal(local.output_machines, remote.output_machines)
    assert local.trace.equals(remote.trace)
