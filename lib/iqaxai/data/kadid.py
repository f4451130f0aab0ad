"""KADID-10k (Lin, Hosu & Saupe, QoMEX 2019): 81 references x 25 distortions x 5 levels.

Layout under the data root (see the 'KADID-10k' section of data/README.md)::

    kadid10k/
        dmos.csv        header dist_img,ref_img,dmos,var   e.g. I01_01_01.png,I01.png,4.57,0.496
        images/I01.png ... I81.png and I01_01_01.png ... I81_25_05.png   (references and distorted together)

Despite its name, ``dmos`` is a MOS on 1-5 with higher = better: ``mos = (dmos - 1) / 4 * 100``.
The column named ``var`` holds the standard deviation of the ratings, not a variance (4.57 -> 0.496 is
sqrt(0.57 * 0.43) for a 57/43 mix of 5s and 4s): it is never square-rooted, only scaled,
``sd = var * 100 / 4``. A dmos outside 1-5, a var outside 0-2 (half the scale) and a dist_img listed
twice are errors naming the line. Group keys ``ref``, ``ref_path``, ``distortion`` (1-25), ``level`` (1-5); the
seeded split keeps each reference image in one split.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import pandas as pd

from iqaxai.data.common import (
    DatasetError,
    check_scores,
    check_unique,
    full_reference_table,
    locate_dataset,
    read_score_csv,
    rescale_to_100,
)

NAME = "KADID-10k"
KEY = "kadid10k"
FOLDER = "kadid10k"
SCORES_FILE = "dmos.csv"
MOS_RANGE = (1.0, 5.0)
#: The SD of ratings on 1-5 is at most half the scale.
SD_RANGE = (0.0, 2.0)
NAME_PATTERN = re.compile(r"^(I\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)


def load_kadid10k(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
) -> pd.DataFrame:
    """KADID-10k table of the distorted images, split by reference image."""
    folder = locate_dataset(NAME, [FOLDER], root, [SCORES_FILE])
    path = folder / SCORES_FILE
    raw = read_score_csv(NAME, path, ["dist_img", "ref_img", "dmos", "var"])
    check_scores(NAME, path, raw["dmos"], "dmos (MOS)", *MOS_RANGE, unit="line")
    check_scores(NAME, path, raw["var"], "var (SD)", *SD_RANGE, unit="line")

    dist = raw["dist_img"].astype(str).str.strip()
    check_unique(NAME, path, dist, raw["dmos"], unit="line")
    ref_img = raw["ref_img"].astype(str).str.strip()
    parsed = dist.str.extract(NAME_PATTERN)
    if parsed.isna().any(axis=None):
        bad = list(dist[parsed.isna().any(axis=1)][:5])
        raise DatasetError(NAME, path, f"dist_img names should look like 'I01_01_01.png', got {bad}")

    mos_orig = raw["dmos"].astype(float).to_numpy()
    sd_orig = raw["var"].astype(float).to_numpy()  # an SD despite the column name
    lo, hi = MOS_RANGE
    groups = {
        "ref": ref_img.str.replace(r"\.png$", "", regex=True, case=False).to_numpy(),
        "ref_path": [f"images/{r}" for r in ref_img],
        "distortion": parsed[1].astype(int).to_numpy(),
        "level": parsed[2].astype(int).to_numpy(),
    }
    return full_reference_table(
        NAME, KEY, folder, [f"images/{n}" for n in dist], rescale_to_100(mos_orig, lo, hi), mos_orig, groups,
        sd=sd_orig * 100.0 / (hi - lo), sd_original=sd_orig, split_seed=split_seed, ratios=ratios,
    )
