"""Checking that a dataset's image files exist: one directory listing (what the loaders do) vs a stat per file."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from iqaxai.data.common import require_images


def _best_of(func, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(n: int = 10_073) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "1024x768").mkdir()
        names = [f"1024x768/{i:010d}.jpg" for i in range(n)]
        for name in names:
            (base / name).touch()
        listing = _best_of(lambda: require_images("KonIQ-10k", base, names))
        per_file = _best_of(lambda: [os.path.exists(base / name) for name in names])
    print(f"cpus={os.cpu_count()}  files={n}")
    print(f"directory listing: {listing * 1e3:.1f} ms   stat per file: {per_file * 1e3:.1f} ms   "
          f"ratio per-file / listing = {per_file / listing:.1f}x")


if __name__ == "__main__":
    main()
