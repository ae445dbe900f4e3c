"""GPT-2 weights → the project's format (compilers/gpt2_import.py), checked against HuggingFace's own
``GPT2Model`` / ``GPT2LMHeadModel`` forward with random weights (nothing is downloaded), and the
imported model run as P2 Thm 3.4's MPC protocol."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

transformers = pytest.importorskip("transformers")

from compilers.gpt2_import import config_from_gpt2, from_gpt2_model, from_gpt2_state_dict, random_gpt2  # noqa: E402
from compilers.to_mpc import FLOAT64_REL_TOL, relative_error, run_to_mpc  # noqa: E402

NOISE = 0.2  # perturb every parameter (GPT-2 initialises biases to 0 and gains to 1, which would hide misplaced ones)


@st.composite
def gpt2_configs(draw) -> dict:
    n_head, d_head = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return dict(n_embd=n_head * d_head, n_head=n_head, n_layer=draw(st.integers(1, 2)), n_positions=16,
                vocab_size=draw(st.integers(2, 9)), n_inner=draw(st.sampled_from([None, 5])),
                activation_function=draw(st.sampled_from(["gelu_new", "gelu", "relu", "gelu_pytorch_tanh"])),
                scale_attn_weights=draw(st.booleans()), layer_norm_epsilon=draw(st.sampled_from([1e-5, 1e-3])),
                initializer_range=0.3)


def hf_hidden(hf, tokens) -> np.ndarray:
    with torch.no_grad():
        return hf(torch.as_tensor(tokens)[None]).last_hidden_state[0].numpy()


@settings(max_examples=10)
@given(fields=gpt2_configs(), seed=st.integers(0, 1000), data=st.data())
def test_imported_model_matches_gpt2model(fields, seed, data):
    hf = random_gpt2(fields, seed, noise=NOISE)
    ours = from_gpt2_model(hf)
    tokens = data.draw(st.lists(st.integers(0, fields["vocab_size"] - 1), min_size=1, max_size=16))
    with torch.no_grad():
        out = ours(torch.as_tensor(tokens)[None])[0].numpy()
    _, rel = relative_error(out, hf_hidden(hf, tokens))
    assert rel <= 1e-12


def test_lm_head_gives_gpt2lmheadmodel_logits():
    fields = dict(n_embd=6, n_head=2, n_layer=2, n_positions=12, vocab_size=7, initializer_range=0.3,
                  bos_token_id=None, eos_token_id=None, attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0)
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**fields)).double().eval()
    ours = from_gpt2_model(hf)  # lm_head.weight present → unembedding on
    assert ours.cfg.unembed and ours.cfg.d_vocab_out == 0 and ours.W_U.shape == (6, 7)
    tokens = torch.tensor([[0, 3, 6, 2, 2, 5]])
    with torch.no_grad():
        _, rel = relative_error(ours(tokens).numpy(), hf(tokens).logits.numpy())
    assert rel <= 1e-12


def test_fused_qkv_columns_land_in_the_right_heads():
    """c_attn's columns are [Q | K | V], head h owning d_head consecutive columns of each block; c_proj's
    rows are split the same way. Mark single entries and find them where they belong."""
    fields = dict(n_embd=6, n_head=3, n_layer=1, n_positions=4, vocab_size=3)
    hf = random_gpt2(fields, 0)
    state = {k: torch.zeros_like(v) for k, v in hf.state_dict().items()}
    d, e = 6, 2
    state["h.0.attn.c_attn.weight"][4, 1 * d + 2 * e + 1] = 7.0  # K block, head 2, column 1, input row 4
    state["h.0.attn.c_attn.bias"][2 * d + 1 * e + 0] = 5.0  # V block, head 1, column 0
    state["h.0.attn.c_proj.weight"][1 * e + 1, 3] = 9.0  # head 1's row 1 → output 3
    model = from_gpt2_state_dict(state, fields)
    attn = model.blocks[0].attn
    assert attn.W_K[2, 4, 1] == 7.0 and torch.count_nonzero(attn.W_K) == 1
    assert attn.b_V[1, 0] == 5.0 and torch.count_nonzero(attn.b_V) == 1
    assert attn.W_O[1, 1, 3] == 9.0 and torch.count_nonzero(attn.W_O) == 1
    assert torch.count_nonzero(attn.W_Q) == 0


def test_unsupported_gpt2_options_are_refused():
    base = dict(n_embd=4, n_head=2, n_layer=1, n_positions=4, vocab_size=3)
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx"):
        config_from_gpt2({**base, "scale_attn_by_inverse_layer_idx": True})
    with pytest.raises(ValueError, match="activation_function 'silu'"):
        config_from_gpt2({**base, "activation_function": "silu"})
    with pytest.raises(KeyError, match="no .h.0.attn.c_attn.weight"):
        from_gpt2_state_dict({"wte.weight": torch.zeros(3, 4), "wpe.weight": torch.zeros(4, 4)}, base)


@pytest.mark.parametrize("n, delta, c", [(24, 1.0, 20), (48, 0.5, 80)])
def test_gpt2_as_an_mpc_protocol_matches_gpt2model(n, delta, c):
    """P2 App. G.1's architecture (GPT-2, causal, learned positions, ln_f output) through P2 Thm 3.4."""
    fields = dict(n_embd=8, n_head=2, n_layer=2, n_positions=64, vocab_size=30, initializer_range=0.3)
    hf = random_gpt2(fields, n, noise=NOISE)
    tokens = np.random.default_rng(n).integers(0, 30, n)
    run = run_to_mpc(from_gpt2_model(hf), tokens, delta=delta, c=c)
    assert run.result.trace.num_rounds == 2 * (2 * run.protocol.plan.depth + 3)
    assert relative_error(run.output, hf_hidden(hf, tokens))[1] <= FLOAT64_REL_TOL
