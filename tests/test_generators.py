"""Input generators: the paper's exact data format (THEORY.md c.2), random sequences, text tokens,
the stdlib text, and the hypothesis strategies of mpcsim.testing.sequences."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcsim.testing import hop_instances, layered_instances, paper_samples, sequences
from protocols.generators import (
    PAPER_TOKEN_MAP, PAPER_VOCAB_SIZE, decode_paper, encode_paper, hop_char, make_paper_sample, paper_sample,
    paper_token_map, random_sequence, stdlib_text, text_tokens,
)
from protocols.hop_reference import hop


def test_worked_toy_instance():
    """THEORY.md c.2: seq_len 10, k = 2, S = abcadbcadb → input `2 a b c a d b c a`, target
    `_ ~ ~ ~ ~ ~ ~ b ~`."""
    s = make_paper_sample("abcadbcadb", 2)
    assert s.input_text == "2abcadbca"
    assert s.target_text == "_~~~~~~b~"
    assert s.input_ids == (2, 17, 18, 19, 17, 20, 18, 19, 17)
    assert s.target_ids == (22, 21, 21, 21, 21, 21, 21, 18, 21)
    assert s.defined == (False,) * 7 + (True, False)


def test_token_map_is_the_authors():
    """Hop counts chr(48 + k) → 0..16, a–d → 17–20, '~' → 21, '_' → 22, vocabulary 30."""
    assert PAPER_TOKEN_MAP["0"] == 0 and PAPER_TOKEN_MAP["9"] == 9
    assert [PAPER_TOKEN_MAP[c] for c in ":;<=>?@"] == list(range(10, 17))
    assert [PAPER_TOKEN_MAP[c] for c in "abcd~_"] == [17, 18, 19, 20, 21, 22]
    assert len(PAPER_TOKEN_MAP) == 23 and PAPER_VOCAB_SIZE == 30
    assert hop_char(10) == ":" and hop_char(16) == "@"
    big = paper_token_map(11)
    assert big["k"] == 27 and big["~"] == 28 and big["_"] == 29
    with pytest.raises(ValueError):
        paper_token_map(12)  # 17 + 12 + 2 ids exceed the 30-id vocabulary
    with pytest.raises(ValueError):
        hop_char(17)


@settings(max_examples=40)
@given(st.text(alphabet="0123456789:;<=>?@abcd~_", max_size=30))
def test_encode_decode_roundtrip(text):
    assert decode_paper(encode_paper(text)) == text


def test_encode_rejects_unknown_characters():
    with pytest.raises(ValueError, match="'e'"):
        encode_paper("abe")
    with pytest.raises(ValueError):
        decode_paper([23])


def _check_sample(sample, seq_len=100):
    s = sample.letters
    assert len(s) == seq_len and set(s) <= set("abcd")
    assert all(a != b for a, b in zip(s, s[1:]))  # no adjacent repeats
    assert 0 <= sample.k <= 16
    assert len(sample.input_ids) == len(sample.target_ids) == seq_len - 1
    assert sample.input_ids[0] == sample.k
    assert [ord(ch) - ord("a") + 17 for ch in s[: seq_len - 2]] == list(sample.input_ids[1:])
    expected = [22] + [21 if h is None else ord(h) - ord("a") + 17 for h in hop(s, sample.k)[: seq_len - 2]]
    assert list(sample.target_ids) == expected


def test_paper_sample_format_and_determinism():
    a, b = paper_sample(7), paper_sample(np.random.default_rng(7))
    assert a == b
    _check_sample(a)
    assert paper_sample(3, k=5).k == 5


@settings(max_examples=30)
@given(paper_samples())
def test_paper_samples_strategy(sample):
    _check_sample(sample)


@pytest.mark.parametrize("k, defined", [(1, 0.959), (8, 0.745), (16, 0.500)])
def test_defined_fraction_matches_theory(k, defined):
    """THEORY.md c.2's simulated fraction of defined targets (98 letters, |Σ| = 4)."""
    rng = np.random.default_rng(1234)
    samples = [paper_sample(rng, k=k) for _ in range(300)]
    frac = np.mean([np.mean(s.defined[1:]) for s in samples])
    assert abs(frac - defined) < 0.03


