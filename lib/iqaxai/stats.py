"""Correlation statistics used to evaluate image quality models against subjective scores.

All functions validate their inputs the same way: 1-D arrays of equal length with at least
three finite items and non-zero variance. Anything else raises :class:`StatsError` rather than
returning NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special
from scipy import stats as sps

__all__ = [
    "StatsError",
    "GroupedKRCC",
    "plcc",
    "srocc",
    "krcc",
    "logistic5",
    "fit_logistic5",
    "logistic5_slopes",
    "is_monotone",
    "map_logistic",
    "plcc_logistic",
    "grouped_krcc",
    "correlations",
    "bootstrap_ci",
]

MIN_ITEMS = 3
_MAX_LISTED = 5


class StatsError(ValueError):
    """Inputs for which a statistic is undefined, or a fit that did not converge."""


def _as_vector(a: ArrayLike, name: str) -> np.ndarray:
    """Convert to a 1-D float array, raising StatsError on a wrong shape or non-finite items."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 1:
        raise StatsError(f"{name} must be 1-D, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        listed = ", ".join(str(i) for i in bad[:_MAX_LISTED]) + (", ..." if bad.size > _MAX_LISTED else "")
        raise StatsError(
            f"{name} contains {bad.size} non-finite value(s) (NaN or inf) at position(s) {listed}"
        )
    return arr


def _validate(
    x: ArrayLike, y: ArrayLike, names: tuple[str, str] = ("x", "y"), min_items: int = MIN_ITEMS
) -> tuple[np.ndarray, np.ndarray]:
    """Shared checks: 1-D, same length, at least ``min_items`` items, finite, not constant."""
    a, b = _as_vector(x, names[0]), _as_vector(y, names[1])
    if a.size != b.size:
        raise StatsError(f"{names[0]} and {names[1]} differ in length ({a.size} vs {b.size})")
    if a.size < min_items:
        raise StatsError(f"need at least {min_items} items, got {a.size}")
    for arr, name in ((a, names[0]), (b, names[1])):
        if np.all(arr == arr[0]):
            raise StatsError(
                f"correlation is undefined because {name} is constant (all values equal {arr[0]:g}), "
                "e.g. a model that predicts one value"
            )
    return a, b


def plcc(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson linear correlation coefficient."""
    a, b = _validate(x, y)
    return float(sps.pearsonr(a, b)[0])


def srocc(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank-order correlation coefficient."""
    a, b = _validate(x, y)
    return float(sps.spearmanr(a, b)[0])


def krcc(x: ArrayLike, y: ArrayLike) -> float:
    """Kendall rank correlation coefficient (tau-b, which accounts for ties)."""
    a, b = _validate(x, y)
    return float(sps.kendalltau(a, b)[0])


def logistic5(x: ArrayLike, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """5-parameter logistic of Sheikh et al. 2006: b1*(1/2 - 1/(1+exp(b2*(x-b3)))) + b4*x + b5."""
    x = np.asarray(x, dtype=float)
    # 1/(1+exp(z)) == expit(-z), computed without overflow.
    return b1 * (0.5 - special.expit(-b2 * (x - b3))) + b4 * x + b5


def _logistic5_jacobian(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """Partial derivatives [N, 5] of :func:`logistic5` by b1..b5 (with s = expit(b2 (x - b3)): s - 1/2,
    b1 s (1 - s) (x - b3), -b1 b2 s (1 - s), x, 1)."""
    x = np.asarray(x, dtype=float)
    s = special.expit(b2 * (x - b3))
    ds = s * (1.0 - s)
    return np.stack([s - 0.5, b1 * ds * (x - b3), -b1 * b2 * ds, x, np.ones_like(x)], axis=1)


def logistic5_slopes(pred_range: tuple[float, float], b: ArrayLike) -> np.ndarray:
    """Smallest and largest slope of :func:`logistic5` with parameters ``b`` over ``[lo, hi]``.

    The slope is b1 b2 s (1 - s) + b4 with s = expit(b2 (x - b3)); s (1 - s) is largest at x = b3 and
    falls monotonically away from it, so the extremes lie at the ends of the range and at b3 (clipped).
    """
    b1, b2, b3, b4, _ = np.asarray(b, dtype=float)
    lo, hi = pred_range
    x = np.array([lo, hi, min(max(b3, lo), hi)])
    s = special.expit(b2 * (x - b3))
    slopes = b1 * b2 * s * (1.0 - s) + b4
    return np.array([slopes.min(), slopes.max()])


def is_monotone(pred_range: tuple[float, float], b: ArrayLike) -> bool:
    """Whether the logistic never changes direction over ``pred_range`` (slope never of both signs)."""
    lo, hi = logistic5_slopes(pred_range, b)
    return bool(lo >= 0 or hi <= 0)


def _curve_fits(xs: np.ndarray, ys: np.ndarray, starts: list[list[float]], bounds, maxfev: int
                ) -> tuple[tuple[float, np.ndarray] | None, str]:
    """Best (SSE, parameters) of :func:`logistic5` over the ``starts`` (bounded trust region if ``bounds``).

    The Jacobian is analytic, and the bounded fit scales the parameters by it: on nearly flat clouds (random
    weights, the dry run) the two make a fit about 8 times faster than finite differences, to an equal or
    lower squared error."""
    best: tuple[float, np.ndarray] | None = None
    last_error = ""
    for p0 in starts:
        kwargs = ({"bounds": bounds, "max_nfev": maxfev, "x_scale": "jac"} if bounds is not None
                  else {"maxfev": maxfev})
        kwargs["jac"] = _logistic5_jacobian
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optimize.OptimizeWarning)
                c, _ = optimize.curve_fit(logistic5, xs, ys, p0=p0, **kwargs)
        except (RuntimeError, ValueError) as exc:
            last_error = str(exc)
            continue
        sse = float(np.sum((logistic5(xs, *c) - ys) ** 2))
        if np.all(np.isfinite(c)) and np.isfinite(sse) and (best is None or sse < best[0]):
            best = (sse, c)
    return best, last_error


def fit_logistic5(pred: ArrayLike, mos: ArrayLike, maxfev: int = 20000, monotone: bool = True) -> np.ndarray:
    """Fit :func:`logistic5` mapping ``pred`` to ``mos``; returns ``[b1, b2, b3, b4, b5]`` with b2 >= 0.

    The fit runs on standardised data (zero mean, unit standard deviation) and the parameters
    are converted back. The starting point is the usual one from the IQA literature expressed in
    those units: b1 = max(mos) - min(mos), b3 = mean(pred), b4 = 0, b5 = mean(mos), and a slope
    b2 = +-1/std(pred) with the sign of the linear correlation; a steeper slope (4/std(pred)) is
    also tried and the start with the smaller squared error wins. When neither unbounded
    (Levenberg-Marquardt) fit converges, which happens when the curve is nearly linear and b1, b2
    trade off without end, the same starts are refitted by the bounded trust-region method with the
    slope limited to |b2| <= 50/std(pred), the swing to |b1| <= 100 std(mos) and the centre b3 to the range
    of ``pred``. The pair
    (b1, b2) and (-b1, -b2) describe the same curve, so the result is reported with b2 >= 0.

    ``monotone`` (default; the thesis, Sec. 3.2.3, and VQEG practice require a monotonic mapping): when
    the best free fit changes direction inside the range of ``pred`` (:func:`is_monotone`), the curve is
    refitted with b1 b2 and b4 constrained to the sign of the linear correlation (bounded trust region),
    which makes it monotone everywhere; a free fit that is already monotone is kept, being the least-squares
    optimum. ``monotone=False`` returns the free fit.
    """
    x, y = _validate(pred, mos, names=("pred", "mos"), min_items=5)
    mx, sx, my, sy = x.mean(), x.std(), y.mean(), y.std()
    xs, ys = (x - mx) / sx, (y - my) / sy
    sign = 1.0 if np.corrcoef(xs, ys)[0, 1] >= 0 else -1.0
    starts = [[ys.max() - ys.min(), sign * slope, 0.0, 0.0, 0.0] for slope in (1.0, 4.0)]
    # |b1| <= 100 SDs of the MOS: without it a nearly linear cloud lets b1 grow as b2 shrinks, for 20,000 evaluations
    bounds = ([-100.0, -50.0, xs.min(), -np.inf, -np.inf], [100.0, 50.0, xs.max(), np.inf, np.inf])
    best, last_error = _curve_fits(xs, ys, starts, None, maxfev)
    if best is None:
        line = [0.0, sign, 0.0, float(np.mean(xs * ys)), 0.0]
        best, last_error = _curve_fits(xs, ys, [*starts, line], bounds, maxfev)
    if monotone and (best is None or not is_monotone((xs.min(), xs.max()), best[1])):
        # fitted to sign * ys: b1 >= 0, b2 >= 0, b4 >= 0 is an increasing curve; flipped back below
        increasing = ([0.0, 0.0, xs.min(), 0.0, -np.inf], [100.0, 50.0, xs.max(), np.inf, np.inf])
        # the least-squares line (b1 = 0) as a start too: the trust region only descends, so never worse than it
        up_starts = [[ys.max() - ys.min(), slope, 0.0, 0.0, 0.0] for slope in (1.0, 4.0)]
        up_starts.append([0.0, 1.0, 0.0, abs(float(np.mean(xs * ys))), 0.0])
        best, last_error = _curve_fits(xs, sign * ys, up_starts, increasing, maxfev)
        if best is not None:
            c = best[1].copy()
            c[[0, 3, 4]] *= sign
            best = (best[0], c)
    if best is None:
        raise StatsError(
            "the 5-parameter logistic fit did not converge"
            + (f" ({last_error})" if last_error else "")
            + "; report the raw PLCC or check the predictions for outliers"
        )
    c1, c2, c3, c4, c5 = best[1]
    b = np.array([sy * c1, c2 / sx, mx + sx * c3, sy * c4 / sx, sy * (c5 - c4 * mx / sx) + my])
    if b[1] < 0:
        b[:2] = -b[:2]
    return b


def map_logistic(pred: ArrayLike, mos: ArrayLike, monotone: bool = True) -> np.ndarray:
    """Predictions mapped onto the MOS scale by the fitted (by default monotone) 5-parameter logistic."""
    return logistic5(pred, *fit_logistic5(pred, mos, monotone=monotone))


def plcc_logistic(pred: ArrayLike, mos: ArrayLike, monotone: bool = True) -> float:
    """PLCC between the logistic-mapped predictions and MOS (the usual IQA practice)."""
    mapped = map_logistic(pred, mos, monotone)
    a, b = _validate(mapped, mos, names=("logistic-mapped pred", "mos"))
    return float(sps.pearsonr(a, b)[0])


@dataclass(frozen=True)
class GroupedKRCC:
    """Mean within-group KRCC with the number of groups used and skipped."""

    mean: float
    n_groups: int
    n_skipped: int

    def __float__(self) -> float:
        """The mean KRCC."""
        return self.mean


def grouped_krcc(
    x: ArrayLike, y: ArrayLike, groups: ArrayLike, min_size: int = 2
) -> GroupedKRCC:
    """KRCC within each group, averaged over groups (scores comparable only inside a group).

    A group is skipped when it has fewer than ``min_size`` items or when x or y is constant
    inside it (Kendall's tau is undefined there); each used group weighs the same. Raises
    StatsError when no group is usable.
    """
    a, b = _as_vector(x, "x"), _as_vector(y, "y")
    g = np.asarray(groups)
    if g.ndim != 1 or not (a.size == b.size == g.size):
        raise StatsError(f"x, y and groups must be 1-D of equal length, got {a.size}, {b.size}, {g.shape}")
    taus: list[float] = []
    labels = np.unique(g)
    for label in labels:
        m = g == label
        ga, gb = a[m], b[m]
        if ga.size < max(min_size, 2) or np.all(ga == ga[0]) or np.all(gb == gb[0]):
            continue
        taus.append(float(sps.kendalltau(ga, gb)[0]))
    if not taus:
        raise StatsError(
            f"no usable group among {labels.size}: each has fewer than {min_size} items "
            "or constant x or y"
        )
    return GroupedKRCC(float(np.mean(taus)), len(taus), labels.size - len(taus))


def correlations(pred: ArrayLike, mos: ArrayLike) -> dict[str, float]:
    """PLCC, SROCC, KRCC and PLCC after the logistic mapping, for tables."""
    return {
        "plcc": plcc(pred, mos),
        "srocc": srocc(pred, mos),
        "krcc": krcc(pred, mos),
        "plcc_logistic": plcc_logistic(pred, mos),
    }


def bootstrap_ci(
    stat: Callable[[np.ndarray, np.ndarray], float],
    x: ArrayLike,
    y: ArrayLike,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``stat(x, y)`` over resampled pairs.

    Resamples on which the statistic is undefined (e.g. all drawn items tie) are skipped.
    """
    a, b = _validate(x, y)
    rng = np.random.default_rng(seed)
    values: list[float] = []
    for _ in range(n):
        idx = rng.integers(0, a.size, a.size)
        try:
            values.append(stat(a[idx], b[idx]))
        except StatsError:
            continue
    if not values:
        raise StatsError("the statistic was undefined on every bootstrap resample")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)
