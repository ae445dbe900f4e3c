"""``mpcsim compile hop`` (hop_k → transformer weights on disk) and ``mpcsim check hop`` (the MPC
simulation, the compiled transformer and the plain-Python reference on one input, side by side
with P2 Thm 4.2's depth, width and heads, and the MPC limits)."""
from __future__ import annotations

import argparse
import sys
import time

from compilers.numerics import N_CAP

from .common import (
    add_backend_options, add_input_options, add_memory_options, backend_from_args, load_tokens, print_json,
)

DTYPES = ("float32", "float64", "bfloat16")
SAMPLE = 12  # outputs shown in the human summary


def register(sub: argparse._SubParsersAction) -> None:
    comp = sub.add_parser("compile", help="compile a token program to transformer weights")
    ctasks = comp.add_subparsers(dest="task", metavar="TASK")
    ctasks.required = True
    hop = ctasks.add_parser("hop", help="k-hop induction heads (P2 Thm 4.2 scheme, one head per layer)")
    hop.add_argument("--k", type=int, required=True, help="number of hops (k >= 0)")
    hop.add_argument("--max-n", type=int, required=True, help="longest input (context length without the start token)")
    hop.add_argument("--alphabet", type=int, default=4, help="tokens are 0..A-1 (default 4)")
    _add_model_options(hop)
    hop.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for model.safetensors + config.json")
    hop.add_argument("--json", action="store_true", help="print one JSON document")
    hop.set_defaults(func=compile_hop_command)

    check = sub.add_parser("check", help="MPC simulation vs compiled transformer vs reference on one input")
    ktasks = check.add_subparsers(dest="task", metavar="TASK")
    ktasks.required = True
    hopc = ktasks.add_parser("hop", help="hop_k: simulator, transformer and reference must agree")
    hopc.add_argument("--k", type=int, required=True, help="number of hops (k >= 0)")
    add_input_options(hopc)
    add_memory_options(hopc)
    add_backend_options(hopc)
    _add_model_options(hopc)
    hopc.add_argument("--device", choices=("cpu", "cuda"), default=None, help="where the transformer runs (default: cuda if available)")
    hopc.add_argument("--json", action="store_true", help="print one JSON document")
    hopc.set_defaults(func=check_hop_command)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="weights and activations (default float32)")
    parser.add_argument("--position-code", choices=("binary", "circle"), default="binary",
                        help="±1 binary codes (width log N, margin 2) or P2's circle code (width 2, margin ~1/N²)")


# ---- compile ----------------------------------------------------------------------------------
def compile_hop_command(args) -> int:
    from compilers import export
    from compilers.hop_compile import compile_hop, exact_range_table

    t0 = time.perf_counter()
    compiled = compile_hop(args.k, args.max_n, args.alphabet, args.dtype, position_code=args.position_code, device="cpu")
    seconds = time.perf_counter() - t0
    path = export.save(compiled, args.output)
    by_dtype = exact_range_table(args.k, (args.alphabet,))[0]["max_exact_n"]
    doc = dict(compiled.summary(), output=str(path), compile_seconds=round(seconds, 4), max_exact_n_by_dtype=by_dtype,
               max_exact_n_position_code="binary",
               max_exact_n_search_cap=N_CAP)  # a value equal to the cap means "no bound found below it"
    if args.json:
        print_json(doc)
        return 0
    print(f"compiled hop_{args.k} for N <= {args.max_n}, alphabet {args.alphabet}, {args.dtype} in {seconds:.2f} s")
    print(f"  layers {compiled.layers} (P2 Thm 4.2: {compiled.theorem_depth}; achievable with one-head lookups: "
          f"{doc['achievable_depth']}), heads/layer {compiled.heads}, width {compiled.width}, "
          f"d_head {compiled.model.cfg.d_head}, params {compiled.params}")
    print(f"  largest exact N: {_exact(compiled.max_exact_n)} in {args.dtype} ({args.position_code} position code, "
          f"{compiled.codes.categorical} token code); largest exact N by dtype (binary position code): "
          + ", ".join(f"{d} {_exact(v)}" for d, v in by_dtype.items()))
    print(compiled.layout.describe())
    print(f"wrote {path}/model.safetensors and {path}/config.json")
    return 0


