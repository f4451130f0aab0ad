"""Occlusion maps (thesis 3.3.1.1, black 15x15 patches, stride 5): ``iqaxai.perturbation.occlusion_map`` versus
``captum.attr.Occlusion``.

Both run on the same smoke model (default CNNIQA, the model of the thesis' Fig. 4.13; random weights, its
zero-initialised score head re-drawn so that scores vary; the smoke KonCept512 barely responds to its input)
and the same image (scikit-image's astronaut, resized), with ``baselines=0``,
``sliding_window_shapes=(3, p, p)``, ``strides=(3, s, s)`` and ``perturbations_per_eval`` equal to our
``batch_size``, so both make the same forward passes on the same perturbed images. Printed per size: the
number of windows, max |ours - captum| (the maps must agree), each method's time, the ratio captum / ours
(target >= 1: at least as fast), and the "forward floor" (the model alone on as many images in the same
batches), to show what each spends besides the model; and, to measure that bookkeeping alone without the
noise of the model's time, both methods with a trivial model (the image mean) in place of the IQA model. The thesis' resolution is 384x512 (``--sizes 384x512``).
Run: ``.venv/bin/python benchmarks/bench_occlusion.py [--threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import Occlusion
from iqaxai.models import create_model
from iqaxai.models.base import ScoreHead
from iqaxai.perturbation import occlusion_map, window_starts
from skimage.data import astronaut
from torch import nn


def best_of(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Smallest wall time of each function over ``repeats`` rounds, and its result (after one warm-up round).

    The functions take turns within every round, so a slow spell of a shared machine hits them alike.
    """
    results = {name: fn() for name, fn in fns.items()}
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}, results


class ImageMean(nn.Module):
    """A trivial model (score = image mean): timing with it isolates each method's own bookkeeping."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((1, 2, 3))


def smoke_model(name: str) -> nn.Module:
    """A smoke-profile model whose score heads are re-drawn (zero-initialised heads give a constant score)."""
    torch.manual_seed(0)
    model = create_model(name, profile="smoke").eval()
    for module in model.modules():
        if isinstance(module, ScoreHead):
            nn.init.normal_(module.fc.weight, std=1.0 / module.fc.in_features ** 0.5)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnniqa", help="registry name, smoke profile")
    parser.add_argument("--sizes", nargs="+", default=["96x128", "192x256"], help="HxW")
    parser.add_argument("--patch", type=int, default=15)
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads, CPU")
    model = smoke_model(args.model)
    p, s, bs = args.patch, args.stride, args.batch_size
    photo = torch.from_numpy(astronaut()).permute(2, 0, 1)[None].float() / 255
    print(f"model: {args.model} (smoke, head re-drawn); black {p}x{p} patches, stride {s}, batch {bs}")

    for size in args.sizes:
        h, w = (int(v) for v in size.split("x"))
        x = F.interpolate(photo, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
        bench_size(model, x, p, s, bs, args.repeats)


def bench_size(model: nn.Module, x: torch.Tensor, p: int, s: int, bs: int, repeats: int) -> None:
    """Time and compare both methods on one image [1, 3, H, W]; print the results."""
    h, w = x.shape[-2:]
    n = len(window_starts(h, p, s)) * len(window_starts(w, p, s))

    def ours(f=model):
        return occlusion_map(f, x, patch=p, stride=s, fill="black", batch_size=bs)

    def theirs(f=model):
        return Occlusion(f).attribute(x, sliding_window_shapes=(3, p, p), strides=(3, s, s), baselines=0,
                                      perturbations_per_eval=bs)

    def forward_floor():
        with torch.no_grad():
            for start in range(0, n, bs):
                model(x.expand(min(bs, n - start), -1, -1, -1))

    with torch.no_grad():
        score = float(model(x))
    t, out = best_of({"ours": ours, "captum": theirs, "floor": forward_floor}, repeats)
    t_ours, t_captum, t_floor = t["ours"], t["captum"], t["floor"]
    map_ours = out["ours"]
    diff = np.abs(map_ours[0] - out["captum"][0, 0].numpy()).max()
    trivial = ImageMean()
    t, out = best_of({"ours": lambda: ours(trivial), "captum": lambda: theirs(trivial)}, 3)
    t_ours_bk, t_captum_bk = t["ours"], t["captum"]
    diff_bk = np.abs(out["ours"][0] - out["captum"][0, 0].numpy()).max()
    scale = np.abs(map_ours[0]).max()
    print(f"\n{h}x{w}: {n} windows, {-(-n // bs)} forward passes, score {score:.2f}, max |map| {scale:.3g}")
    print(f"  max |ours - captum|: {diff:.1e}")
    print(f"  ours:   {t_ours:.2f} s  (forward floor {t_floor:.2f} s, overhead {t_ours - t_floor:+.2f} s)")
    print(f"  captum: {t_captum:.2f} s  (overhead {t_captum - t_floor:+.2f} s)")
    print(f"  captum / ours: {t_captum / t_ours:.2f} x (target >= 1)")
    print(f"  bookkeeping alone (trivial model): ours {t_ours_bk:.3f} s, captum {t_captum_bk:.3f} s = "
          f"{t_captum_bk / t_ours_bk:.1f} x ours; max |ours - captum| {diff_bk:.1e}")

if __name__ == "__main__":
    main()
