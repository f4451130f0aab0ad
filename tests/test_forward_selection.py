"""Tests for iqaxai.forward_selection: the batched logistic fitter, forward selection and held-out protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqaxai import stats
from iqaxai.forward_selection import (
    PROTOCOL_COLUMNS,
    cross_dataset_selection,
    fit_logistic5_batch,
    forward_selection,
    forward_selection_loop,
    group_folds,
    in_sample_selection,
    kfold_selection,
    planted_q,
    set_plcc,
)


def _sigmoid_data(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Predictors [6, n] and their MOS [6, n]: clear sigmoids (rising, falling, shifted, with a trend) plus noise."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    shapes = [(5.0, 12.0, 0.6, 0.0), (-4.0, 8.0, 0.7, 0.0), (3.0, 25.0, 0.45, 1.5),
              (6.0, 5.0, 0.8, -2.0), (80.0, 15.0, 0.65, 10.0), (2.0, 40.0, 0.55, 0.5)]
    for b1, b2, b3, b4 in shapes:
        x = rng.uniform(0.3, 1.0, n)
        y = b1 * (0.5 - 1 / (1 + np.exp(b2 * (x - b3)))) + b4 * x + 0.05 * abs(b1) * rng.standard_normal(n)
        xs.append(x)
        ys.append(y)
    return np.array(xs), np.array(ys)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_fit_matches_scipy_and_is_never_below_it(seed):
    X, Y = _sigmoid_data(seed)
    for x, y in zip(X, Y):
        params, plcc = fit_logistic5_batch(x[None], y)
        ref = stats.plcc_logistic(x, y, monotone=False)  # the batched fitter is the free fit
        assert plcc[0] == pytest.approx(ref, abs=1e-3)
        assert plcc[0] >= ref - 1e-6
        # the parameters are those of the curve whose PLCC is reported, with b2 >= 0
        mapped = stats.logistic5(x, *params[0])
        assert np.corrcoef(mapped, y)[0, 1] == pytest.approx(plcc[0], abs=1e-9)
        assert params[0, 1] >= 0


def test_rows_are_fitted_independently_of_the_batch():
    X, Y = _sigmoid_data(5)
    y = Y[0]
    together = fit_logistic5_batch(X, y)[1]
    alone = np.array([fit_logistic5_batch(x[None], y)[1][0] for x in X])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)


def test_nonlinear_plcc_is_never_below_the_linear_plcc():
    rng = np.random.default_rng(3)
    n = 80
    y = rng.normal(size=n)
    X = np.vstack([
        rng.normal(size=(20, n)),  # noise
        y + rng.normal(scale=0.3, size=(10, n)),  # nearly linear
        np.exp(3 * y) + rng.normal(scale=0.1, size=(5, n)),  # convex
        np.where(rng.random((5, n)) < 0.05, 50.0, 0.0) + y,  # outliers
    ])
    _, plcc = fit_logistic5_batch(X, y)
    linear = np.abs([np.corrcoef(x, y)[0, 1] for x in X])
    assert np.all(plcc >= linear - 1e-12)
    assert np.all(plcc <= 1.0)


def test_constant_rows_get_minus_inf_and_finite_parameters():
    rng = np.random.default_rng(0)
    y = rng.normal(size=30)
    X = np.vstack([y + rng.normal(size=30), np.full(30, 0.7), np.zeros(30)])
    params, plcc = fit_logistic5_batch(X, y)
    assert np.isfinite(plcc[0]) and plcc[1] == -np.inf and plcc[2] == -np.inf
    assert np.all(np.isfinite(params))
    np.testing.assert_allclose(params[1], [0, 0, 0.7, 0, y.mean()])


def test_a_constant_column_is_never_picked():
    rng = np.random.default_rng(1)
    Q = rng.uniform(0.3, 1.0, (50, 4))
    Q[:, 2] = 0.9
    mos = Q[:, [0, 1, 3]].mean(1) + 0.01 * rng.normal(size=50)
    sel = forward_selection(Q, mos, min_gain=0.0)
    assert sel.n_candidates == 3
    assert 2 not in sel.maps


def _related_data(seed: int, n: int = 60, m: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Random Q with mos a convex function of the mean of its first 6 columns plus noise."""
    rng = np.random.default_rng(seed)
    Q = rng.uniform(0.3, 1.0, (n, m))
    return Q, np.exp(2 * Q[:, :6].mean(1)) + rng.normal(0, 0.3, n)


