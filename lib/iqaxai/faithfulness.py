"""Every explanation method behind one calling convention, and the model-randomisation sanity check.

An :data:`Explainer` takes a model and an image batch [B, 3, H, W] in [0, 1] and returns one map per image
[B, h, w] (any resolution; higher = more relevant to the score). :func:`explainers` builds the project's
methods in that form, so that MoRF/LeRF (:func:`iqaxai.saliency.morf_lerf_curves`) and the planted-truth hit
rates score them alike. Methods whose native output is signed are turned into relevance as their papers read
them: HiResCAM keeps its sign (evidence for the score ranks first, against it last), occlusion and LIME use the
magnitude of the score change, the random map is the floor.

:func:`randomisation_check` is the model parameter randomisation test of Adebayo et al. (2018, *Sanity
checks for saliency maps*): the Spearman correlation between each image's map from the trained model and from
the same architecture with re-initialised weights. A method whose maps hardly change does not explain the
model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn

from iqaxai.grid import Grid, cell_slices

Explainer = Callable[[nn.Module, torch.Tensor], np.ndarray]


def random_map(seed: int = 0, shape: tuple[int, int] = (12, 16)) -> Explainer:
    """The floor of every benchmark: an independent uniform random map per image (fixed by ``seed``)."""

    def explain(model: nn.Module, images: torch.Tensor) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.random((len(images), *shape))

    return explain


def precomputed(maps: np.ndarray) -> Explainer:
    """A model-independent map source (ground-truth saliency, a semantic measure, the masked TRIQ's block
    importance) in the calling convention: it returns ``maps`` [B, h, w] for the batch they were computed for,
    whatever the model (so the randomisation check gives it 1: it does not explain the model)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or not np.isfinite(maps).all():
        raise ValueError(f"precomputed maps must be finite [B, h, w], got shape {maps.shape}")

    def explain(model: nn.Module, images: torch.Tensor) -> np.ndarray:
        if len(images) != len(maps):
            raise ValueError(f"precomputed maps are for {len(maps)} images, got a batch of {len(images)}")
        return maps

    return explain


def lime_explainer(num_samples: int = 300, seed: int = 0, n_segments: int = 48) -> Explainer:
    """LIME (``iqaxai.gradients.lime_map``, the score as the regression target), one image at a time, on SLIC
    superpixels (``n_segments`` asked for, skimage's default compactness): the magnitude of their weights as
    relevance, as for occlusion (a segment whose presence lowers the score, a distortion, matters to a quality
    score as much as one that raises it). LIME's default quickshift is scaled for 224-pixel images: on the demo
    world's 96 x 128 it gives 5-9 superpixels, too coarse to rank pixels (their area then decides the ranking);
    SLIC with 48 asked for gives 12-31 there."""
    from skimage.segmentation import slic

    from iqaxai.gradients import lime_map

    def explain(model: nn.Module, images: torch.Tensor) -> np.ndarray:
        hwc = images.detach().cpu().numpy().transpose(0, 2, 3, 1).astype(np.float64)
        return np.stack([np.abs(lime_map(model, im, segments=slic(im, n_segments=n_segments, start_label=0),
                                         num_samples=num_samples, seed=seed, device=images.device)[0])
                         for im in hwc])

    return explain


