"""KonIQ-10k (Hosu et al., TIP 2020): 10,073 in-the-wild images with MOS, SD and rating distributions.

Layout under the data root (see the 'KonIQ-10k' section of data/README.md)::

    koniq10k/
        koniq10k_scores_and_distributions.csv   image_name,c1..c5,c_total,MOS,SD,MOS_zscore
        koniq10k_distributions_sets.csv         optional official split (column ``set``)
        1024x768/*.jpg  and/or  512x384/*.jpg

The official zips unpacked with "extract to folder" are accepted too:
``koniq10k_scores_and_distributions/koniq10k_scores_and_distributions.csv``,
``koniq10k_1024x768/1024x768/`` and ``koniq10k_512x384/512x384/``.

Scores: ``mos`` = ``MOS_zscore`` (already 0-100, higher is better); ``mos_1to5`` keeps ``MOS`` (1-5).
``SD`` is published on the 1-5 scale: ``sd_original`` = SD and ``sd`` = :data:`SD_SLOPE_1TO5_TO_ZSCORE` * SD.
The distribution columns c1..c5 and c_total are kept. Values outside :data:`RANGES` (MOS_zscore 0-100,
MOS 1-5, SD 0-2, counts non-negative) and repeated image names are errors naming the line.

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
    check_unique,
    find_images,
    find_path,
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
#: Where the scores may lie: flat, or as ``koniq10k_scores_and_distributions.zip`` unpacks into its own folder.
SCORES_PATHS = (SCORES_FILE, f"koniq10k_scores_and_distributions/{SCORES_FILE}")
SPLIT_FILE = "koniq10k_distributions_sets.csv"
SCORE_COLUMNS = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
DIST_COLUMNS = ["c1", "c2", "c3", "c4", "c5", "c_total"]
RESOLUTIONS = ("1024x768", "512x384")

#: Documented range of each score column: MOS_zscore on 0-100, MOS on the 1-5 ACR scale, SD of ratings
#: on 1-5 (at most 2, half the scale), c1..c5 fractions or counts of ratings, c_total at least one rating.
RANGES = {
    "MOS_zscore": (0.0, 100.0),
    "MOS": (1.0, 5.0),
    "SD": (0.0, 2.0),
    **{f"c{i}": (0.0, None) for i in range(1, 6)},
    "c_total": (1.0, None),
}

#: Slope of the least-squares fit MOS_zscore ≈ 27.82·MOS(1-5) − 29.23 over all 10,073 images
#: (r = 0.995); it converts the published SD (1-5 scale) to the 0-100 scale of MOS_zscore.
#: Approximate, since the z-scores are normalised per rater.
SD_SLOPE_1TO5_TO_ZSCORE = 27.82

#: Values of the ``set`` column of the official split file, mapped to this library's split names.
SET_VALUES = {"training": "train", "train": "train", "validation": "val", "val": "val", "valid": "val", "test": "test"}


def image_folders(folder: Path) -> dict[str, str]:
    """Image folders present, ``<W>x<H>`` -> path relative to ``folder`` (flat, or as the zip unpacks).

    ``1024x768/`` or ``koniq10k_1024x768/1024x768/`` (the latter as ``koniq10k_1024x768.zip`` unpacks into
    a folder of its own), likewise for 512x384 and any other ``<W>x<H>`` folder; names match ignoring case.
    """
    found: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir():
            continue
        m = re.fullmatch(r"(koniq10k_)?(\d+x\d+)", entry.name, re.IGNORECASE)
        if m is None:
            continue
        res = m.group(2).lower()
        if m.group(1) is None:
            found.setdefault(res, entry.name)
        else:
            inner = find_path(entry, res)
            if inner is not None and inner.is_dir():
                found.setdefault(res, inner.relative_to(folder).as_posix())
    return found


def _pick_resolution(folder: Path, resolution: str | None) -> tuple[str, str]:
    """(resolution, its folder relative to ``folder``)."""
    present = image_folders(folder)
    if resolution is not None:
        if resolution.lower() not in present:
            raise DatasetError(
                NAME, folder / resolution,
                f"image folder '{resolution}' (or 'koniq10k_{resolution}/{resolution}') not found; "
                f"found {sorted(present) or 'none'}",
            )
        return resolution, present[resolution.lower()]
    for res in RESOLUTIONS:
        if res in present:
            return res, present[res]
    if len(present) == 1:
        return next(iter(present.items()))
    expected = "an image folder '1024x768' or '512x384' (or 'koniq10k_1024x768/1024x768', 'koniq10k_512x384/512x384')"
    if present:
        expected += f" (found several: {sorted(present)}; pass resolution=)"
    raise DatasetError(NAME, folder, f"expected {expected}")


def _resolution_hint(folder: Path, chosen: str, names: list[str]) -> str:
    """If ``chosen`` lacks images, which other resolution folders hold them (for the error message)."""
    complete, partial = [], []
    for res, rel in image_folders(folder).items():
        if res == chosen:
            continue
        have = sum(p is not None for p in find_images(folder, [f"{rel}/{n}" for n in names]))
        if have == len(names):
            complete.append(res)
        elif have:
            partial.append(f"{res} ({have} of {len(names)})")
    if complete:
        return f"; the folder for {complete[0]} holds all of them: pass resolution='{complete[0]}'"
    if partial:
        return f"; other image folders hold some: {', '.join(partial)} (choose one with resolution=)"
    return ""


def _official_split(folder: Path, names: pd.Series) -> np.ndarray | None:
    path = next((p for p in (folder / SPLIT_FILE, folder / "metadata" / SPLIT_FILE) if p.exists()), None)
    if path is None:
        return None
    sets = read_score_csv(NAME, path, ["image_name", "set"])
    check_unique(NAME, path, sets["image_name"].astype(str).str.strip(), unit="line")
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
    present, else 512x384, else the only ``<W>x<H>`` folder (an incomplete folder is an error that names
    the resolution whose folder is complete). ``split``: ``'auto'`` (official split file if
    present, else seeded), ``'official'`` (the file must exist), ``'seeded'`` or ``'stratified'``.
    """
    if split not in ("auto", "official", "seeded", "stratified"):
        raise ValueError(f"split must be 'auto', 'official', 'seeded' or 'stratified', got {split!r}")
    folder = locate_dataset(NAME, [FOLDER], root, list(SCORES_PATHS))
    scores_path = next(p for p in (find_path(folder, rel) for rel in SCORES_PATHS) if p is not None)
    raw = read_score_csv(NAME, scores_path, SCORE_COLUMNS)
    for col, (lo, hi) in RANGES.items():
        check_scores(NAME, scores_path, raw[col], col, lo, hi, unit="line")
    names = raw["image_name"].astype(str).str.strip()
    check_unique(NAME, scores_path, names, raw["MOS_zscore"], unit="line")

    res, rel = _pick_resolution(folder, resolution)
    images = [f"{rel}/{n}" for n in names]
    hint = _resolution_hint(folder, res, list(names)) if None in find_images(folder, images) else ""
    paths = require_images(NAME, folder, images, hint=hint)

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
