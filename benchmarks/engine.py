"""Engine benchmark: hop_k on the MPC simulator against a plain numpy pointer-doubling floor.

For each n: wall time, words routed per second, peak traced memory (tracemalloc, a separate run)
and the ratio to ``protocols.hop_numpy.hop_numpy`` computing the same answer, measured in the same
process one after the other. Also the Ray backend's per-round overhead at q = 64 machines (a ring
shift of one word per machine, so the time is almost all overhead). Prints a table, writes JSON.

    python benchmarks/engine.py                      # n = 10^3 .. 10^6 in-process, Ray up to 10^5
    python benchmarks/engine.py --quick              # small sizes only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from measure import best_time as _time, peak_mib as _peak_mib


def bench_hop(n: int, k: int, backend_name: str, backend, repeat: int, seed: int = 0) -> dict:
    from protocols.hop_mpc import run_hop
    from protocols.hop_numpy import hop_numpy

    tokens = np.random.default_rng(seed).integers(0, 4, n)
    sim_s, (outputs, result, protocol) = _time(lambda: run_hop(tokens, k, alphabet_size=4, backend=backend), repeat)
    floor_s, floor = _time(lambda: hop_numpy(tokens, k), repeat)
    agree = [(-1 if o is None else o) for o in outputs] == floor.tolist()
    row = {
        "backend": backend_name, "n": n, "k": k, "q": result.trace.config.q, "s": result.trace.config.s,
        "rounds": result.trace.num_rounds, "expected_rounds": protocol.expected_rounds,
        "wall_s": sim_s, "words_routed": result.trace.total_words,
        "words_per_s": result.trace.total_words / sim_s if sim_s else float("nan"),
        "floor_s": floor_s, "ratio_to_floor": sim_s / floor_s if floor_s else float("nan"),
        "agree_with_floor": agree, "within_s": result.trace.within_limits(),
    }
    if backend_name == "inprocess":
        row["peak_mib"] = _peak_mib(lambda: run_hop(tokens, k, alphabet_size=4, backend=backend))
        row["floor_peak_mib"] = _peak_mib(lambda: hop_numpy(tokens, k))
    return row


def bench_ray_round_overhead(backend, q: int = 64, rounds: int = 100) -> dict:
    from mpcsim import MPCConfig, Simulator
    from protocols.ring import RingShiftProtocol

    cfg = MPCConfig(n=q, q=q, s=1, word_bits=max(1, q.bit_length()))
    proto = RingShiftProtocol(cfg, rounds)
    inputs = np.arange(q)
    Simulator(backend).run(RingShiftProtocol(cfg, 2), inputs)  # warm up the actors
    t0 = time.perf_counter()
    Simulator(backend).run(proto, inputs)
    ray_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    Simulator().run(proto, inputs)
    local_s = time.perf_counter() - t0
    return {"q": q, "rounds": rounds, "hosts": getattr(backend, "num_hosts", None),
            "ray_ms_per_round": 1e3 * ray_s / rounds, "inprocess_ms_per_round": 1e3 * local_s / rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--ray-sizes", default="1000,10000,100000")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--quick", action="store_true", help="sizes 1000,10000; Ray 1000")
    ap.add_argument("--out", default="benchmarks/results/engine.json")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.ray_sizes = "1000,10000", "1000"
    from mpcsim.backends import InProcessBackend

    rows = [bench_hop(int(n), args.k, "inprocess", InProcessBackend(), args.repeat) for n in args.sizes.split(",")]
    ray_overhead = None
    if not args.no_ray:
        from mpcsim.backends import make_backend

        backend = make_backend("ray", num_hosts=2)
        try:
            rows += [bench_hop(int(n), args.k, "ray", backend, 1) for n in args.ray_sizes.split(",")]
            ray_overhead = bench_ray_round_overhead(backend)
        finally:
            backend.close()
    header = f"{'backend':<10}{'n':>9}{'k':>4}{'q':>7}{'s':>8}{'rounds':>7}{'wall s':>9}{'Mwords/s':>10}{'peak MiB':>10}{'floor s':>9}{'ratio':>7}  ok"
    print(header)
    for r in rows:
        print(f"{r['backend']:<10}{r['n']:>9}{r['k']:>4}{r['q']:>7}{r['s']:>8}{r['rounds']:>7}{r['wall_s']:>9.3f}"
              f"{r['words_per_s'] / 1e6:>10.2f}{r.get('peak_mib', float('nan')):>10.1f}{r['floor_s']:>9.3f}"
              f"{r['ratio_to_floor']:>7.1f}  {r['agree_with_floor'] and r['within_s']}")
    if ray_overhead:
        print(f"Ray per-round overhead at q={ray_overhead['q']} on {ray_overhead['hosts']} hosts: "
              f"{ray_overhead['ray_ms_per_round']:.2f} ms/round (in-process {ray_overhead['inprocess_ms_per_round']:.3f} ms/round)")
    doc = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "hop": rows, "ray_round_overhead": ray_overhead}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
