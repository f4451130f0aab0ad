"""Region importance rules, halves and the cached sweep, on planted games with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqaxai.importance import (RULES, Sweep, _mean_over_masks_with_block, block_importance, chance_overlap,
                               half_masking_plcc, halves, image_halves, mask_plcc, overlap, summary)
from iqaxai.masking import block_masks
from iqaxai.stats import StatsError


def _gaussian_distribution(mu: np.ndarray) -> np.ndarray:
    """5-bin opinion distributions centred at ``mu`` (bins 1..5)."""
    p = np.exp(-0.5 * (np.arange(1, 6) - mu[..., None]) ** 2)
    return p / p.sum(-1, keepdims=True)


def additive_sweep(weights: np.ndarray, grid=(3, 4)) -> Sweep:
    """Sweep of a game where a prediction is the sum of the present blocks' weights (per image)."""
    masks = block_masks(grid).numpy()
    scores = (~masks).astype(float) @ weights.T  # [M, N]
    full, empty = weights.sum(1), np.zeros(len(weights))
    to_mu = lambda s: 1.0 + 4.0 / (1.0 + np.exp(-(s - 30.0) / 15.0))  # noqa: E731
    return Sweep(masks, scores.T, _gaussian_distribution(to_mu(scores.T)), full, _gaussian_distribution(to_mu(full)),
                 empty, _gaussian_distribution(to_mu(empty)))


@pytest.fixture
def planted():
    rng = np.random.default_rng(0)
    truth = np.zeros((40, 12), dtype=bool)
    for row in truth:
        row[rng.choice(12, 6, replace=False)] = True
    weights = np.where(truth, rng.uniform(4, 8, truth.shape), rng.uniform(0, 1, truth.shape))
    return truth, weights


@pytest.mark.parametrize("rule", ["distribution_plcc", "mean_abs_change", "shapley"])
def test_per_image_rules_recover_planted_halves(planted, rule):
    truth, weights = planted
    sweep = additive_sweep(weights)
    assert (image_halves(sweep, rule) == truth).all()


def test_shapley_of_additive_game_is_the_weights(planted):
    _, weights = planted
    assert np.allclose(additive_sweep(weights).shapley(), weights)
    # |change| = sum of the masked weights; of the 2047 masks masking block b, 1023 also mask block k
    closed_form = weights + 1023 / 2047 * (weights.sum(1, keepdims=True) - weights)
    assert np.allclose(block_importance(additive_sweep(weights), "mean_abs_change"), closed_form)


def test_shapley_by_magnitude_finds_blocks_that_lower_the_score_signed_ranks_them_last(planted):
    truth, weights = planted
    sweep = additive_sweep(np.where(truth, -weights, weights))  # a low-quality image: the planted blocks lower the score
    assert (image_halves(sweep, "shapley") == truth).all()
    assert (image_halves(sweep, "shapley_signed") == ~truth).all()
    table = summary(sweep, ("shapley", "shapley_signed"), truth, decoys=~truth)
    assert table["quality hit rate"].tolist() == [1.0, 0.0] and table["decoy hit rate"].tolist() == [0.0, 1.0]
    assert table["ranks by"].str.contains("magnitude").tolist() == [True, False]


def test_dataset_rule_matches_a_slow_loop_and_finds_shared_important_blocks():
    rng = np.random.default_rng(1)
    shared = np.zeros(12, dtype=bool)
    shared[[0, 1, 4, 5, 8, 9]] = True  # the left half matters for every image
    weights = np.where(shared, rng.uniform(3, 9, (30, 12)), rng.uniform(0, 0.5, (30, 12)))
    sweep = additive_sweep(weights)
    slow = np.array([np.mean([np.corrcoef(sweep.scores[:, j], sweep.unmasked)[0, 1]
                              for j in np.flatnonzero(sweep.masks[:, b])]) for b in range(12)])
    assert np.allclose(block_importance(sweep, "dataset_plcc"), -slow)
    assert (image_halves(sweep, "dataset_plcc") == shared).all()


def test_half_masking_plcc_and_prediction_lookup(planted):
    truth, weights = planted
    sweep = additive_sweep(weights)
    assert np.allclose(sweep.prediction_with(~truth), (weights * truth).sum(1))
    assert np.allclose(sweep.prediction_with(np.zeros_like(truth)), weights.sum(1))
    assert np.allclose(sweep.prediction_with(np.ones_like(truth)), 0.0)
    result = half_masking_plcc(sweep, truth)
    full = weights.sum(1)
    assert result["trivial masked"] == pytest.approx(np.corrcoef(full, (weights * truth).sum(1))[0, 1])
    assert result["important masked"] == pytest.approx(np.corrcoef(full, (weights * ~truth).sum(1))[0, 1])
    assert result["trivial masked"] > 0.9 > 0.5 > result["important masked"]


def test_halves_ties_overlap_and_chance():
    assert halves(np.zeros(12)).tolist() == [True] * 6 + [False] * 6
    assert halves(np.array([[3, 1, 2, 0]])).tolist() == [[True, False, True, False]]
    with pytest.raises(ValueError, match="NaN"):
        halves(np.array([1.0, np.nan]))
    a = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=bool)
    assert overlap(a, a[::-1]).tolist() == [1, 1]
    assert chance_overlap(12) == 3.0


