"""Saving tables and figures with their provenance: demo-world and dry-run results never pass for the papers' numbers.

Where outputs go: the smoke profile writes the committed ``tables/`` and ``figures/`` (demo results, labelled
as such); a paper run writes ``results/<profile>/<dataset>/`` (``results/paper-dry-run/...`` for the dry
run), so it never touches the committed files and two datasets never collide. ``$IQAXAI_OUT`` moves the base
folder (tests use it).
"""

from __future__ import annotations

import os
from pathlib import Path

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


def save_figure(fig, name: str, title: str, source: str, dpi: int = 110, folder: Path | None = None) -> Path:
    """Title ``fig`` with its provenance and write ``<folder>/figures/<name>.png``; return the path."""
    fig.suptitle(f"{title}\n{provenance(source)}", fontsize=10, y=1.0, va="bottom")
    path = _subfolder(folder, "figures") / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
