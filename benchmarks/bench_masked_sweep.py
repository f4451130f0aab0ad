"""Masked TRIQ sweep: the fast exact path versus one ResNet50 forward pass and versus the reference path.

The issue's targets, for one 768x1024 image and all 4094 block masks of the 3x4 grid:

- the fast sweep costs at most half of one ResNet50 forward pass at 768x1024 (the backbone TRIQ runs once
  per image anyway);
- it is at least 100x faster than the reference path (full encoder once per mask) with the backbone cached.

Both are measured in this process on the same tokens, for the paper's unpooled 24x32 map (768 tokens) and
for TRIQ's pooled 12x16 map (192 tokens). The reference path on 768 tokens is timed on ``--ref-masks``
random masks and scaled linearly to 4094 (its cost is one encoder pass per mask; the scaling is printed).
Run: ``.venv/bin/python benchmarks/bench_masked_sweep.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from iqaxai.masking import _FLOAT32_GAP, _fast_sweep_image, _reference_sweep_image, block_masks
from iqaxai.models.backbones import create_backbone
from iqaxai.models.triq import TRIQ


def best_of(fn, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ref-masks", type=int, default=256, help="masks timed on the reference path (scaled to all)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads, CPU")
    masks = block_masks((3, 4))
    image = torch.rand(1, 3, 768, 1024)

    resnet = create_backbone("resnet50").eval()
    with torch.no_grad():
        t_resnet = best_of(lambda: resnet(image), args.repeats)
    print(f"ResNet50 forward, one 768x1024 image: {t_resnet:.3f} s")

    for pool, positions in ((False, 769), (True, 193)):
        model = TRIQ(pool=pool, max_positions=positions).eval()
        with torch.no_grad():
            fmap = model.feature_map(image)
            tokens = model.embed(fmap)[0]
            shape = fmap.shape[-2:]
            t_fast = best_of(lambda: _fast_sweep_image(model, tokens, shape, masks), args.repeats)
            n_ref = min(args.ref_masks, len(masks))
            subset = masks[torch.randperm(len(masks))[:n_ref]]
            t_ref = best_of(lambda: _reference_sweep_image(model, tokens, shape, subset, 64), 1) * len(masks) / n_ref
            attn = model.layers[0].attn
            q, k = (attn.split(lin(tokens[None]))[0] for lin in (attn.q, attn.k))
            scores = q @ k.transpose(-1, -2) / attn.depth ** 0.5
            gap = float((scores.max(-1).values - scores[..., 0]).max())
            fast = _fast_sweep_image(model, tokens, shape, subset)
            ref = _reference_sweep_image(model, tokens, shape, subset, 64)
        label = f"{shape[0]}x{shape[1]} tokens ({'pool on' if pool else 'pool off'})"
        print(f"\n{label}: 4094-mask sweep")
        print(f"  fast:      {t_fast:.3f} s  = {t_fast / t_resnet:.3f} x one ResNet50 forward (target <= 0.5)")
        print(f"  reference: {t_ref:.1f} s (timed on {n_ref} masks, scaled) = {t_ref / t_fast:.0f} x the fast path "
              f"(target >= 100)")
        print(f"  max |fast - reference| on the opinion distribution: {(fast - ref).abs().max():.1e}")
        print(f"  layer-1 score gap {gap:.0f} nats: partial sums in {'float32' if gap <= _FLOAT32_GAP else 'float64'}")


if __name__ == "__main__":
    main()
