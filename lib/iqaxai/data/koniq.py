"""KonIQ-10k (Hosu et al., TIP 2020): 10,073 in-the-wild images with MOS, SD and rating distributions.

Layout under the data root (see the 'KonIQ-10k' section of data/README.md)::

    koniq10k/
        koniq10k_scores_and_distributions.csv   image_name,c1..c5,c_total,MOS,SD,MOS_zscore
        koniq10k_distributions_sets.csv         optional official split (column ``set``)
        1024x768/*.jpg  and/or  512x384/*.jpg

Scores: ``mos`` = ``MOS_zscore`` (already 0-100, higher is better); ``mos_1to5`` keeps ``MOS`` (1-5).
``SD`` is published on the 1-5 scale: ``sd_original`` = SD and ``sd`` = :data:`SD_SLOPE_1TO5_TO_ZSCORE` * SD.
The distribution columns c1..c5 and c_total are kept.

Split: the official ``set`` column (``training`` / ``validation`` / ``test`` in the subpic/koniq file)
when the split file is present, else a seeded random split; ``split="stratified"`` stratifies on MOS
and image complexity.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from iqaxai.data.common import (
    DatasetError,
    check_scores,
    finish_table,
    locate_dataset,
    read_score_csv,
    require_images,
)
from iqaxai.data.splits import add_stratified_split, seeded_split

NAME = "KonIQ-10k"
KEY = "koniq10k"
FOLDER = "koniq10k"
SCORES_FILE = "koniq10k_scores_and_distributions.csv"
SPLIT_FILE = "koniq10k_distributions_sets.csv"
SCORE_COLUMNS = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
DIST_COLUMNS = ["c1", "c2", "c3", "c4", "c5", "c_total"]
RESOLUTIONS = ("1024x768", "512x384")

#: Slope of the least-squares fit MOS_zscore ≈ 27.82·MOS(1-5) − 29.23 over all 10,073 images
#: (r = 0.995); it converts the published SD (1-5 scale) to the 0-100 scale of MOS_zscore.
#: Approximate, since the z-scores are normalised per rater.
SD_SLOPE_1TO5_TO_ZSCORE = 27.82

#: Values of the ``set`` column of the official split file, mapped to this library's split names.
SET_VALUES = {"training": "train", "train": "train", "validation": "val", "val": "val", "valid": "val", "test": "test"}


def _pick_resolution(folder: Path, resolution: str | None) -> str:
    if resolution is not None:
        if not (folder / resolution).is_dir():
            raise DatasetError(NAME, folder / resolution, f"image folder '{resolution}' not found")
        return resolution
    for res in RESOLUTIONS:
        if (folder / res).is_dir():
            return res
    sized = sorted(p.name for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"\d+x\d+", p.name))
    if len(sized) == 1:
        return sized[0]
    expected = "an image folder '1024x768' or '512x384'"
    if sized:
        expected += f" (found several: {sized}; pass resolution=)"
    raise DatasetError(NAME, folder, f"expected {expected}")


def _official_split(folder: Path, names: pd.Series) -> np.ndarray | None:
    path = next((p for p in (folder / SPLIT_FILE, folder / "metadata" / SPLIT_FILE) if p.exists()), None)
    if path is None:
        return None
    sets = read_score_csv(NAME, path, ["image_name", "set"])
    mapping = dict(zip(sets["image_name"].astype(str).str.strip(), sets["set"].astype(str).str.strip().str.lower()))
    raw = names.map(mapping)
    if raw.isna().any():
        missing = list(names[raw.isna()][:5])
        raise DatasetError(NAME, path, f"{int(raw.isna().sum())} image(s) have no 'set' entry (first: {missing})")
    split = raw.map(SET_VALUES)
    if split.isna().any():
        bad = sorted(set(raw[split.isna()]))
        raise DatasetError(NAME, path, f"unknown 'set' value(s) {bad}; expected one of {sorted(SET_VALUES)}")
    return split.to_numpy(dtype=object)


def load_koniq10k(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    resolution: str | None = None,
    split: str = "auto",
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
) -> pd.DataFrame:
    """KonIQ-10k table.

    ``resolution``: ``'1024x768'``, ``'512x384'`` or any ``<W>x<H>`` folder; ``None`` takes 1024x768 if
    present, else 512x384, else the only ``<W>x<H>`` folder. ``split``: ``'auto'`` (official split file if
    present, else seeded), ``'official'`` (the file must exist), ``'seeded'`` or ``'stratified'``.
    """
    if split not in ("auto", "official", "seeded", "stratified"):
        raise ValueError(f"split must be 'auto', 'official', 'seeded' or 'stratified', got {split!r}")
    folder = locate_dataset(NAME, [FOLDER], root, [SCORES_FILE])
    scores_path = folder / SCORES_FILE
    raw = read_score_csv(NAME, scores_path, SCORE_COLUMNS)
    check_scores(NAME, scores_path, raw["MOS_zscore"], "MOS_zscore")
    check_scores(NAME, scores_path, raw["MOS"], "MOS")
    check_scores(NAME, scores_path, raw["SD"], "SD")
    for col in DIST_COLUMNS:
        check_scores(NAME, scores_path, raw[col], col)

    res = _pick_resolution(folder, resolution)
    names = raw["image_name"].astype(str).str.strip()
    images = [f"{res}/{n}" for n in names]
    paths = require_images(NAME, folder, images)

    table = pd.DataFrame(
        {
            "image": images,
            "path": paths,
            "mos": raw["MOS_zscore"].astype(float).to_numpy(),
            "mos_original": raw["MOS_zscore"].astype(float).to_numpy(),
            "sd": SD_SLOPE_1TO5_TO_ZSCORE * raw["SD"].astype(float).to_numpy(),
            "sd_original": raw["SD"].astype(float).to_numpy(),
            "mos_1to5": raw["MOS"].astype(float).to_numpy(),
        }
    )
    for col in DIST_COLUMNS:
        table[col] = raw[col].astype(float).to_numpy()
    table["c_total"] = table["c_total"].astype(int)
    table["resolution"] = res

    official = None if split in ("seeded", "stratified") else _official_split(folder, names)
    if split == "official" and official is None:
        raise DatasetError(NAME, folder / SPLIT_FILE, "split='official' needs the official split file")
    table["split"] = official if official is not None else seeded_split(len(table), ratios, split_seed)
    out = finish_table(KEY, table, extra=["mos_1to5", *DIST_COLUMNS, "resolution"])
    if split == "stratified":
        out = add_stratified_split(out, ratios=ratios, seed=split_seed)
    return out