def test_mean_over_masks_skips_nan_and_rejects_all_nan():
    masks = block_masks((2, 2)).numpy()
    values = np.arange(len(masks), dtype=float)
    values[0] = np.nan
    slow = [np.nanmean(values[masks[:, b]]) for b in range(4)]
    assert np.allclose(_mean_over_masks_with_block(values, masks, "x"), slow)
    with pytest.raises(StatsError, match="undefined"):
        _mean_over_masks_with_block(np.full(len(masks), np.nan), masks, "x")


def test_constant_predictions_give_a_clear_error(planted):
    _, weights = planted
    sweep = additive_sweep(np.ones_like(weights))
    with pytest.raises(StatsError, match="constant"):
        mask_plcc(sweep)
    with pytest.raises(ValueError, match="unknown rule"):
        block_importance(sweep, "magic")
    assert set(RULES) == {"dataset_plcc", "distribution_plcc", "mean_abs_change", "shapley", "shapley_signed"}


def test_run_sweep_is_cached_and_matches_the_direct_sweep(small_world, tmp_path, monkeypatch):
    from iqaxai.data.demo import load_demo
    from iqaxai.importance import run_sweep
    from iqaxai.masking import sweep_block_masks
    from iqaxai.models.triq import TRIQ
    from iqaxai.data.images import load_batch

    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path))
    root, config = small_world
    table = load_demo(config).head(5)
    torch.manual_seed(0)
    model = TRIQ(backbone="tiny_s16").eval()
    calls = []
    original = __import__("iqaxai.importance", fromlist=["_sweep_chunk"])._sweep_chunk
    monkeypatch.setattr("iqaxai.importance._sweep_chunk", lambda *a: calls.append(1) or original(*a))
    first = run_sweep(model, table, {"model": "random"}, chunk_images=2, progress=False)
    again = run_sweep(model, table, {"model": "random"}, chunk_images=2, progress=False)
    assert len(calls) == 3  # 3 chunks computed once, then read back
    assert np.array_equal(first.scores, again.scores) and first.scores.shape == (5, 4094)
    direct = sweep_block_masks(model, load_batch(table["path"].tolist()[:2], None)).numpy()
    assert np.allclose(first.scores[:2], direct, atol=1e-3)
    with torch.no_grad():
        unmasked = model(load_batch(table["path"].tolist(), None)).numpy()
    assert np.allclose(first.unmasked, unmasked, atol=1e-3)
    assert np.allclose(first.shapley().sum(1), first.unmasked - first.fully_masked, atol=1e-6)


def test_run_sweep_rereads_and_resumes_with_any_chunk_size(small_world, tmp_path, monkeypatch):
    """Each image is its own cache item: another chunk size reads the same, aligned rows and computes nothing."""
    from iqaxai.data.demo import load_demo
    from iqaxai.data.images import load_batch
    from iqaxai.importance import run_sweep

    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path))
    table = load_demo(small_world[1]).head(10)
    swept: list[int] = []

    def fake_chunk(model, images, grid, device):  # every prediction of an image is its mean brightness
        swept.append(len(images))
        means = images.mean((1, 2, 3)).numpy().astype(np.float32)
        return {"scores": np.repeat(means[:, None], 4096, 1), "distributions": np.repeat(means[:, None, None], 4096, 1).repeat(5, 2)}

    monkeypatch.setattr("iqaxai.importance._sweep_chunk", fake_chunk)
    truth = load_batch(table["path"].tolist(), None).mean((1, 2, 3)).double().numpy()
    first = run_sweep(None, table, {"model": "fake"}, chunk_images=4, progress=False)
    assert swept == [4, 4, 2] and np.allclose(first.unmasked, truth) and np.allclose(first.scores, truth[:, None])
    swept.clear()
    again = run_sweep(None, table, {"model": "fake"}, chunk_images=3, progress=False)
    assert swept == [] and again.scores.shape == (10, 4094)  # used to recompute under a key with chunk_images
    assert np.array_equal(again.scores, first.scores) and np.array_equal(again.distributions, first.distributions)
    cache_dir = next((tmp_path / "results" / "masked_sweep").iterdir())
    for i in (1, 5, 8):
        (cache_dir / f"image_{i:06d}.npz").unlink()
    resumed = run_sweep(None, table, {"model": "fake"}, chunk_images=2, progress=False)
    assert swept == [2, 1]  # only the three missing images, in chunks of 2
    assert np.allclose(resumed.scores, truth[:, None], rtol=0, atol=1e-6)  # each row its own image (batch round-off aside)
    assert np.array_equal(np.delete(resumed.scores, [1, 5, 8], 0), np.delete(first.scores, [1, 5, 8], 0))
    with pytest.raises(ValueError, match="chunk_images must be a positive int"):
        run_sweep(None, table, {"model": "fake"}, chunk_images=0, progress=False)
    with pytest.raises(ValueError, match="no images"):
        run_sweep(None, table.head(0), {"model": "fake"}, progress=False)
