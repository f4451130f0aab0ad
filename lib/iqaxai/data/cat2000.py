"""CAT2000 training set (Borji & Itti, 2015): 2,000 images (20 categories x 100, 1920x1080) with
eye-tracking fixations of 18 subjects per image.

Layout under the data root (see the 'CAT2000' section of data/README.md)::

    CAT2000/trainSet/
        Stimuli/<Category>/<nnn>.jpg
        FIXATIONMAPS/<Category>/<nnn>.jpg      continuous ground-truth maps
        FIXATIONLOCS/<Category>/<nnn>.mat      variable 'fixLocs': binary fixation map

Anything named "Output" (folders or files) is skipped, as pysaliency does. There is no quality score:
``mos``, ``mos_original``, ``sd`` and ``sd_original`` are NaN. Group key ``category``; extra columns
``map_path`` and ``fixation_path``; seeded random split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from iqaxai.data.common import DatasetError, finish_table, locate_dataset, require_images
from iqaxai.data.splits import seeded_split

NAME = "CAT2000"
KEY = "cat2000"
FOLDER = "CAT2000"
SUBSET = "trainSet"


def _skip(name: str) -> bool:
    return "output" in name.lower() or name.startswith(".")


def load_fixlocs(mat_path: str | os.PathLike) -> np.ndarray:
    """Fixations of one FIXATIONLOCS .mat file as an (M, 2) int array of 0-based (row, col)."""
    from scipy.io import loadmat

    path = Path(mat_path)
    try:
        data = loadmat(path)
    except Exception as exc:
        raise DatasetError(NAME, path, f"could not read the fixation file ({exc})") from exc
    if "fixLocs" not in data:
        raise DatasetError(NAME, path, "expected a variable 'fixLocs' (binary fixation map) in the .mat file")
    rows, cols = np.nonzero(np.asarray(data["fixLocs"]))
    return np.stack([rows, cols], axis=1).astype(int)


def load_cat2000(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
) -> pd.DataFrame:
    """CAT2000 training-set table with the category, map and fixation paths."""
    folder = locate_dataset(NAME, [FOLDER], root, [f"{SUBSET}/Stimuli"])
    stim = folder / SUBSET / "Stimuli"
    entries = []
    for cat in sorted(os.listdir(stim)):
        if _skip(cat) or not (stim / cat).is_dir():
            continue
        for f in sorted(os.listdir(stim / cat)):
            if not _skip(f) and f.lower().endswith(".jpg") and (stim / cat / f).is_file():
                entries.append((cat, f))
    if not entries:
        raise DatasetError(NAME, stim, "no images found in 'trainSet/Stimuli/<Category>/'")
    images = [f"{SUBSET}/Stimuli/{c}/{f}" for c, f in entries]
    stems = [os.path.splitext(f)[0] for _, f in entries]
    map_paths = require_images(
        NAME, folder, [f"{SUBSET}/FIXATIONMAPS/{c}/{f}" for c, f in entries], what="fixation maps"
    )
    fix_paths = require_images(
        NAME, folder, [f"{SUBSET}/FIXATIONLOCS/{c}/{s}.mat" for (c, _), s in zip(entries, stems)], what="fixation files"
    )
    table = pd.DataFrame(
        {
            "image": images,
            "path": [str(folder / i) for i in images],
            "mos": np.nan,
            "mos_original": np.nan,
            "sd": np.nan,
            "sd_original": np.nan,
            "category": [c for c, _ in entries],
            "map_path": map_paths,
            "fixation_path": fix_paths,
        }
    )
    table["split"] = seeded_split(len(table), ratios, split_seed)
    return finish_table(KEY, table, extra=["category", "map_path", "fixation_path"])
