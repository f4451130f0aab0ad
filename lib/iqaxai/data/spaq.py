"""SPAQ (Fang et al., CVPR 2020): 11,125 smartphone photos with MOS and five image attribute scores.

Layout under the data root (see the 'SPAQ' section of data/README.md)::

    SPAQ/
        Annotations/MOS and Image attribute scores.xlsx   (or MOS_and_Image_attribute_scores.xlsx)
        TestImage/00001.jpg ... 11125.jpg                 (or SPAQ zip/TestImage/, Dataset/TestImage/)

The image archive ``SPAQ zip/SPAQ.z01 ... SPAQ.zip`` unpacks to ``TestImage/`` inside ``SPAQ zip/``; some
copies have ``Dataset/TestImage/``. The first of :data:`IMAGE_FOLDERS` that holds files is used
(names matched ignoring case).

The score sheet has columns ``Image name, MOS, Brightness, Colorfulness, Contrast, Noisiness, Sharpness``.
MOS is already on 0-100 (higher is better); SPAQ publishes no per-image SD, so ``sd`` is NaN. The
attribute scores are kept as lower-case columns. There is no official split: a seeded random split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from iqaxai.data.common import (
    DatasetError,
    check_scores,
    check_unique,
    find_path,
    finish_table,
    locate_dataset,
    require_columns,
    require_images,
    require_rows,
)
from iqaxai.data.splits import add_stratified_split, seeded_split

NAME = "SPAQ"
KEY = "spaq"
FOLDER = "SPAQ"
SCORE_FILES = ("Annotations/MOS and Image attribute scores.xlsx", "Annotations/MOS_and_Image_attribute_scores.xlsx")
ATTRIBUTES = ["Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"]
#: Where the images may lie, relative to ``SPAQ/``: as documented, as the archive in ``SPAQ zip/`` unpacks,
#: and as some copies have them.
IMAGE_FOLDERS = ("TestImage", "SPAQ zip/TestImage", "Dataset/TestImage")
MOS_RANGE = (0.0, 100.0)


def image_folder(folder: Path) -> str:
    """The image folder relative to ``folder``: the first of :data:`IMAGE_FOLDERS` holding files, else the first present."""
    present = [p for p in (find_path(folder, rel) for rel in IMAGE_FOLDERS) if p is not None and p.is_dir()]
    if not present:
        wanted = ", ".join(f"'{rel}/'" for rel in IMAGE_FOLDERS)
        raise DatasetError(NAME, folder / IMAGE_FOLDERS[0], f"missing the image folder: expected one of {wanted}")
    chosen = next((p for p in present if any(p.iterdir())), present[0])
    return chosen.relative_to(folder).as_posix()


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
    scores_path = next(p for p in (find_path(folder, f) for f in SCORE_FILES) if p is not None)
    try:
        raw = pd.read_excel(scores_path)
    except Exception as exc:  # a corrupt or non-xlsx file
        raise DatasetError(NAME, scores_path, f"could not read the score sheet ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    require_columns(NAME, scores_path, raw, ["Image name", "MOS"])
    raw.index = pd.RangeIndex(2, 2 + len(raw))  # sheet rows: the header is row 1
    raw = raw[raw["Image name"].notna()]
    require_rows(NAME, scores_path, raw, "score sheet")
    check_scores(NAME, scores_path, raw["MOS"], "MOS", *MOS_RANGE)

    names = raw["Image name"].astype(str).str.strip()
    check_unique(NAME, scores_path, names, raw["MOS"])
    images = [f"{image_folder(folder)}/{n}" for n in names]
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
