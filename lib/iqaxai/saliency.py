"""Saliency from IQA models and its faithfulness: HiResCAM extraction and MoRF/LeRF masking.

*Bridging the Gap Between Saliency Prediction and IQA*, Section III-A: a trained IQA model's saliency map is
HiResCAM (the element-wise product of the last convolutional stage's activations and the gradients of the
score, summed over channels) with augmentation smoothing (horizontal flip x brightness 0.9 / 1 / 1.1, the
maps averaged after undoing the flip) and eigen smoothing (the first principal component of the weighted
activations instead of their sum). The target is the score, or minus the score for a model whose
``info.lower_better`` is set. Section III-B masks each image's most (MoRF) or least (LeRF) relevant pixels
and follows the correlation of the model's scores with the MOS as the masked share grows.

pytorch-grad-cam's ``HiResCAM`` rectifies and min-max scales every map at the input size; the maps here are
kept raw (signed, at feature-map resolution, :attr:`SaliencyMaps.raw`) beside a display version, so this
module uses the library's activation and gradient hooks (``ActivationsAndGradients``) and its SVD projection
(``get_2d_projection``) directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from iqaxai.gradients import _batch, _Score, cam_layer
from iqaxai.models.base import IMAGENET_MEAN
from iqaxai.stats import StatsError, plcc, srocc

#: Brightness factors of the augmentation smoothing (pytorch-grad-cam's ``aug_smooth``: ttach ``Multiply``).
AUG_FACTORS = (0.9, 1.0, 1.1)
#: Fills of the masked pixels in MoRF/LeRF: black, or ImageNet's mean colour (what a normalised input reads as 0).
FILLS = {"black": (0.0, 0.0, 0.0), "imagenet_mean": IMAGENET_MEAN}


@dataclass(frozen=True)
class SaliencyMaps:
    """Maps of a batch: ``raw`` [B, h, w] signed at the layer's resolution; ``display`` [B, H, W] in [0, 1]."""

    raw: np.ndarray
    display: np.ndarray


def _sign(model: nn.Module) -> float:
    """+1, or -1 for a model whose lower scores are better (its saliency follows quality, not the number)."""
    info = getattr(model, "info", None)
    return -1.0 if getattr(info, "lower_better", False) else 1.0


def _hirescam_pass(scored: nn.Module, layer: nn.Module, images: torch.Tensor, sign: float,
                   eigen_smooth: bool) -> np.ndarray:
    """One HiResCAM pass: [B, h, w] = sum_c dS/dA_c * A_c (or its first principal component)."""
    from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    hooks = ActivationsAndGradients(scored, [layer], None)
    try:
        # an input that requires grad keeps the graph alive when the model's own weights are frozen
        scores = hooks(images.detach().requires_grad_(True))
        scored.zero_grad()
        (sign * scores[:, 0]).sum().backward()
        acts, grads = hooks.activations[0].numpy(), hooks.gradients[0].numpy()
    finally:
        hooks.release()
    if acts.ndim != 4:
        raise ValueError(f"hirescam: the target layer ({type(layer).__name__}) gives a {acts.ndim}-D output; "
                         "expected a [B, C, h, w] feature map")
    weighted = acts * grads
    summed = weighted.sum(axis=1)
    if not eigen_smooth:
        return summed
    projected = get_2d_projection(weighted)
    # the SVD fixes the component only up to its sign: orient it along the unsmoothed map
    agree = np.sign((projected * summed).sum(axis=(1, 2)))
    return projected * np.where(agree == 0, 1.0, agree)[:, None, None]


