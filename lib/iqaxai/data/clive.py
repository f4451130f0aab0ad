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
as published. No official split: a seeded random split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from iqaxai.data.common import DatasetError, check_scores, finish_table, locate_dataset, require_file, require_images
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


def _load_mat_var(folder: Path, rel: str, var: str) -> np.ndarray:
    from scipy.io import loadmat

    path = require_file(NAME, folder / rel, f"score file '{rel}'")
    try:
        data = loadmat(path)
    except Exception as exc:
        raise DatasetError(NAME, path, f"could not read the MATLAB file ({exc})") from exc
    if var not in data:
        keys = sorted(k for k in data if not k.startswith("__"))
        raise DatasetError(NAME, path, f"expected a variable '{var}' in the .mat file; found {keys}")
    return np.asarray(data[var])


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
    names, mos, sd = names[N_TRAINING:], mos[N_TRAINING:], sd[N_TRAINING:]
    mos_path = folder / MAT_FILES["mos"][0]
    check_scores(NAME, mos_path, pd.Series(mos), "MOS")
    check_scores(NAME, folder / MAT_FILES["sd"][0], pd.Series(sd), "SD")

    images = [f"Images/{n}" for n in names]
    paths = require_images(NAME, folder, images)
    table = pd.DataFrame(
        {"image": images, "path": paths, "mos": mos, "mos_original": mos, "sd": sd, "sd_original": sd}
    )
    table["split"] = seeded_split(len(table), ratios, split_seed)
    return finish_table(KEY, table)
