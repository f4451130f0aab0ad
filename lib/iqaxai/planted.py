"""Scoring an explanation against the demo world's planted truth: quality cells and decoys, each beside chance.

The demo world (:mod:`iqaxai.data.demo`) knows, per image, the **quality cells** (detailed and distorted: where
quality is decided) and the **decoys** (as detailed and as fixated, never distorted: content and attention but no
quality information). A method that finds where quality is decided hits the quality cells far above chance and
the decoys at or below it; a method that finds content hits both alike. Two readings, for region scores [N, B]
or pixel maps [N, H, W]:

- **hit rate**: the share of an image's quality cells (decoys) among the B/2 regions the method ranks highest
  (its important half), averaged over the images. Chance: a random half holds (B/2) / B = 0.5 of any cell set.
- **mass share**: the share of a non-negative map's total mass inside the quality cells (decoys). Chance: the
  cells' share of the image area (a uniform map).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iqaxai.grid import Grid, cell_means, mass_in_cells, top_half


def _check(selected: np.ndarray, cells: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Both as bool [N, B] of the same shape, each image with at least one planted cell."""
    selected, cells = np.asarray(selected, dtype=bool), np.asarray(cells, dtype=bool)
    if selected.ndim != 2 or selected.shape != cells.shape:
        raise ValueError(f"{what}: selected regions {selected.shape} and planted cells {cells.shape} must both be [N, B]")
    if not cells.any(axis=1).all():
        raise ValueError(f"{what}: some images have no planted cells of this kind")
    return selected, cells


def hit_rate(selected: np.ndarray, cells: np.ndarray) -> float:
    """Mean over images of the share of ``cells`` [N, B] that lie among the ``selected`` regions [N, B]."""
    selected, cells = _check(selected, cells, "hit_rate")
    return float(((selected & cells).sum(1) / cells.sum(1)).mean())


def chance_hit_rate(selected: np.ndarray) -> float:
    """The expected hit rate of a random selection of the same size: mean of |selected| / B."""
    selected = np.asarray(selected, dtype=bool)
    return float(selected.sum(-1).mean() / selected.shape[-1])


def region_values(maps: np.ndarray, grid: Grid = (3, 4)) -> np.ndarray:
    """Region scores [N, B]: pixel maps [N, H, W] averaged per cell; region scores [N, B] pass through."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2 and maps.shape[1] == grid[0] * grid[1]:
        return maps
    if maps.ndim != 3:
        raise ValueError(f"expected region scores [N, {grid[0] * grid[1]}] or pixel maps [N, H, W], got shape {maps.shape}")
    return np.stack([cell_means(m, grid) for m in maps])


def planted_scores(maps: np.ndarray, quality: np.ndarray, decoys: np.ndarray, grid: Grid = (3, 4)) -> dict[str, float]:
    """Hit rates of the important half and (for non-negative maps) mass shares on quality cells and decoys, with chance.

    ``maps``: region scores [N, B] or pixel maps [N, H, W] (higher = more important); ``quality``/``decoys``: bool
    [N, B]. Mass shares are given for pixel maps only (region scores carry no area), and need non-negative maps.
    """
    values = region_values(maps, grid)
    if not np.isfinite(values).all():
        raise ValueError("planted_scores: the maps contain NaN or infinite values")
    half = top_half(values)
    quality, decoys = np.asarray(quality, dtype=bool), np.asarray(decoys, dtype=bool)
    out = {"quality hit rate": hit_rate(half, quality), "decoy hit rate": hit_rate(half, decoys),
           "chance hit rate": chance_hit_rate(half)}
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 3:
        n_cells = quality.shape[1]
        out["quality mass share"] = float(np.nanmean([mass_in_cells(m, np.flatnonzero(q), grid) for m, q in zip(maps, quality)]))
        out["decoy mass share"] = float(np.nanmean([mass_in_cells(m, np.flatnonzero(d), grid) for m, d in zip(maps, decoys)]))
        out["chance quality share"] = float(quality.sum(1).mean() / n_cells)
        out["chance decoy share"] = float(decoys.sum(1).mean() / n_cells)
    return out


def planted_table(methods: dict[str, np.ndarray], quality: np.ndarray, decoys: np.ndarray, grid: Grid = (3, 4)) -> pd.DataFrame:
    """One row per method (name -> maps, as :func:`planted_scores` takes them) with its planted scores."""
    return pd.DataFrame([{"method": name, **planted_scores(maps, quality, decoys, grid)} for name, maps in methods.items()])


#: The tables the notebooks write that score methods against the planted truth: name -> (what, method column(s)).
PLANTED_TABLES = {
    "02_half_masking": ("masked TRIQ (02)", ["rule"]),
    "04_measures_vs_planted": ("semantic measures (04)", ["measure"]),
    "05_map_share_planted": ("explanation maps (05)", ["map"]),
    "07_occlusion_vs_planted": ("occlusion maps (07)", ["model", "fill"]),
    "07_gradients_vs_planted": ("gradient maps (07)", ["map"]),
    "10_faithfulness": ("faithfulness benchmark (10)", ["model", "method"]),
}


def planted_summary(tables: Path) -> pd.DataFrame:
    """Every method's hit rates on quality cells and decoys, with chance, from the planted-truth tables in ``tables``."""
    parts = []
    for name, (what, keys) in PLANTED_TABLES.items():
        path = Path(tables) / f"{name}.csv"
        if not path.exists():
            continue
        table = pd.read_csv(path)
        missing = {"quality hit rate", "decoy hit rate"} - set(table)
        if missing:
            raise ValueError(f"{path} has no {sorted(missing)} column: written before the demo world had decoys; rerun its notebook")
        parts.append(pd.DataFrame({
            "family": what, "method": table[keys].astype(str).agg(" / ".join, axis=1),
            "quality hit rate": table["quality hit rate"], "decoy hit rate": table["decoy hit rate"],
            "chance hit rate": table["chance hit rate"] if "chance hit rate" in table else 0.5}))
    if not parts:
        raise FileNotFoundError(f"no planted-truth tables ({', '.join(PLANTED_TABLES)}) in {tables}: run notebooks 02-07 first")
    return pd.concat(parts, ignore_index=True)
