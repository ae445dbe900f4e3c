"""``mpcsim run hop`` and ``mpcsim run pointer-chase``: run an MPC protocol on the simulator and
report rounds, memory and communication next to the bounds."""
from __future__ import annotations

import argparse
import random
import sys
import time

from ..bounds import BoundCheck, mpc_limits
from .common import (
    add_backend_options, add_input_options, add_memory_options, backend_from_args, bounds_table,
    load_tokens, print_json,
)

SAMPLE = 12  # outputs shown in the human summary


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run an MPC protocol on the simulator")
    tasks = run.add_subparsers(dest="task", metavar="TASK")
    tasks.required = True

    hop = tasks.add_parser("hop", help="k-hop induction heads by pointer doubling (O(log k) rounds)")
    hop.add_argument("--k", type=int, required=True, help="number of hops (k >= 0; IH is k = 1)")
    add_input_options(hop)
    add_memory_options(hop)
    add_backend_options(hop)
    hop.add_argument("--naive", action="store_true", help="use the k-lookup protocol instead of pointer doubling")
    hop.add_argument("--json", action="store_true", help="print one JSON document")
    hop.add_argument("--no-progress", action="store_true", help="no progress bar")
    hop.set_defaults(func=run_hop_command)

    pc = tasks.add_parser("pointer-chase",
                          help="(q, k)-layered pointer chasing, encoded as hop_k (P2 Prop. E.4) and solved by the hop protocol")
    pc.add_argument("--q", type=int, required=True, help="vertices per layer")
    pc.add_argument("--k", type=int, required=True, help="layers of matchings (= hops)")
    pc.add_argument("--seed", type=int, default=0)
    add_memory_options(pc)
    add_backend_options(pc)
    pc.add_argument("--json", action="store_true")
    pc.set_defaults(func=run_pointer_chase_command)


def _hop_report(task: str, k: int, result, protocol, seconds: float, extra: dict):
    from protocols.hop_mpc import NaiveHopProtocol, hop_rounds, naive_hop_rounds

    from ..bounds import hop_theorem_depth, hop_transformer_depth

    cfg = result.trace.config
    naive = isinstance(protocol, NaiveHopProtocol)
    formula = (naive_hop_rounds if naive else hop_rounds)(cfg.n, k, cfg.s, cfg.q, protocol.lookup)
    checks = [BoundCheck("rounds", result.trace.num_rounds, formula, "==",
                         "naive_hop_rounds = 7 + (k-1) lookups" if naive else
                         "hop_rounds = 7 + ceil(log2 k) lookups: O(log k) (P2 Thm 4.2 scheme)")]
    checks += mpc_limits(result.trace)
    doc = {"task": task, "k": k, "n": cfg.n, "q": cfg.q, "s": cfg.s, "word_bits": cfg.word_bits,
           "delta": round(protocol.delta, 4), "rounds": result.trace.num_rounds,
           "max_memory_words": result.trace.max_memory,
           "max_sent_words": result.trace.max_sent, "max_received_words": result.trace.max_received,
           "total_words": result.trace.total_words, "total_bits": result.trace.total_bits,
           "machines_used": result.trace.machines_used, "seconds": round(seconds, 4),
           # P2 Def. 2.3 wants s = O(n^delta) with delta < 1; with s >= n one machine could hold the input
           "nontrivial_memory": cfg.s < cfg.n}
    if k >= 1 and not naive:
        # one lookup round per attention layer beyond the first two (docs/architecture.md, "hop_k depth")
        doc["depth"] = {"pointer_doubling_layers": hop_transformer_depth(k), "p2_thm_4_2_stated": hop_theorem_depth(k)}
    doc.update(extra)
    doc["bounds"] = [c.to_dict() for c in checks]
    return doc, checks


NAIVE_MAX_K = 100_000  # the naive protocol spends one round per hop


