"""Saliency ground truth of an image table: the fixation-density map and the binary fixation map per image.

One reader for the three saliency sources the saliency notebooks score against:

* ``"salicon"`` (:func:`iqaxai.data.load_dataset`): ``map_path`` PNG, ``fixation_path`` .mat (``gaze``);
* ``"cat2000"``: ``map_path`` JPEG, ``fixation_path`` .mat (``fixLocs``);
* ``"demo"`` (:func:`iqaxai.data.demo.load_demo`): the reference scene's ``fixation_map`` PNG and its points in
  ``fixations/fixations.csv`` (``ref_img, observer, x, y``, 0-based); every distorted version of a scene shares
  its reference's fixations.

Densities are float in [0, 1] (the 8-bit maps divided by 255), fixation maps bool, both at the image's size.
They are read one image at a time (:func:`iter_ground_truth`): CAT2000's 1920x1080 maps do not fit in memory
as a whole set.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from iqaxai.saliency_metrics import fixation_map

SOURCES = ("demo", "salicon", "cat2000")


def _density(path: str) -> np.ndarray:
    with Image.open(path) as im:
        density = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    if density.max() <= 0:
        raise ValueError(f"the fixation-density map {path} is all zero")
    return density


@lru_cache(maxsize=4)
def _demo_points(csv_path: str) -> dict[str, np.ndarray]:
    table = pd.read_csv(csv_path)
    missing = {"ref_img", "x", "y"} - set(table.columns)
    if missing:
        raise ValueError(f"{csv_path} lacks the columns {sorted(missing)} (expected ref_img, observer, x, y)")
    return {ref: part[["x", "y"]].to_numpy(int) for ref, part in table.groupby("ref_img")}


def ground_truth(row: pd.Series, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(density float [H, W] in [0, 1], fixations bool [H, W]) of one row of a ``source`` table."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "demo":
        density = _density(row["fixation_map"])
        points = _demo_points(str(Path(row["fixation_map"]).parents[1] / "fixations.csv")).get(row["ref_img"])
        if points is None:
            raise ValueError(f"no fixations of {row['ref_img']} in the demo world's fixations.csv")
        return density, fixation_map(points, density.shape)
    density = _density(row["map_path"])
    if source == "salicon":
        from iqaxai.data.salicon import fixation_map as salicon_fixations

        fixations = salicon_fixations(row["fixation_path"], *density.shape)
    else:
        from iqaxai.data.cat2000 import load_fixlocs

        try:
            fixations = fixation_map(load_fixlocs(row["fixation_path"])[:, ::-1], density.shape)  # (row, col) -> (x, y)
        except ValueError as err:
            raise ValueError(f"{row['fixation_path']}: {err}") from None
    return density, fixations


def iter_ground_truth(table: pd.DataFrame, source: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`ground_truth` of every row of ``table``, in order."""
    for _, row in table.iterrows():
        yield ground_truth(row, source)
