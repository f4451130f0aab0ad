"""Tests for iqaxai.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from iqaxai import stats
from iqaxai.stats import StatsError


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    return x, 0.6 * x + rng.normal(size=200)


def test_against_scipy(xy):
    x, y = xy
    assert stats.plcc(x, y) == pytest.approx(sps.pearsonr(x, y)[0], abs=1e-12)
    assert stats.srocc(x, y) == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)
    assert stats.krcc(x, y) == pytest.approx(sps.kendalltau(x, y)[0], abs=1e-12)
    assert all(isinstance(v, float) for v in stats.correlations(x, y).values())


def test_closed_forms():
    x = np.arange(10.0)
    for f in (stats.plcc, stats.srocc, stats.krcc):
        assert f(x, 3 * x + 1) == pytest.approx(1.0)
        assert f(x, -x) == pytest.approx(-1.0)
    # Rank statistics ignore monotone transforms.
    assert stats.srocc(x, np.exp(x)) == pytest.approx(1.0)
    assert stats.krcc(x, np.exp(-x)) == pytest.approx(-1.0)


def test_krcc_with_ties_by_hand():
    # Pairs: 5 concordant, 0 discordant, 1 tied in x only, none tied in y.
    # tau_b = (C - D) / sqrt((n0 - n1) (n0 - n2)) = 5 / sqrt(5 * 6).
    assert stats.krcc([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(5 / math.sqrt(30))


def test_logistic_recovers_planted_parameters():
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 1, 300)
    planted = np.array([3.0, 8.0, 0.5, 0.2, 2.0])
    mos = stats.logistic5(pred, *planted)
    fitted = stats.fit_logistic5(pred, mos)
    np.testing.assert_allclose(fitted, planted, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.map_logistic(pred, mos), mos, atol=1e-6)
    assert stats.plcc_logistic(pred, mos) == pytest.approx(1.0, abs=1e-9)
    assert stats.plcc(pred, mos) < 0.99


def test_logistic_on_other_scales_and_negative_slope():
    rng = np.random.default_rng(2)
    pred = rng.uniform(-5, 50, 200)
    # decreasing in the middle, MOS on 0..100; the small linear term turns it up at both ends of the range
    planted = np.array([-40.0, 0.3, 20.0, 0.05, 60.0])
    mos = stats.logistic5(pred, *planted)
    fitted = stats.fit_logistic5(pred, mos, monotone=False)
    assert fitted[1] >= 0  # reported in the canonical sign
    np.testing.assert_allclose(stats.logistic5(pred, *fitted), mos, atol=1e-5)
    noisy = mos + rng.normal(scale=2.0, size=mos.size)
    assert stats.plcc_logistic(pred, noisy, monotone=False) > abs(stats.plcc(pred, noisy))
    assert stats.plcc_logistic(pred, noisy) > abs(stats.plcc(pred, noisy))


def _slopes_on_grid(pred, b):
    grid = np.linspace(pred.min(), pred.max(), 4001)
    return np.diff(stats.logistic5(grid, *b))


def test_monotone_logistic_never_decreases_where_the_free_fit_does():
    # rising data with a step down in the middle: the free least-squares logistic follows the step and
    # falls steeply there; the monotone fit (the default) must not fall anywhere on the range
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 1, 300)
    mos = 3 * pred - 2.0 * (pred > 0.5) + rng.normal(scale=0.1, size=pred.size)
    free = stats.fit_logistic5(pred, mos, monotone=False)
    assert _slopes_on_grid(pred, free).min() < -0.1
    assert not stats.is_monotone((pred.min(), pred.max()), free)
    fitted = stats.fit_logistic5(pred, mos)
    assert _slopes_on_grid(pred, fitted).min() >= 0
    assert stats.is_monotone((pred.min(), pred.max()), fitted)
    # it is still a fit: better than the constant, no better than the unconstrained optimum
    sse = np.sum((stats.logistic5(pred, *fitted) - mos) ** 2)
    assert np.sum((stats.logistic5(pred, *free) - mos) ** 2) <= sse < np.sum((mos - mos.mean()) ** 2)


def test_monotone_logistic_follows_a_decreasing_trend():
    rng = np.random.default_rng(3)
    pred = rng.uniform(-5, 50, 200)
    mos = stats.logistic5(pred, *[-40.0, 0.3, 20.0, 0.05, 60.0]) + rng.normal(scale=2.0, size=pred.size)
    free = stats.fit_logistic5(pred, mos, monotone=False)
    fitted = stats.fit_logistic5(pred, mos)
    assert _slopes_on_grid(pred, free).max() > 0 > _slopes_on_grid(pred, free).min()  # turns up at the ends
    assert _slopes_on_grid(pred, fitted).max() <= 0  # never increases
    assert stats.plcc_logistic(pred, mos) == pytest.approx(stats.plcc_logistic(pred, mos, monotone=False), abs=0.01)


def test_monotone_fit_keeps_a_monotone_free_fit():
    rng = np.random.default_rng(4)
    pred = rng.uniform(0, 1, 200)
    mos = stats.logistic5(pred, 3.0, 8.0, 0.5, 0.2, 2.0) + rng.normal(scale=0.05, size=pred.size)
    np.testing.assert_array_equal(stats.fit_logistic5(pred, mos), stats.fit_logistic5(pred, mos, monotone=False))


def test_logistic_slopes_closed_form():
    # slope b1 b2 s (1 - s) + b4: at the centre s = 1/2 gives b1 b2 / 4 + b4; far away it tends to b4
    b = [2.0, 4.0, 0.0, -0.5, 1.0]
    lo, hi = stats.logistic5_slopes((-10.0, 10.0), b)
    assert hi == pytest.approx(2.0 * 4.0 / 4 - 0.5)
    assert lo == pytest.approx(-0.5, abs=1e-12)
    assert not stats.is_monotone((-10.0, 10.0), b)
    assert stats.is_monotone((-0.1, 0.1), b)  # near the centre the logistic's rise wins


def test_logistic_needs_five_items():
    with pytest.raises(StatsError, match="at least 5"):
        stats.fit_logistic5([1, 2, 3, 4], [2, 1, 4, 3])


def test_fit_failure_is_stats_error(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(stats.optimize, "curve_fit", fail)
    with pytest.raises(StatsError, match="did not converge"):
        stats.plcc_logistic(np.arange(10.0), np.arange(10.0) ** 2)


def test_grouped_krcc_planted():
    # Within each group the ranks agree perfectly or partly, while offsets between groups
    # make the pooled KRCC negative.
    x = np.array([1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23])
    y = np.array([30, 31, 32, 33, 20, 22, 21, 23, 12, 11, 10])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    result = stats.grouped_krcc(x, y, g)
    expected = np.mean([sps.kendalltau(x[g == k], y[g == k])[0] for k in range(3)])
    assert result.mean == pytest.approx(expected)
    assert float(result) == pytest.approx(expected)
    assert (result.n_groups, result.n_skipped) == (3, 0)
    assert stats.krcc(x, y) < 0 < result.mean


def test_grouped_krcc_skips_small_and_constant_groups():
    x = [1, 2, 3, 5, 5, 5, 9, 1, 2, 3]
    y = [1, 2, 3, 1, 2, 3, 4, 3, 2, 1]
    g = ["a", "a", "a", "b", "b", "b", "c", "d", "d", "d"]
    result = stats.grouped_krcc(x, y, g)
    assert (result.mean, result.n_groups, result.n_skipped) == (0.0, 2, 2)
    with pytest.raises(StatsError, match="no usable group"):
        stats.grouped_krcc(x, y, g, min_size=4)
    with pytest.raises(StatsError, match="equal length"):
        stats.grouped_krcc(x, y, g[:-1])


def test_bootstrap_ci(xy):
    x, y = xy
    lo, hi = stats.bootstrap_ci(stats.plcc, x, y, n=200)
    assert lo < stats.plcc(x, y) < hi
    assert stats.bootstrap_ci(stats.plcc, x, y, n=200) == (lo, hi)


@pytest.mark.parametrize("f", [stats.plcc, stats.srocc, stats.krcc, stats.plcc_logistic])
@pytest.mark.parametrize(
    ("x", "y", "words"),
    [
        ([1, np.nan, 3, 4, 5], [1, 2, 3, 4, 5], ["non-finite", "position(s) 1"]),
        ([1, 2, 3, 4, 5], [1, 2, np.inf, 4, -np.inf], ["non-finite", "position(s) 2, 4"]),
        ([2, 2, 2, 2, 2], [1, 2, 3, 4, 5], ["undefined", "constant", "predicts one value"]),
        ([1, 2, 3, 4, 5], [3, 3, 3, 3, 3], ["undefined", "constant"]),
        ([1, 2, 3, 4, 5], [1, 2, 3, 4], ["length", "5 vs 4"]),
        ([1, 2], [2, 1], ["at least", "got 2"]),
        ([[1, 2], [3, 4]], [1, 2, 3, 4], ["1-D"]),
    ],
)
def test_errors(f, x, y, words):
    with pytest.raises(StatsError) as info:
        f(x, y)
    message = str(info.value)
    assert all(w in message for w in words), message
    assert isinstance(info.value, ValueError)


def test_error_names_the_argument():
    with pytest.raises(StatsError, match="^y contains"):
        stats.plcc([1, 2, 3], [1, np.nan, 3])
    with pytest.raises(StatsError, match="because x is constant"):
        stats.krcc([1, 1, 1], [1, 2, 3])
    with pytest.raises(StatsError, match="because mos is constant"):
        stats.plcc_logistic([1, 2, 3, 4, 5], [1, 1, 1, 1, 1])


def test_fit_logistic5_falls_back_to_bounded_fit_when_unbounded_fails():
    # Nearly linear data on which both unbounded Levenberg-Marquardt starts run out of evaluations
    # (found by search; seed 84; also with the default 20,000): the bounded fit must still return a
    # curve at least as good as the least-squares line, which is the special case b1 = 0 of the
    # 5-parameter logistic; so must the monotone fit (the line is monotone).
    rng = np.random.default_rng(84)
    x = rng.normal(size=200)
    y = x + rng.normal(scale=1.0, size=200)
    free_fits = []
    original = stats._curve_fits

    def recording(xs, ys, starts, bounds, maxfev):
        result = original(xs, ys, starts, bounds, maxfev)
        if bounds is None:
            free_fits.append(result[0] is not None)
        return result

    line = np.sum((np.polyval(np.polyfit(x, y, 1), x) - y) ** 2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stats, "_curve_fits", recording)
        for monotone in (False, True):
            b = stats.fit_logistic5(x, y, maxfev=6000, monotone=monotone)  # fewer evaluations: the same case, sooner
            assert np.all(np.isfinite(b))
            assert np.sum((stats.logistic5(x, *b) - y) ** 2) <= line + 1e-9, monotone
    assert free_fits == [False, False]  # the case the test is for: no unbounded start converged
