"""Figure helpers shared by the notebooks (drawing only; no computation of results)."""

from __future__ import annotations

from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from iqaxai.grid import Grid, cell_slices


def draw_grid(ax, shape: Sequence[int], grid: Grid = (3, 4), cells: Iterable[int] = (), color: str = "lime",
              lw: float = 2, ls: str = "-", inset: float = 0) -> None:
    """Draw the region grid on ``ax`` and outline ``cells`` (line width ``lw``, style ``ls``), each outline
    ``inset`` pixels inside its cell so that two sets of outlines drawn on one image stay apart."""
    slices = cell_slices(shape, grid)
    for k, (sy, sx) in enumerate(slices):
        ax.add_patch(Rectangle((sx.start - 0.5, sy.start - 0.5), sx.stop - sx.start, sy.stop - sy.start,
                               fill=False, lw=0.4, ec="white", alpha=0.6))
    for k in cells:
        sy, sx = slices[int(k)]
        ax.add_patch(Rectangle((sx.start - 0.5 + inset, sy.start - 0.5 + inset), sx.stop - sx.start - 2 * inset,
                               sy.stop - sy.start - 2 * inset, fill=False, lw=lw, ls=ls, ec=color))


def image_grid(n: int, cols: int, size: float = 2.6):
    """A figure with ``n`` image axes laid out in ``cols`` columns, axes hidden (constrained layout, so that
    colour bars of :func:`colorbar` keep the rows and columns aligned)."""
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 0.8), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def block_heatmap(ax, values: Sequence[float], grid: Grid = (3, 4), image: np.ndarray | None = None,
                  cmap: str = "magma", alpha: float = 0.55, fmt: str = "{:.2f}", vmin=None, vmax=None,
                  label: str | None = None):
    """Show one value per grid block (row-major) as a heatmap, over ``image`` if given, with the values written in;
    with ``label``, a colour bar of that label beside ``ax`` (else give the returned image one, or a shared one)."""
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
        r, g, b, _ = artist.cmap(artist.norm(values[k]))
        dark = image is None and 0.299 * r + 0.587 * g + 0.114 * b > 0.6  # black text on light cells of the colormap
        ax.text((sx.start + sx.stop - 1) / 2, (sy.start + sy.stop - 1) / 2, fmt.format(values[k]),
                ha="center", va="center", fontsize=7, color="black" if dark else "white")
    ax.set_xticks([])
    ax.set_yticks([])
    if label is not None:
        colorbar(artist, ax, label)
    return artist


def shared_limits(maps: Iterable[np.ndarray], symmetric: bool = False) -> dict[str, float]:
    """``vmin``/``vmax`` covering all ``maps`` (one scale for a row or column of maps); ``symmetric``: +-max|value|,
    centred on 0 for signed maps. A constant map gets a small range instead of an empty one."""
    values = np.concatenate([np.ravel(m) for m in maps])
    if symmetric:
        lim = float(np.abs(values).max()) or 1e-12
        return {"vmin": -lim, "vmax": lim}
    low, high = float(values.min()), float(values.max())
    return {"vmin": low, "vmax": high if high > low else low + 1e-12}


def colorbar(artist, axes, label: str, location: str = "right", **kwargs):
    """One colour bar for ``artist``'s scale beside ``axes`` (an axes, or several drawn on the same scale)."""
    axes = list(np.ravel(axes)) if np.iterable(axes) else axes
    fig = artist.axes.figure
    kwargs = {"shrink": 0.9, **kwargs}
    bar = fig.colorbar(artist, ax=axes, location=location, **kwargs)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=7)
    return bar


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at whole numbers only on ``ax``'s ``axis`` (for indices such as DCT bands)."""
    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def line_legend(fig, entries: dict[str, dict], **kwargs):
    """A figure legend of line styles (``{label: Line2D keywords}``), e.g. for outlines drawn with :func:`draw_grid`."""
    handles = [Line2D([], [], **style) for style in entries.values()]
    kwargs = {"loc": "outside lower center", "ncols": len(entries), "fontsize": 8, "frameon": False, **kwargs}
    return fig.legend(handles, list(entries), **kwargs)