def explainers(patch: int = 12, stride: int = 6, fills: tuple[str, ...] = ("black",), seed: int = 0,
               lime_samples: int = 0, lime_segments: int = 48) -> dict[str, Explainer]:
    """The model-based methods of this project by name: HiResCAM (the saliency paper's smoothing), Grad-CAM +
    and - (the thesis), guided backpropagation, occlusion with each fill (``patch``/``stride`` in pixels),
    LIME on about ``lime_segments`` superpixels when ``lime_samples`` > 0, and a random map."""
    from iqaxai.gradients import grad_cam, guided_backprop
    from iqaxai.perturbation import occlusion_map
    from iqaxai.saliency import hirescam

    methods: dict[str, Explainer] = {
        "HiResCAM": lambda m, x: hirescam(m, x).raw,
        "Grad-CAM +": lambda m, x: grad_cam(m, x, 1),
        "Grad-CAM -": lambda m, x: grad_cam(m, x, -1),
        "guided BP": guided_backprop,
    }
    for fill in fills:
        methods[f"occlusion ({fill})"] = (
            lambda m, x, fill=fill: np.abs(occlusion_map(m, x, patch=patch, stride=stride, fill=fill, progress=False)))
    if lime_samples > 0:
        methods["LIME"] = lime_explainer(lime_samples, seed, lime_segments)
    methods["random"] = random_map(seed)
    return methods


def reinitialised(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every weight replaced, in eval mode: each module's ``reset_parameters`` (the
    layer's own initialisation), and for parameters of modules without one (e.g. a positional embedding or a
    quality token) a normal draw with the trained tensor's standard deviation; BatchNorm statistics reset."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in clone.modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            with torch.no_grad():
                for p in own:
                    std = float(p.std()) if p.numel() > 1 else 0.0
                    nn.init.normal_(p, 0.0, std if std > 0 else 0.02)
    for bn in clone.modules():
        if hasattr(bn, "reset_running_stats"):
            bn.reset_running_stats()
    return clone.eval()


def randomisation_check(explain: Explainer, model: nn.Module, images: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Per image, the Spearman correlation between the maps of the trained and the re-initialised model (near 1:
    the map does not depend on the weights). A constant map (either side) gives NaN: no ranking to compare."""
    trained = np.asarray(explain(model, images), dtype=np.float64)
    random = np.asarray(explain(reinitialised(model, seed), images), dtype=np.float64)
    if trained.shape != random.shape or len(trained) != len(images):
        raise ValueError(f"the explainer gave maps of shape {trained.shape} and {random.shape} for {len(images)} images")
    out = np.full(len(images), np.nan)
    for i, (a, b) in enumerate(zip(trained, random)):
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            out[i] = spearmanr(a.ravel(), b.ravel())[0]
    return out


def block_maps(values: np.ndarray, size: tuple[int, int], grid: Grid = (3, 4)) -> np.ndarray:
    """Region scores [N, B] as piecewise-constant pixel maps [N, H, W] on the grid (e.g. the masked TRIQ's block
    importance)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"block values must be [N, {grid[0] * grid[1]}] for a {grid[0]}x{grid[1]} grid, got {values.shape}")
    out = np.zeros((len(values), *size))
    for k, (sy, sx) in enumerate(cell_slices(size, grid)):
        out[:, sy, sx] = values[:, k, None, None]
    return out


