"""SACID (Kirillov, Moskalenko & Vatolin, arXiv 2405.04997): saliency-aware compressed images.

60 source images x 3 bitrates (0.08 / 0.12 / 0.16 bpp) x 4 presets (none, p132, p220, p310) = 720
compressed images, with subjective scores from pairwise comparisons.

Layout under the data root (see the 'SACID' section of data/README.md), as in github.com/Alexkkir/SACID::

    SACID/
        moses.csv          header sequence,test_case,subjective_score
        compressed/<sequence>/h264v@targetbbp100=<8|12|16>_preset=<none|p132|p220|p310>.jpg
        reference/<sequence>.png
        saliency/<sequence>.png

Scores: ``subjective_score`` is a pairwise-comparison scale anchored per source (each sequence has one
0, its worst image), so scores are only comparable within a sequence. ``mos_original`` keeps it;
``mos`` is a per-sequence min-max rescale to 0-100, for display only: statistics such as rank
correlations must be computed within sequences (group by ``sequence``) and then averaged. No SD.
Group keys ``sequence``, ``preset``, ``bitrate`` (bpp = targetbbp100 / 100), ``ref_path``,
``saliency_path``; the seeded split keeps each sequence in one split.

A missing reference PNG does not stop the load (no-reference use needs none): the rows of that
sequence get ``ref_path`` NaN and a :class:`~iqaxai.data.common.DatasetWarning` names the missing files;
``require_references=True`` makes it an error, for full-reference use. A negative or infinite score and
a (sequence, test_case) pair listed twice are errors naming the line.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from iqaxai.data.common import (
    SHOWN,
    DatasetError,
    DatasetWarning,
    check_scores,
    check_unique,
    find_images,
    full_reference_table,
    locate_dataset,
    read_score_csv,
)

NAME = "SACID"
KEY = "sacid"
FOLDER = "SACID"
SCORES_FILE = "moses.csv"
TEST_CASE = re.compile(r"targetbbp100=(\d+)_preset=([A-Za-z0-9]+)")


def per_sequence_minmax(scores: pd.Series, sequences: pd.Series) -> np.ndarray:
    """Min-max rescale of ``scores`` to 0-100 within each sequence (50 where a sequence is constant)."""
    s = pd.Series(np.asarray(scores, dtype=float))
    g = pd.Series(np.asarray(sequences))
    lo = s.groupby(g).transform("min")
    hi = s.groupby(g).transform("max")
    span = hi - lo
    out = np.where(span > 0, (s - lo) / span.where(span > 0, 1.0) * 100.0, 50.0)
    return np.asarray(out, dtype=float)


def reference_paths(folder: Path, sequences: Sequence[str], required: bool) -> list[str | float]:
    """Absolute reference PNG per row, NaN (with a DatasetWarning) where missing; an error if ``required``."""
    rels = [f"reference/{s}.png" for s in sequences]
    found = find_images(folder, rels)
    missing = sorted({r for r, p in zip(rels, found) if p is None})
    if missing:
        what = f"{len(missing)} of {len(set(rels))} reference images are missing (first: {', '.join(missing[:SHOWN])})"
        if required:
            raise DatasetError(NAME, folder, what)
        warnings.warn(
            f"{NAME}: {what} in {folder}; their rows have ref_path NaN. No-reference use needs none; "
            "pass require_references=True to make this an error.",
            DatasetWarning,
            stacklevel=3,
        )
    return [np.nan if p is None else p for p in found]


def load_sacid(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    require_references: bool = False,
) -> pd.DataFrame:
    """SACID table of the compressed images with reference and saliency-map paths.

    ``require_references``: a missing reference PNG is an error (full-reference use) instead of a
    warning with ``ref_path`` NaN in that sequence's rows.
    """
    folder = locate_dataset(NAME, [FOLDER], root, [SCORES_FILE])
    path = folder / SCORES_FILE
    raw = read_score_csv(NAME, path, ["sequence", "test_case", "subjective_score"])
    check_scores(NAME, path, raw["subjective_score"], "subjective_score", 0.0, None, unit="line")

    seqs = raw["sequence"].astype(str).str.strip()
    cases = raw["test_case"].astype(str).str.strip().str.replace(r"\.(jpg|png)$", "", regex=True)
    parsed = cases.str.extract(TEST_CASE)
    if parsed.isna().any(axis=None):
        bad = list(cases[parsed.isna().any(axis=1)][:5])
        raise DatasetError(
            NAME, path, f"test_case should look like 'h264v@targetbbp100=16_preset=p132', got {bad}"
        )
    images = [f"compressed/{s}/{c}.jpg" for s, c in zip(seqs, cases)]
    check_unique(NAME, path, pd.Series(images, index=raw.index), raw["subjective_score"], unit="line")
    score = raw["subjective_score"].astype(float).to_numpy()
    groups = {
        "sequence": seqs.to_numpy(),
        "preset": parsed[1].to_numpy(),
        "bitrate": parsed[0].astype(int).to_numpy() / 100.0,
        "ref_path": reference_paths(folder, list(seqs), require_references),
        "saliency_path": [f"saliency/{s}.png" for s in seqs],
    }
    return full_reference_table(
        NAME, KEY, folder, images, per_sequence_minmax(score, seqs), score, groups,
        image_columns={"saliency_path": "saliency maps"},
        split_by="sequence", split_seed=split_seed, ratios=ratios, what="compressed images",
    )
