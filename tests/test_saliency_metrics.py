"""Saliency metrics against closed forms, a reference library (scipy) and slow reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, stats

from iqaxai.saliency_metrics import (
    METRICS,
    auc_judd,
    cc,
    center_prior_map,
    fit_center_prior,
    fixation_map,
    gaussian_center_prior,
    kld,
    nss,
    score_maps,
    sim,
)


@pytest.fixture()
def world():
    """A random fixation density, its fixation map and an unrelated continuous prediction (no ties)."""
    rng = np.random.default_rng(3)
    fix = np.zeros((24, 32), dtype=bool)
    fix[rng.integers(0, 24, 30), rng.integers(0, 32, 30)] = True
    density = ndimage.gaussian_filter(fix.astype(float), 2.0)
    prediction = ndimage.gaussian_filter(rng.random((24, 32)), 1.5) + 0.5 * density / density.max()
    return prediction, density, fix


def _auc_judd_mit_loop(sal: np.ndarray, fix: np.ndarray) -> float:
    """AUC_Judd.m as written (one threshold per fixation, no jitter): correct when values do not tie."""
    s = (sal - sal.min()) / (sal.max() - sal.min())
    sth = np.sort(s[fix])[::-1]
    n_fix, n_pix = len(sth), s.size
    tp, fp = np.zeros(n_fix + 2), np.zeros(n_fix + 2)
    tp[-1] = fp[-1] = 1.0
    for i, thresh in enumerate(sth, start=1):
        above = int((s >= thresh).sum())
        tp[i] = i / n_fix
        fp[i] = (above - i) / (n_pix - n_fix)
    return float(sum((fp[k + 1] - fp[k]) * (tp[k + 1] + tp[k]) / 2 for k in range(n_fix + 1)))


def test_closed_forms():
    density = ndimage.gaussian_filter(np.eye(20, 30), 2.0) + 1e-3
    assert cc(density, density) == pytest.approx(1.0)
    assert cc(-density, density) == pytest.approx(-1.0)
    assert kld(density, density) == pytest.approx(0.0, abs=1e-12)
    assert sim(density, density) == pytest.approx(1.0)
    left, right = np.zeros((10, 10)), np.zeros((10, 10))
    left[:, :5], right[:, 5:] = 1.0, 1.0
    assert sim(left, right) == 0.0
    # NSS of a map that is 1 at k fixations and 0 elsewhere, N pixels: (1 - k/N) / sqrt(k (N - k) / (N (N - 1)))
    fix = np.zeros((10, 10), dtype=bool)
    fix[[1, 3, 5, 7], [2, 4, 6, 8]] = True
    assert nss(fix.astype(float), fix) == pytest.approx(0.96 / np.sqrt(3.84 / 99))
    assert auc_judd(fix.astype(float), fix) == pytest.approx(1.0)
    # fixations below every other pixel (distinct values): the curve rises only at FPR 1, area 1 / (2k)
    inverted = np.where(fix, np.linspace(0.0, 0.1, 100).reshape(10, 10), 1.0)
    assert auc_judd(inverted, fix) == pytest.approx(1 / 8)
    assert auc_judd(1.0 - fix, fix) == pytest.approx(0.5)  # tied fixations collapse to one threshold


def test_against_scipy_and_slow_references(world):
    prediction, density, fix = world
    q, p = density / density.sum(), prediction / prediction.sum()
    assert kld(prediction, density) == pytest.approx(stats.entropy(q.ravel(), p.ravel()), rel=1e-9)
    assert cc(prediction, density) == pytest.approx(stats.pearsonr(prediction.ravel(), density.ravel())[0])
    assert auc_judd(prediction, fix) == pytest.approx(_auc_judd_mit_loop(prediction, fix))
    z = (prediction - prediction.mean()) / np.std(prediction, ddof=1)
    assert nss(prediction, fix) == pytest.approx(np.mean([z[y, x] for y, x in zip(*np.nonzero(fix))]))


def test_documented_differences_from_pysaliency(world):
    prediction, density, fix = world
    n = prediction.size
    # pysaliency's NSS uses the population standard deviation: larger by sqrt(N / (N - 1))
    z0 = (prediction - prediction.mean()) / np.std(prediction, ddof=0)
    assert z0[fix].mean() == pytest.approx(nss(prediction, fix) * np.sqrt(n / (n - 1)))
    # pysaliency's SIM skips the min-max scaling: another value for a map whose minimum is not 0
    no_min_max = np.minimum(prediction / prediction.sum(), density / density.sum()).sum()
    mm, dm = (prediction - prediction.min()) / np.ptp(prediction), (density - density.min()) / np.ptp(density)
    assert sim(prediction, density) == pytest.approx(np.minimum(mm / mm.sum(), dm / dm.sum()).sum())
    assert abs(sim(prediction, density) - no_min_max) > 1e-3


def test_constant_prediction_gives_the_documented_values(world):
    _, density, fix = world
    flat = np.full(density.shape, 0.3)
    q, dm = density / density.sum(), (density - density.min()) / np.ptp(density)
    assert nss(flat, fix) == 0.0 and cc(flat, density) == 0.0
    assert auc_judd(flat, fix) == pytest.approx(0.5)
    assert sim(flat, density) == pytest.approx(np.minimum(1 / flat.size, dm / dm.sum()).sum())
    assert kld(flat, density) == pytest.approx(float((q * np.log(q * flat.size + 1e-300)).sum()), rel=1e-9)
    assert sim(np.zeros_like(flat), density) == sim(flat, density)  # an all-zero map is constant too
    assert all(np.isfinite(v) for v in score_maps(flat[None], density[None], fix[None]).iloc[0])


def test_a_smaller_prediction_is_resized_bilinearly_to_the_ground_truth(world):
    prediction, density, fix = world
    small = prediction[::2, ::2]
    from skimage.transform import resize

    big = resize(small, density.shape, order=1, mode="edge", anti_aliasing=False)
    assert cc(small, density) == pytest.approx(cc(big, density))
    assert nss(small, fix) == pytest.approx(nss(big, fix))


def test_bad_inputs_are_refused_with_what_was_expected(world):
    prediction, density, fix = world
    with pytest.raises(ValueError, match="NaN"):
        cc(np.where(fix, np.nan, prediction), density)
    with pytest.raises(ValueError, match="non-negative with a positive sum"):
        sim(prediction, -density)
    with pytest.raises(ValueError, match="no fixated pixel"):
        nss(prediction, np.zeros_like(fix))
    with pytest.raises(ValueError, match="KLD needs a non-negative saliency map"):
        kld(prediction - 1.0, density)
    with pytest.raises(ValueError, match="2-D map"):
        cc(prediction[None], density)
    with pytest.raises(ValueError, match="every pixel"):
        auc_judd(prediction, np.ones_like(fix))
    with pytest.raises(ValueError, match="image 1: .*no fixated pixel"):
        score_maps(np.stack([prediction] * 2), np.stack([density] * 2), np.stack([fix, np.zeros_like(fix)]))
    with pytest.raises(ValueError, match="unknown saliency metrics"):
        score_maps(prediction[None], density[None], fix[None], metrics=("AUC-Borji",))


def test_fixation_map_from_points():
    m = fixation_map(np.array([[0, 0], [31, 23], [4.4, 2.6]]), (24, 32))
    assert m.sum() == 3 and m[0, 0] and m[23, 31] and m[3, 4]
    with pytest.raises(ValueError, match="outside the 32x24 image"):
        fixation_map(np.array([[32, 0]]), (24, 32))


def test_score_maps_table(world):
    prediction, density, fix = world
    table = score_maps(np.stack([prediction, density]), np.stack([density] * 2), np.stack([fix] * 2))
    assert list(table.columns) == list(METRICS) and len(table) == 2
    assert table.loc[1, "CC"] == pytest.approx(1.0) and table.loc[1, "KLD"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc[1, "CC"] > table.loc[0, "CC"]  # the density itself beats an unrelated prediction


def test_center_priors():
    g = gaussian_center_prior((40, 60), width=0.5)
    assert g.max() == pytest.approx(1.0) and np.unravel_index(g.argmax(), g.shape) == (20, 30)
    assert g[20, 0] == pytest.approx(np.exp(-0.5))  # x/W - 1/2 = -1/2, width 1/2: one standard deviation
    # a planted Gaussian of fixation density is recovered from noisy training maps
    ys, xs = np.mgrid[:40, :60].astype(float)
    truth = np.exp(-0.5 * (((xs - 33.0) / 8.0) ** 2 + ((ys - 18.0) / 5.0) ** 2))
    rng = np.random.default_rng(0)
    params = fit_center_prior(np.stack([truth * rng.uniform(0.5, 2.0) for _ in range(5)]))
    assert params["mean_x"] == pytest.approx(33.0, abs=0.05) and params["mean_y"] == pytest.approx(18.0, abs=0.05)
    assert params["var_x"] == pytest.approx(64.0, rel=0.01) and params["var_y"] == pytest.approx(25.0, rel=0.02)
    np.testing.assert_allclose(center_prior_map(params), truth, atol=0.01)
    assert center_prior_map(params, (80, 120)).shape == (80, 120)
    with pytest.raises(ValueError, match="stack"):
        fit_center_prior(truth)
    with pytest.raises(ValueError, match="density 1"):
        fit_center_prior(np.stack([truth, -truth]))


def test_map_transform_fit_recovers_a_planted_blur_and_prior_weight():
    from iqaxai.saliency_metrics import MapTransform, fit_map_transform

    rng = np.random.default_rng(5)
    prior = gaussian_center_prior((24, 32))
    raw = [np.where(rng.random((24, 32)) < 0.05, 1.0, 0.0) for _ in range(6)]
    planted = MapTransform(blur=0.05, prior_weight=0.5, gamma=1.0)
    densities = [planted(r, prior) + 1e-6 for r in raw]  # the truth is the raw map transformed
    fitted, best = fit_map_transform(np.stack(raw), np.stack(densities), prior)
    assert fitted == planted and best == pytest.approx(1.0, abs=1e-6)
    identity = np.mean([cc(r, d) for r, d in zip(raw, densities)])
    assert best > identity + 0.2  # the table reports both: with and without the transform
    assert MapTransform()(raw[0]).max() == 1.0
    with pytest.raises(ValueError, match="needs the centre prior"):
        planted(raw[0])
    with pytest.raises(ValueError, match="prior_weight in"):
        MapTransform(prior_weight=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        MapTransform()(raw[0] - 1)


def test_wide_gaussian_blur_on_a_shrunk_map_matches_the_exact_filter():
    from scipy import ndimage

    from iqaxai.saliency_metrics import gaussian_blur

    values = np.zeros((270, 480))  # fixation-like: a point, a blob and a smooth ramp
    values[100, 200], values[50:60, 300:320] = 1.0, 1.0
    values += np.linspace(0, 0.2, 480)[None]
    for sigma in (2.0, 12.0, 48.0):
        exact = ndimage.gaussian_filter(values, sigma)
        fast = gaussian_blur(values, sigma)
        assert np.abs(fast - exact).max() < 0.03 * np.ptp(exact), sigma
        assert np.corrcoef(fast.ravel(), exact.ravel())[0, 1] > 0.999, sigma
