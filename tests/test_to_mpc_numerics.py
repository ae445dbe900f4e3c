"""Exact float words (encoding.py) and the stable softmax merge of P2 Thm C.1's Stage 3 (numerics.py),
against plain-Python references."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compilers.to_mpc.encoding import WORD_BITS, FloatCodec
from compilers.to_mpc.numerics import leaf_partials, merge_partials


@settings(max_examples=60)
@given(st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=6))
def test_float64_is_two_words_of_its_bit_pattern(values):
    words = FloatCodec("float64").encode(np.array(values)[None])[0]
    expected = []
    for v in values:  # the IEEE-754 bits, high half first, by the struct module
        bits = struct.unpack(">Q", struct.pack(">d", v))[0]
        expected += [bits >> 32, bits & 0xFFFFFFFF]
    assert words.tolist() == expected
    assert np.all((words >= 0) & (words < 2**WORD_BITS))
    back = FloatCodec("float64").decode(words[None])[0]
    assert [struct.pack(">d", x) for x in back] == [struct.pack(">d", v) for v in values]  # bit-exact, -0.0 too


@settings(max_examples=60)
@given(st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=6))
def test_float32_is_one_word_of_its_bit_pattern(values):
    words = FloatCodec("float32").encode(np.array(values, dtype=np.float32)[None])[0]
    assert words.tolist() == [struct.unpack(">I", struct.pack(">f", v))[0] for v in values]
    back = FloatCodec("float32").decode(words[None])[0]
    assert back.dtype == np.float32 and [struct.pack(">f", x) for x in back] == [struct.pack(">f", v) for v in values]


def test_codec_rejects_what_it_cannot_carry():
    with pytest.raises(ValueError, match="float32"):
        FloatCodec("float16")
    with pytest.raises(ValueError, match="do not split"):
        FloatCodec("float64").decode(np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[0, 2\^32\)"):
        FloatCodec("float32").decode(np.array([[2**32]]))


def softmax_average(scores, values, visible):
    """Plain Python: Σ_j softmax(a)_j v_j over the visible j (math.fsum for the sums)."""
    kept = [(a, v) for a, v, ok in zip(scores, values, visible) if ok]
    top = max(a for a, _ in kept)
    weights = [math.exp(a - top) for a, _ in kept]
    z = math.fsum(weights)
    return [math.fsum(w * v[t] for w, (_, v) in zip(weights, kept)) / z for t in range(len(values[0]))], top + math.log(z)


@settings(max_examples=50)
@given(data=st.data(), n=st.integers(1, 12), e=st.integers(1, 3), big=st.sampled_from([1.0, 800.0]))
def test_merging_partials_in_any_grouping_gives_the_softmax(data, n, e, big):
    """Leaves grouped arbitrarily, merged level by level, equal the direct softmax average and its
    log-partition; scores up to ±800 would overflow a naive exp."""
    scores = data.draw(st.lists(st.floats(-big, big), min_size=n, max_size=n))
    values = data.draw(st.lists(st.lists(st.floats(-5, 5), min_size=e, max_size=e), min_size=n, max_size=n))
    visible = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    ell, s = leaf_partials(np.array(scores)[:, None], np.array(values)[:, None, :], np.array(visible))
    while len(ell) > 1:  # a random tree: cut the current level into consecutive groups
        cuts = sorted(data.draw(st.sets(st.integers(1, len(ell) - 1), max_size=len(ell) - 1)))
        ell, s = merge_partials(ell, s, np.array([0] + cuts))
    expect_s, expect_ell = softmax_average(scores, values, visible)
    assert np.allclose(s[0, 0], expect_s, rtol=1e-12, atol=1e-12)
    assert math.isclose(float(ell[0, 0]), expect_ell, rel_tol=1e-12, abs_tol=1e-12)


def test_fully_masked_groups_stay_empty_and_do_not_poison_their_parent():
    ell, s = leaf_partials(np.array([[3.0], [1.0], [2.0]]), np.ones((3, 1, 2)), np.array([False, False, True]))
    with np.errstate(all="raise"):  # no nan or inf arithmetic anywhere
        mid_ell, mid_s = merge_partials(ell, s, np.array([0, 2]))
        assert mid_ell[0, 0] == -np.inf and np.all(mid_s[0] == 0)
        top_ell, top_s = merge_partials(mid_ell, mid_s, np.array([0]))
    assert top_ell[0, 0] == 2.0 and np.all(top_s == 1.0)
