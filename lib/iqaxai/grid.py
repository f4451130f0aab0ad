"""The region grid of the ICIP 2023 paper: an image (or feature map) divided into rows x cols blocks.

Block ``k`` is row ``k // cols``, column ``k % cols`` (row-major, top-left first). Sizes that are not
divisible by the grid are handled by rounding the block boundaries (``round(i * size / n)``), so blocks
differ by at most one pixel; a size smaller than the grid is rejected.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

Grid = tuple[int, int]


def boundaries(size: int, n: int) -> np.ndarray:
    """Block boundaries (n + 1 integers) that split ``size`` pixels into ``n`` near-equal parts."""
    if n < 1:
        raise ValueError(f"grid dimension must be at least 1, got {n}")
    if size < n:
        raise ValueError(f"cannot divide {size} pixels into {n} blocks: the image is smaller than the grid")
    return np.round(np.arange(n + 1) * size / n).astype(int)


def cell_slices(shape: Sequence[int], grid: Grid = (3, 4)) -> list[tuple[slice, slice]]:
    """(row slice, column slice) of every block of a ``shape = (H, W, ...)`` array, row-major."""
    rows, cols = grid
    by, bx = boundaries(int(shape[0]), rows), boundaries(int(shape[1]), cols)
    return [(slice(by[r], by[r + 1]), slice(bx[c], bx[c + 1])) for r in range(rows) for c in range(cols)]


def cell_mask(shape: Sequence[int], cells: Iterable[int], grid: Grid = (3, 4)) -> np.ndarray:
    """Boolean (H, W) mask that is True inside the listed blocks."""
    mask = np.zeros(tuple(int(s) for s in shape[:2]), dtype=bool)
    slices = cell_slices(shape, grid)
    for k in cells:
        if not 0 <= int(k) < len(slices):
            raise ValueError(f"block index {k} outside the {grid[0]}x{grid[1]} grid")
        mask[slices[int(k)]] = True
    return mask


def cell_means(values: np.ndarray, grid: Grid = (3, 4)) -> np.ndarray:
    """Mean of a per-pixel map over each block, shape (rows * cols,)."""
    return np.array([float(np.mean(values[s])) for s in cell_slices(values.shape, grid)])


def blank_cells(image: np.ndarray, cells: Iterable[int], grid: Grid = (3, 4), value: float | Sequence[float] = 0.0) -> np.ndarray:
    """Copy of an (H, W[, C]) image with the listed blocks set to ``value``."""
    out = np.array(image, copy=True)
    out[cell_mask(out.shape, cells, grid)] = value
    return out


def mass_in_cells(values: np.ndarray, cells: Iterable[int], grid: Grid = (3, 4)) -> float:
    """Share of a non-negative map's total mass that lies inside the listed blocks (NaN for an all-zero map)."""
    values = np.asarray(values, dtype=float)
    if (values < 0).any():
        raise ValueError("mass_in_cells needs a non-negative map (take np.clip(m, 0, None) or np.abs(m) first)")
    total = values.sum()
    return float(values[cell_mask(values.shape, cells, grid)].sum() / total) if total > 0 else float("nan")


def top_half(values: np.ndarray) -> np.ndarray:
    """bool [..., B]: the B/2 regions with the higher values; ties go to the lower region index."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim < 1 or v.shape[-1] < 2 or v.shape[-1] % 2:
        raise ValueError(f"need an even number (>= 2) of region values, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("region values contain NaN or infinite values")
    order = np.argsort(-v, axis=-1, kind="stable")  # stable: equal values keep index order
    top = np.zeros(v.shape, dtype=bool)
    np.put_along_axis(top, order[..., : v.shape[-1] // 2], True, axis=-1)
    return top
