"""Saliency metrics and centre priors, in the MIT saliency benchmark's convention.

*Bridging the Gap Between Saliency Prediction and IQA* scores the maps it extracts from IQA models with NSS,
SIM, CC and KLD against SALICON and CAT2000 (its Table I); AUC-Judd is added because every saliency benchmark
reports it. The definitions follow the MIT benchmark's MATLAB code (``code_forMetrics``: ``NSS.m``, ``CC.m``,
``similarity.m``, ``KLdiv.m``, ``AUC_Judd.m``); where this module departs from it, the function says so:

* a prediction of another size than the ground truth is resized to it bilinearly (MATLAB: bicubic
  ``imresize``; bilinear keeps a non-negative map non-negative);
* a constant prediction carries no information and gets the value stated in each function (MATLAB would
  divide by zero): NSS 0, CC 0, SIM and KLD of the uniform map, AUC-Judd 0.5;
* AUC-Judd counts tied saliency values together instead of breaking ties with random jitter, so it is
  deterministic; without ties both give the same value.

pysaliency differs from this convention in two places (population instead of sample standard deviation in
NSS, no min-max scaling before SIM); the tests compute both and show the difference.

Every metric takes one predicted map [H, W] (any real values unless stated) and the ground truth of one
image: a fixation-density map [H, W] (non-negative, not all zero) or a binary fixation map [H, W]
(:func:`fixation_map` builds one from (x, y) points). :func:`score_maps` scores a batch into a table.
:class:`MapTransform` (blur, centre-prior blend, gamma; :func:`fit_map_transform` on held-out images) is the
post-processing the paper applies before scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.transform import resize

from iqaxai.semantic import normalise  # min-max to [0, 1], a constant map to zeros

#: MATLAB's ``eps`` (2^-52), the regulariser of the MIT benchmark's KLD.
EPS = 2.220446049250313e-16
#: The metrics of :func:`score_maps`, and whether higher is better.
METRICS = {"NSS": True, "SIM": True, "CC": True, "KLD": False, "AUC-Judd": True}


# ----------------------------------------------------------------------------------------------- inputs

def _map(values, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A finite 2-D float64 map, resized bilinearly to ``shape`` when given and different."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"{name} must be a 2-D map [H, W], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    if shape is not None and arr.shape != tuple(shape):
        arr = resize(arr, shape, order=1, mode="edge", anti_aliasing=arr.shape[0] > shape[0] or arr.shape[1] > shape[1])
    return arr


def _density(values, name: str = "density") -> np.ndarray:
    """A non-negative map with positive mass (a fixation density)."""
    arr = _map(values, name)
    if (arr < 0).any() or arr.sum() <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum (a fixation density), "
                         f"got min {arr.min():.3g} and sum {arr.sum():.3g}")
    return arr


def _fixations(values) -> np.ndarray:
    """A boolean fixation map with at least one fixation and at least one pixel without."""
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"fixations must be a 2-D map [H, W] (fixation_map builds one from points), got shape {arr.shape}")
    fix = arr > 0
    if not fix.any():
        raise ValueError("fixations has no fixated pixel: NSS and AUC-Judd need at least one fixation")
    return fix


def _is_constant(arr: np.ndarray) -> bool:
    return bool(np.ptp(arr) <= 1e-12 * max(1.0, float(np.abs(arr).max())))


def fixation_map(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool [H, W]: True at the pixels of fixations given as (x, y) pixel coordinates (0-based, rounded).

    Points outside the image are refused, not clipped: they usually mean swapped x and y or 1-based coordinates.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise ValueError("fixation points contain NaN or infinite coordinates")
    xy = np.rint(pts).astype(int)
    h, w = shape
    outside = (xy[:, 0] < 0) | (xy[:, 0] >= w) | (xy[:, 1] < 0) | (xy[:, 1] >= h)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} fixation points lie outside the {w}x{h} image (expected 0-based "
                         f"(x, y) with 0 <= x < {w}, 0 <= y < {h}), e.g. {pts[outside][0].tolist()}")
    out = np.zeros(shape, dtype=bool)
    out[xy[:, 1], xy[:, 0]] = True
    return out


# ----------------------------------------------------------------------------------------------- metrics

def nss(saliency, fixations) -> float:
    """Normalised scanpath saliency: the mean of the z-scored map at the fixated pixels (higher is better).

    MIT ``NSS.m``: the map is resized to the fixation map and z-scored with the sample standard deviation
    (MATLAB ``std``, ddof 1; pysaliency uses ddof 0). A constant map gives 0.
    """
    fix = _fixations(fixations)
    sal = _map(saliency, "saliency", fix.shape)
    if _is_constant(sal):
        return 0.0
    z = (sal - sal.mean()) / sal.std(ddof=1)
    return float(z[fix].mean())


def cc(saliency, density) -> float:
    """Pearson's linear correlation between the map and the fixation density over pixels (higher is better).

    MIT ``CC.m``. A constant map (or density) gives 0.
    """
    dens = _density(density)
    sal = _map(saliency, "saliency", dens.shape)
    if _is_constant(sal) or _is_constant(dens):
        return 0.0
    a, b = sal - sal.mean(), dens - dens.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _as_distribution(arr: np.ndarray, min_max: bool) -> np.ndarray:
    """A map as a distribution over pixels (sum 1); a constant map becomes the uniform distribution."""
    if _is_constant(arr):
        return np.full(arr.shape, 1.0 / arr.size)
    if min_max:
        arr = (arr - arr.min()) / (arr.max() - arr.min())
    return arr / arr.sum()


def sim(saliency, density) -> float:
    """Similarity (histogram intersection) of the map and the density, in [0, 1] (higher is better).

    MIT ``similarity.m``: each map is min-max scaled to [0, 1], then divided by its sum; SIM is the sum of the
    pixel-wise minima (pysaliency skips the min-max scaling). A constant map counts as the uniform
    distribution (MATLAB divides by zero, or keeps an all-zero map at zero).
    """
    dens = _density(density)
    sal = _map(saliency, "saliency", dens.shape)
    return float(np.minimum(_as_distribution(sal, True), _as_distribution(dens, True)).sum())


def kld(saliency, density) -> float:
    """Kullback-Leibler divergence of the map from the fixation density, >= 0 (lower is better).

    MIT ``KLdiv.m``: both maps divided by their sums, KLD = sum(Q * log(eps + Q / (P + eps))) with Q the
    density, P the prediction and eps = 2.2204e-16 (MATLAB's; deep-learning code often uses 1e-7 or 1e-8,
    which gives other magnitudes). The map must be non-negative (shift or rectify a signed map first); a
    constant map counts as the uniform distribution.
    """
    dens = _density(density)
    sal = _map(saliency, "saliency", dens.shape)
    if (sal < 0).any():
        raise ValueError(f"KLD needs a non-negative saliency map, got min {sal.min():.3g}: rectify or shift a signed map")
    p, q = _as_distribution(sal, False), dens / dens.sum()
    return float((q * np.log(EPS + q / (p + EPS))).sum())


def auc_judd(saliency, fixations) -> float:
    """Area under the ROC curve with the fixated pixels as positives and every other pixel as negative.

    MIT ``AUC_Judd.m``: one threshold per fixation's saliency value; true-positive rate = share of fixations at
    or above it, false-positive rate = share of the other pixels at or above it; trapezoidal area from (0, 0) to
    (1, 1). Ties count together (MATLAB breaks them with random jitter), so a constant map gives 0.5.
    """
    fix = _fixations(fixations)
    sal = _map(saliency, "saliency", fix.shape)
    if fix.all():
        raise ValueError("fixations covers every pixel: AUC-Judd needs pixels without a fixation as negatives")
    pos, neg = np.sort(sal[fix])[::-1], np.sort(sal[~fix])
    thresholds = np.unique(pos)[::-1]
    # counts at or above each threshold, by binary search in the sorted values
    tp = (pos.size - np.searchsorted(pos[::-1], thresholds, side="left")) / pos.size
    fp = (neg.size - np.searchsorted(neg, thresholds, side="left")) / neg.size
    tpr, fpr = np.concatenate([[0.0], tp, [1.0]]), np.concatenate([[0.0], fp, [1.0]])
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))


def score_maps(saliency: np.ndarray, density: np.ndarray, fixations: np.ndarray,
               metrics: tuple[str, ...] = tuple(METRICS)) -> pd.DataFrame:
    """Every metric for a batch: maps [N, H, W] (or [N, h, w], resized), densities and fixation maps [N, H, W].

    One row per image, one column per metric (in ``METRICS``' order).
    """
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown saliency metrics {sorted(unknown)}; expected some of {list(METRICS)}")
    if not (len(saliency) == len(density) == len(fixations)):
        raise ValueError(f"need one map, density and fixation map per image, got {len(saliency)}, {len(density)} "
                         f"and {len(fixations)}")
    funcs = {"NSS": lambda s, d, f: nss(s, f), "SIM": lambda s, d, f: sim(s, d), "CC": lambda s, d, f: cc(s, d),
             "KLD": lambda s, d, f: kld(s, d), "AUC-Judd": lambda s, d, f: auc_judd(s, f)}
    rows = []
    for i, (s, d, f) in enumerate(zip(saliency, density, fixations)):
        try:
            rows.append({m: funcs[m](s, d, f) for m in METRICS if m in metrics})
        except ValueError as err:
            raise ValueError(f"image {i}: {err}") from None
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- centre priors

def gaussian_center_prior(shape: tuple[int, int], width: float = 0.5) -> np.ndarray:
    """pysaliency's ``GaussianSaliencyMapModel``: exp(-((x/W - 1/2)^2 + (y/H - 1/2)^2) / (2 width^2)), max 1.

    Coordinates are pixel indices divided by the image's width and height separately, so the Gaussian is
    anisotropic in pixels (wider along the longer side).
    """
    h, w = shape
    if h < 1 or w < 1 or not width > 0:
        raise ValueError(f"need a positive shape and width, got shape {shape} and width {width}")
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    r2 = (xs / w - 0.5) ** 2 + (ys / h - 0.5) ** 2
    return np.exp(-0.5 * r2 / width ** 2)


def fit_center_prior(densities: np.ndarray) -> dict[str, float]:
    """A 2-D Gaussian fitted to the mean fixation density of a training set (the saliency paper's CenterPrior).

    The fit matches the mean and covariance of the mean density taken as a distribution over pixels (the
    maximum-likelihood Gaussian for fixations drawn from it). Returns its parameters in pixels; draw it with
    :func:`center_prior_map`.
    """
    dens = np.asarray(densities, dtype=np.float64)
    if dens.ndim != 3 or len(dens) == 0:
        raise ValueError(f"densities must be a stack [N, H, W] of at least one map, got shape {dens.shape}")
    for i, d in enumerate(dens):
        try:
            _density(d, f"density {i}")
        except ValueError as err:
            raise ValueError(f"fit_center_prior: {err}") from None
    mean = (dens / dens.sum(axis=(1, 2), keepdims=True)).mean(axis=0)
    ys, xs = np.mgrid[: mean.shape[0], : mean.shape[1]].astype(np.float64)
    mx, my = float((mean * xs).sum()), float((mean * ys).sum())
    vx, vy = float((mean * (xs - mx) ** 2).sum()), float((mean * (ys - my) ** 2).sum())
    cxy = float((mean * (xs - mx) * (ys - my)).sum())
    return {"height": mean.shape[0], "width": mean.shape[1], "mean_x": mx, "mean_y": my, "var_x": vx, "var_y": vy,
            "cov_xy": cxy}


def center_prior_map(params: dict[str, float], shape: tuple[int, int] | None = None) -> np.ndarray:
    """The fitted Gaussian of :func:`fit_center_prior` drawn at ``shape`` (default: the fitted size), max 1."""
    h0, w0 = int(params["height"]), int(params["width"])
    h, w = shape or (h0, w0)
    sx, sy = w / w0, h / h0  # the prior scales with the image
    mean = np.array([params["mean_x"] * sx, params["mean_y"] * sy])
    cov = np.array([[params["var_x"] * sx * sx, params["cov_xy"] * sx * sy],
                    [params["cov_xy"] * sx * sy, params["var_y"] * sy * sy]])
    if np.linalg.det(cov) <= 0:
        raise ValueError(f"the fitted covariance {cov.tolist()} is not positive definite (a density on one line?)")
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    d = np.stack([xs - mean[0], ys - mean[1]], axis=-1)
    m = np.einsum("...i,ij,...j->...", d, np.linalg.inv(cov), d)
    return np.exp(-0.5 * m)


# ----------------------------------------------------------------------------------------------- map transforms

@dataclass(frozen=True)
class MapTransform:
    """Post-processing of a predicted map before scoring (the saliency paper, after the MSU semi-automatic
    saliency model): Gaussian blur of ``blur`` x the map's width, then a blend ``(1 - prior_weight) * map +
    prior_weight * centre prior`` (both scaled to [0, 1]), then the power ``gamma``. The identity is
    ``MapTransform()``."""

    blur: float = 0.0
    prior_weight: float = 0.0
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if not (self.blur >= 0 and 0 <= self.prior_weight <= 1 and self.gamma > 0):
            raise ValueError(f"need blur >= 0, prior_weight in [0, 1] and gamma > 0, got {self}")

    def __call__(self, saliency, prior: np.ndarray | None = None) -> np.ndarray:
        """The transformed map [H, W] in [0, 1] of a non-negative map; ``prior`` [H, W] is needed when blending."""
        return self.finish(self.blurred(saliency), prior)

    def blurred(self, saliency) -> np.ndarray:
        """The first step alone: the map blurred and scaled to [0, 1] (shared by every blend and gamma)."""
        sal = _map(saliency, "saliency")
        if (sal < 0).any():
            raise ValueError(f"MapTransform needs a non-negative map (a display map), got min {sal.min():.3g}")
        return normalise(gaussian_blur(sal, self.blur * sal.shape[1]) if self.blur > 0 else sal)

    def finish(self, blurred: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        """The blend with the centre prior and the power, on the output of :meth:`blurred`."""
        out = blurred
        if self.prior_weight > 0:
            if prior is None:
                raise ValueError("MapTransform with prior_weight > 0 needs the centre prior map")
            out = (1 - self.prior_weight) * out + self.prior_weight * normalise(_map(prior, "prior", out.shape))
        return out ** self.gamma


def gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter`` (reflecting borders), computed on a map shrunk by ``sigma // 4`` when the
    blur is wide (sigma >= 8 px): the result is smooth at that scale anyway, and a CAT2000-sized map blurred by
    0.1 x its width (192 px) takes a fraction of a second instead of seconds."""
    values = np.asarray(values, dtype=np.float64)
    factor = int(sigma // 4)
    if factor < 2:
        return ndimage.gaussian_filter(values, sigma)
    small = resize(values, (max(values.shape[0] // factor, 1), max(values.shape[1] // factor, 1)), order=1,
                   anti_aliasing=True, mode="reflect")
    blurred = ndimage.gaussian_filter(small, sigma * small.shape[1] / values.shape[1])
    return resize(blurred, values.shape, order=1, mode="reflect")


#: The grid :func:`fit_map_transform` searches by default.
TRANSFORM_GRID = {"blur": (0.0, 0.02, 0.05, 0.1), "prior_weight": (0.0, 0.25, 0.5, 0.75), "gamma": (0.5, 1.0, 2.0)}


def fit_map_transform(saliency: np.ndarray, density: np.ndarray, prior: np.ndarray,
                      grid: dict[str, tuple[float, ...]] = TRANSFORM_GRID) -> tuple[MapTransform, float]:
    """The :class:`MapTransform` of ``grid`` with the highest mean CC on a held-out part of a saliency set
    (maps and densities [N, H, W], the centre prior [H, W]), and that mean CC. Fit it per method on images not
    used for the table, then freeze it. CC is the objective because it is scale-free and defined for every map."""
    import itertools

    if len(saliency) != len(density) or len(saliency) == 0:
        raise ValueError(f"need as many maps as densities (at least one), got {len(saliency)} and {len(density)}")
    best, best_cc = MapTransform(), -np.inf
    for blur in grid["blur"]:
        blurred = [MapTransform(blur).blurred(s) for s in saliency]  # once per blur, shared by every blend and gamma
        for weight, gamma in itertools.product(grid["prior_weight"], grid["gamma"]):
            transform = MapTransform(blur, weight, gamma)
            score = float(np.mean([cc(transform.finish(b, prior), d) for b, d in zip(blurred, density)]))
            if score > best_cc + 1e-12:
                best, best_cc = transform, score
    return best, best_cc
