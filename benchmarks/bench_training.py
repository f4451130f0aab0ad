"""Training smoke models on the demo world: in turn with all threads versus side by side in two processes.

``Study.models`` trains untrained models side by side on a CPU (``iqaxai.training.train_in_parallel``); this
measures whether that pays on this machine. Each variant trains the same two jobs for ``epochs`` epochs into
its own empty cache; the ratio side-by-side / in-turn below 1 means the parallel path is faster. The two jobs
are one model with two seeds, so that neither process waits for the other (with models of unequal cost the
gain shrinks to what the scheduling can balance, as with notebook 01's five).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace

import torch

from iqaxai.data.demo import DemoConfig, load_demo
from iqaxai.training import TrainJob, train_config, train_in_parallel, train_or_load


def main(model: str = "triq", epochs: int = 3) -> None:
    table = load_demo(DemoConfig(seed=0))
    configs = [replace(train_config(model, "smoke"), epochs=epochs, seed=seed) for seed in (0, 1)]
    with tempfile.TemporaryDirectory() as turn, tempfile.TemporaryDirectory() as side:
        start = time.perf_counter()
        for config in configs:
            train_or_load(model, "smoke", table, config=config, device="cpu", progress=False, cache_root=turn)
        in_turn = time.perf_counter() - start
        start = time.perf_counter()
        train_in_parallel([TrainJob(model, "smoke", table, {}, c, side) for c in configs], workers=2, progress=False)
        side_by_side = time.perf_counter() - start
    print(f"cpus={os.cpu_count()}  torch threads={torch.get_num_threads()}  model={model} x 2 seeds  epochs={epochs}")
    print(f"in turn: {in_turn:.1f} s   side by side (2 processes, {max(1, torch.get_num_threads() // 2)} thread each): "
          f"{side_by_side:.1f} s   ratio side-by-side / in-turn = {side_by_side / in_turn:.2f}")


if __name__ == "__main__":
    main(epochs=int(sys.argv[1]) if len(sys.argv) > 1 else 3)
