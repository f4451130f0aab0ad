"""Dataset tables: ``load_dataset(name, root=None)`` for the real IQA and saliency datasets and the demo world.

Every loader returns a pandas table with the columns of :data:`iqaxai.data.common.COLUMNS` (path, MOS on
0-100 with higher = better, the original MOS, SD where given, split) plus the group keys that matter for
that dataset. A missing or malformed dataset raises :class:`DatasetError`.
"""

from __future__ import annotations

import importlib
import os
import re

import pandas as pd

from iqaxai.data.common import COLUMNS, DatasetError

#: name -> (module, function). Loaders are imported lazily so that a broken optional one never blocks others.
_LOADERS: dict[str, tuple[str, str]] = {
    "koniq10k": ("iqaxai.data.koniq", "load_koniq10k"),
    "spaq": ("iqaxai.data.spaq", "load_spaq"),
    "clive": ("iqaxai.data.clive", "load_clive"),
    "tid2013": ("iqaxai.data.tid2013", "load_tid2013"),
    "kadid10k": ("iqaxai.data.kadid", "load_kadid10k"),
    "csiq": ("iqaxai.data.csiq", "load_csiq"),
    "cidiq50": ("iqaxai.data.cidiq", "load_cidiq50"),
    "cidiq100": ("iqaxai.data.cidiq", "load_cidiq100"),
    "cidgd": ("iqaxai.data.cidgd", "load_cidgd"),
    "salicon": ("iqaxai.data.salicon", "load_salicon"),
    "cat2000": ("iqaxai.data.cat2000", "load_cat2000"),
    "sacid": ("iqaxai.data.sacid", "load_sacid"),
}

_ALIASES = {"koniq": "koniq10k", "kadid": "kadid10k", "livec": "clive", "livechallenge": "clive", "cidiq": "cidiq50"}


def canonical_name(name: str) -> str:
    """Normalise a dataset name ('KonIQ-10k', 'CID:IQ', 'kadid_10k' ...) to its registry key."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    key = _ALIASES.get(key, key)
    if key not in _LOADERS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(list_datasets())}")
    return key


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(_LOADERS)


def load_dataset(name: str, root: str | os.PathLike | None = None, **kwargs) -> pd.DataFrame:
    """Load one dataset's table from the data root (argument, ``$IQAXAI_DATA`` or ``data/``)."""
    module, func = _LOADERS[canonical_name(name)]
    return getattr(importlib.import_module(module), func)(root=root, **kwargs)


__all__ = ["COLUMNS", "DatasetError", "canonical_name", "list_datasets", "load_dataset"]