def hirescam(model: nn.Module, images: torch.Tensor, aug_smooth: bool = True, eigen_smooth: bool = True,
             layer: nn.Module | None = None, batch_size: int = 16) -> SaliencyMaps:
    """HiResCAM saliency maps of ``images`` [B, 3, H, W] (or [3, H, W]) in [0, 1], with the paper's smoothing.

    ``aug_smooth`` averages six passes: each image and its mirror, each at brightness 0.9, 1 and 1.1 (clipped
    to [0, 1], as an exposure change saturates highlights). ``layer`` defaults to the model's declared target
    layer (its last convolutional stage).
    """
    images = _batch(model, images, "hirescam(images)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval()
    target = layer or cam_layer(model)
    scored, sign = _Score(model), _sign(model)
    augmentations = [(f, flip) for flip in (False, True) for f in AUG_FACTORS] if aug_smooth else [(1.0, False)]
    chunks = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        total = None
        for factor, flip in augmentations:
            xa = (x * factor).clamp(0.0, 1.0)
            raw = _hirescam_pass(scored, target, xa.flip(-1) if flip else xa, sign, eigen_smooth)
            raw = raw[..., ::-1] if flip else raw
            total = raw if total is None else total + raw
        chunks.append(total / len(augmentations))
    raw = np.concatenate(chunks).astype(np.float32)
    if raw.shape[-2] * raw.shape[-1] < 2:
        raise ValueError(f"hirescam: the target layer gives a {raw.shape[-2]}x{raw.shape[-1]} map for "
                         f"{images.shape[-2]}x{images.shape[-1]} images: one position carries no spatial information")
    return SaliencyMaps(raw, display_maps(raw, tuple(images.shape[-2:])))


def display_maps(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Maps for showing and for saliency metrics: rectified, upsampled bilinearly to ``size``, scaled to [0, 1]
    per image (a map with no positive value stays 0)."""
    t = torch.from_numpy(np.maximum(np.asarray(raw, dtype=np.float32), 0.0))[:, None]
    up = F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()
    low = up.min(axis=(1, 2), keepdims=True)
    span = up.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (up - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------- MoRF / LeRF

def relevance_ranks(maps: np.ndarray, size: tuple[int, int], blur: float = 0.1) -> np.ndarray:
    """int [B, H, W]: each pixel's rank by relevance, 0 for the most relevant, after upsampling the maps to
    ``size`` and blurring them with a Gaussian of ``blur`` x the image width (Section III-B: a large blur, so
    that every quantile is defined; remaining ties go by pixel order)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or not np.isfinite(maps).all():
        raise ValueError(f"maps must be finite [B, h, w], got shape {maps.shape}")
    up = F.interpolate(torch.from_numpy(maps)[:, None], size=size, mode="bilinear", align_corners=False)[:, 0].numpy()
    sigma = blur * size[1]
    ranks = np.empty(up.shape, dtype=np.int64)
    for i, m in enumerate(up):
        smooth = ndimage.gaussian_filter(m, sigma) if sigma > 0 else m
        order = np.argsort(-smooth.ravel(), kind="stable")
        flat = np.empty(order.size, dtype=np.int64)
        flat[order] = np.arange(order.size)
        ranks[i] = flat.reshape(size)
    return ranks


def morf_lerf_curves(model: nn.Module, images: torch.Tensor, maps: np.ndarray,
                     fractions: np.ndarray | list[float] = tuple(np.linspace(0.0, 1.0, 11)), fill: str = "black",
                     blur: float = 0.1, batch_size: int = 32) -> pd.DataFrame:
    """The model's scores with the most (MoRF) or least (LeRF) relevant share of each image's pixels masked.

    ``images`` [B, 3, H, W] in [0, 1]; ``maps`` [B, h, w] of any source (higher = more relevant, any
    resolution); ``fractions`` in [0, 1]; ``fill`` one of :data:`FILLS`. Returns one row per (order, fraction,
    image) with the score; :func:`curve_correlations` turns it into the paper's Fig. 2 curves.
    """
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {list(FILLS)}, got {fill!r}")
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) == 0 or (fractions < 0).any() or (fractions > 1).any():
        raise ValueError(f"fractions must be a non-empty list in [0, 1], got {fractions.tolist()}")
    images = _batch(model, images, "morf_lerf_curves(images)")
    if len(maps) != len(images):
        raise ValueError(f"need one map per image, got {len(maps)} maps for {len(images)} images")
    h, w = images.shape[-2:]
    ranks = torch.from_numpy(relevance_ranks(maps, (h, w), blur)).to(images.device)
    colour = torch.tensor(FILLS[fill], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    model.eval()
    rows = []
    for order in ("MoRF", "LeRF"):
        # MoRF masks the pixels ranked first, LeRF those ranked last
        position = ranks if order == "MoRF" else h * w - 1 - ranks
        for fraction in fractions:
            masked = (position < int(round(fraction * h * w)))[:, None]
            with torch.no_grad():
                scores = torch.cat([model(torch.where(masked[s:s + batch_size], colour, images[s:s + batch_size]))
                                    for s in range(0, len(images), batch_size)]).reshape(-1).cpu().numpy()
            rows += [{"order": order, "fraction": float(fraction), "image": i, "score": float(v)}
                     for i, v in enumerate(scores)]
    return pd.DataFrame(rows)


def curve_correlations(curves: pd.DataFrame, mos: np.ndarray) -> pd.DataFrame:
    """PLCC and SROCC of the masked scores with ``mos`` per order and fraction (NaN where the scores are
    constant, e.g. every image fully masked: the correlation is undefined there)."""
    mos = np.asarray(mos, dtype=np.float64)
    rows = []
    for (order, fraction), part in curves.groupby(["order", "fraction"], sort=False):
        part = part.sort_values("image")
        if len(part) != len(mos):
            raise ValueError(f"{order} at {fraction}: {len(part)} scores for {len(mos)} MOS values")
        try:
            r, rho = plcc(part["score"], mos), srocc(part["score"], mos)
        except StatsError:
            r = rho = float("nan")
        rows.append({"order": order, "fraction": fraction, "plcc": r, "srocc": rho})
    return pd.DataFrame(rows)


def area_between_curves(correlations: pd.DataFrame, metric: str = "plcc") -> float:
    """Area between the LeRF and MoRF curves of ``metric`` over the masked fraction (trapezoids; higher means
    the map ranks the pixels the model depends on first). An undefined correlation counts as 0: nothing is
    left to rank by."""
    curves = correlations.pivot(index="fraction", columns="order", values=metric).sort_index().fillna(0.0)
    gap = (curves["LeRF"] - curves["MoRF"]).to_numpy()
    x = curves.index.to_numpy(dtype=np.float64)
    return float(((gap[1:] + gap[:-1]) / 2 * np.diff(x)).sum())
