"""TID2013 (Ponomarenko et al., Signal Processing: Image Communication 2015).

Layout under the data root (see the 'TID2013' section of data/README.md)::

    tid2013/
        mos_with_names.txt      one line per image: "<MOS> <file name>", e.g. "5.51429 i01_01_1.bmp"
        mos_std.txt             one float per line, same order
        distorted_images/iXX_YY_Z.bmp     XX reference, YY distortion 01-24, Z level 1-5
        reference_images/I01.BMP ... I24.BMP, i25.bmp

File names on disk mix upper and lower case (``I01_11_1.BMP``, ``i25.bmp``), and copies name the
folders ``tid2013/`` or ``TID2013/``, so files and folders are looked up case-insensitively. MOS is on 0-9 (higher is better) and maps linearly to 0-100 (``mos = MOS * 100/9``);
the SD from ``mos_std.txt`` is scaled by the same factor. Group keys: ``ref`` (``I01`` ...),
``ref_path``, ``distortion`` (1-24), ``level`` (1-5). A MOS outside 0-9, an SD outside 0-4.5 and a file
name listed twice (ignoring case) are errors naming the line. The seeded split keeps every reference image,
with all its distorted versions, in one split.
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
    find_path,
    full_reference_table,
    locate_dataset,
    require_rows,
    rescale_to_100,
)

NAME = "TID2013"
KEY = "tid2013"
FOLDER = "tid2013"
MOS_FILE = "mos_with_names.txt"
STD_FILE = "mos_std.txt"
MOS_RANGE = (0.0, 9.0)
#: An SD of ratings on 0-9 is at most half the scale.
SD_RANGE = (0.0, 4.5)
NAME_PATTERN = re.compile(r"^i(\d{2})_(\d{2})_(\d)\.bmp$", re.IGNORECASE)


def _read_lines(path: Path) -> pd.Series:
    """The non-blank lines of a text file, stripped, indexed by their 1-based line numbers."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        lines = {i: line.strip() for i, line in enumerate(fh, start=1) if line.strip()}
    return pd.Series(lines, dtype=object)


def load_tid2013(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
) -> pd.DataFrame:
    """TID2013 table of the 3,000 distorted images, split by reference image."""
    folder = locate_dataset(NAME, [FOLDER], root, [MOS_FILE])
    mos_path = find_path(folder, MOS_FILE)
    std_path = find_path(folder, STD_FILE)
    if std_path is None:
        raise DatasetError(NAME, folder / STD_FILE, f"missing SD file '{STD_FILE}'")

    rows = {}
    for number, line in _read_lines(mos_path).items():
        parts = line.split()
        if len(parts) < 2:
            raise DatasetError(NAME, mos_path, f"line {number} should read '<MOS> <file name>', got {line!r}")
        rows[number] = (parts[0], parts[1])
    raw = pd.DataFrame.from_dict(rows, orient="index", columns=["mos", "name"])
    require_rows(NAME, mos_path, raw)
    std = _read_lines(std_path)
    if len(std) != len(raw):
        raise DatasetError(NAME, std_path, f"expected {len(raw)} SD values (one per line of {MOS_FILE}), got {len(std)}")
    check_scores(NAME, mos_path, raw["mos"], "MOS", *MOS_RANGE, unit="line")
    check_scores(NAME, std_path, std, "SD", *SD_RANGE, unit="line")
    check_unique(NAME, mos_path, raw["name"].str.lower(), raw["mos"], what="file name", unit="line")

    parsed = raw["name"].str.extract(NAME_PATTERN)
    if parsed.isna().any(axis=None):
        bad = list(raw["name"][parsed.isna().any(axis=1)][:5])
        raise DatasetError(NAME, mos_path, f"file names should look like 'i01_01_1.bmp', got {bad}")
    refs = [f"I{n:02d}" for n in parsed[0].astype(int)]
    mos_orig = raw["mos"].astype(float).to_numpy()
    sd_orig = std.astype(float).to_numpy()
    lo, hi = MOS_RANGE
    groups = {
        "ref": refs,
        "ref_path": [f"reference_images/{r}.bmp" for r in refs],
        "distortion": parsed[1].astype(int).to_numpy(),
        "level": parsed[2].astype(int).to_numpy(),
    }
    return full_reference_table(
        NAME, KEY, folder, [f"distorted_images/{n}" for n in raw["name"]], rescale_to_100(mos_orig, lo, hi), mos_orig,
        groups, sd=sd_orig * 100.0 / (hi - lo), sd_original=sd_orig, split_seed=split_seed, ratios=ratios,
        case_insensitive=True,
    )
