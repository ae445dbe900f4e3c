"""Forward-compiler benchmark: hop_k token program → transformer weights (P2 Thm 4.2 scheme).

1. Compile time, parameters, width, d_head and layers against N and k, with the largest exact N.
2. Forward throughput (tokens/s) of the compiled model on the CPU (and CUDA when present) for N up
   to 10^5 at batch 1 and 64. A forward is capped at ``--token-budget`` tokens (batch × N): when
   batch × N exceeds it the batch is scaled down (reported as ``batch_run``), because causal
   attention costs O(N²) per sequence and this machine has 2 shared cores.
3. The compiled model against an untrained ``Transformer`` of the same shape and dtype (random
   weights, the same forward): the speed ratio (target ≤ 1.5×; the computation is identical).
4. Next to the compiled width, the width P2 Thm 3.1's generic MPC → transformer construction would
   need to simulate the hop_k MPC protocol (``protocols.hop_mpc`` at its least memory s, messages of
   β ≤ s words): m = (3 + β)·⌈12·s⁴·ln N²⌉ (Lemma 3.2 / Fact B.2 with n = N², b = s²).

    python benchmarks/compile.py              # k ∈ {1, 2, 4, 8, 16}, N up to 10^5 (minutes on 2 cores)
    python benchmarks/compile.py --quick      # N ≤ 10^3, seconds
"""
from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import numpy as np
import torch
from measure import best_time

RESULTS = Path(__file__).parent / "results" / "compile.json"


def theorem_width(n: int) -> dict:
    """P2 Thm 3.1 width for simulating the hop_k MPC protocol at its least memory (Lemma 3.2)."""
    from protocols.hop_mpc import HopPlan, HopProtocol, MAX_PAYLOAD

    s = HopPlan.min_memory(n, HopProtocol.STATE_WIDTH, MAX_PAYLOAD, "direct")[0]
    m_prime = math.ceil(12 * s ** 4 * math.log(n * n))  # Fact B.2 with n := N², b := s²
    return {"s": s, "beta": s, "m_prime": m_prime, "width": (3 + s) * m_prime}


def compile_rows(ks, ns) -> list[dict]:
    from compilers.hop_compile import compile_hop

    rows = []
    for n in ns:
        for k in ks:
            seconds, model = best_time(lambda: compile_hop(k, n, 4, device="cpu"))
            rows.append({"k": k, "N": n, "compile_s": round(seconds, 4), "layers": model.layers,
                         "width": model.width, "d_head": model.model.cfg.d_head, "params": model.params,
                         "max_exact_n_float32": model.max_exact_n, "token_code": model.codes.categorical,
                         "thm31_width": theorem_width(n)["width"]})
    return rows


def _time_forward(model, ids: torch.Tensor, device: torch.device, repeat: int) -> float:
    """Best of ``repeat`` forwards, after a warm-up unless one forward is long (≥ 10^4 tokens per
    sequence on the CPU: one timed run, the warm-up would only cost minutes)."""
    def run():
        with torch.no_grad():
            model(ids)
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda" or ids.shape[1] < 10_000:
        run()
        return best_time(run, repeat)[0]
    return best_time(run, 1)[0]


def throughput_rows(k: int, ns, batches, budget: int, devices, repeat: int) -> list[dict]:
    from compilers.hop_compile import compile_hop
    from compilers.model import Transformer

    rows = []
    for device in devices:
        for n in ns:
            compiled = compile_hop(k, n, 4, device=str(device))
            twin = Transformer(compiled.model.cfg).to(device)  # untrained: the same shape, random weights
            with torch.no_grad():
                for p in twin.parameters():
                    p.normal_(0, 0.02)
            for batch in batches:
                run_batch = max(1, min(batch, budget // n))
                ids = torch.randint(1, 5, (run_batch, n + 1), device=device)
                ids[:, 0] = 0
                t_comp = _time_forward(compiled.model, ids, device, repeat)
                t_twin = _time_forward(twin, ids, device, repeat)
                rows.append({"device": str(device), "k": k, "N": n, "batch": batch, "batch_run": run_batch,
                             "scaled_down": run_batch < batch, "tokens_per_s": round(run_batch * (n + 1) / t_comp),
                             "forward_s": round(t_comp, 4), "untrained_forward_s": round(t_twin, 4),
                             "ratio_vs_untrained": round(t_comp / t_twin, 3), "layers": compiled.layers,
                             "width": compiled.width})
                print(f"  {device} N={n:>6} batch {batch:>2} (run {run_batch:>2}): {rows[-1]['tokens_per_s']:>10} tok/s, "
                      f"compiled/untrained = {rows[-1]['ratio_vs_untrained']}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N ≤ 10^3 only")
    ap.add_argument("--ks", default="1,2,4,8,16")
    ap.add_argument("--ns", default=None, help="context lengths (default 100,1000,10000,100000)")
    ap.add_argument("--token-budget", type=int, default=100_000, help="largest batch × N per CPU forward")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    ns = [int(n) for n in args.ns.split(",")] if args.ns else ([100, 1000] if args.quick else [100, 1000, 10_000, 100_000])
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])

    print("compile (hop_k, alphabet 4, float32):")
    comp = compile_rows(ks, ns)
    print(f"  {'k':>3} {'N':>7} {'layers':>6} {'width':>6} {'d_head':>6} {'params':>11} {'compile s':>9} "
          f"{'exact N (f32)':>13} {'Thm 3.1 width':>14}")
    for r in comp:
        print(f"  {r['k']:>3} {r['N']:>7} {r['layers']:>6} {r['width']:>6} {r['d_head']:>6} {r['params']:>11} "
              f"{r['compile_s']:>9} {r['max_exact_n_float32']:>13} {r['thm31_width']:>14.3e}")
    print(f"forward throughput (hop_{max(ks)}; batch × N capped at {args.token_budget} tokens):")
    thr = throughput_rows(max(ks), ns, (1, 64), args.token_budget, devices, args.repeat)
    doc = {"machine": {"platform": platform.platform(), "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()},
           "token_budget": args.token_budget, "compile": comp, "throughput": thr,
           "thm31_width": {n: theorem_width(n) for n in ns}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    worst = max(r["ratio_vs_untrained"] for r in thr)
    print(f"compiled vs untrained forward: worst ratio {worst} (target ≤ 1.5); wrote {args.out}")
    assert np.isfinite(worst)


if __name__ == "__main__":
    main()
