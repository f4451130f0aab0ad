"""Train/val/test splits: seeded random, grouped (by reference image), and quality/complexity stratified.

The ICIP 2023 paper splits KonIQ-10k and SPAQ "such that the image quality and content complexity levels
were evenly distributed across train/validation/test sets"; :func:`stratified_split` does that by
stratifying on quantile bins of MOS and of an image-complexity measure.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def _fractions(ratios: Sequence[float]) -> np.ndarray:
    """Validated split fractions (train, val, test) summing to one."""
    r = np.asarray(ratios, dtype=float)
    if r.ndim != 1 or len(r) != 3 or (r < 0).any() or r.sum() <= 0:
        raise ValueError(f"ratios must be three non-negative numbers (train, val, test), got {ratios}")
    return r / r.sum()


def _assign(units: np.ndarray, strata: np.ndarray, ratios: Sequence[float], seed: int) -> dict:
    """Deal units to splits stratum by stratum (shuffled within), always to the split furthest below its share.

    Dealing in one pass over all strata keeps the overall counts within one of ``ratios * n`` and each
    stratum's counts proportional, even when strata are smaller than 1 / min(ratios).
    """
    frac = _fractions(ratios)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(units)), strata))
    assigned = np.zeros(3)
    out: dict = {}
    for i, idx in enumerate(order):
        k = int(np.argmax(frac * (i + 1) - assigned))
        assigned[k] += 1
        out[units[idx]] = SPLITS[k]
    return out


def seeded_split(
    n: int, ratios: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0, groups: Sequence | None = None
) -> np.ndarray:
    """A random split of ``n`` items; items sharing a group (e.g. a reference image) stay together."""
    units = np.arange(n) if groups is None else np.asarray(groups)
    if len(units) != n:
        raise ValueError(f"groups has {len(units)} entries for {n} items")
    unique = np.unique(units)
    mapping = _assign(unique, np.zeros(len(unique), dtype=int), ratios, seed)
    return np.array([mapping[u] for u in units], dtype=object)


def _quantile_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each value by its rank (equal-count bins, robust to ties)."""
    ranks = pd.Series(values).rank(method="first").to_numpy() - 1
    return np.minimum((ranks * n_bins / len(values)).astype(int), n_bins - 1)


def stratified_split(
    mos: Sequence[float],
    complexity: Sequence[float] | None = None,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    n_bins: tuple[int, int] = (5, 3),
    groups: Sequence | None = None,
) -> np.ndarray:
    """Split so that every split covers the same MOS and complexity quantile bins.

    Items are binned by MOS quantile (``n_bins[0]`` bins) and complexity quantile (``n_bins[1]`` bins);
    each bin is dealt to train/val/test in proportion to ``ratios``. With ``groups``, whole groups are
    dealt, binned by their mean MOS and mean complexity.
    """
    mos = np.asarray(mos, dtype=float)
    if np.isnan(mos).any():
        raise ValueError("stratified_split: MOS contains NaN")
    comp = np.zeros_like(mos) if complexity is None else np.asarray(complexity, dtype=float)
    if comp.shape != mos.shape:
        raise ValueError(f"complexity has shape {comp.shape}, MOS has shape {mos.shape}")
    units = np.arange(len(mos)) if groups is None else np.asarray(groups)
    frame = pd.DataFrame({"u": units, "mos": mos, "c": comp}).groupby("u", sort=True).mean()
    n_units = len(frame)
    bins_q = _quantile_bins(frame["mos"].to_numpy(), min(n_bins[0], n_units))
    bins_c = _quantile_bins(frame["c"].to_numpy(), min(n_bins[1], n_units)) if complexity is not None else 0
    strata = bins_q * 1000 + bins_c
    mapping = _assign(frame.index.to_numpy(), np.asarray(strata), ratios, seed)
    return np.array([mapping[u] for u in units], dtype=object)


def spatial_information(path: str | os.PathLike, max_side: int = 512) -> float:
    """Image complexity as ITU-T P.910 spatial information: std of the Sobel gradient magnitude of luma."""
    from PIL import Image
    from scipy import ndimage

    with Image.open(path) as im:
        im = im.convert("L")
        im.thumbnail((max_side, max_side))
        y = np.asarray(im, dtype=float)
    mag = np.hypot(ndimage.sobel(y, axis=0), ndimage.sobel(y, axis=1))
    return float(mag.std())


def add_stratified_split(table: pd.DataFrame, ratios=(0.7, 0.1, 0.2), seed: int = 0, group: str | None = None) -> pd.DataFrame:
    """Return ``table`` with its ``split`` column replaced by a MOS- and complexity-stratified split."""
    from tqdm.auto import tqdm

    complexity = [spatial_information(p) for p in tqdm(table["path"], desc="complexity", leave=False)]
    out = table.copy()
    out["complexity"] = complexity
    out["split"] = stratified_split(
        out["mos"], out["complexity"], ratios, seed, groups=None if group is None else out[group]
    )
    return out