@pytest.mark.parametrize(("seed", "combine", "starts"), [(0, "mean", "warm"),
                                                      (2, "sum", "warm"), (3, "mean", "all")])
def test_vectorised_and_loop_selections_agree(seed, combine, starts):
    Q, mos = _related_data(seed, n=60, m=40)
    fast = forward_selection(Q, mos, combine=combine, starts=starts)
    slow = forward_selection_loop(Q, mos, combine=combine, starts=starts)
    assert fast.maps == slow.maps and len(fast.maps) >= 2
    np.testing.assert_allclose(fast.path, slow.path, rtol=0, atol=1e-9)
    assert (fast.stop, fast.steps, fast.n_candidates) == (slow.stop, slow.steps, slow.n_candidates)
    assert fast.plcc_all == pytest.approx(slow.plcc_all, abs=1e-12)


def test_mean_and_sum_pick_the_same_maps():
    Q, mos = _related_data(4)
    a, b = forward_selection(Q, mos, combine="mean"), forward_selection(Q, mos, combine="sum")
    assert a.maps == b.maps
    np.testing.assert_allclose(a.path, b.path, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_subset_is_recovered_exactly_and_the_selection_stops(seed):
    Q, mos, _, planted = planted_q(300, 200, 4, noise=0.1, seed=seed)
    sel = forward_selection(Q, mos)
    assert sorted(sel.maps) == planted.tolist()
    assert sel.stop == "min_gain" and sel.steps == 5
    assert sel.plcc_selected > sel.plcc_all + 0.5
    assert sel.plcc_selected == pytest.approx(set_plcc(Q, mos, sel.maps), abs=1e-9)
    assert sel.plcc_all == pytest.approx(set_plcc(Q, mos), abs=1e-12)


def test_path_increases_by_more_than_min_gain_and_max_maps_is_respected():
    Q, mos, _, _ = planted_q(200, 60, 6, noise=0.1, seed=7)
    sel = forward_selection(Q, mos, min_gain=1e-3)
    assert np.all(np.diff([0.0, *sel.path]) > 1e-3)
    capped = forward_selection(Q, mos, max_maps=3)
    assert len(capped.maps) == 3 and capped.stop == "max_maps" and capped.steps == 3
    assert capped.maps == sel.maps[:3]
    assert capped.plcc_selected == capped.path[-1]


def test_threads_setting_is_restored():
    Q, mos = _related_data(0, m=8)
    before = torch.get_num_threads()
    forward_selection(Q, mos, max_maps=1, threads=1)
    assert torch.get_num_threads() == before


def test_group_folds_keep_groups_whole_and_balanced():
    groups = np.repeat(np.arange(17), 7)[np.random.default_rng(0).permutation(119)]
    folds = group_folds(groups, k=5, seed=3)
    for g in np.unique(groups):
        assert np.unique(folds[groups == g]).size == 1
    sizes = np.bincount(folds)
    assert sizes.size == 5 and sizes.max() - sizes.min() <= 7
    assert not np.array_equal(folds, group_folds(groups, k=5, seed=4))
    with pytest.raises(ValueError, match="between 2 and the number of groups"):
        group_folds(groups, k=18)


def test_kfold_on_planted_data_holds_up_out_of_sample():
    Q, mos, groups, planted = planted_q(300, 200, 4, noise=0.1, seed=0)
    inside = in_sample_selection(Q, mos)
    folds = kfold_selection(Q, mos, groups, k=5, seed=0)
    assert list(inside.columns) == PROTOCOL_COLUMNS and list(folds.columns)[:-1] == PROTOCOL_COLUMNS
    held = [np.array(row["eval_images"]) for _, row in folds.iterrows()]
    assert np.array_equal(np.sort(np.concatenate(held)), np.arange(300))  # every image held out exactly once
    assert np.array_equal(group_folds(groups, 5, 0)[np.concatenate(held)], np.repeat(range(5), [len(h) for h in held]))
    for f, row in folds.iterrows():
        test = held[f]
        rest = np.setdiff1d(np.arange(300), test)
        assert not set(groups[test]) & set(groups[rest])  # no content on both sides
        assert row["n_fit"] + row["n_eval"] == 300
        assert sorted(row["maps"]) == planted.tolist()
    assert abs(folds["plcc_selected"].mean() - inside["plcc_selected"][0]) < 0.02
    assert folds["plcc_selected"].min() > inside["plcc_selected"][0] - 0.05
    assert (folds["gap"] > 0.4).all()


def test_kfold_on_pure_noise_shows_the_in_sample_flattery():
    rng = np.random.default_rng(0)
    Q = rng.uniform(0.3, 1.0, (300, 200))
    mos = rng.normal(size=300)
    groups = np.arange(300) % 15
    inside = in_sample_selection(Q, mos)
    folds = kfold_selection(Q, mos, groups, k=5, seed=0)
    assert inside["gap"][0] > 0.05 and folds["gap_fit"].mean() > 0.1
    assert folds["gap"].mean() < 0.05
    assert folds["gap"].mean() < folds["gap_fit"].mean() - 0.1


def test_cross_dataset_row():
    Q_a, mos_a, _, planted = planted_q(200, 80, 3, noise=0.1, seed=1)
    rng = np.random.default_rng(2)
    d = rng.uniform(0, 1, 150)
    Q_b = np.clip(1 - 0.6 * rng.uniform(0, 1, (150, 80)) + 0.1 * rng.normal(size=(150, 80)), -1, 1)
    Q_b[:, planted] = 1 - 0.6 * d[:, None] + 0.1 * rng.normal(size=(150, 3))
    row = cross_dataset_selection(Q_a, mos_a, Q_b, 5 * (1 - d) ** 1.5)
    assert list(row.columns) == PROTOCOL_COLUMNS and len(row) == 1
    assert sorted(row["maps"][0]) == planted.tolist()
    assert (row["n_fit"][0], row["n_eval"][0]) == (200, 150)
    assert row["plcc_selected"][0] == pytest.approx(set_plcc(Q_b, 5 * (1 - d) ** 1.5, row["maps"][0]), abs=1e-12)
    assert row["gap"][0] > 0.3
    with pytest.raises(ValueError, match="same maps"):
        cross_dataset_selection(Q_a, mos_a, Q_b[:, :10], mos_a[:150])


def test_bad_inputs_raise_clear_errors():
    rng = np.random.default_rng(0)
    Q, mos = rng.uniform(size=(20, 6)), rng.normal(size=20)
    bad = Q.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"row \(image\) 7, column \(map\) 3"):
        forward_selection(bad, mos)
    bad[7, 3] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        forward_selection_loop(bad, mos)
    with pytest.raises(ValueError, match="19 values but there are 20 images"):
        forward_selection(Q, mos[:-1])
    with pytest.raises(ValueError, match="constant"):
        forward_selection(Q, np.full(20, 3.0))
    with pytest.raises(ValueError, match="at least 5 images"):
        forward_selection(Q[:4], mos[:4])
    with pytest.raises(ValueError, match="2-D"):
        forward_selection(Q[:, 0], mos)
    with pytest.raises(ValueError, match="non-finite"):
        forward_selection(Q, np.where(np.arange(20) == 2, np.nan, mos))
    with pytest.raises(ValueError, match="combine"):
        forward_selection(Q, mos, combine="median")
    with pytest.raises(ValueError, match="every column of Q is constant"):
        forward_selection(np.ones((20, 3)), mos)
    X = Q.T.copy()
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"row 1, column 2"):
        fit_logistic5_batch(X, mos)
