"""Training two smoke models on the demo world: in turn with all threads versus side by side in two processes.

``Study.models`` trains untrained models side by side on a CPU (``iqaxai.training.train_in_parallel``); this
measures whether that pays on this machine. Each variant trains the same two models for ``epochs`` epochs into
its own empty cache; the ratio side-by-side / in-turn below 1 means the parallel path is faster.
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


def main(models: tuple[str, str] = ("triq", "dbcnn"), epochs: int = 1) -> None:
    table = load_demo(DemoConfig(seed=0))
    configs = {m: replace(train_config(m, "smoke"), epochs=epochs) for m in models}
    with tempfile.TemporaryDirectory() as turn, tempfile.TemporaryDirectory() as side:
        start = time.perf_counter()
        for m in models:
            train_or_load(m, "smoke", table, config=configs[m], device="cpu", progress=False, cache_root=turn)
        in_turn = time.perf_counter() - start
        start = time.perf_counter()
        train_in_parallel([TrainJob(m, "smoke", table, {}, configs[m], side) for m in models], workers=2, progress=False)
        side_by_side = time.perf_counter() - start
    print(f"cpus={os.cpu_count()}  torch threads={torch.get_num_threads()}  models={','.join(models)}  epochs={epochs}")
    print(f"in turn: {in_turn:.1f} s   side by side (2 processes, {max(1, torch.get_num_threads() // 2)} thread each): "
          f"{side_by_side:.1f} s   ratio side-by-side / in-turn = {side_by_side / in_turn:.2f}")


if __name__ == "__main__":
    main(epochs=int(sys.argv[1]) if len(sys.argv) > 1 else 1)
