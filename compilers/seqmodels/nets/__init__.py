"""The sequence models of P2 §5 (THEORY.md a.8), each a small module of its own.

* ``binary_rnn``: multi-layer RNN with binary hidden states H^ℓ ∈ {0,1}^m (P2 §5, Cor. 5.2).
* ``kernel_attention``: causal kernel ("Performer") attention, softmax(QKᵀ) replaced by Q′K′ᵀ (Cor. 5.3).
* ``longformer``: softmax attention under the Longformer mask Λ^{w,g} (Cor. 5.4).
* ``cot``: a one-layer causal transformer that writes chain-of-thought tokens (P2 Def. 5.5, Cor. 5.6).
* ``hop_rnn``: the explicit k-layer RNN that solves hop_k exactly (the contrast of P2 §5).

torch's own ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM`` are used as they are. The transformer-like
models reuse ``compilers.model.Transformer`` (its embedding, residual blocks, MLP and readout) and
replace only the attention. ``hop_rnn`` needs no torch.
"""
