"""Sequence models as communication protocols (P2 §5, Cor. 5.2–5.6; THEORY.md a.6, a.8, b.9, d.1).

Each module turns one model into a protocol whose output equals the model's own forward output
and whose transcript length is an exact formula (THEORY.md d.1):

* ``attention_split``: a one-layer transformer split between Alice and Bob (2 messages).
* ``recurrent``: the generic L-round blackboard protocol of a multi-layer RNN (one boundary state
  per player per layer); ``rnn`` plugs in torch's RNN/GRU/LSTM and the binary-state RNN,
  ``hop_rnn`` the explicit k-layer hop_k RNN.
* ``kernel``: causal kernel attention (summaries K′ᵀV and K′ᵀ1 per head).
* ``longformer``: Longformer masks (boundary and global tokens).
* ``cot``: a one-layer causal transformer with chain of thought (N_CoT + 1 rounds).
* ``contrast``: the P2 §5 table — each model's rounds and message bits against R ≥ k or s ≥ N/k⁶.

The models themselves live in ``nets``; shared pieces in ``codec`` (exact bit encodings),
``softmax_split`` and ``transformer_parts``. Nothing here imports torch at package import.
"""