def run_hop_command(args) -> int:
    import numpy as np

    from protocols.hop_mpc import run_hop
    from protocols.hop_numpy import hop_numpy

    if args.k < 0:
        raise ValueError(f"--k must be >= 0, got {args.k}")
    if args.naive and args.k > NAIVE_MAX_K:
        raise ValueError(f"--naive spends one round per hop; k = {args.k} is over its cap of {NAIVE_MAX_K} "
                         f"(pointer doubling needs only ceil(log2 k) lookups: drop --naive)")
    tokens, vocab, origin = load_tokens(args)
    with backend_from_args(args) as backend:
        t0 = time.perf_counter()
        outputs, result, protocol = run_hop(
            tokens, args.k, alphabet_size=len(vocab), delta=args.delta, memory=args.memory, c=args.c,
            naive=args.naive, backend=backend, progress=not (args.json or args.no_progress) and sys.stderr.isatty())
        seconds = time.perf_counter() - t0
    # the check: an independent vectorised pointer-doubling computation of P2 Def. 4.1 (O(n log k))
    reference = [None if v < 0 else int(v) for v in hop_numpy(np.asarray(tokens, dtype=np.int64), args.k)]
    disagreements = [i for i, (a, b) in enumerate(zip(outputs, reference)) if a != b]
    named = [None if t is None else vocab[t] for t in outputs]
    extra = {"input": origin, "backend": args.backend, "protocol": "naive" if args.naive else "pointer-doubling",
             "reference_agrees": not disagreements, "disagreements": len(disagreements)}
    doc, checks = _hop_report("hop", args.k, result, protocol, seconds, extra)
    checks.append(BoundCheck("disagreements with the reference hop_k", len(disagreements), 0, "==",
                             "P2 Def. 4.1 (independent numpy pointer doubling)"))
    doc["bounds"].append(checks[-1].to_dict())
    if args.json:
        doc["output"] = named
        print_json(doc)
    else:
        print(f"hop_k, k={args.k}  input: {origin}")
        print(f"  n={doc['n']} tokens, q={doc['q']} machines, s={doc['s']} words of {doc['word_bits']} bits, "
              f"{doc['rounds']} rounds, {doc['machines_used']} machines used, {seconds:.2f} s ({args.backend})")
        print(f"  total {doc['total_words']} words = {doc['total_bits']} bits moved")
        if "depth" in doc:
            d = doc["depth"]
            print(f"  depth: {d['pointer_doubling_layers']} pointer-doubling layers (P2 Thm 4.2 states "
                  f"floor(log2 k)+2 = {d['p2_thm_4_2_stated']}; met when k is a power of two)")
        if not doc["nontrivial_memory"]:
            print(f"  note: s = {doc['s']} >= n = {doc['n']}: one machine could hold the whole input at this size")
        print("bounds:")
        print("\n".join(bounds_table(checks)))
        defined = [i for i, v in enumerate(named) if v is not None]
        print(f"output: {len(defined)} of {len(named)} positions defined, {len(named) - len(defined)} are ⊥")
        shown = ", ".join(f"{i + 1}:{named[i]!r}" for i in defined[:SAMPLE])
        if shown:
            print(f"  first defined outputs (position:token): {shown}")
        if disagreements:
            i = disagreements[0]
            print(f"FIRST DISAGREEMENT at position {i + 1}: protocol {named[i]!r}, reference "
                  f"{None if reference[i] is None else vocab[reference[i]]!r}")
    return 0 if all(c.holds for c in checks) else 1


def run_pointer_chase_command(args) -> int:
    from protocols.hop_mpc import run_hop
    from protocols.pointer_chasing import encode_as_hop, random_layered_instance

    if args.q < 1 or args.k < 1:
        raise ValueError(f"need --q >= 1 and --k >= 1, got q={args.q}, k={args.k}")
    inst = random_layered_instance(args.q, args.k, random.Random(args.seed))
    seq = encode_as_hop(inst)
    tokens = [t - 1 for t in seq]  # alphabet [2q+2] -> ids 0..2q+1
    with backend_from_args(args) as backend:
        t0 = time.perf_counter()
        outputs, result, protocol = run_hop(tokens, args.k, alphabet_size=2 * args.q + 2, delta=args.delta,
                                            memory=args.memory, c=args.c, backend=backend)
        seconds = time.perf_counter() - t0
    last = outputs[-1]
    protocol_answer = None if last is None else (last + 1 == 2 * args.q + 1)
    extra = {"q_layer": args.q, "path": inst.path(), "answer_in_first_half": inst.answer(),
             "protocol_answer": protocol_answer, "agree": protocol_answer == inst.answer(),
             "backend": args.backend, "seed": args.seed}
    doc, checks = _hop_report("pointer-chase", args.k, result, protocol, seconds, extra)
    checks.append(BoundCheck("protocol answer == chasing the pointers", int(protocol_answer == inst.answer()), 1, "==",
                             "P2 Prop. E.4 encoding"))
    doc["bounds"].append(checks[-1].to_dict())
    if args.json:
        doc["output"] = None if last is None else last + 1
        print_json(doc)
    else:
        print(f"(q={args.q}, k={args.k})-layered pointer chasing, seed {args.seed}; encoded as hop_{args.k} "
              f"over N = 2kq+1 = {len(seq)} tokens (P2 Prop. E.4)")
        print(f"  path {inst.path()}; ends in V^1: {inst.answer()}; protocol says: {protocol_answer}")
        print(f"  q={doc['q']} machines, s={doc['s']} words, {doc['rounds']} rounds, {doc['total_bits']} bits moved")
        print("bounds:")
        print("\n".join(bounds_table(checks)))
    return 0 if all(c.holds for c in checks) else 1
