"""Figure helpers shared by the notebooks (drawing only; no computation of results)."""

from __future__ import annotations

from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from iqaxai.grid import Grid, cell_slices


def draw_grid(ax, shape: Sequence[int], grid: Grid = (3, 4), cells: Iterable[int] = (), color: str = "lime",
              lw: float = 2, ls: str = "-") -> None:
    """Draw the region grid on ``ax`` and outline ``cells`` (line width ``lw``, style ``ls``)."""
    slices = cell_slices(shape, grid)
    for k, (sy, sx) in enumerate(slices):
        ax.add_patch(Rectangle((sx.start - 0.5, sy.start - 0.5), sx.stop - sx.start, sy.stop - sy.start,
                               fill=False, lw=0.4, ec="white", alpha=0.6))
    for k in cells:
        sy, sx = slices[int(k)]
        ax.add_patch(Rectangle((sx.start - 0.5, sy.start - 0.5), sx.stop - sx.start, sy.stop - sy.start,
                               fill=False, lw=lw, ls=ls, ec=color))


def image_grid(n: int, cols: int, size: float = 2.6):
    """A figure with ``n`` image axes laid out in ``cols`` columns, axes hidden."""
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 0.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def block_heatmap(ax, values: Sequence[float], grid: Grid = (3, 4), image: np.ndarray | None = None,
                  cmap: str = "magma", alpha: float = 0.55, fmt: str = "{:.2f}", vmin=None, vmax=None):
    """Show one value per grid block (row-major) as a heatmap, over ``image`` if given, with the values written in."""
    values = np.asarray(values, dtype=float)
    shape = image.shape[:2] if image is not None else grid
    field = np.zeros(shape)
    slices = cell_slices(shape, grid)
    for k, (sy, sx) in enumerate(slices):
        field[sy, sx] = values[k]
    if image is not None:
        ax.imshow(image)
    artist = ax.imshow(field, cmap=cmap, alpha=alpha if image is not None else 1.0, vmin=vmin, vmax=vmax)
    for k, (sy, sx) in enumerate(slices):
        ax.text((sx.start + sx.stop - 1) / 2, (sy.start + sy.stop - 1) / 2, fmt.format(values[k]),
                ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks([])
    ax.set_yticks([])
    return artist


def zeroed_view(image: np.ndarray, zeroed: Sequence[bool], grid: Grid = (3, 4)) -> np.ndarray:
    """Copy of an (H, W, 3) image with the zeroed blocks shown black (as in the paper's Fig. 2)."""
    out = np.array(image, copy=True)
    for k, (sy, sx) in enumerate(cell_slices(out.shape, grid)):
        if zeroed[k]:
            out[sy, sx] = 0
    return out
