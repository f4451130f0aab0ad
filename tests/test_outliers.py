"""Tests for iqaxai.outliers (thesis "Explainable AI for IQA", Sec. 3.2 and 4.2)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps

from iqaxai import outliers, stats
from iqaxai.stats import StatsError

N, K = 300, 10
CURVE = (60.0, 0.08, 50.0, 0.3, 35.0)  # logistic5 parameters: MOS ~35..95 for pred 0..100


def make_scores(seed: int, n: int = N, planted: int = K) -> tuple[np.ndarray, ...]:
    """Predictions 0..100, MOS on a logistic curve with per-image SD 5..12 of Gaussian noise,
    and ``planted`` images moved 45..60 MOS points up or down. Returns pred, mos, sd, planted idx."""
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0, 100, n)
    sd = rng.uniform(5, 12, n)
    mos = stats.logistic5(pred, *CURVE) + rng.normal(size=n) * sd
    idx = rng.choice(n, planted, replace=False)
    mos[idx] += np.where(np.arange(planted) % 2 == 0, 1.0, -1.0) * rng.uniform(45, 60, planted)
    return pred, mos, sd, idx


def recall(flags: np.ndarray, idx: np.ndarray) -> int:
    return int(np.sum(flags[idx]))


# --- leave-one-out correlation change ---------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_loo_change_equals_slow_loops(ties):
    rng = np.random.default_rng(5)
    x = rng.normal(size=80)
    y = -0.7 * x + rng.normal(size=80)
    if ties:  # many ties in both, as with coarse MOS or quantised predictions
        x, y = np.round(x, 1), np.round(y)
    slow = {
        "plcc": lambda a, b: np.corrcoef(a, b)[0, 1],
        "srocc": lambda a, b: sps.spearmanr(a, b)[0],
    }
    for metric, corr in slow.items():
        expected = np.array([corr(np.delete(x, i), np.delete(y, i)) for i in range(x.size)]) - corr(x, y)
        np.testing.assert_allclose(outliers.loo_correlation_change(x, y, metric), expected, atol=1e-12)


def test_loo_flags_planted_outliers():
    pred, mos, _, idx = make_scores(0)
    flags = outliers.loo_outliers(pred, mos, "plcc", top_percent=5)
    assert flags.sum() == 15  # floor(5% of 300)
    assert recall(flags, idx) >= 9
    gain = outliers.loo_correlation_change(pred, mos)
    assert np.all(gain[flags] > 0) and gain[flags].min() >= gain[~flags].max()
    # The "largest" change is small and shrinks with N (thesis: ~0.001 for 2000 images).
    assert 0 < gain.max() < 0.05


def test_loo_lower_is_better_metric_gives_same_outliers():
    pred, mos, _, _ = make_scores(1)
    np.testing.assert_array_equal(
        outliers.loo_outliers(-pred, mos, top_percent=5), outliers.loo_outliers(pred, mos, top_percent=5)
    )


def test_loo_only_positive_gains_are_flagged():
    pred, mos, _, _ = make_scores(2, planted=0)
    gain = outliers.loo_correlation_change(pred, mos)
    flags = outliers.loo_outliers(pred, mos, top_percent=100)
    np.testing.assert_array_equal(flags, gain > 0)
    assert 0 < flags.sum() < N


def test_srcc_changes_are_quantised_and_worse_than_plcc():
    """Why the thesis prefers PLCC: SRCC's leave-one-out values sit on a grid, so many images
    share a change, and its top 5% catches fewer of the planted outliers."""
    pred, mos, _, idx = make_scores(0)
    m = N - 1
    r_all = stats.srocc(pred, mos)
    r_exl = r_all + outliers.loo_correlation_change(pred, mos, "srocc")
    # Without ties SRCC = 1 - 6 sum(d^2) / (m (m^2 - 1)) with an integer sum(d^2).
    d2 = (1 - r_exl) * m * (m * m - 1) / 6
    np.testing.assert_allclose(d2, np.round(d2), atol=1e-4)
    assert np.unique(r_exl).size < N - 15
    assert np.unique(outliers.loo_correlation_change(pred, mos, "plcc")).size == N
    for seed in (0, 1, 2):
        pred, mos, _, idx = make_scores(seed)
        residual = np.abs(mos - stats.map_logistic(pred, mos))
        by_plcc = outliers.loo_outliers(pred, mos, "plcc", top_percent=5)
        by_srcc = outliers.loo_outliers(pred, mos, "srocc", top_percent=5)
        assert recall(by_plcc, idx) > recall(by_srcc, idx)
        assert np.median(residual[by_plcc]) > np.median(residual[by_srcc])


def test_loo_undefined_when_leaving_one_out_makes_constant():
    with pytest.raises(StatsError, match="leave|leaving"):
        outliers.loo_correlation_change([0, 0, 0, 0, 1], [1, 2, 3, 4, 5])


# --- RANSAC -------------------------------------------------------------------------------


def test_ransac_flags_planted_and_few_in_clean_set():
    pred, mos, _, idx = make_scores(0)
    flags = outliers.ransac_outliers(pred, mos)
    assert recall(flags, idx) >= 9
    assert flags.sum() <= 2 * K
    clean = outliers.ransac_outliers(*make_scores(0, planted=0)[:2])
    assert clean.sum() <= 0.05 * N
    np.testing.assert_array_equal(flags, outliers.ransac_outliers(pred, mos, random_state=0))


def test_ransac_threshold_and_top_percent():
    pred, mos, _, _ = make_scores(3)
    assert not outliers.ransac_outliers(pred, mos, residual_threshold=1e6).any()
    assert outliers.ransac_outliers(pred, mos, residual_threshold=1e-6).mean() > 0.9
    loose = outliers.ransac_outliers(pred, mos, residual_threshold=5.0)
    capped = outliers.ransac_outliers(pred, mos, residual_threshold=5.0, top_percent=5)
    assert capped.sum() == 15 and loose.sum() > 15
    assert np.all(loose[capped])


# --- logistic mapping + 2 sigma -------------------------------------------------------------


def test_logistic_flags_planted_outliers():
    pred, mos, sd, idx = make_scores(0)
    flags = outliers.logistic_outliers(pred, mos, sd, top_percent=5)
    assert recall(flags, idx) >= 9
    assert flags.sum() <= 15


def test_logistic_clean_set_rates():
    """Pure eq. 3.5 with the true SD flags ~P(|z| > 2) = 4.55%; the top-p% condition cuts it."""
    pred, mos, sd, _ = make_scores(7, n=3000, planted=0)
    only_2sigma = outliers.logistic_outliers(pred, mos, sd, top_percent=None)
    assert 0.03 < only_2sigma.mean() < 0.06
    both = outliers.logistic_outliers(pred, mos, sd, top_percent=5)
    assert both.sum() <= 150 and np.all(only_2sigma[both])
    strict = outliers.logistic_outliers(pred, mos, sd, top_percent=1)
    assert strict.sum() <= 30 and strict.sum() < both.sum()


def test_logistic_rule_needs_both_conditions():
    n = 200
    pred = np.linspace(0, 1, n)
    mos, sd = 20 + 60 * pred, np.full(n, 10.0)
    far = np.arange(5, 200, 13)[:15]
    mos[far] += np.where(np.arange(15) % 2 == 0, 10.0, -10.0)  # far from the curve, within 2 SD
    a, b, c = 12, 50, 100
    mos[a] += 25
    sd[a] = 5  # far and beyond 2 SD -> outlier
    mos[b] += 3
    sd[b] = 0.5  # beyond 2 SD but not in the top 5% of distances -> only by eq. 3.5
    mos[c] -= 30
    sd[c] = 20  # largest distance but within 2 SD -> never
    assert np.flatnonzero(outliers.logistic_outliers(pred, mos, sd, top_percent=5)).tolist() == [a]
    assert np.flatnonzero(outliers.logistic_outliers(pred, mos, sd, top_percent=None)).tolist() == [a, b]


@pytest.mark.parametrize("sd", [None, [np.nan] * N])
def test_logistic_without_sd_explains_why(sd):
    pred, mos, _, _ = make_scores(0)
    with pytest.raises(StatsError, match="no per-image MOS standard deviation.*2-sigma.*LOO or RANSAC"):
        outliers.logistic_outliers(pred, mos, sd)
    with pytest.raises(ValueError):  # StatsError is a ValueError
        outliers.logistic_outliers(pred, mos, sd)


def test_logistic_sd_checks():
    pred, mos, sd, _ = make_scores(0)
    with pytest.warns(UserWarning, match="another scale"):
        outliers.logistic_outliers(pred, mos, sd / 25)  # KonIQ: SD on 1..5, MOS on 0..100
    bad = sd.copy()
    bad[3] = np.nan
    with pytest.raises(StatsError, match="mos_sd contains 1 non-finite"):
        outliers.logistic_outliers(pred, mos, bad)
    with pytest.raises(StatsError, match="differ in length"):
        outliers.logistic_outliers(pred, mos, sd[:-1])
    with pytest.raises(StatsError, match="negative"):
        outliers.logistic_outliers(pred, mos, -sd)


# --- combination, agreement, best predictions, directions -----------------------------------


def test_combined_and_agreement_by_hand():
    flags = {
        "a": np.array([1, 1, 0, 0, 1], bool),
        "b": np.array([1, 0, 0, 1, 1], bool),
        "c": np.zeros(5, bool),
        "d": np.zeros(5, bool),
    }
    two = {k: flags[k] for k in "ab"}
    assert outliers.combined_outliers(two).tolist() == [True, False, False, False, True]
    assert outliers.combined_outliers(two, min_votes=1).tolist() == [True, True, False, True, True]
    assert not outliers.combined_outliers(flags).any()
    table = outliers.agreement(flags).set_index(["method_a", "method_b"])
    assert len(table) == 6
    ab = table.loc[("a", "b")]
    assert (ab.n_a, ab.n_b, ab.n_both, ab.n_either) == (3, 3, 2, 4)
    assert ab.jaccard == pytest.approx(0.5)
    assert table.loc[("a", "c")].jaccard == 0.0
    assert math.isnan(table.loc[("c", "d")].jaccard)
    with pytest.raises(ValueError, match="min_votes"):
        outliers.combined_outliers(two, min_votes=3)
    with pytest.raises(ValueError, match="differ in length"):
        outliers.combined_outliers({"a": [True, False], "b": [True]})
    with pytest.raises(ValueError, match="boolean"):
        outliers.agreement({"a": [0.5, 1.0]})


def test_best_predicted():
    pred = np.arange(20.0)
    mos = 2 * pred + 1
    deviant = [3, 7, 15]
    mos[deviant] += [8.0, -6.0, 5.0]
    best = outliers.best_predicted(pred, mos, 17)
    assert sorted(best.tolist()) == sorted(set(range(20)) - set(deviant))
    d = np.abs(mos - stats.map_logistic(pred, mos))
    assert np.all(np.diff(d[best]) >= 0)
    assert outliers.best_predicted(pred, mos, 0).size == 0


def test_direction_counts_by_hand():
    mos = np.array([10.0, 20, 30, 40, 50, 60])
    mapped = np.array([15.0, 20, 25, 45, 30, 60])  # 0, 3 over; 2, 4 under; 1, 5 exact
    flags = np.array([True, True, True, False, True, False])
    pred = np.arange(6.0)
    assert outliers.direction_counts(pred, mos, flags, mapped=mapped) == {"under": 2, "over": 1, "total": 4}


def test_direction_counts_with_mapping_and_lower_is_better_metric():
    rng = np.random.default_rng(4)
    true_q = rng.uniform(0, 100, 200)
    mos = true_q + rng.normal(0, 2, 200)
    pred = 10 - true_q / 10  # lower is better, another scale
    mos[[0, 1, 2]] += 40  # model underestimates these (MOS above the mapped prediction)
    mos[[3]] -= 40  # overestimated
    flags = np.zeros(200, bool)
    flags[:4] = True
    assert outliers.direction_counts(pred, mos, flags) == {"under": 3, "over": 1, "total": 4}


# --- everything together and input validation -----------------------------------------------


def test_detect_all_with_and_without_sd():
    pred, mos, sd, idx = make_scores(0)
    names = [f"img{i}" for i in range(N)]
    df = outliers.detect_all(pred, mos, sd, index=names)
    assert list(df.columns) == ["loo_plcc", "ransac", "logistic_2sigma", "votes", "combined"]
    assert df.index[0] == "img0" and df.attrs["skipped"] == {}
    methods = df[["loo_plcc", "ransac", "logistic_2sigma"]]
    np.testing.assert_array_equal(df["combined"], methods.all(axis=1))
    np.testing.assert_array_equal(df["votes"], methods.sum(axis=1))
    assert df["combined"].to_numpy()[idx].sum() >= 8
    assert df["combined"].sum() <= 15

    no_sd = outliers.detect_all(pred, mos, None, min_votes=1)
    assert list(no_sd.columns) == ["loo_plcc", "ransac", "votes", "combined"]
    assert "no per-image MOS standard deviation" in no_sd.attrs["skipped"]["logistic_2sigma"]
    np.testing.assert_array_equal(no_sd["combined"], no_sd["loo_plcc"] | no_sd["ransac"])


@pytest.mark.parametrize(
    "call",
    [
        lambda p, m: outliers.loo_correlation_change(p, m),
        lambda p, m: outliers.loo_outliers(p, m, "srocc"),
        lambda p, m: outliers.ransac_outliers(p, m),
        lambda p, m: outliers.logistic_outliers(p, m, np.ones(len(m))),
        lambda p, m: outliers.best_predicted(p, m, 2),
        lambda p, m: outliers.detect_all(p, m),
    ],
)
def test_invalid_inputs(call):
    pred, mos = np.linspace(0, 1, 20), np.linspace(1, 5, 20) ** 2
    bad = pred.copy()
    bad[4] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(StatsError, match="non-finite"):
            call(bad, mos)
        with pytest.raises(StatsError, match="differ in length"):
            call(pred[:-1], mos)
        with pytest.raises(StatsError, match="constant"):
            call(np.full(20, 0.3), mos)


def test_bad_parameters():
    pred, mos, _, _ = make_scores(0)
    with pytest.raises(ValueError, match="metric"):
        outliers.loo_outliers(pred, mos, metric="krcc")
    with pytest.raises(ValueError, match="top_percent"):
        outliers.loo_outliers(pred, mos, top_percent=0)
