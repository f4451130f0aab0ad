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


def _random_triq(grid=(3, 4), num_layers=2, max_positions=193, sharpen=1.0, seed=0):
    from iqaxai.models.triq import TRIQ

    torch.manual_seed(seed)
    model = TRIQ(backbone="tiny_s16", grid=grid, num_layers=num_layers, max_positions=max_positions).eval()
    with torch.no_grad():
        for layer in model.layers:  # peaked attention: scores spread over tens of nats
            layer.attn.q.weight.mul_(sharpen)
    return model


@pytest.mark.parametrize("grid,map_shape", [((3, 4), (6, 8)), ((3, 4), (7, 9)), ((3, 4), (3, 4)),
                                            ((2, 3), (5, 7)), ((3, 4), (24, 32))])
def test_fast_sweep_equals_reference(grid, map_shape):
    from iqaxai.masking import _fast_sweep_image, _reference_sweep_image

    n_tokens = map_shape[0] * map_shape[1]
    model = _random_triq(grid, max_positions=n_tokens + 1, seed=n_tokens)
    masks = block_masks(grid)
    if len(masks) > 600:  # a random subset keeps the reference path quick; always include the two ends
        masks = masks[torch.randperm(len(masks), generator=torch.Generator().manual_seed(1))[:40]]
    ends = torch.stack([torch.zeros(grid[0] * grid[1], dtype=torch.bool), torch.ones(grid[0] * grid[1], dtype=torch.bool)])
    masks = torch.cat([masks, ends])
    with torch.no_grad():
        tokens = model.embed(torch.randn(1, 32, *map_shape) * 3)[0]
        fast = _fast_sweep_image(model, tokens, map_shape, masks, rows_per_step=300)
        ref = _reference_sweep_image(model, tokens, map_shape, masks, 128)
    assert fast.shape == ref.shape == (len(masks), 5)
    assert (fast - ref).abs().max() < 1e-5
    assert (ref.std(0) > 1e-3).any()  # the masks do change the prediction: the comparison is not vacuous


@pytest.mark.parametrize("num_layers,sharpen", [(1, 1.0), (2, 8.0)])
def test_fast_sweep_one_layer_and_peaked_attention(num_layers, sharpen):
    from iqaxai.masking import _fast_sweep_image, _reference_sweep_image

    model = _random_triq(num_layers=num_layers, sharpen=sharpen)
    masks = block_masks()[::7]
    with torch.no_grad():
        tokens = model.embed(torch.randn(1, 32, 6, 8) * 3)[0]
        attn = model.layers[0].attn
        q, k = (attn.split(lin(tokens[None]))[0] for lin in (attn.q, attn.k))
        scores = q @ k.transpose(-1, -2) / attn.depth ** 0.5
        gap = float((scores.max(-1).values - scores[..., 0]).max())
        assert (gap > 60) == (sharpen > 1)  # sharpened: beyond float32's safe range, the float64 path runs
        fast = _fast_sweep_image(model, tokens, (6, 8), masks)
        ref = _reference_sweep_image(model, tokens, (6, 8), masks, 256)
    assert (fast - ref).abs().max() < 1e-5
    assert (ref.std(0) > 1e-3).any()


def test_public_sweep_fast_matches_reference_on_images():
    from iqaxai.masking import sweep_block_masks

    model = _random_triq()
    images = torch.rand(3, 3, 112, 144)  # 7x9 token map: blocks of unequal size
    masks = block_masks()[::5]
    fast = sweep_block_masks(model, images, masks, output="distribution", batch_size=2)
    ref = sweep_block_masks(model, images, masks, output="distribution", method="reference")
    assert fast.shape == (3, len(masks), 5) and (fast - ref).abs().max() < 1e-5
    scores = sweep_block_masks(model, images, masks)
    assert torch.allclose(scores, (fast * torch.arange(5)).sum(-1) * 25, atol=1e-4)


def test_fast_sweep_rejects_what_it_cannot_do():
    from iqaxai.masking import sweep_block_masks

    with pytest.raises(ValueError, match="1 or 2 encoder layers"):
        sweep_block_masks(_random_triq(num_layers=3), torch.rand(1, 3, 96, 128), block_masks()[:3])
    with pytest.raises(ValueError, match="smaller than the grid"):
        sweep_block_masks(_random_triq(), torch.rand(1, 3, 32, 64), block_masks()[:3])  # 2x4 token map
    with pytest.raises(ValueError, match="output must be"):
        sweep_block_masks(_random_triq(), torch.rand(1, 3, 96, 128), block_masks()[:3], output="mos")


def test_sweep_refuses_empty_batches_unscaled_images_and_non_binary_masks():
    from iqaxai.masking import sweep_block_masks

    model, masks = _random_triq(), block_masks()[:5]
    images = torch.rand(1, 3, 96, 128)
    with pytest.raises(ValueError, match=r"sweep_block_masks\(images\): got an empty batch"):
        sweep_block_masks(model, images[:0], masks)  # used to return None
    with pytest.raises(ValueError, match=r"sweep_block_masks\(images\): expected values in \[0, 1\]"):
        sweep_block_masks(model, images * 255, masks)
    with pytest.raises(ValueError, match=r"sweep_block_masks\(images\): expected RGB images"):
        sweep_block_masks(model, images[:, :1], masks)
    half = masks.float()
    half[0, 0] = 0.5
    with pytest.raises(ValueError, match=r"sweep_block_masks\(masks\): .*exactly 0/1.*0\.5"):
        sweep_block_masks(model, images, half)  # used to count 0.5 as masked
    with pytest.raises(ValueError, match="M >= 1"):
        sweep_block_masks(model, images, masks[:0])
    assert torch.equal(sweep_block_masks(model, images, masks.float()), sweep_block_masks(model, images, masks))
