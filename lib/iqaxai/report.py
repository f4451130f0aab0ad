"""Saving tables and figures with their provenance: demo-world results never pass for the papers' numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iqaxai.paths import output_dir

SOURCES = {
    "demo": "DEMO WORLD (synthetic data): not the papers' results",
    "real": "real datasets",
}


def data_source(profile: str) -> str:
    """The data source a profile runs on: ``demo`` for smoke, ``real`` for paper."""
    if profile not in ("smoke", "paper"):
        raise ValueError(f"profile must be 'smoke' or 'paper', got {profile!r}")
    return "demo" if profile == "smoke" else "real"


def provenance(source: str) -> str:
    """The provenance line every table caption and figure title carries (``source``: demo or real)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    return SOURCES[source]


def save_table(table: pd.DataFrame, name: str, caption: str, source: str, index: bool = False, floatfmt: str = ".3f") -> Path:
    """Write ``tables/<name>.csv`` and ``tables/<name>.md`` (caption with provenance); return the CSV path."""
    out = output_dir("tables")
    csv = out / f"{name}.csv"
    table.to_csv(csv, index=index)
    body = table.to_markdown(index=index, floatfmt=floatfmt)
    (out / f"{name}.md").write_text(f"**{caption}** ({provenance(source)})\n\n{body}\n")
    return csv


def save_figure(fig, name: str, title: str, source: str, dpi: int = 110) -> Path:
    """Title ``fig`` with its provenance and write ``figures/<name>.png``; return the path."""
    fig.suptitle(f"{title}\n{provenance(source)}", fontsize=10, y=1.0, va="bottom")
    path = output_dir("figures") / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
