"""Outlier detection for IQA model predictions ("Explanations through outliers").

Implements the three objective ways of finding the images an IQA model fails on from the
master thesis "Explainable AI for IQA" (Nguyen, NTNU 2023; Chapter 3.2, Section 4.2) and
their combination. An *outlier* is an image "that the model fails to accurately estimate
quality", i.e. whose prediction and MOS "are poorly matched". Inputs are the model's
predictions ``pred`` and the subjective scores ``mos`` (one per image; any scales, any sign
of correlation) and, for the third method, the per-image standard deviation ``mos_sd`` of
the ratings **on the scale of mos** (KonIQ-10k's ``SD`` column is on the 1..5 vote scale
while its ``MOS`` is 0..100: rescale first; a warning is raised when the SD looks far too
small for the MOS range).

Top p% (used by every method below): with N images the k = floor(p * N / 100) images with
the largest score; ties are broken by position (earlier image first), so exactly k images
pass the condition.

1. Correlation change, leave one out (Sec. 3.2.1, eqs 3.2-3.4). ``r_all = Correlation(MOS,
   Prediction)`` and ``r_exl(i) = Correlation(MOS_/i, Prediction_/i)`` on the raw
   predictions. :func:`loo_correlation_change` returns ``r_exl(i) - r_all``, the gain in
   correlation when image i is removed. (The thesis writes ``Δr(i) = r_all - r_exl(i)``
   (eq. 3.4) but then "Select the images with the biggest Δr as the outliers" and calls the
   points "whose removal will lead to the largest decrease in correlation values" the best
   predictions, so the outliers are the images whose removal *increases* the correlation
   most, which is the sign used here.) :func:`loo_outliers` flags the images whose gain,
   oriented by the sign of ``r_all`` (so that a metric where lower means better works too),
   is in the top p% **and** positive. The method "can not classify the outliers
   automatically": p is the user's choice; the thesis shows 5% and 30%. PLCC is the
   default because the thesis found SRCC "not suitable for our algorithm": at 30% the SRCC
   choice "moves towards the center of the graph" while with PLCC "the outliers are still
   the nearest points from the top-left or bottom-right corner". SRCC changes are also
   quantised: without ties ``SRCC = 1 - 6 Σd² / (n(n²-1))`` with Σd² an integer, so many
   images share the same change and the top p% is decided by ties.
2. RANSAC (Sec. 3.2.2): a robust straight line MOS = a * pred + b fitted by
   ``sklearn.linear_model.RANSACRegressor`` with its defaults (LinearRegression,
   ``min_samples`` = 2, ``residual_threshold`` = median absolute deviation of the MOS,
   ``max_trials`` = 100, ``loss="absolute_error"``) and a fixed ``random_state``; the
   outliers are the points outside the consensus set (``~inlier_mask_``), i.e. whose
   absolute residual from the best candidate line exceeds the threshold. "The number of
   outliers in this method can change according to the setting residual threshold"; the
   thesis found "determining 5% of total images as the outlier will give the most
   consistent results". With ``top_percent`` set, an image must in addition be in the top
   p% of absolute residuals from the final (inlier-refit) line.
3. Logistic mapping and the SD of the MOS (Sec. 3.2.3): the predictions are mapped to the
   MOS scale by the 5-parameter logistic of eq. 2.2 (:func:`iqaxai.stats.map_logistic`),
   ``Prediction' = f_map(Prediction)`` (eq. 3.6), and ``d_i = |MOS_i - Prediction'_i|`` is
   the (vertical, MOS-unit) distance from the point to the mapping curve. An image is an
   outlier iff "the mapped score Prediction'_i of an image satisfies the condition in
   equation 3.5 and the distance from the data point is in top p% of all the distance",
   eq. 3.5 being ``|MOS_i - Prediction_i| > 2σ_i``. With ``top_percent=None`` only eq. 3.5
   applies (CNNIQA's ``outlier_ratio = mean(|sq - q| > 2*sq_std)``); for a perfect mapping
   and Gaussian rating noise it flags P(|z| > 2) = 4.55% of the images. Datasets without a
   per-image SD (SPAQ, SACID) cannot use this method.

Combination (Sec. 4.2.5): "we selected the outliers that are found by all three outlier
detection methods"; :func:`combined_outliers` takes the images flagged by at least
``min_votes`` methods (default: all of them). :func:`direction_counts` splits outliers into
under- and overestimated ones as in Table 4.3 (mapped prediction below the MOS =
underestimated), :func:`best_predicted` returns the images closest to the logistic mapping
(the green dots of Figs 4.3-4.8), :func:`agreement` the pairwise overlap of the methods
(Fig. 4.9) and :func:`detect_all` runs everything into one table.

Invalid inputs (NaN or inf, different lengths, constant predictions or MOS, too few images)
raise :class:`iqaxai.stats.StatsError`, a ``ValueError``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps
from sklearn.linear_model import RANSACRegressor

from iqaxai import stats
from iqaxai.stats import StatsError

__all__ = [
    "NO_SD_MESSAGE",
    "agreement",
    "best_predicted",
    "combined_outliers",
    "detect_all",
    "direction_counts",
    "logistic_outliers",
    "loo_correlation_change",
    "loo_outliers",
    "ransac_outliers",
]

Metric = Literal["plcc", "srocc"]

NO_SD_MESSAGE = (
    "this dataset has no per-image MOS standard deviation (e.g. SPAQ, SACID); the 2-sigma rule "
    "|MOS_i - Prediction'_i| > 2*sigma_i needs it; use the LOO or RANSAC methods"
)
# The SD is assumed to be on another scale than the MOS when its median is below this
# fraction of the MOS range (KonIQ-10k: SD ~0.5 on 1..5 votes vs MOS 0..100 gives ~0.006).
_SD_SCALE_FRACTION = 0.02
_CHUNK = 512


def _pair(pred: ArrayLike, mos: ArrayLike, min_items: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Validated float vectors (same checks and messages as :mod:`iqaxai.stats`)."""
    return stats._validate(pred, mos, names=("pred", "mos"), min_items=min_items)


