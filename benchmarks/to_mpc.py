"""Transformer → MPC benchmark (P2 Thm 3.4): the protocol of ``compilers.to_mpc`` on the simulator.

For each context length N and memory exponent δ′ (s = ⌈N^δ′⌉·c words): b, D, q, rounds, wall time,
machine-rounds per second (machines holding or moving data, summed over rounds, per wall second,
and q·rounds per second), words moved, peak traced memory (tracemalloc, a separate run) and the
relative error against the torch forward. δ′ too small for the model (s < 8mH) is reported as
refused, with the δ′ that would work. Ray runs for the small sizes. Prints a table, writes JSON.

    python benchmarks/to_mpc.py                       # N = 16 … 256, δ′ ∈ {0.5, 0.75, 1}, Ray N ≤ 64
    python benchmarks/to_mpc.py --sizes 512,1024      # bigger runs (N = 1024: ~10^6 machines)
    python benchmarks/to_mpc.py --quick               # N = 16, 32 only, no Ray
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
from measure import peak_mib as _peak_mib

# the CLI's demo model: GPT-2-like, d_model = 16, L = 2, H = 2, d_head = 8, float64 (m = 32 words, 8mH = 512)
from mpcsim.cli.to_mpc_cmd import DEMO_SHAPE


def build_model(n_ctx: int, layers: int, seed: int):
    from compilers.model import TransformerConfig
    from mpcsim.testing.transformers import random_transformer

    return random_transformer(TransformerConfig(n_ctx=n_ctx, **{**DEMO_SHAPE, "n_layers": layers}), seed)


def bench_one(model, n: int, delta: float, c: int, backend_name: str, backend, seed: int, peak: bool) -> dict:
    from compilers.to_mpc import MemoryTooSmall, min_delta, run_to_mpc, torch_forward

    tokens = np.random.default_rng(seed).integers(0, model.cfg.d_vocab, n)
    row = {"backend": backend_name, "N": n, "delta": delta, "c": c}
    try:
        run = run_to_mpc(model, tokens, delta=delta, c=c, backend=backend, reference=False)
    except MemoryTooSmall:
        from compilers.to_mpc import from_torch

        row.update(refused=True, works_from_delta=min_delta(from_torch(model).shape, n, c))
        return row
    t0 = time.perf_counter()
    reference = torch_forward(model, tokens)
    torch_s = time.perf_counter() - t0
    plan, trace = run.protocol.plan, run.result.trace
    active = sum(r.active_machines for r in trace.rounds)
    row.update(
        refused=False, s=plan.s, b=plan.b, D=plan.depth, q=plan.q, rounds=trace.num_rounds,
        rounds_formula=plan.total_rounds, wall_s=run.seconds, active_machine_rounds=active,
        machine_rounds_per_s=active / run.seconds, q_rounds_per_s=plan.q * trace.num_rounds / run.seconds,
        total_words=trace.total_words, total_bits=trace.total_bits, within_s=trace.within_limits(),
        rel_error=float(np.max(np.abs(run.output - reference)) / np.max(np.abs(reference))),
        torch_forward_s=torch_s,
    )
    if peak:
        row["peak_mib"] = _peak_mib(lambda: run_to_mpc(model, tokens, delta=delta, c=c, backend=backend, reference=False))
    return row


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,32,64,128,256", help="context lengths N")
    ap.add_argument("--deltas", default="0.5,0.75,1.0", help="memory exponents δ′")
    ap.add_argument("--c", type=int, default=32, help="s = ceil(N^δ′)·c (default 32)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--ray-sizes", default="16,32,64", help="sizes also run on Ray (at the largest δ′)")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-peak", action="store_true", help="skip the tracemalloc runs (they double the time)")
    ap.add_argument("--quick", action="store_true", help="N = 16, 32; no Ray")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/to_mpc.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.no_ray = "16,32", True
    from mpcsim.backends import InProcessBackend

    sizes = [int(n) for n in args.sizes.split(",")]
    deltas = [float(d) for d in args.deltas.split(",")]
    model = build_model(max(sizes + [512]), args.layers, args.seed)
    rows = [bench_one(model, n, d, args.c, "inprocess", InProcessBackend(), args.seed, not args.no_peak)
            for n in sizes for d in deltas]
    if not args.no_ray:
        from mpcsim.backends import make_backend

        backend = make_backend("ray", num_hosts=2)
        try:
            rows += [bench_one(model, int(n), max(deltas), args.c, "ray", backend, args.seed, False)
                     for n in args.ray_sizes.split(",")]
        finally:
            backend.close()
    print_table(rows)
    doc = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
           "model": {**DEMO_SHAPE, "n_layers": args.layers}, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")
    return doc


def print_table(rows: list[dict]) -> None:
    print(f"{'backend':<10}{'N':>5}{'δ′':>6}{'s':>7}{'b':>4}{'D':>3}{'q':>9}{'rounds':>7}{'wall s':>8}"
          f"{'Mmach-rd/s':>11}{'Mwords':>8}{'peak MiB':>9}{'rel err':>9}{'torch s':>8}  ok")
    for r in rows:
        head = f"{r['backend']:<10}{r['N']:>5}{r['delta']:>6.2f}"
        if r["refused"]:
            print(f"{head}  refused: s < 8mH (works from δ′ = {r['works_from_delta']})")
            continue
        print(f"{head}{r['s']:>7}{r['b']:>4}{r['D']:>3}{r['q']:>9}{r['rounds']:>7}{r['wall_s']:>8.3f}"
              f"{r['machine_rounds_per_s'] / 1e6:>11.2f}{r['total_words'] / 1e6:>8.2f}{r.get('peak_mib', float('nan')):>9.1f}"
              f"{r['rel_error']:>9.1e}{r['torch_forward_s']:>8.4f}  {r['within_s'] and r['rounds'] == r['rounds_formula']}")


if __name__ == "__main__":
    main()
