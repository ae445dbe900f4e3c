"""GPU check for the forward compiler: compile hop_k, run it on CUDA, check every output against
the plain-Python reference (protocols.hop_reference), and time it.

    python benchmarks/gpu_check.py                    # k ∈ {1, 4, 16}, N ∈ {10^3, 10^4, 10^5}
    python benchmarks/gpu_check.py --ks 16 --ns 100000 --batch 8

Exits with status 2 and a clear message when torch sees no CUDA device. Writes
benchmarks/results/gpu_check.json. The numerics contract is the same on the GPU: the weights are
exact within max_exact_n whatever kernel torch's scaled_dot_product_attention picks, since every
unselected key trails by ≥ T in the scores before the softmax.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "gpu_check.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,4,16")
    ap.add_argument("--ns", default="1000,10000,100000")
    ap.add_argument("--batch", type=int, default=4, help="sequences per forward")
    ap.add_argument("--alphabet", type=int, default=4)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64", "bfloat16"))
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False); nothing was checked. "
              "Run benchmarks/compile.py for CPU numbers.", file=sys.stderr)
        return 2
    from compilers.hop_compile import compile_hop
    from protocols.hop_reference import hop_fast

    device = torch.device("cuda")
    rng = np.random.default_rng(0)
    rows, failures = [], 0
    for n in (int(x) for x in args.ns.split(",")):
        for k in (int(x) for x in args.ks.split(",")):
            model = compile_hop(k, n, args.alphabet, args.dtype, device="cuda")
            batch = rng.integers(0, args.alphabet, size=(args.batch, n))
            ids = torch.as_tensor(model.token_ids(batch), device=device)
            with torch.no_grad():
                model.model(ids)  # warm-up
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                logits = model.model(ids)
                torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
            out = model.decode(logits.float().cpu())
            bad = sum(o != hop_fast(row, k) for o, row in zip(out, batch.tolist()))
            failures += bad
            rows.append({"k": k, "N": n, "batch": args.batch, "dtype": args.dtype, "layers": model.layers,
                         "width": model.width, "disagreeing_sequences": bad, "forward_s": round(seconds, 5),
                         "tokens_per_s": round(args.batch * (n + 1) / seconds)})
            print(f"k={k:>2} N={n:>6} batch {args.batch}: {'agree' if bad == 0 else f'{bad} sequences DISAGREE'}, "
                  f"{rows[-1]['tokens_per_s']:>12} tokens/s ({torch.cuda.get_device_name(device)})", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(device), "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