# ---- check ------------------------------------------------------------------------------------
def _run_mpc(tokens: list[int], k: int, alphabet: int, args, backend):
    """The lead's pointer-doubling protocol if present, else this compiler's lowering."""
    from protocols.hop_mpc import hop_rounds, run_hop

    outputs, result, protocol = run_hop(tokens, k, alphabet_size=alphabet, delta=args.delta, memory=args.memory,
                                        c=args.c, backend=backend)
    cfg = result.trace.config
    return outputs, result, "pointer doubling (protocols.hop_mpc)", hop_rounds(cfg.n, k, cfg.s, cfg.q)


def _first(a: list, b: list):
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return len(diff), (diff[0] if diff else None)


def check_hop_command(args) -> int:
    from compilers.hop_compile import compile_hop
    from compilers.model import pick_device
    from mpcsim.bounds import hop_theorem_depth, hop_transformer_depth
    from protocols.hop_reference import hop_fast

    if args.k < 0:
        raise ValueError(f"--k must be >= 0, got {args.k}")
    tokens, vocab, origin = load_tokens(args)
    n, alphabet = len(tokens), len(vocab)
    with backend_from_args(args) as backend:
        t0 = time.perf_counter()
        sim_out, result, protocol_name, round_formula = _run_mpc(tokens, args.k, alphabet, args, backend)
        mpc_seconds = time.perf_counter() - t0
    device = pick_device(args.device)
    t0 = time.perf_counter()
    compiled = compile_hop(args.k, n, alphabet, args.dtype, position_code=args.position_code, device=str(device))
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    tf_out = compiled.run(tokens)
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize()
    run_seconds = time.perf_counter() - t0
    ref = hop_fast(tokens, args.k)
    d_sim, f_sim = _first(sim_out, ref)
    d_tf, f_tf = _first(tf_out, ref)
    d_st, f_st = _first(sim_out, tf_out)
    agree = d_sim == d_tf == d_st == 0

    trace = result.trace
    cfg = trace.config
    achievable = hop_transformer_depth(args.k)
    theorem = hop_theorem_depth(args.k) if args.k >= 1 else None
    rows = [  # (quantity, measured, relation, bound, citation)
        ("MPC rounds", trace.num_rounds, "==", round_formula, protocol_name),
        ("transformer layers", compiled.layers, "==", achievable, "one-head pointer doubling: ⌈log2 k⌉ + 2 (k ≥ 2)"),
        ("P2 Thm 4.2 depth ⌊log2 k⌋ + 2 (stated)", compiled.layers, "info", theorem if theorem is not None else "-",
         "met when k is a power of two; otherwise one more layer (docs/architecture.md)"),
        ("heads per layer", compiled.heads, "==", 1, "P2 Thm 4.2: H = 1"),
        ("width m", compiled.width, "info", "O(1)", "P2 Thm 4.2 (arbitrary MLPs); here O((log N + code)·log k)"),
        ("max memory per machine (words)", trace.max_memory, "<=", cfg.s, "P2 Def. 2.3"),
        ("max sent per machine per round", trace.max_sent, "<=", cfg.s, "P2 Def. 2.3"),
        ("max received per machine per round", trace.max_received, "<=", cfg.s, "P2 Def. 2.3"),
        ("total communication (bits)", trace.total_bits, "info", f"{trace.total_words} words × {cfg.word_bits}", ""),
        ("N within the exact range", n, "<=", compiled.max_exact_n, f"numerics contract ({args.dtype})"),
        ("simulator vs reference: disagreements", d_sim, "==", 0, "P2 Def. 4.1 oracle"),
        ("transformer vs reference: disagreements", d_tf, "==", 0, "P2 Def. 4.1 oracle"),
        ("simulator vs transformer: disagreements", d_st, "==", 0, ""),
    ]
    table = [{"quantity": q, "measured": m, "relation": r, "bound": b, "citation": c, "holds": _holds(m, r, b)}
             for q, m, r, b, c in rows]
    name = (lambda t: None if t is None else vocab[t])
    first = None
    for label, d, f, a, b in (("simulator", d_sim, f_sim, sim_out, ref), ("transformer", d_tf, f_tf, tf_out, ref),
                              ("simulator vs transformer", d_st, f_st, sim_out, tf_out)):
        if d:
            first = {"between": label, "position": f + 1, "got": name(a[f]), "expected": name(b[f])}
            break
    doc = {
        "task": "hop", "k": args.k, "n": n, "alphabet": alphabet, "input": origin, "backend": args.backend,
        "device": str(device), "protocol": protocol_name,
        "rounds": trace.num_rounds, "round_formula": round_formula, "layers": compiled.layers,
        "achievable_depth": achievable, "theorem_depth": theorem, "width": compiled.width, "heads": compiled.heads,
        "d_head": compiled.model.cfg.d_head, "params": compiled.params, "dtype": args.dtype,
        "position_code": args.position_code, "token_code": compiled.codes.categorical,
        "max_exact_n": compiled.max_exact_n, "q": cfg.q, "s": cfg.s, "word_bits": cfg.word_bits,
        "max_memory_words": trace.max_memory, "max_sent_words": trace.max_sent,
        "max_received_words": trace.max_received, "total_words": trace.total_words, "total_bits": trace.total_bits,
        "disagreements": {"simulator_vs_reference": d_sim, "transformer_vs_reference": d_tf,
                          "simulator_vs_transformer": d_st},
        "first_disagreement": first, "agree": agree,
        "seconds": {"mpc": round(mpc_seconds, 4), "compile": round(compile_seconds, 4), "transformer": round(run_seconds, 4)},
        "table": table,
    }
    ok = agree and all(r["holds"] is not False for r in table)
    if args.json:
        print_json(doc)
        return 0 if ok else 1
    print(f"hop_{args.k} on {origin}: n = {n} tokens, alphabet {alphabet}")
    print(f"  MPC ({protocol_name}, {args.backend}): q = {cfg.q} machines, s = {cfg.s} words of {cfg.word_bits} bits, "
          f"{mpc_seconds:.2f} s")
    print(f"  transformer: {compiled.layers} layers × {compiled.heads} head, width {compiled.width}, "
          f"{compiled.params} params, {args.dtype} on {device}; compile {compile_seconds:.2f} s, run {run_seconds:.2f} s")
    width = max(len(r["quantity"]) for r in table)
    for r in table:
        mark = {True: "ok", False: "VIOLATED", None: ""}[r["holds"]]
        print(f"  {r['quantity']:<{width}}  {str(r['measured']):>12}  {r['relation']:>4} {str(r['bound']):<14} "
              f"{mark:<8} {r['citation']}")
    shown = ", ".join(f"{i + 1}:{'⊥' if v is None else repr(vocab[v])}" for i, v in enumerate(tf_out[:SAMPLE]))
    print(f"output (first {min(SAMPLE, n)} of {n}): {shown}")
    if first:
        print(f"FIRST DISAGREEMENT ({first['between']}) at position {first['position']}: "
              f"got {first['got']!r}, expected {first['expected']!r}")
    print("simulator, transformer and reference agree" if agree else "DISAGREEMENT", file=sys.stdout)
    return 0 if ok else 1


def _holds(measured, relation: str, bound):
    if relation == "info":
        return None
    if relation == "==":
        return measured == bound
    if relation == "<=":
        return measured <= bound
    return measured >= bound


def _exact(n: int) -> str:
    """The largest exact N, or '>= 2^40 (search cap)' when nothing binds below the cap."""
    return f"no limit below the 2^{N_CAP.bit_length() - 1} search cap" if n >= N_CAP else str(n)
