"""CIDGD, the Colourlab Image Database: Geometric Distortions (Pedersen & Amirshahi, CIC 2021).

Not an official layout: the release's file layout and score format are unknown to this project (not
verified), so this loader reads a **converted** CSV that the user writes from the release (see the
'CIDGD' section of data/README.md, which shows how)::

    CIDGD/
        cidgd_scores.csv    header: reference,distorted,score[,scale_min,scale_max]
        <any folders>       the images, at the paths given in the CSV (relative to CIDGD/)

``reference`` and ``distorted`` are image paths relative to the ``CIDGD/`` folder; ``score`` is the
subjective score with higher = better (pass ``lower_better=True`` otherwise). The nominal score range is
taken per row from the optional ``scale_min`` / ``scale_max`` columns, else from ``score_range``
(default 0-100), and mapped linearly to 0-100; a score outside its range and a distorted image listed
twice are errors naming the line. No SD. Group keys ``ref`` (the reference path as written),
``ref_path``; the seeded split keeps each reference image in one split.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from iqaxai.data.common import (
    DatasetError,
    check_scores,
    check_unique,
    full_reference_table,
    locate_dataset,
    read_score_csv,
    require_columns,
)

NAME = "CIDGD"
KEY = "cidgd"
FOLDER = "CIDGD"
SCORES_FILE = "cidgd_scores.csv"


def load_cidgd(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    score_range: tuple[float, float] = (0.0, 100.0),
    lower_better: bool = False,
) -> pd.DataFrame:
    """CIDGD table from ``cidgd_scores.csv`` (format documented in the module docstring)."""
    folder = locate_dataset(NAME, [FOLDER], root, [SCORES_FILE])
    path = folder / SCORES_FILE
    raw = read_score_csv(NAME, path, ["reference", "distorted", "score"])

    n = len(raw)
    if "scale_min" in raw.columns or "scale_max" in raw.columns:
        require_columns(NAME, path, raw, ["scale_min", "scale_max"])
        check_scores(NAME, path, raw["scale_min"], "scale_min", unit="line")
        check_scores(NAME, path, raw["scale_max"], "scale_max", unit="line")
        lo = raw["scale_min"].astype(float).to_numpy()
        hi = raw["scale_max"].astype(float).to_numpy()
    else:
        lo = np.full(n, float(score_range[0]))
        hi = np.full(n, float(score_range[1]))
    if (hi <= lo).any():
        raise DatasetError(NAME, path, "the score range must have scale_max > scale_min")
    check_scores(NAME, path, raw["score"], "score", lo, hi, unit="line")

    refs = raw["reference"].astype(str).str.strip().str.replace("\\", "/", regex=False).tolist()
    images = raw["distorted"].astype(str).str.strip().str.replace("\\", "/", regex=False).tolist()
    check_unique(NAME, path, pd.Series(images, index=raw.index), raw["score"], what="distorted image", unit="line")
    score = raw["score"].astype(float).to_numpy()
    mos = (score - lo) / (hi - lo) * 100.0
    if lower_better:
        mos = 100.0 - mos
    return full_reference_table(
        NAME, KEY, folder, images, mos, score, {"ref": refs, "ref_path": refs}, split_seed=split_seed, ratios=ratios
    )
