"""Timing and memory helpers shared by the benchmark scripts (run them from the repo root:
``python benchmarks/NAME.py``; this directory is then on sys.path)."""
from __future__ import annotations

import time
import tracemalloc


def best_time(fn, repeat: int = 1):
    """(best wall time in seconds over ``repeat`` calls, the last call's result)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_mib(fn) -> float:
    """Peak memory traced by tracemalloc (numpy reports its buffers to it) during one call, in MiB."""
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20
