"""How fast this machine is right now: a fixed piece of work, timed.

The project's machine is shared and its speed drifts (the same warm run took
15.9 s one morning and 28.5 s that afternoon), so a benchmark's figures are
printed with the seconds this work took at the time: figures taken when it
took alike can be compared, others only side by side.
"""

from __future__ import annotations

import time

import numpy as np


def workload_seconds() -> float:
    """Seconds the fixed work takes now (the best of three tries): Python
    bytecode, numpy popcounts and a sort, the kinds of work a run does."""
    values = np.random.default_rng(0).integers(0, 2**63, 2_000_000, dtype=np.uint64)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i * i
        for shift in range(1, 9):
            total += int(np.bitwise_count(values ^ (values >> np.uint64(shift))).sum())
        np.sort(values)
        best = min(best, time.perf_counter() - start)
    return best


def describe() -> str:
    return f"reference work {workload_seconds():.3f} s"


if __name__ == "__main__":
    print(describe())