def figure_legend(fig, axes, **kwargs):
    """One legend for the whole figure with every label drawn on any of ``axes`` (instead of one per panel)."""
    entries: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    kwargs = {"loc": "outside lower center", "ncols": len(entries), "fontsize": 8, "frameon": False, **kwargs}
    return fig.legend(list(entries.values()), list(entries), **kwargs)


# Outlier detectors in drawing order: large hollow markers first, smaller ones on top, so that a point flagged by
# several detectors shows every one of them (a circle, a square inside it, a cross, a black dot at the centre).
OUTLIER_STYLES = {
    "ransac": {"label": "RANSAC", "marker": "o", "s": 90, "facecolors": "none", "edgecolors": "tab:purple",
               "linewidths": 1.2},
    "loo_plcc": {"label": "LOO PLCC", "marker": "s", "s": 36, "facecolors": "none", "edgecolors": "tab:orange",
                 "linewidths": 1.2},
    "logistic_2sigma": {"label": "logistic 2-sigma", "marker": "x", "s": 28, "c": "tab:red", "linewidths": 1.2},
    "combined": {"label": "all rules (combined)", "marker": "o", "s": 10, "c": "black"},
}
_OTHER_OUTLIERS = {"marker": "D", "s": 20, "facecolors": "none", "edgecolors": "grey"}


def outlier_scatter(ax, pred: np.ndarray, mos: np.ndarray, hits: dict[str, np.ndarray], fit: np.ndarray | None = None,
                    best: np.ndarray | None = None) -> None:
    """Predictions against MOS (grey), the fitted mapping ``fit`` (per point), the ``best`` predicted (green), and the
    points each detector flags (``hits``: method -> boolean mask) in the marker of :data:`OUTLIER_STYLES`."""
    ax.scatter(pred, mos, s=6, c="lightgrey", label="images")
    if fit is not None:
        order = np.argsort(pred)
        ax.plot(pred[order], np.asarray(fit)[order], c="tab:blue", lw=1, label="logistic mapping")
    if best is not None:
        ax.scatter(pred[best], mos[best], s=14, c="tab:green", alpha=0.8, label="best predicted")
    known = [m for m in OUTLIER_STYLES if m in hits] + [m for m in hits if m not in OUTLIER_STYLES]
    for method in known:
        style = OUTLIER_STYLES.get(method, {"label": method, **_OTHER_OUTLIERS})
        hit = np.asarray(hits[method], dtype=bool)
        ax.scatter(pred[hit], mos[hit], **style)
    ax.set(xlabel="prediction", ylabel="MOS")


def zeroed_view(image: np.ndarray, zeroed: Sequence[bool], grid: Grid = (3, 4)) -> np.ndarray:
    """Copy of an (H, W, 3) image with the zeroed blocks shown black (as in the paper's Fig. 2)."""
    out = np.array(image, copy=True)
    for k, (sy, sx) in enumerate(cell_slices(out.shape, grid)):
        if zeroed[k]:
            out[sy, sx] = 0
    return out


def morf_lerf_axes(ax, curves, metric: str = "plcc", title: str = "") -> None:
    """Fig. 2 of the saliency paper on one axis: ``metric`` against the masked share (%) per method (colour),
    MoRF solid and LeRF dashed; ``curves`` has columns method, order, fraction and the metric."""
    colours = dict(zip(curves["method"].unique(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4))
    for (method, order), part in curves.groupby(["method", "order"], sort=False):
        part = part.sort_values("fraction")
        ax.plot(100 * part["fraction"], part[metric], color=colours[method], ls="-" if order == "MoRF" else "--",
                marker=".", label=f"{method} {order}")
    ax.set_xlabel("masked pixels (%)")
    ax.set_ylabel(metric.upper() + " with MOS")
    ax.set_title(title, fontsize=9)
    ax.axhline(0, color="grey", lw=0.5)
