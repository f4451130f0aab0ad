"""CLIVE, the LIVE In the Wild Image Quality Challenge database (Ghadiyaram & Bovik, TIP 2016).

Layout under the data root (see the 'CLIVE' section of data/README.md)::

    ChallengeDB_release/
        Data/AllImages_release.mat    variable AllImages_release: 1169x1 cell of file names
        Data/AllMOS_release.mat       variable AllMOS_release: 1x1169
        Data/AllStdDev_release.mat    variable AllStdDev_release: 1x1169
        Images/*.bmp                  the 1,162 test images
        Images/trainingImages/t1.bmp ... t7.bmp

The first 7 entries of the .mat files are the subject-training images t1..t7 and are dropped, as in
every published protocol, leaving 1,162 images. MOS (about 0-100, higher is better) and SD are used
as published; a MOS outside 0-100, an SD outside 0-50 (half the scale) and a repeated file name are
errors naming the .mat entry. No official split: a seeded random split.
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
    finish_table,
    load_mat_variable,
    locate_dataset,
    require_images,
    require_rows,
)
from iqaxai.data.splits import seeded_split

NAME = "CLIVE"
KEY = "clive"
FOLDER = "ChallengeDB_release"
N_TRAINING = 7  # t1..t7, shown to subjects for training, not rated as part of the study
MAT_FILES = {
    "names": ("Data/AllImages_release.mat", "AllImages_release"),
    "mos": ("Data/AllMOS_release.mat", "AllMOS_release"),
    "sd": ("Data/AllStdDev_release.mat", "AllStdDev_release"),
}


MOS_RANGE = (0.0, 100.0)
SD_RANGE = (0.0, 50.0)


def _load_mat_var(folder: Path, rel: str, var: str) -> np.ndarray:
    return load_mat_variable(NAME, folder / rel, var, f"score file '{rel}'")


def _cell_to_names(cell: np.ndarray) -> list[str]:
    names = []
    for item in cell.ravel():
        arr = np.asarray(item).ravel()
        names.append(str(arr[0]).strip() if arr.size else "")
    return names


def load_clive(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
) -> pd.DataFrame:
    """CLIVE table of the 1,162 rated images (training images t1..t7 dropped)."""
    folder = locate_dataset(NAME, [FOLDER], root, [rel for rel, _ in MAT_FILES.values()])
    names = _cell_to_names(_load_mat_var(folder, *MAT_FILES["names"]))
    mos = _load_mat_var(folder, *MAT_FILES["mos"]).astype(float).ravel()
    sd = _load_mat_var(folder, *MAT_FILES["sd"]).astype(float).ravel()
    if not (len(names) == len(mos) == len(sd)):
        raise DatasetError(
            NAME, folder / "Data", f"names, MOS and SD differ in length ({len(names)}, {len(mos)}, {len(sd)})"
        )
    entries = pd.RangeIndex(N_TRAINING + 1, len(names) + 1)  # 1-based .mat entries after t1..t7
    names, mos, sd = names[N_TRAINING:], mos[N_TRAINING:], sd[N_TRAINING:]
    mos_path = folder / MAT_FILES["mos"][0]
    require_rows(NAME, mos_path, mos, f"score file (after the {N_TRAINING} training entries)")
    check_scores(NAME, mos_path, pd.Series(mos, index=entries), "MOS", *MOS_RANGE, unit="entry")
    check_scores(NAME, folder / MAT_FILES["sd"][0], pd.Series(sd, index=entries), "SD", *SD_RANGE, unit="entry")
    check_unique(NAME, folder / MAT_FILES["names"][0], pd.Series(names, index=entries), pd.Series(mos, index=entries),
                 unit="entry")

    images = [f"Images/{n}" for n in names]
    paths = require_images(NAME, folder, images)
    table = pd.DataFrame(
        {"image": images, "path": paths, "mos": mos, "mos_original": mos, "sd": sd, "sd_original": sd}
    )
    table["split"] = seeded_split(len(table), ratios, split_seed)
    return finish_table(KEY, table)
