"""Cost of saliency extraction and MoRF/LeRF masking per image, as multiples of one forward pass.

HiResCAM with the paper's smoothing runs six forward and backward passes per image (two mirrors x three
brightness factors) plus an SVD per pass; MoRF/LeRF runs one forward pass per image, order and fraction. Both
are batched; this prints their time per image beside one batched forward pass of the same model.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

from iqaxai.models import create_model
from iqaxai.saliency import hirescam, morf_lerf_curves


def _per_image(func, n: int, repeats: int = 3) -> float:
    best = min(_timed(func) for _ in range(repeats))
    return best / n


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main(name: str = "saliency_baseline", n: int = 16, size: tuple[int, int] = (96, 128)) -> None:
    torch.manual_seed(0)
    model = create_model(name, profile="smoke").eval()
    images = torch.rand(n, 3, *size)
    with torch.no_grad():
        forward = _per_image(lambda: model(images), n)
    plain = _per_image(lambda: hirescam(model, images, aug_smooth=False, eigen_smooth=False), n)
    smoothed = _per_image(lambda: hirescam(model, images), n)
    maps = hirescam(model, images).raw
    fractions = np.linspace(0, 1, 11)
    curves = _per_image(lambda: morf_lerf_curves(model, images, maps, fractions), n, repeats=1)
    print(f"cpus={os.cpu_count()}  torch threads={torch.get_num_threads()}  model={name}  images={n} at {size[0]}x{size[1]}")
    print(f"forward pass: {forward * 1e3:.1f} ms/image")
    print(f"HiResCAM, no smoothing: {plain * 1e3:.1f} ms/image = {plain / forward:.1f} forward passes")
    print(f"HiResCAM, aug + eigen smoothing: {smoothed * 1e3:.1f} ms/image = {smoothed / forward:.1f} forward passes")
    print(f"MoRF/LeRF, 2 x {len(fractions)} fractions: {curves * 1e3:.1f} ms/image = {curves / forward:.1f} forward passes")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or []))
