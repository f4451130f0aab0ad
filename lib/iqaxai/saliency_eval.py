"""Table I of *Bridging the Gap Between Saliency Prediction and IQA*: saliency maps of any source scored
against a saliency set's ground truth, with and without fitted map transforms.

A saliency set is split into three parts (:func:`saliency_parts`): ``prior`` (its mean fixation density gives
the fitted CenterPrior), ``transform`` (each method's :class:`~iqaxai.saliency_metrics.MapTransform` is
fitted there, then frozen) and ``table`` (the images the table scores). A :data:`MapSource` turns rows of a
saliency table into non-negative maps (any resolution; they are resized to the ground truth's size):
:func:`hirescam_source` (an IQA model), :func:`directory_source` (a reviewer's PNGs of a SOTA saliency model)
and :func:`fixed_source` (one map for all, such as a centre prior). :func:`evaluate` scores every source in chunks,
so that a whole SALICON val (5,000 maps at 480x640) never sits in memory at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from iqaxai.data.fixations import ground_truth
from iqaxai.faithfulness import resized
from iqaxai.saliency_metrics import (METRICS, MapTransform, center_prior_map, fit_center_prior, fit_map_transform,
                                     gaussian_center_prior, score_maps)

#: rows of a saliency table -> non-negative maps [n, h, w] (higher = more salient).
MapSource = Callable[[pd.DataFrame], np.ndarray]


def _sample(rows: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    return rows if n is None or len(rows) <= n else rows.sample(n=n, random_state=seed).sort_index()


def saliency_parts(source: str, table: pd.DataFrame | None = None, root: str | None = None, seed: int = 0,
                   n_transform: int | None = 200, n_table: int | None = None) -> dict[str, pd.DataFrame]:
    """The three parts of a saliency set (``prior``, ``transform``, ``table``; see the module docstring).

    - ``demo``: ``table`` is the demo world's image table; one distorted version per reference scene (seeded),
      the train scenes for the prior, validation for the transforms, test for the table.
    - ``salicon``: SALICON train for the prior and (a seeded sample of ``n_transform``) the transforms, val for
      the table (the paper's Table I).
    - ``cat2000``: its seeded train / val / test split.

    ``n_transform`` and ``n_table`` cap those parts with a seeded sample (None: all).
    """
    from iqaxai.data import load_dataset

    if source == "demo":
        if table is None or "ref_img" not in table:
            raise ValueError("saliency_parts('demo') needs the demo world's image table (with ref_img and split)")
        scenes = table.sample(frac=1.0, random_state=seed).drop_duplicates("ref_img").sort_index()
        parts = {"prior": scenes[scenes["split"] == "train"], "transform": scenes[scenes["split"] == "val"],
                 "table": scenes[scenes["split"] == "test"]}
    elif source == "salicon":
        train = load_dataset("salicon", root, subset="train")
        parts = {"prior": train, "transform": train, "table": load_dataset("salicon", root, subset="val")}
    elif source == "cat2000":
        cat = load_dataset("cat2000", root, split_seed=seed)
        parts = {"prior": cat[cat["split"] == "train"], "transform": cat[cat["split"] == "val"],
                 "table": cat[cat["split"] == "test"]}
    else:
        raise ValueError(f"source must be demo, salicon or cat2000, got {source!r}")
    parts["transform"] = _sample(parts["transform"], n_transform, seed)
    parts["table"] = _sample(parts["table"], n_table, seed)
    empty = [k for k, v in parts.items() if len(v) == 0]
    if empty:
        raise ValueError(f"the {source} saliency set has no images in its {', '.join(empty)} part(s)")
    return parts


def load_stretched(paths: list[str], size: tuple[int, int]) -> torch.Tensor:
    """Images [N, 3, H, W] in [0, 1] resized to ``size`` without cropping (aspect not kept), so that a map
    computed on them covers the whole image, as its fixation density does."""
    from iqaxai.data.images import load_image

    out = []
    for p in paths:
        t = torch.from_numpy(load_image(p)).permute(2, 0, 1)[None]
        out.append(F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1))
    return torch.cat(out)


def hirescam_source(model: nn.Module, size: tuple[int, int] | None, device: str | torch.device = "cpu",
                    column: str = "path", **kwargs) -> MapSource:
    """An IQA model's HiResCAM display maps (:func:`iqaxai.saliency.hirescam`, the paper's smoothing unless
    ``kwargs`` say otherwise) on the rows' images stretched to the model's input ``size`` (None: as stored)."""
    from iqaxai.data.images import load_batch
    from iqaxai.saliency import hirescam

    def maps(rows: pd.DataFrame) -> np.ndarray:
        paths = list(rows[column])
        images = load_batch(paths, None) if size is None else load_stretched(paths, size)
        return hirescam(model, images.to(device), **kwargs).display

    return maps


def directory_source(folder: str | Path, suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg")) -> MapSource:
    """Maps a reviewer supplies for a saliency model (e.g. MSINet or TranSalNet output): ``<folder>/<stem>.png``
    per image, grey levels as saliency."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"saliency map folder {folder} does not exist")

    def maps(rows: pd.DataFrame) -> np.ndarray:
        out = []
        for path in rows["path"]:
            stem = Path(path).stem
            found = [folder / f"{stem}{s}" for s in suffixes if (folder / f"{stem}{s}").exists()]
            if not found:
                raise FileNotFoundError(f"no saliency map for {stem} in {folder} (expected {stem}.png)")
            with Image.open(found[0]) as im:
                out.append(np.asarray(im.convert("L"), dtype=np.float32) / 255.0)
        shapes = {m.shape for m in out}
        return np.stack(out) if len(shapes) == 1 else np.stack([resized(m[None], out[0].shape)[0] for m in out])

    return maps


