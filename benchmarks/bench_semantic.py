"""Semantic measures per image (ICIP 2023): today's NumPy path versus the batched torch path, on the same CPU.

Today's path is :func:`iqaxai.semantic.semantic_measures` one image at a time with the CSF-weighted spatial
frequency and classical objectness (``spatial_frequency="csf"``, as before the literal method existed), plus the
3x4 region values. The torch path is :func:`iqaxai.semantic_torch.semantic_measures_torch` on a batch, plus
:func:`~iqaxai.semantic_torch.region_values_torch`, with the literal (default) and the CSF spatial frequency. The
NumPy path with the literal method is shown too. All run in one process on the same natural-looking images
(1/f noise with textured disks), at KonIQ-10k's 1024x768 and at 384x512; times are the best of a few rounds that
run the paths in turn, in seconds per image, with the speed-up over today's path and the time all 10,073
KonIQ-10k images would take on this CPU. torch and the BLAS under NumPy/SciPy get the same number of threads.
A breakdown of the torch path (per measure) and the largest difference between the torch and NumPy region values
close the report.

Usage: ``.venv/bin/python benchmarks/bench_semantic.py [--sizes 768x1024,384x512] [--batch 8] [--numpy-images 2]
[--rounds 2] [--threads 2]``
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from iqaxai import semantic as sem
from iqaxai import semantic_torch as semt
from _timing import best_times

KONIQ_IMAGES = 10_073


def natural_images(n: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """n float32 RGB images [n, 3, H, W] in [0, 1]: 1/f^1.3 noise per channel with four textured disks."""
    h, w = size
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    amplitude = np.maximum(np.hypot(fy, fx), 1.0 / max(h, w)) ** -1.3
    yy, xx = np.mgrid[:h, :w]
    out = []
    for _ in range(n):
        img = np.stack([np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((h, w)))).real for _ in range(3)], -1)
        img = (img - img.min()) / np.ptp(img)
        for _ in range(4):
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(h // 10, h // 4)
            disk = np.hypot(yy - cy, xx - cx) < r
            stripes = (np.sin(xx[disk] / rng.uniform(1.0, 6.0)) > 0)[:, None]
            img[disk] = np.clip(0.5 * img[disk] + 0.4 * stripes, 0.0, 1.0)
        out.append(torch.from_numpy(img).permute(2, 0, 1).float())
    return torch.stack(out)


def numpy_regions(images: torch.Tensor, spatial_frequency: str) -> np.ndarray:
    """Region values [N, 4 measures, 12] by the NumPy path, one image at a time."""
    out = []
    for img in images.permute(0, 2, 3, 1).numpy():
        maps = sem.semantic_measures(img, spatial_frequency=spatial_frequency)
        out.append([sem.region_values(maps[k]) for k in sem.MEASURES])
    return np.array(out)


def torch_regions(images: torch.Tensor, spatial_frequency: str) -> np.ndarray:
    """Region values [N, 4 measures, 12] by the torch path, the whole batch at once on the CPU."""
    maps = semt.semantic_measures_torch(images, spatial_frequency=spatial_frequency, device="cpu")
    return torch.stack([semt.region_values_torch(maps[k]) for k in sem.MEASURES], 1).double().numpy()


def breakdown(images: torch.Tensor, rounds: int) -> dict[str, float]:
    """Seconds per image of each part of the torch path (internal functions, the same calls it makes)."""
    gray = semt._gray(images)
    edges, geo = sem.frequency_bin_edges(), sem.ViewingGeometry()
    n = sem.literal_window_pixels(sem.LITERAL_WINDOW_DEG, geo)
    parts = best_times({
        "saliency": lambda: semt._saliency(gray),
        "SF literal": lambda: semt._literal_sf(gray, geo, edges, n, sem.LITERAL_STRIDE),
        "SF csf": lambda: semt._csf_sf(gray, geo, edges, sem.CSF_WINDOW_DEG),
        "objectness (classical)": lambda: semt._classical_objectness(images),
    }, rounds)
    return {k: v / len(images) for k, v in parts.items()}


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="768x1024,384x512", help="comma-separated HxW")
    parser.add_argument("--batch", type=int, default=8, help="images per torch batch")
    parser.add_argument("--numpy-images", type=int, default=2, help="images the (slow) NumPy paths time per round")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds after one warm-up round")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and for NumPy/SciPy's BLAS")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
        blas = f"BLAS threads={args.threads}"
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        blas = "BLAS threads: default (threadpoolctl missing)"
    print(f"cpus={os.cpu_count()}  torch threads={torch.get_num_threads()}  {blas}  device=cpu  torch {torch.__version__}  "
          f"batch={args.batch}  float32 (torch) / float64 (NumPy)  SF literal: window {sem.LITERAL_WINDOW_DEG} deg, "
          f"stride {sem.LITERAL_STRIDE} px")
    for text in args.sizes.split(","):
        size = tuple(int(v) for v in text.lower().split("x"))
        images = natural_images(args.batch, size)
        few = images[:args.numpy_images]
        times = best_times({
            "numpy today (csf)": lambda: numpy_regions(few, "csf"),
            "numpy literal": lambda: numpy_regions(few, "literal"),
            "torch literal": lambda: torch_regions(images, "literal"),
            "torch csf": lambda: torch_regions(images, "csf"),
        }, args.rounds)
        per_image = {k: v / (len(few) if k.startswith("numpy") else len(images)) for k, v in times.items()}
        base = per_image["numpy today (csf)"]
        print(f"\n{size[0]}x{size[1]}: seconds per image (NumPy: {len(few)} images; torch: a batch of {len(images)})")
        for name, sec in per_image.items():
            koniq = f"  KonIQ-10k ({KONIQ_IMAGES} images) {_duration(sec * KONIQ_IMAGES)}" if size == (768, 1024) else ""
            print(f"  {name:20s} {sec:8.3f} s   speed-up over today {base / sec:6.1f}x{koniq}")
        diffs = {sf: np.abs(numpy_regions(few, sf) - torch_regions(images, sf)[:len(few)]).max() for sf in ("literal", "csf")}
        print("  max |torch - NumPy| region value: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
        parts = breakdown(images, 1)
        print("  torch parts, s/image: " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
