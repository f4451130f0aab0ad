"""Cost of one row of the per-map score matrix Q (iqaxai.feature_maps), as multiples of one backbone forward pass.

A row of Q compares a distorted image with its reference at every post-ReLU feature map (AlexNet 1152 maps,
VGG16 4224) with SSIM. Computed independently, a pair costs two forward passes plus the SSIM of all maps; with
the reference's features computed once (``reference_features`` + ``scores_against``, as ``score_matrix`` does)
it costs one forward pass plus the SSIM, and with a batch of distorted images of one reference the SSIM also
filters the reference's statistics once per batch. Sizes: TID2013's 384x512 and CID:IQ's 800x800. The
backbones are randomly initialised (the weights do not change the cost); times are the best of a few rounds
that run the variants in turn.

Usage: ``.venv/bin/python benchmarks/bench_feature_maps.py [backbone ...] [--sizes 384x512,800x800] [--batch 4]
[--rounds 3] [--threads 1]``
"""

from __future__ import annotations

import argparse
import os

import torch

from iqaxai import feature_maps as fm
from _timing import best_times


def measure(backbone: str, size: tuple[int, int], batch: int, rounds: int) -> dict[str, float]:
    """Seconds for one forward pass, one independent pair, one pair reusing the reference, and per pair in a batch."""
    torch.manual_seed(0)
    extractor = fm.feature_extractor(backbone, pretrained=False)
    ref, test = torch.rand(1, 3, *size), torch.rand(1, 3, *size)
    tests = torch.rand(batch, 3, *size)
    reference = fm.reference_features(extractor, ref)
    test_maps = extractor(test)
    times = best_times({
        "forward": lambda: extractor(test),
        "pair": lambda: fm.per_map_scores(extractor, test, ref),
        "reused": lambda: fm.scores_against(extractor, reference, test),
        "ssim": lambda: fm._scores(test_maps, reference.maps, fm.ssim),
        "batched": lambda: fm.scores_against(extractor, reference, tests),
    }, rounds)
    times["batched"] /= batch
    return times


def report(backbone: str, size: tuple[int, int], batch: int, t: dict[str, float]) -> None:
    """Print the times and their ratios to one forward pass."""
    f = t["forward"]
    print(f"{backbone} {size[0]}x{size[1]} ({fm.n_maps(backbone)} maps): forward pass {f * 1e3:.0f} ms/image")
    print(f"  pair, independent (2 forward + SSIM): {t['pair'] * 1e3:.0f} ms = {t['pair'] / f:.1f} forward passes")
    print(f"  pair, reference reused (1 forward + SSIM): {t['reused'] * 1e3:.0f} ms = {t['reused'] / f:.1f} forward "
          f"passes; independent / reused = {t['pair'] / t['reused']:.2f}")
    print(f"  SSIM of all maps alone: {t['ssim'] * 1e3:.0f} ms = {t['ssim'] / f:.1f} forward passes")
    print(f"  per pair in a batch of {batch} against one reference: {t['batched'] * 1e3:.0f} ms = "
          f"{t['batched'] / f:.1f} forward passes; independent / batched = {t['pair'] / t['batched']:.2f}")


def main() -> None:
    """Measure each backbone at each size and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backbones", nargs="*", default=["alexnet", "vgg16"])
    parser.add_argument("--sizes", default="384x512,800x800")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's); 1 gives steadier ratios on a busy shared machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"cpus={os.cpu_count()}  torch threads={torch.get_num_threads()}  device=cpu  random-init backbones  "
          f"SSIM in float64, blocks of {fm.CHUNK_ELEMENTS} values")
    for backbone in args.backbones:
        for size in sizes:
            report(backbone, size, args.batch, measure(backbone, size, args.batch, args.rounds))


if __name__ == "__main__":
    main()