def fixed_source(saliency: np.ndarray) -> MapSource:
    """The same map [h, w] for every image (e.g. a centre prior; resized to each ground truth's size)."""
    saliency = np.asarray(saliency, dtype=np.float32)
    if saliency.ndim != 2:
        raise ValueError(f"a fixed map must be [h, w], got shape {saliency.shape}")

    def maps(rows: pd.DataFrame) -> np.ndarray:
        return np.repeat(saliency[None], len(rows), axis=0)

    return maps


def _truth(rows: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [ground_truth(r, source) for _, r in rows.iterrows()]
    shapes = {d.shape for d, _ in pairs}
    if len(shapes) > 1:
        raise ValueError(f"the ground-truth maps of one chunk differ in size ({sorted(shapes)[:3]}); "
                         "evaluate needs one size per saliency set")
    return np.stack([d for d, _ in pairs]), np.stack([f for _, f in pairs])


def _maps(source: MapSource, rows: pd.DataFrame, shape: tuple[int, int], name: str) -> np.ndarray:
    maps = np.asarray(source(rows), dtype=np.float32)
    if maps.ndim != 3 or len(maps) != len(rows) or not np.isfinite(maps).all() or (maps < 0).any():
        raise ValueError(f"map source {name!r} must give one finite non-negative map per image, got shape {maps.shape}")
    return resized(maps, shape).astype(np.float32)


def fit_transforms(sources: dict[str, MapSource], rows: pd.DataFrame, truth: str, prior: np.ndarray,
                   fixed: tuple[str, ...] = ()) -> dict[str, tuple[MapTransform, float]]:
    """Each source's best :class:`MapTransform` (and its mean CC) on ``rows`` (the ``transform`` part);
    sources named in ``fixed`` keep the identity (a centre prior is not blended with itself), and so, with a
    warning, does a map folder that lacks maps for these rows."""
    density, _ = _truth(rows, truth)
    out = {}
    for name, source in sources.items():
        if name in fixed:
            out[name] = (MapTransform(), float("nan"))
            continue
        try:
            maps = _maps(source, rows, density.shape[1:], name)
        except FileNotFoundError as err:  # e.g. a saliency model's maps supplied for the table images only
            warnings.warn(f"{name}: no maps for the transform part ({err}); it is scored without a fitted transform")
            out[name] = (MapTransform(), float("nan"))
            continue
        out[name] = fit_map_transform(maps, density, prior)
    return out


def evaluate(sources: dict[str, MapSource], rows: pd.DataFrame, truth: str, prior: np.ndarray | None = None,
             transforms: dict[str, tuple[MapTransform, float]] | None = None, chunk: int = 32) -> pd.DataFrame:
    """Mean saliency metrics of every source on ``rows`` (the ``table`` part), as they come and, for the
    sources in ``transforms``, after their frozen transform (``prior``: the centre prior map at the ground
    truth's size, for the blend). One row per (method, transform)."""
    transforms = transforms or {}
    per_image: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for start in range(0, len(rows), chunk):
        part = rows.iloc[start:start + chunk]
        density, fixations = _truth(part, truth)
        for name, source in sources.items():
            maps = _maps(source, part, density.shape[1:], name)
            per_image.setdefault((name, "none"), []).append(score_maps(maps, density, fixations))
            if name in transforms and transforms[name][0] != MapTransform():
                moved = np.stack([transforms[name][0](m, prior) for m in maps])
                per_image.setdefault((name, "fitted"), []).append(score_maps(moved, density, fixations))
    out = []
    for (name, kind), frames in per_image.items():
        scores = pd.concat(frames, ignore_index=True)
        t = transforms.get(name, (MapTransform(), float("nan")))[0] if kind == "fitted" else MapTransform()
        out.append({"method": name, "transform": kind, "blur": t.blur, "prior weight": t.prior_weight, "gamma": t.gamma,
                    **scores[list(METRICS)].mean().to_dict(), "images": len(scores)})
    return pd.DataFrame(out)


def mean_density(rows: pd.DataFrame, truth: str) -> np.ndarray:
    """The mean of the rows' fixation densities, each normalised to sum 1 (one map at a time: SALICON train's
    10,000 maps never sit in memory together)."""
    total, shape = None, None
    for _, row in rows.iterrows():
        density = ground_truth(row, truth)[0]
        if shape is not None and density.shape != shape:
            raise ValueError(f"fixation densities differ in size ({shape} and {density.shape}): cannot average them")
        shape = density.shape
        total = density / density.sum() if total is None else total + density / density.sum()
    if total is None:
        raise ValueError("mean_density needs at least one image")
    return total / len(rows)


#: The two centre priors of the table: fitted to the training part (the paper's CenterPrior), and pysaliency's.
PRIORS = ("CenterPrior (fitted)", "CenterPrior (pysaliency)")


def table_i(sources: dict[str, MapSource], parts: dict[str, pd.DataFrame], truth: str,
            chunk: int = 32) -> tuple[pd.DataFrame, dict[str, float]]:
    """Table I on one saliency set: every source plus the two centre priors (:data:`PRIORS`), as they come and
    after the transform fitted on the ``transform`` part, scored on the ``table`` part. Returns the table and
    the fitted centre prior's parameters."""
    mean = mean_density(parts["prior"], truth)
    params = fit_center_prior(mean[None])
    prior = center_prior_map(params)
    everything = {**sources, PRIORS[0]: fixed_source(prior), PRIORS[1]: fixed_source(gaussian_center_prior(mean.shape))}
    transforms = fit_transforms(everything, parts["transform"], truth, prior, fixed=PRIORS)
    return evaluate(everything, parts["table"], truth, prior, transforms, chunk), params
