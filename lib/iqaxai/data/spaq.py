"""SPAQ (Fang et al., CVPR 2020): 11,125 smartphone photos with MOS and five image attribute scores.

Layout under the data root (see the 'SPAQ' section of data/README.md)::

    SPAQ/
        Annotations/MOS and Image attribute scores.xlsx   (or MOS_and_Image_attribute_scores.xlsx)
        TestImage/00001.jpg ... 11125.jpg

The score sheet has columns ``Image name, MOS, Brightness, Colorfulness, Contrast, Noisiness, Sharpness``.
MOS is already on 0-100 (higher is better); SPAQ publishes no per-image SD, so ``sd`` is NaN. The
attribute scores are kept as lower-case columns. There is no official split: a seeded random split.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from iqaxai.data.common import (
    DatasetError,
    check_scores,
    finish_table,
    locate_dataset,
    require_columns,
    require_images,
)
from iqaxai.data.splits import add_stratified_split, seeded_split

NAME = "SPAQ"
KEY = "spaq"
FOLDER = "SPAQ"
SCORE_FILES = ("Annotations/MOS and Image attribute scores.xlsx", "Annotations/MOS_and_Image_attribute_scores.xlsx")
ATTRIBUTES = ["Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"]
IMAGE_FOLDER = "TestImage"


def load_spaq(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    split: str = "seeded",
) -> pd.DataFrame:
    """SPAQ table with the attribute scores (``brightness`` ... ``sharpness``) as extra columns.

    ``split``: ``'seeded'`` (random, by ``split_seed`` and ``ratios``) or ``'stratified'`` (MOS and
    image-complexity stratified, slow: it reads every image).
    """
    if split not in ("seeded", "stratified"):
        raise ValueError(f"split must be 'seeded' or 'stratified', got {split!r}")
    folder = locate_dataset(NAME, [FOLDER], root, list(SCORE_FILES))
    scores_path = next(folder / f for f in SCORE_FILES if (folder / f).exists())
    try:
        raw = pd.read_excel(scores_path)
    except Exception as exc:  # a corrupt or non-xlsx file
        raise DatasetError(NAME, scores_path, f"could not read the score sheet ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    require_columns(NAME, scores_path, raw, ["Image name", "MOS"])
    raw = raw[raw["Image name"].notna()].reset_index(drop=True)
    check_scores(NAME, scores_path, raw["MOS"], "MOS")

    names = raw["Image name"].astype(str).str.strip()
    images = [f"{IMAGE_FOLDER}/{n}" for n in names]
    paths = require_images(NAME, folder, images)
    mos = raw["MOS"].astype(float).to_numpy()
    table = pd.DataFrame({"image": images, "path": paths, "mos": mos, "mos_original": mos})
    table["sd"] = np.nan
    table["sd_original"] = np.nan
    extra = []
    for col in ATTRIBUTES:
        if col in raw.columns:
            table[col.lower()] = pd.to_numeric(raw[col], errors="coerce").to_numpy()
            extra.append(col.lower())
    table["split"] = seeded_split(len(table), ratios, split_seed)
    out = finish_table(KEY, table, extra=extra)
    if split == "stratified":
        out = add_stratified_split(out, ratios=ratios, seed=split_seed)
    return out