def test_hop_count_is_uniform_on_0_to_16():
    rng = np.random.default_rng(5)
    counts = np.bincount([paper_sample(rng, seq_len=3).k for _ in range(3400)], minlength=17)
    assert len(counts) == 17 and counts.min() > 120 and counts.max() < 290  # 200 expected each


@settings(max_examples=30)
@given(st.integers(0, 200), st.integers(2, 9), st.integers(0, 2**32), st.booleans())
def test_random_sequence(n, alphabet, seed, no_repeats):
    x = random_sequence(n, alphabet, seed, no_adjacent_repeats=no_repeats)
    assert len(x) == n and all(0 <= v < alphabet for v in x)
    if no_repeats:
        assert all(a != b for a, b in zip(x, x[1:]))
    assert x == random_sequence(n, alphabet, seed, no_adjacent_repeats=no_repeats)


def test_random_sequence_is_uniform_over_the_other_letters():
    x = np.array(random_sequence(30_000, 3, 11, no_adjacent_repeats=True))
    nxt = (x[1:] - x[:-1]) % 3  # 1 or 2 with probability 1/2 each
    assert set(nxt.tolist()) == {1, 2} and abs(np.mean(nxt == 1) - 0.5) < 0.02
    y = np.bincount(random_sequence(30_000, 4, 12), minlength=4) / 30_000
    assert np.all(np.abs(y - 0.25) < 0.02)


def test_random_sequence_rejects_bad_arguments():
    with pytest.raises(ValueError):
        random_sequence(5, 1, 0, no_adjacent_repeats=True)
    with pytest.raises(ValueError):
        random_sequence(-1, 3, 0)
    with pytest.raises(TypeError):
        random_sequence(3, 3, "seed")


def test_text_tokens():
    ids, vocab = text_tokens("the cat the  hat\ncat", mode="words")
    assert ids == [0, 1, 0, 2, 1] and vocab == ["the", "cat", "hat"]
    ids, vocab = text_tokens("abca", mode="chars")
    assert ids == [0, 1, 2, 0] and vocab == ["a", "b", "c"]
    with pytest.raises(ValueError):
        text_tokens("x", mode="bytes")


@settings(max_examples=30)
@given(st.text(max_size=60), st.sampled_from(["chars", "words"]))
def test_text_tokens_roundtrip(text, mode):
    ids, vocab = text_tokens(text, mode)
    assert [vocab[i] for i in ids] == (list(text) if mode == "chars" else text.split())
    first = [ids.index(v) for v in range(len(vocab))]
    assert first == sorted(first)  # ids numbered in order of first appearance


def test_stdlib_text():
    text, origin = stdlib_text()
    assert len(text.split()) >= 20_000
    assert "PSF" in origin and "_pydecimal" in origin
    assert stdlib_text()[0] == text
    with pytest.raises(ValueError):
        stdlib_text("keyword")  # far too short


@settings(max_examples=30)
@given(sequences(min_size=1, max_size=30, no_adjacent_repeats=True))
def test_sequences_strategy_respects_no_repeats(x):
    assert all(a != b for a, b in zip(x, x[1:]))


@settings(max_examples=30)
@given(hop_instances(max_n=30, max_k=20))
def test_hop_instances_strategy(inst):
    assert 1 <= inst.alphabet_size <= max(len(inst.tokens), 1)
    assert all(0 <= t < inst.alphabet_size for t in inst.tokens)
    assert inst.expected() == hop(inst.tokens, inst.k)


@settings(max_examples=30)
@given(layered_instances(max_q=6, max_k=6))
def test_layered_instances_are_perfect_matchings(inst):
    for j, e in enumerate(inst.matchings, start=1):
        assert sorted(e) == inst.layer(j) and sorted(e.values()) == inst.layer(j + 1)
    assert inst.first_half <= set(inst.layer(inst.k + 1))
    assert len(inst.first_half) == (inst.q // 2 if inst.q > 1 else 1)
