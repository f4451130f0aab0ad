"""SALICON (Jiang et al., CVPR 2015), LSUN 2017 release: 640x480 COCO images with mouse-tracking
fixations and saliency maps. The validation split (5,000 images) is the one used for evaluation.

Layout under the data root (see the 'SALICON' section of data/README.md)::

    salicon/
        images/val/COCO_val2014_000000xxxxxx.jpg
        maps/val/COCO_val2014_000000xxxxxx.png        continuous saliency maps (grayscale)
        fixations/val/COCO_val2014_000000xxxxxx.mat   variable 'gaze': struct array, one element per
                                                      subject, fields location, timestamp, fixations

There is no quality score: ``mos``, ``mos_original``, ``sd`` and ``sd_original`` are NaN and ``split``
is the SALICON split itself (``val``). Extra columns ``map_path`` and ``fixation_path``.

Fixation convention (:func:`load_fixations`): the .mat files store [x, y] pairs, 1-based (MATLAB).
They are returned as 0-based integer (row, col) = (y - 1, x - 1), rounded, and clipped into the image
(480 rows x 640 columns), like pysaliency does for the 2017 release.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from iqaxai.data.common import DatasetError, finish_table, locate_dataset, require_images

NAME = "SALICON"
KEY = "salicon"
FOLDER = "salicon"
HEIGHT, WIDTH = 480, 640
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def load_fixations(
    mat_path: str | os.PathLike, kind: str = "fixations", height: int = HEIGHT, width: int = WIDTH
) -> np.ndarray:
    """All subjects' points of one SALICON .mat file as an (M, 2) int array of 0-based (row, col).

    ``kind``: ``'fixations'`` (the inferred fixations) or ``'location'`` (the raw mouse samples).
    Points are converted from 1-based [x, y] and clipped to ``height`` x ``width``.
    """
    from scipy.io import loadmat

    if kind not in ("fixations", "location"):
        raise ValueError(f"kind must be 'fixations' or 'location', got {kind!r}")
    path = Path(mat_path)
    try:
        data = loadmat(path)
    except Exception as exc:
        raise DatasetError(NAME, path, f"could not read the fixation file ({exc})") from exc
    if "gaze" not in data:
        raise DatasetError(NAME, path, "expected a struct array variable 'gaze' in the fixation file")
    gaze = data["gaze"]
    if gaze.dtype.names is None or kind not in gaze.dtype.names:
        raise DatasetError(NAME, path, f"the 'gaze' struct has no field '{kind}' (fields: {gaze.dtype.names})")
    points = []
    for subject in gaze.ravel():
        xy = np.asarray(subject[kind], dtype=float)
        if xy.size == 0:
            continue
        points.append(xy.reshape(-1, 2))
    if not points:
        return np.zeros((0, 2), dtype=int)
    xy = np.vstack(points)
    rows = np.clip(np.rint(xy[:, 1] - 1), 0, height - 1).astype(int)
    cols = np.clip(np.rint(xy[:, 0] - 1), 0, width - 1).astype(int)
    return np.stack([rows, cols], axis=1)


def fixation_map(mat_path: str | os.PathLike, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Binary (height, width) map of the fixations in one .mat file (for NSS and AUC)."""
    out = np.zeros((height, width), dtype=bool)
    rc = load_fixations(mat_path, height=height, width=width)
    out[rc[:, 0], rc[:, 1]] = True
    return out


def load_salicon(root: str | os.PathLike | None = None, split_seed: int = 0, subset: str = "val") -> pd.DataFrame:
    """SALICON images of one subset (``'val'`` by default, ``'train'`` also works) with map and fixation paths.

    ``split_seed`` is accepted for a uniform interface and unused: the split is the SALICON subset.
    """
    if subset not in ("train", "val"):
        raise ValueError(f"subset must be 'train' or 'val' (the test set has no ground truth), got {subset!r}")
    folder = locate_dataset(NAME, [FOLDER], root, [f"images/{subset}"])
    img_dir = folder / "images" / subset
    names = sorted(n for n in os.listdir(img_dir) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise DatasetError(NAME, img_dir, f"no images found in 'images/{subset}'")
    stems = [os.path.splitext(n)[0] for n in names]
    images = [f"images/{subset}/{n}" for n in names]
    for sub in ("maps", "fixations"):
        if not (folder / sub / subset).is_dir():
            raise DatasetError(NAME, folder / sub / subset, f"missing folder '{sub}/{subset}'")
    map_paths = require_images(NAME, folder, [f"maps/{subset}/{s}.png" for s in stems], what="saliency maps")
    fix_paths = require_images(NAME, folder, [f"fixations/{subset}/{s}.mat" for s in stems], what="fixation files")
    table = pd.DataFrame(
        {
            "image": images,
            "path": [str(folder / i) for i in images],
            "mos": np.nan,
            "mos_original": np.nan,
            "sd": np.nan,
            "sd_original": np.nan,
            "split": subset,
            "map_path": map_paths,
            "fixation_path": fix_paths,
        }
    )
    return finish_table(KEY, table, extra=["map_path", "fixation_path"])
