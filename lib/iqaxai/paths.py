"""Where the repository, the data root and generated outputs live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def repo_root() -> Path:
    """The repository root (two levels above the package, as installed in editable mode)."""
    return REPO_ROOT


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else ``$IQAXAI_DATA``, else ``<repo>/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("IQAXAI_DATA")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "data"


def cache_dir() -> Path:
    """Directory for the results cache and generated demo data (``$IQAXAI_CACHE`` overrides)."""
    env = os.environ.get("IQAXAI_CACHE")
    out = Path(env) if env else REPO_ROOT / ".cache"
    out.mkdir(parents=True, exist_ok=True)
    return out
