"""Saving tables and figures with their provenance: demo-world and dry-run results never pass for the papers' numbers.

Where outputs go: the smoke profile writes the committed ``tables/`` and ``figures/`` (demo results, labelled
as such); a paper run writes ``results/<profile>/<dataset>/`` (``results/paper-dry-run/...`` for the dry
run), so it never touches the committed files and two datasets never collide. ``$IQAXAI_OUT`` moves the base
folder (tests use it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from iqaxai.paths import repo_root

SOURCES = {
    "demo": "DEMO WORLD (synthetic data): not the papers' results",
    "dry-run": "PAPER DRY RUN (random weights, miniature synthetic data): not results",
    "real": "real datasets",
}


def provenance(source: str) -> str:
    """The provenance line every table caption and figure title carries (``source``: demo, dry-run or real)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    return SOURCES[source]


def output_base() -> Path:
    """The folder that holds ``tables/``, ``figures/`` and ``results/``: ``$IQAXAI_OUT`` (relative to the
    repository when relative, so notebooks running in ``notebooks/`` agree), else the repository."""
    return repo_root() / os.environ.get("IQAXAI_OUT", "")


def output_folder(profile: str, datasets: list[str] | tuple[str, ...] = (), source: str = "real") -> Path:
    """Where a run's outputs go: the base for smoke, ``results/<profile>[-dry-run]/<a+b>`` for a paper run."""
    if profile == "smoke":
        return output_base()
    if not datasets:
        raise ValueError("a paper run's outputs need the dataset names")
    run = f"{profile}-dry-run" if source == "dry-run" else profile
    return output_base() / "results" / run / "+".join(datasets)


def _subfolder(folder: Path | None, kind: str) -> Path:
    out = (folder or output_base()) / kind
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_table(table: pd.DataFrame, name: str, caption: str, source: str, index: bool = False, floatfmt: str = ".3f",
               folder: Path | None = None) -> Path:
    """Write ``<folder>/tables/<name>.csv`` and ``.md`` (caption with provenance); return the CSV path."""
    line = provenance(source)
    out = _subfolder(folder, "tables")
    csv = out / f"{name}.csv"
    table.to_csv(csv, index=index)
    body = table.to_markdown(index=index, floatfmt=floatfmt)
    (out / f"{name}.md").write_text(f"**{caption}** ({line})\n\n{body}\n")
    return csv


class FigureCheckError(ValueError):
    """A figure a reader could misread: no data source in its title, unlabelled data axes, colours without a scale."""


def _scale(mappable) -> tuple:
    """What a colour bar reads off: the colormap and the norm's kind and limits."""
    norm = mappable.norm
    return mappable.get_cmap().name, type(norm).__name__, norm.vmin, norm.vmax


def _has_label(fig, ax, axis: str) -> bool:
    """Whether ``ax``'s x or y axis is labelled: its own label, a shared sibling's, or the figure's sup-label."""
    shared = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    own = [getattr(a, f"get_{axis}label")() for a in shared.get_siblings(ax)]
    return any(own) or bool(getattr(fig, f"get_sup{axis}label")())


def check_figure(fig, name: str) -> None:
    """Refuse a figure a reader could misread (:class:`FigureCheckError` naming ``name`` and the axes):

    * its title (suptitle) must carry a provenance line of :data:`SOURCES` (the data source);
    * every visible axes showing data (lines, collections, patches, or images with ticks) needs x and y labels;
      axes that only show images with the axis off or no ticks, and colour-bar axes, are exempt;
    * every colormapped artist (2-D image, pcolormesh, scatter with a value array) needs a colour bar, its own
      or one of the figure's colour bars with the same colormap and limits (one bar for a row of maps).
    """
    problems = []
    if not any(line in fig.get_suptitle() for line in SOURCES.values()):
        problems.append("its title does not name the data source (a provenance line of report.SOURCES)")
    colorbars = [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None)]  # matplotlib marks a bar's axes so
    bars = {_scale(cb.mappable) for cb in colorbars}
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or getattr(ax, "_colorbar", None):
            continue
        where = f"axes {i} ({ax.get_title() or 'untitled'!r})"
        image_only = ax.images and (not ax.axison or not (len(ax.get_xticks()) or len(ax.get_yticks())))
        shows_data = ax.lines or ax.collections or ax.patches or ax.images
        if shows_data and not image_only and not (_has_label(fig, ax, "x") and _has_label(fig, ax, "y")):
            problems.append(f"{where} shows data without both an x and a y label")
        for artist in [*ax.images, *ax.collections]:
            values = artist.get_array()
            if values is None or np.ndim(values) > 2:  # RGB(A) image or plain colours: no colormap to explain
                continue
            if artist.colorbar is None and _scale(artist) not in bars:
                problems.append(f"{where} maps values through the colormap {artist.get_cmap().name!r} "
                                f"({type(artist).__name__}) without a colour bar for its scale")
    if problems:
        raise FigureCheckError(f"figure {name!r}: " + "; ".join(problems))


def _title(fig, text: str) -> None:
    """Put ``text`` as the suptitle just above everything else drawn, for figures of any height.

    A layout engine runs once first and is then switched off, so the axes keep their places while saving; figure
    legends are pinned to the figure's frame (by default they follow its box, which a tight save crops).
    """
    if fig.get_suptitle():
        fig.suptitle("")
    if fig.get_layout_engine() is not None:
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine("none")
    for legend in fig.legends:
        if legend.get_bbox_to_anchor() is fig.bbox:
            legend.set_bbox_to_anchor((0, 0, 1, 1), transform=fig.transFigure)
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    fig.suptitle(text, fontsize=10, x=(box.x0 + box.x1) / 2 / width, y=(box.y1 + 0.08) / height, va="bottom")


def save_figure(fig, name: str, title: str, source: str, dpi: int = 110, folder: Path | None = None) -> Path:
    """Title ``fig`` with its provenance, check it (:func:`check_figure`), write ``<folder>/figures/<name>.png``;
    return the path."""
    _title(fig, f"{title}\n{provenance(source)}")
    check_figure(fig, name)
    path = _subfolder(folder, "figures") / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
