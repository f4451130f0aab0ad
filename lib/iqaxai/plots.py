"""Figure helpers shared by the notebooks (drawing only; no computation of results)."""

from __future__ import annotations

from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from iqaxai.grid import Grid, cell_slices


def draw_grid(ax, shape: Sequence[int], grid: Grid = (3, 4), cells: Iterable[int] = (), color: str = "lime") -> None:
    """Draw the region grid on ``ax`` and outline ``cells``."""
    slices = cell_slices(shape, grid)
    for k, (sy, sx) in enumerate(slices):
        ax.add_patch(Rectangle((sx.start - 0.5, sy.start - 0.5), sx.stop - sx.start, sy.stop - sy.start,
                               fill=False, lw=0.4, ec="white", alpha=0.6))
    for k in cells:
        sy, sx = slices[int(k)]
        ax.add_patch(Rectangle((sx.start - 0.5, sy.start - 0.5), sx.stop - sx.start, sy.stop - sy.start,
                               fill=False, lw=2, ec=color))


def image_grid(n: int, cols: int, size: float = 2.6):
    """A figure with ``n`` image axes laid out in ``cols`` columns, axes hidden."""
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 0.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat
