"""Block masks and exact Shapley values of the grid regions."""

from __future__ import annotations

import itertools
from math import comb, factorial

import numpy as np
import pytest
import torch

from iqaxai.masking import block_masks, coalition_ids, coalition_values, shapley_values


def test_block_masks_count_order_and_content():
    masks = block_masks((3, 4))
    assert masks.shape == (4094, 12) and masks.dtype == torch.bool
    assert sum(comb(12, n) for n in range(1, 12)) == 4094
    n_masked = masks.sum(1)
    assert (n_masked[:-1] <= n_masked[1:]).all()  # ordered by the number of masked blocks
    assert masks[0].nonzero().flatten().tolist() == [0] and masks[12].nonzero().flatten().tolist() == [0, 1]
    assert masks[-1].nonzero().flatten().tolist() == list(range(1, 12))
    assert len({tuple(m.tolist()) for m in masks}) == 4094
    assert block_masks((2, 2)).shape == (14, 4)
    with pytest.raises(ValueError, match="supports 2..20"):
        block_masks((1, 1))


def _brute_force_shapley(v: dict, n: int) -> np.ndarray:
    """Shapley values by averaging marginal contributions over all n! orderings."""
    phi = np.zeros(n)
    for order in itertools.permutations(range(n)):
        present = frozenset()
        for k in order:
            phi[k] += v[present | {k}] - v[present]
            present = present | {k}
    return phi / factorial(n)


@pytest.mark.parametrize("grid", [(2, 2), (2, 3), (1, 5)])
def test_shapley_matches_brute_force_and_is_efficient(grid):
    n = grid[0] * grid[1]
    rng = np.random.default_rng(n)
    masks = block_masks(grid).numpy()
    game = {frozenset(s): rng.normal() for r in range(n + 1) for s in itertools.combinations(range(n), r)}
    masked = np.array([[game[frozenset(np.flatnonzero(~m))] for m in masks]])
    values = coalition_values(masked, [game[frozenset(range(n))]], [game[frozenset()]], masks)
    phi = shapley_values(values)[0]
    assert np.allclose(phi, _brute_force_shapley(game, n))
    assert phi.sum() == pytest.approx(game[frozenset(range(n))] - game[frozenset()])


def test_shapley_of_an_additive_game_is_each_players_own_value():
    weights = np.arange(12, dtype=float)
    masks = block_masks((3, 4)).numpy()
    masked = (~masks) @ weights  # prediction = sum of the weights of the unmasked blocks
    values = coalition_values(masked[None], [weights.sum()], [0.0], masks)
    assert np.allclose(shapley_values(values)[0], weights)
    assert coalition_ids(masks[:1])[0] == 4095 - 1  # block 0 masked: every other bit present


def test_coalition_values_rejects_incomplete_masks():
    masks = block_masks((2, 2)).numpy()
    with pytest.raises(ValueError, match="need all 14"):
        coalition_values(np.zeros((1, 13)), [0], [0], masks[:13])


def test_reference_sweep_equals_one_forward_per_mask():
    from iqaxai.masking import sweep_block_masks
    from iqaxai.models.triq import TRIQ

    torch.manual_seed(0)
    model = TRIQ(backbone="tiny_s16").eval()
    images = torch.rand(2, 3, 96, 128)
    masks = block_masks((3, 4))
    picked = masks[torch.randperm(len(masks), generator=torch.Generator().manual_seed(0))[:40]]
    sweep = sweep_block_masks(model, images, picked)
    with torch.no_grad():
        direct = torch.stack([torch.cat([model(img[None], m) for m in picked]) for img in images])
    assert sweep.shape == (2, 40)
    assert torch.allclose(sweep, direct, atol=1e-4)  # MOS on 0-100: float32 resolution near 1e-5
    full = sweep_block_masks(model, images[:1])
    assert full.shape == (1, 4094) and torch.isfinite(full).all()
    with pytest.raises(ValueError, match="unknown method"):
        sweep_block_masks(model, images, picked, method="magic")
    with pytest.raises(ValueError, match="masks must be"):
        sweep_block_masks(model, images, torch.zeros(3, 5, dtype=torch.bool))
