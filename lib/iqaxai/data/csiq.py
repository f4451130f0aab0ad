"""CSIQ (Larson & Chandler, J. Electronic Imaging 2010): 30 references, 866 distorted images.

Layout under the data root (see the 'CSIQ' section of data/README.md); folder and file names are
matched ignoring case (``CSIQ/`` or ``csiq/``, ``dst_imgs/awgn/`` or ``dst_imgs/AWGN/``)::

    CSIQ/
        csiq.DMOS.xlsx      sheet 'all_by_image': header in row 4, columns D..I =
                            image, dst_idx, dst_type, dst_lev, dmos_std, dmos
        src_imgs/<image>.png
        dst_imgs/<folder>/<image>.<TOKEN>.<dst_lev>.png

``dst_type`` -> (folder, file token): noise -> (awgn, AWGN), jpeg -> (jpeg, JPEG), jpeg 2000 ->
(jpeg2000, jpeg2000), fnoise -> (fnoise, fnoise), blur -> (blur, BLUR), contrast -> (contrast, contrast).
DMOS is on 0-1 with lower = better: ``mos = 100 * (1 - dmos)``, ``sd = 100 * dmos_std``. A dmos outside
0-1, a dmos_std outside 0-0.5 and an image listed twice are errors naming the sheet row.
Group keys ``ref`` (the source image name), ``ref_path``, ``distortion`` (the folder name, e.g.
``awgn``), ``level``; the seeded split keeps each reference image in one split.
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
    full_reference_table,
    locate_dataset,
    rescale_to_100,
)

NAME = "CSIQ"
KEY = "csiq"
FOLDERS = ("CSIQ", "csiq")
SCORES_FILE = "csiq.DMOS.xlsx"
SHEET = "all_by_image"
COLUMNS_XLSX = ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"]
DMOS_RANGE = (0.0, 1.0)
#: The SD of ratings on 0-1 is at most half the scale.
SD_RANGE = (0.0, 0.5)

#: ``dst_type`` value in the sheet -> (folder under dst_imgs/, token in the file name)
DST_TYPES = {
    "noise": ("awgn", "AWGN"),
    "jpeg": ("jpeg", "JPEG"),
    "jpeg 2000": ("jpeg2000", "jpeg2000"),
    "jpeg2000": ("jpeg2000", "jpeg2000"),
    "fnoise": ("fnoise", "fnoise"),
    "blur": ("blur", "BLUR"),
    "contrast": ("contrast", "contrast"),
}


def _cell_str(value) -> str:
    """Sheet cell to a name: numeric image names such as 1600 come back as floats."""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _read_sheet(path: Path) -> pd.DataFrame:
    try:
        sheet = pd.read_excel(path, sheet_name=SHEET, header=None)
    except ValueError as exc:  # no such sheet
        raise DatasetError(NAME, path, f"expected a sheet named '{SHEET}' ({exc})") from exc
    except Exception as exc:
        raise DatasetError(NAME, path, f"could not read the workbook ({exc})") from exc
    header_row = None
    for i in range(min(len(sheet), 20)):
        cells = [str(v).strip().lower() for v in sheet.iloc[i].tolist()]
        if "image" in cells and "dmos" in cells:
            header_row = i
            break
    if header_row is None:
        raise DatasetError(
            NAME, path, f"sheet '{SHEET}' has no header row with columns {COLUMNS_XLSX} (row 4, columns D..I)"
        )
    names = [str(v).strip().lower() for v in sheet.iloc[header_row].tolist()]
    missing = [c for c in COLUMNS_XLSX if c not in names]
    if missing:
        raise DatasetError(NAME, path, f"sheet '{SHEET}' lacks columns {missing}; header row has {names}")
    body = sheet.iloc[header_row + 1 :]
    data = pd.DataFrame({c: body.iloc[:, names.index(c)].to_numpy() for c in COLUMNS_XLSX})
    data.index = pd.RangeIndex(header_row + 2, header_row + 2 + len(data))  # sheet rows, 1-based
    data = data[data["image"].notna()]
    if data.empty:
        raise DatasetError(NAME, path, f"sheet '{SHEET}' has no data rows below its header")
    return data


def load_csiq(
    root: str | os.PathLike | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
) -> pd.DataFrame:
    """CSIQ table of the distorted images, split by reference image."""
    folder = locate_dataset(NAME, list(FOLDERS), root, [SCORES_FILE])
    path = find_path(folder, SCORES_FILE)
    data = _read_sheet(path)
    check_scores(NAME, path, data["dmos"], "dmos", *DMOS_RANGE)
    check_scores(NAME, path, data["dmos_std"], "dmos_std", *SD_RANGE)
    check_scores(NAME, path, data["dst_lev"], "dst_lev")

    refs = [_cell_str(v) for v in data["image"]]
    types = [str(v).strip().lower() for v in data["dst_type"]]
    unknown = sorted(set(t for t in types if t not in DST_TYPES))
    if unknown:
        raise DatasetError(NAME, path, f"unknown dst_type value(s) {unknown}; expected {sorted(DST_TYPES)}")
    levels = pd.to_numeric(data["dst_lev"]).astype(int).to_numpy()
    images = []
    for ref, t, lev in zip(refs, types, levels):
        sub, token = DST_TYPES[t]
        images.append(f"dst_imgs/{sub}/{ref}.{token}.{lev}.png")
    check_unique(NAME, path, pd.Series(images, index=data.index), data["dmos"])
    dmos = pd.to_numeric(data["dmos"]).astype(float).to_numpy()
    dmos_std = pd.to_numeric(data["dmos_std"]).astype(float).to_numpy()
    groups = {
        "ref": refs,
        "ref_path": [f"src_imgs/{r}.png" for r in refs],
        "distortion": [DST_TYPES[t][0] for t in types],
        "level": levels,
    }
    return full_reference_table(
        NAME, KEY, folder, images, rescale_to_100(dmos, 0.0, 1.0, lower_better=True), dmos, groups,
        sd=100.0 * dmos_std, sd_original=dmos_std, split_seed=split_seed, ratios=ratios, case_insensitive=True,
    )

