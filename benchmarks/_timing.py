"""Timing shared by the benchmarks: variants run in turn, the fastest round of each kept."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_times(funcs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Fastest time of each function over ``rounds`` rounds, run in turn (after a warm-up round), in seconds.

    Running the variants in turn, not one after the other, spreads the noise of a shared machine over all.
    """
    best = {name: float("inf") for name in funcs}
    for r in range(rounds + 1):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            if r:
                best[name] = min(best[name], time.perf_counter() - start)
    return best
