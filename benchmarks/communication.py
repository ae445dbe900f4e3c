"""Communication benchmark: each sequence model of P2 §5 as a blackboard protocol on Prop. E.4
instances (THEORY.md b.8, b.9, d.1), over N and k. Per (model, N, k): rounds, the largest message s,
the largest message other than P_1's answer ("relay s": the answer carries the whole output
vector, d_vocab·p bits, for the differential check), the transcript bits (checked equal to the
model's exact formula), the threshold N/k⁶ (c = 1), which side of "R ≥ k or s ≥ N/k⁶" holds, whether the protocol matched the model's forward pass (and, for
the hop-RNN, whether it answered hop_k(X)_N correctly), and the protocol's wall time. Also the
two-party pointer-chasing protocols (k·⌈log2 n⌉ bits right-player-first, n·⌈log2 n⌉ otherwise).

    python benchmarks/communication.py             # N up to ~1000, k in {2, 3, 4, 6}
    python benchmarks/communication.py --quick     # small sizes only

Writes benchmarks/results/communication.json and prints a table. Random models are untrained and
fixed-size (width 8, L = 2, float64) apart from their vocabulary |Σ| + 1 = 2q + 3; the hop-RNN's
state grows with the alphabet (|Σ|·⌈log2(|Σ| + 2)⌉ bits).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

from compilers.seqmodels.contrast import MODEL_KINDS, ModelOptions, hop_task, run_row, transformer_row

RESULTS = Path(__file__).resolve().parent / "results" / "communication.json"


def bench_models(ns: list[int], ks: list[int], opts: ModelOptions) -> list[dict]:
    rows = []
    for k in ks:
        for n in ns:
            if n < 2 * k:
                continue
            task = hop_task(n, k, seed=opts.seed)
            for kind in MODEL_KINDS:
                row = run_row(kind, task, opts).to_dict()
                row["requested_n"] = n
                rows.append(row)
            rows.append({**transformer_row(task).to_dict(), "requested_n": n})
    return rows


def bench_pointer_chase(ns: list[int], ks: list[int], seed: int = 0) -> list[dict]:
    from mpcsim.twoparty import run_two_party
    from protocols.comm_protocols import PointerChaseProtocol
    from protocols.pointer_chasing import chase_two_party

    rows = []
    rng = random.Random(seed)
    for n in ns:
        f_a = tuple(rng.randint(1, n) for _ in range(n))
        f_b = tuple(rng.randint(1, n) for _ in range(n))
        for k in ks:
            for first in ("alice", "bob"):
                protocol = PointerChaseProtocol(n, k, first=first)
                t0 = time.perf_counter()
                result = run_two_party(protocol, f_a, f_b)
                rows.append({
                    "n": n, "k": k, "first": first, "strategy": protocol.strategy, "rounds": result.rounds,
                    "bits": result.bits, "formula_bits": protocol.expected_bits,
                    "correct": result.output == chase_two_party(f_a, f_b, k)[-1],
                    "wall_s": time.perf_counter() - t0,
                })
    return rows


def table(rows: list[dict]) -> str:
    head = (f"{'model':<12}{'k':>3}{'N':>6}{'R':>4}{'s bits':>9}{'relay s':>9}{'transcript':>12}{'=formula':>9}"
            f"{'N/k^6':>10}  {'side':<8}{'match':>6}{'correct':>8}{'ms':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        b = r["bound"]
        lines.append(
            f"{r['model']:<12}{r['k']:>3}{r['n']:>6}{r['rounds']:>4}"
            f"{'-' if r['message_bits'] is None else r['message_bits']:>9}"
            f"{r.get('relay_message_bits', '-'):>9}"
            f"{'-' if r['transcript_bits'] is None else r['transcript_bits']:>12}"
            f"{'-' if r['formula_bits'] is None else str(r['transcript_bits'] == r['formula_bits']):>9}"
            f"{'-' if b is None else format(b['threshold'], '.3g'):>10}  {'-' if b is None else b['side']:<8}"
            f"{'-' if r['matches_model'] is None else str(r['matches_model']):>6}"
            f"{'-' if r['correct'] is None else str(r['correct']):>8}{1000 * r['seconds']:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    ns = [24, 48, 96] if args.quick else [24, 48, 96, 192, 384, 768]
    ks = [2, 3, 4] if args.quick else [2, 3, 4, 6]
    opts = ModelOptions(seed=0)
    t0 = time.perf_counter()
    rows = bench_models(ns, ks, opts)
    chase = bench_pointer_chase([16, 256, 4096] if not args.quick else [16, 256], [2, 4, 8])
    doc = {
        "benchmark": "communication",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "options": opts.__dict__, "ns": ns, "ks": ks, "total_s": time.perf_counter() - t0,
        "blackboard": rows, "pointer_chase": chase,
        "notes": "c = 1 in the threshold N/k^6 (P2 leaves it unspecified); random models are untrained",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, default=str))
    print(table(rows))
    print()
    print(f"{'n':>6}{'k':>3}  {'first':<6}{'strategy':<18}{'rounds':>7}{'bits':>8}{'correct':>8}")
    for r in chase:
        print(f"{r['n']:>6}{r['k']:>3}  {r['first']:<6}{r['strategy']:<18}{r['rounds']:>7}{r['bits']:>8}{str(r['correct']):>8}")
    print(f"\nwrote {args.out} ({doc['total_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
