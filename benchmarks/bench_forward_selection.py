"""Forward selection of feature maps at VGG16 x TID2013 size: the vectorised selection versus the straightforward loop.

The problem: synthetic SSIM-like scores Q [3000 images x 4224 maps] from
:func:`iqaxai.forward_selection.planted_q` (20 planted maps; the other maps carry half of the distortion signal
and a shared nuisance), so the selection runs about 20 steps, as in the paper's Table 2.

- vectorised: :func:`iqaxai.forward_selection.forward_selection` (every candidate of a step at once, batched
  logistic fits), timed whole and per step;
- loop: one candidate at a time with scipy's fit (:func:`iqaxai.stats.plcc_logistic`), timed on the first step:
  all candidates by default, or ``--loop-candidates N`` random ones scaled to all (then the first-map check is
  among those N plus the vectorised pick).

The projected loop time for the whole selection is the sum over the vectorised run's steps of (candidates left)
x (scipy seconds per candidate in the first step); building each set's score from scratch is not counted (it
only adds). Run: ``.venv/bin/python benchmarks/bench_forward_selection.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

import iqaxai.forward_selection as fs
from iqaxai import stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--maps", type=int, default=4224)
    parser.add_argument("--planted", type=int, default=20)
    parser.add_argument("--loop-candidates", type=int, default=0, help="scipy fits timed in step 1 (0: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the vectorised selection")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
          f" with {args.threads} thread(s) for the selection (default {torch.get_num_threads()}), CPU, float64")
    Q, mos, _, planted = fs.planted_q(args.images, args.maps, args.planted, shared=0.5, seed=0)
    print(f"Q: {Q.shape[0]} images x {Q.shape[1]} maps, {args.planted} planted")

    step_times: list[float] = []
    fit_source = fs._fit_source

    def timed(*a, **k):
        """One step's batched fits, timed."""
        start = time.perf_counter()
        out = fit_source(*a, **k)
        step_times.append(time.perf_counter() - start)
        return out

    fs._fit_source = timed
    start = time.perf_counter()
    sel = fs.forward_selection(Q, mos, threads=args.threads)
    t_vec = time.perf_counter() - start
    fs._fit_source = fit_source
    steps = step_times[:sel.steps]  # the last call fits the mean of all maps
    found = len(set(sel.maps) & set(planted.tolist()))
    print(f"\nvectorised selection: {t_vec:.1f} s, {sel.steps} steps, {len(sel.maps)} maps "
          f"({found}/{len(planted)} planted), stop: {sel.stop}")
    print(f"  non-linear PLCC: selected {sel.plcc_selected:.4f}, all maps {sel.plcc_all:.4f}")
    print(f"  step 1: {steps[0]:.2f} s for {sel.n_candidates} candidates; later steps: mean "
          f"{np.mean(steps[1:]):.2f} s (warm starts)")

    rng = np.random.default_rng(1)
    n_loop = sel.n_candidates if args.loop_candidates <= 0 else min(args.loop_candidates, sel.n_candidates)
    if n_loop == sel.n_candidates:
        cols = np.arange(Q.shape[1])
    else:
        others = rng.choice(np.setdiff1d(np.arange(Q.shape[1]), [sel.maps[0]]), n_loop - 1, replace=False)
        cols = np.sort(np.append(others, sel.maps[0]))
    start = time.perf_counter()
    scipy_plcc = np.array([stats.plcc_logistic(Q[:, j], mos, monotone=False) for j in cols])
    t_loop = time.perf_counter() - start
    per_candidate = t_loop / cols.size
    _, ours = fs.fit_logistic5_batch(Q[:, cols].T, mos, threads=args.threads)
    scope = "all candidates" if cols.size == Q.shape[1] else f"{cols.size} candidates incl. the vectorised pick"
    print(f"\nloop with scipy, step 1 ({scope}): {t_loop:.1f} s = {per_candidate * 1e3:.1f} ms per candidate")
    print(f"  same first map: {'yes' if int(cols[np.argmax(scipy_plcc)]) == sel.maps[0] else 'NO'} "
          f"(vectorised {sel.maps[0]}, scipy {int(cols[np.argmax(scipy_plcc)])})")
    diff = ours - scipy_plcc
    print(f"  batched fitter minus scipy on these candidates: max |diff| {np.abs(diff).max():.1e}, "
          f"lowest {diff.min():+.1e}, {int((diff < -1e-3).sum())} below scipy by > 1e-3")

    left = sel.n_candidates - np.arange(len(steps))
    projected = float(left.sum() * per_candidate)
    print(f"\nspeed-up, step 1: {per_candidate * sel.n_candidates / steps[0]:.0f}x; later steps (mean): "
          f"{per_candidate * left[1:].mean() / np.mean(steps[1:]):.0f}x")
    print(f"projected loop time for the whole selection ({len(steps)} steps): {projected / 60:.0f} min "
          f"= {projected / t_vec:.0f}x the vectorised {t_vec:.1f} s")


if __name__ == "__main__":
    main()