def resized(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Signed maps [N, h, w] resized bilinearly to ``size`` (H, W), values kept (no rectifying, no scaling)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps must be [N, h, w], got shape {maps.shape}")
    if maps.shape[1:] == tuple(size):
        return maps
    t = torch.from_numpy(maps)[:, None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)[:, 0].numpy()


def aopc(curves: pd.DataFrame) -> dict[str, float]:
    """Area over the perturbation curve (Samek et al. 2017) per order of :func:`~iqaxai.saliency.morf_lerf_curves`:
    the mean over the masked fractions (0 included) and the images of |score(0) - score(fraction)|. For a quality
    score either direction of change means the masked pixels mattered, hence the magnitude."""
    out = {}
    for order, part in curves.groupby("order"):
        table = part.pivot(index="image", columns="fraction", values="score").sort_index(axis=1)
        if table.columns[0] != 0:
            raise ValueError("aopc needs the unmasked scores: the fractions must include 0")
        out[order] = float(np.abs(table.to_numpy() - table.iloc[:, [0]].to_numpy()).mean())
    return out


def bootstrap_areas(scores: pd.DataFrame, mos: np.ndarray, resamples: np.ndarray) -> np.ndarray:
    """The area between the LeRF and MoRF PLCC curves (as :func:`~iqaxai.saliency.area_between_curves`, an
    undefined correlation counting 0) on each bootstrap resample of the images: ``resamples`` [R, n] image
    indices; returns [R]. Vectorised over resamples, orders and fractions."""
    table = scores.pivot_table(index=["order", "fraction"], columns="image", values="score").sort_index()
    fractions = np.sort(scores["fraction"].unique())
    values = np.stack([table.loc[o].reindex(fractions).to_numpy() for o in ("LeRF", "MoRF")])  # [2, F, n]
    x = values[:, :, resamples]                                   # [2, F, R, n]
    y = np.asarray(mos, dtype=np.float64)[resamples]              # [R, n]
    xc = x - x.mean(-1, keepdims=True)
    yc = y - y.mean(-1, keepdims=True)
    denom = np.sqrt((xc ** 2).sum(-1) * (yc ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 1e-12 * np.maximum(np.abs(xc).max(-1), 1.0), (xc * yc).sum(-1) / np.where(denom > 0, denom, 1), 0.0)
    gap = r[0] - r[1]                                             # [F, R]
    return ((gap[1:] + gap[:-1]) / 2 * np.diff(fractions)[:, None]).sum(0)


def benchmark(model: nn.Module, images: torch.Tensor, mos: np.ndarray, maps: dict[str, np.ndarray],
              fractions: np.ndarray | list[float] = tuple(np.linspace(0.0, 1.0, 11)), fill: str = "black",
              blur: float = 0.1, n_bootstrap: int = 500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MoRF/LeRF of every method's maps on one model: (summary, curves).

    ``maps``: method -> [B, h, w] (higher = more relevant) for ``images`` [B, 3, H, W]. The summary has one row
    per method: the area between the LeRF and MoRF curves of PLCC and SROCC with ``mos``
    (:func:`~iqaxai.saliency.area_between_curves`) with a 95 % bootstrap interval of the PLCC area (images
    resampled, ``n_bootstrap`` times), the AOPC of each order and their gap, ranked by the PLCC area. Where a
    method is called ``random``, each method's paired bootstrap share of resamples in which its area exceeds the
    random map's is given too (near 1: above the floor beyond noise; near 0: below it). The curves are the
    correlations per method, order and fraction.
    """
    from iqaxai.saliency import area_between_curves, curve_correlations, morf_lerf_curves

    mos = np.asarray(mos, dtype=np.float64)
    resamples = np.random.default_rng(seed).integers(0, len(mos), size=(n_bootstrap, len(mos)))
    rows, curves, boot = [], [], {}
    for name, method_maps in maps.items():
        scores = morf_lerf_curves(model, images, method_maps, fractions, fill=fill, blur=blur)
        corr = curve_correlations(scores, mos)
        curves.append(corr.assign(method=name))
        boot[name] = bootstrap_areas(scores, mos, resamples)
        area = aopc(scores)
        rows.append({"method": name, "area PLCC": area_between_curves(corr, "plcc"),
                     "area PLCC 2.5%": float(np.percentile(boot[name], 2.5)),
                     "area PLCC 97.5%": float(np.percentile(boot[name], 97.5)),
                     "area SROCC": area_between_curves(corr, "srocc"), "AOPC MoRF": area["MoRF"],
                     "AOPC LeRF": area["LeRF"], "AOPC gap": area["MoRF"] - area["LeRF"]})
    summary = pd.DataFrame(rows)
    if "random" in boot:
        summary["P(area > random)"] = [float((boot[m] > boot["random"]).mean()) if m != "random" else np.nan
                                       for m in summary["method"]]
    summary = summary.sort_values("area PLCC", ascending=False, ignore_index=True)
    summary.insert(1, "rank", np.arange(1, len(summary) + 1))
    return summary, pd.concat(curves, ignore_index=True)