def _check_percent(top_percent: float) -> float:
    p = float(top_percent)
    if not 0 < p <= 100:
        raise ValueError(f"top_percent must be in (0, 100], got {top_percent!r}")
    return p


def _top_mask(score: np.ndarray, top_percent: float) -> np.ndarray:
    """True for the floor(p*N/100) largest scores ("top p%"), ties broken by position."""
    p = _check_percent(top_percent)
    k = math.floor(p * score.size / 100 + 1e-9)
    mask = np.zeros(score.size, dtype=bool)
    mask[np.argsort(-score, kind="stable")[:k]] = True
    return mask


def _signed_sum(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i: sum_j sign(x_j - x_i) * v_j, and the number of j with x_j == x_i."""
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    group = np.bincount(inv, weights=v, minlength=counts.size)
    cum = np.cumsum(group)
    below = cum - group
    above = cum[-1] - cum
    return (above - below)[inv], counts[inv].astype(float)


def _concordance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For each i: sum_j sign(x_j - x_i) * sign(y_j - y_i), in row blocks (O(N^2) time, O(N) memory)."""
    out = np.empty(x.size)
    for s in range(0, x.size, _CHUNK):
        xi, yi = x[s : s + _CHUNK, None], y[s : s + _CHUNK, None]
        sx = (x > xi).view(np.int8) - (x < xi).view(np.int8)
        sy = (y > yi).view(np.int8) - (y < yi).view(np.int8)
        out[s : s + _CHUNK] = np.einsum("ij,ij->i", sx, sy, dtype=np.int64)
    return out


def _loo_plcc(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """PLCC of all items and with each item left out, by a closed-form update of centred sums."""
    n = x.size
    xc, yc = x - x.mean(), y - y.mean()
    sxx, syy, sxy = xc @ xc, yc @ yc, xc @ yc
    # Removing item i from centred data: S'_ab = S_ab - n/(n-1) * a_i * b_i.
    k = n / (n - 1)
    vx, vy = sxx - k * xc * xc, syy - k * yc * yc
    _check_loo_variance(vx, vy, sxx, syy)
    return float(sxy / np.sqrt(sxx * syy)), (sxy - k * xc * yc) / np.sqrt(vx * vy)


def _loo_srocc(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """SRCC (Pearson of average ranks) of all items and with each item left out, exactly.

    With a = 2*rank(x) (integers), leaving out i gives the doubled ranks
    u_j = a_j - 1 - sign(x_j - x_i) (j != i), whose mean is n. All sums are integers, so
    the float64 arithmetic below is exact for any practical n.
    """
    n = x.size
    p = 2 * sps.rankdata(x) - 1
    q = 2 * sps.rankdata(y) - 1
    sx_q, _ = _signed_sum(x, q)
    sy_p, _ = _signed_sum(y, p)
    sx_p, tie_x = _signed_sum(x, p)
    sy_q, tie_y = _signed_sum(y, q)
    base = (n - 1) * n * n
    cxy = p @ q - sx_q - sy_p + _concordance(x, y) - p * q - base
    cxx = p @ p - 2 * sx_p + (n - tie_x) - p * p - base
    cyy = q @ q - 2 * sy_q + (n - tie_y) - q * q - base
    _check_loo_variance(cxx, cyy, 1.0, 1.0)
    return stats.srocc(x, y), cxy / np.sqrt(cxx * cyy)


def _check_loo_variance(vx: np.ndarray, vy: np.ndarray, sx: float, sy: float) -> None:
    bad = np.flatnonzero((vx <= 1e-12 * sx) | (vy <= 1e-12 * sy))
    if bad.size:
        raise StatsError(
            "leaving out image(s) at position(s) "
            + ", ".join(str(i) for i in bad[:5])
            + " makes pred or mos constant, so the leave-one-out correlation is undefined"
        )


def _loo(pred: ArrayLike, mos: ArrayLike, metric: Metric) -> tuple[float, np.ndarray]:
    x, y = _pair(pred, mos, min_items=4)
    if metric == "plcc":
        return _loo_plcc(x, y)
    if metric == "srocc":
        return _loo_srocc(x, y)
    raise ValueError(f"metric must be 'plcc' or 'srocc', got {metric!r}")


def loo_correlation_change(pred: ArrayLike, mos: ArrayLike, metric: Metric = "plcc") -> np.ndarray:
    """``r_exl(i) - r_all``: change of the correlation when image i is left out (thesis eqs 3.2-3.4).

    Positive values mean the image lowers the correlation (a candidate outlier). ``metric``
    is "plcc" (closed-form O(N) update) or "srocc" (exact, with average ranks for ties as
    :func:`scipy.stats.spearmanr`; O(N^2) time in blocks, about 0.2 s for N = 10,000).
    """
    r_all, r_exl = _loo(pred, mos, metric)
    return r_exl - r_all


def loo_outliers(
    pred: ArrayLike, mos: ArrayLike, metric: Metric = "plcc", top_percent: float = 5.0
) -> np.ndarray:
    """Outliers "based on correlation coefficient" (Sec. 3.2.1): "the images with the biggest Δr".

    An image is flagged when its correlation gain on removal (oriented by the sign of the
    overall correlation) is in the top ``top_percent``% and positive. PLCC is the thesis'
    choice; SRCC drifts to the centre of the cloud for large p and its changes tie.
    """
    r_all, r_exl = _loo(pred, mos, metric)
    gain = (r_exl - r_all) * (1.0 if r_all >= 0 else -1.0)
    return _top_mask(gain, top_percent) & (gain > 0)


def ransac_outliers(
    pred: ArrayLike,
    mos: ArrayLike,
    residual_threshold: float | None = None,
    random_state: int | None = 0,
    top_percent: float | None = None,
    max_trials: int = 100,
) -> np.ndarray:
    """Outliers "with RANSAC" (Sec. 3.2.2): images outside the consensus set of a robust line.

    ``RANSACRegressor`` fits MOS from the prediction; ``residual_threshold=None`` is
    scikit-learn's default, the median absolute deviation of the MOS. With ``top_percent``
    an outlier must also be in the top p% of absolute residuals from the fitted line.
    """
    x, y = _pair(pred, mos)
    model = RANSACRegressor(
        residual_threshold=residual_threshold, random_state=random_state, max_trials=max_trials
    )
    try:
        model.fit(x[:, None], y)
    except ValueError as exc:
        raise StatsError(f"RANSAC found no valid consensus set: {exc}") from exc
    flags = ~model.inlier_mask_
    if top_percent is not None:
        flags &= _top_mask(np.abs(y - model.predict(x[:, None])), top_percent)
    return flags


def _sd_vector(mos_sd: ArrayLike | None, n: int, mos: np.ndarray) -> np.ndarray:
    """Validate the per-image SD of the MOS (finite, >= 0, length n, same scale as MOS)."""
    if mos_sd is None:
        raise StatsError(NO_SD_MESSAGE)
    raw = np.asarray(mos_sd, dtype=float)
    if raw.size == 0 or np.all(np.isnan(raw)):
        raise StatsError(NO_SD_MESSAGE)
    sd = stats._as_vector(raw, "mos_sd")
    if sd.size != n:
        raise StatsError(f"mos_sd and mos differ in length ({sd.size} vs {n})")
    if np.any(sd < 0):
        raise StatsError(f"mos_sd has {int(np.sum(sd < 0))} negative value(s)")
    span = float(mos.max() - mos.min())
    if np.median(sd) < _SD_SCALE_FRACTION * span:
        warnings.warn(
            f"median mos_sd ({np.median(sd):.3g}) is below {_SD_SCALE_FRACTION:.0%} of the MOS range "
            f"({span:.3g}); is the SD on another scale than the MOS (KonIQ-10k: SD on 1..5 votes, "
            "MOS on 0..100)? Rescale it before the 2-sigma rule.",
            UserWarning,
            stacklevel=3,
        )
    return sd


def logistic_outliers(
    pred: ArrayLike,
    mos: ArrayLike,
    mos_sd: ArrayLike | None,
    top_percent: float | None = 5.0,
    n_sigma: float = 2.0,
) -> np.ndarray:
    """Outliers "with logistic mapping and standard deviation of MOS" (Sec. 3.2.3).

    Flagged iff ``|MOS_i - Prediction'_i| > 2σ_i`` (eq. 3.5, Prediction' = 5-parameter
    logistic mapping, eq. 3.6) "and the distance from the data point is in top p% of all the
    distance"; ``top_percent=None`` applies eq. 3.5 alone. Raises StatsError when the
    dataset has no per-image SD.
    """
    x, y = _pair(pred, mos, min_items=5)
    sd = _sd_vector(mos_sd, x.size, y)
    d = np.abs(y - stats.map_logistic(x, y))
    flags = d > n_sigma * sd
    if top_percent is not None:
        flags &= _top_mask(d, top_percent)
    return flags


def _flag_matrix(flags: Mapping[str, ArrayLike]) -> tuple[list[str], np.ndarray]:
    """Names and a (methods x images) bool matrix; checks equal lengths and boolean values."""
    if not flags:
        raise ValueError("flags is empty: give at least one method's outlier flags")
    names = list(flags)
    rows = []
    for name in names:
        a = np.asarray(flags[name])
        if a.ndim != 1:
            raise ValueError(f"flags[{name!r}] must be 1-D, got shape {a.shape}")
        if a.dtype != bool:
            if not np.all(np.isin(a, (0, 1))):
                raise ValueError(f"flags[{name!r}] must be boolean (or 0/1)")
            a = a.astype(bool)
        rows.append(a)
    sizes = {len(r) for r in rows}
    if len(sizes) != 1:
        raise ValueError(f"flags differ in length: { {n: len(r) for n, r in zip(names, rows)} }")
    return names, np.vstack(rows)


def combined_outliers(flags: Mapping[str, ArrayLike], min_votes: int | None = None) -> np.ndarray:
    """Images flagged by at least ``min_votes`` methods; default all ("found by all three")."""
    names, m = _flag_matrix(flags)
    need = len(names) if min_votes is None else int(min_votes)
    if not 1 <= need <= len(names):
        raise ValueError(f"min_votes must be between 1 and {len(names)}, got {min_votes}")
    return m.sum(axis=0) >= need


def agreement(flags: Mapping[str, ArrayLike]) -> pd.DataFrame:
    """Pairwise overlap of the methods' outliers: counts and Jaccard index (NaN when both are empty).

    One row per pair with columns method_a, method_b, n_a, n_b, n_both, n_either, jaccard.
    """
    names, m = _flag_matrix(flags)
    rows = []
    for i, j in combinations(range(len(names)), 2):
        both, either = int(np.sum(m[i] & m[j])), int(np.sum(m[i] | m[j]))
        rows.append(
            {
                "method_a": names[i],
                "method_b": names[j],
                "n_a": int(m[i].sum()),
                "n_b": int(m[j].sum()),
                "n_both": both,
                "n_either": either,
                "jaccard": both / either if either else float("nan"),
            }
        )
    columns = ["method_a", "method_b", "n_a", "n_b", "n_both", "n_either", "jaccard"]
    return pd.DataFrame(rows, columns=columns)


def best_predicted(pred: ArrayLike, mos: ArrayLike, n: int) -> np.ndarray:
    """Indices of the ``n`` "best-predicted images" (smallest |MOS - logistic-mapped prediction|), best first."""
    x, y = _pair(pred, mos, min_items=5)
    if not 0 <= n <= x.size:
        raise ValueError(f"n must be between 0 and {x.size}, got {n}")
    d = np.abs(y - stats.map_logistic(x, y))
    return np.argsort(d, kind="stable")[:n]


def direction_counts(
    pred: ArrayLike, mos: ArrayLike, flags: ArrayLike, mapped: ArrayLike | None = None
) -> dict[str, int]:
    """Under- and overestimated outliers as in Table 4.3: {"under", "over", "total"}.

    Underestimated: the prediction mapped to the MOS scale (5-parameter logistic, or
    ``mapped`` when given) is below the MOS; overestimated: above. An exact tie counts in
    neither, so under + over <= total.
    """
    x, y = _pair(pred, mos, min_items=5)
    _, fm = _flag_matrix({"flags": flags})
    f = fm[0]
    if f.size != x.size:
        raise ValueError(f"flags and mos differ in length ({f.size} vs {x.size})")
    if mapped is None:
        m = stats.map_logistic(x, y)
    else:
        m = stats._as_vector(mapped, "mapped")
        if m.size != x.size:
            raise ValueError(f"mapped and mos differ in length ({m.size} vs {x.size})")
    return {
        "under": int(np.sum(f & (m < y))),
        "over": int(np.sum(f & (m > y))),
        "total": int(f.sum()),
    }


def detect_all(
    pred: ArrayLike,
    mos: ArrayLike,
    mos_sd: ArrayLike | None = None,
    *,
    metric: Metric = "plcc",
    top_percent: float | None = 5.0,
    residual_threshold: float | None = None,
    random_state: int | None = 0,
    min_votes: int | None = None,
    index: Sequence | None = None,
) -> pd.DataFrame:
    """All three methods and their combination, one bool column each, one row per image.

    Columns ``loo_<metric>``, ``ransac``, ``logistic_2sigma`` (left out when the dataset
    has no SD), ``votes`` and ``combined``. The same ``top_percent`` is used by every method
    (thesis: 5%; it must not be None for LOO, which has no automatic cut). ``df.attrs`` holds
    ``methods``, ``skipped`` ({method: reason}) and ``params``.
    """
    if top_percent is None:
        raise ValueError("top_percent is required: the LOO method only ranks images")
    x, y = _pair(pred, mos, min_items=5)
    flags: dict[str, np.ndarray] = {
        f"loo_{metric}": loo_outliers(x, y, metric=metric, top_percent=top_percent),
        "ransac": ransac_outliers(
            x, y, residual_threshold=residual_threshold, random_state=random_state, top_percent=top_percent
        ),
    }
    skipped: dict[str, str] = {}
    no_sd = mos_sd is None or np.all(np.isnan(np.asarray(mos_sd, dtype=float)))
    if no_sd:
        skipped["logistic_2sigma"] = NO_SD_MESSAGE
    else:
        flags["logistic_2sigma"] = logistic_outliers(x, y, mos_sd, top_percent=top_percent)
    votes = np.sum(np.vstack(list(flags.values())), axis=0)
    df = pd.DataFrame(flags, index=None if index is None else pd.Index(index))
    df["votes"] = votes
    df["combined"] = combined_outliers(flags, min_votes=min_votes)
    df.attrs["methods"] = list(flags)
    df.attrs["skipped"] = skipped
    df.attrs["params"] = {
        "metric": metric,
        "top_percent": top_percent,
        "residual_threshold": residual_threshold,
        "random_state": random_state,
        "min_votes": len(flags) if min_votes is None else min_votes,
    }
    return df
