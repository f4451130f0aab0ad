"""The region grid and the split functions."""

from __future__ import annotations

import numpy as np
import pytest

from iqaxai.data.splits import seeded_split, spatial_information, stratified_split
from iqaxai.grid import blank_cells, boundaries, cell_mask, cell_means, cell_slices


def test_grid_blocks_tile_the_image_exactly_even_when_not_divisible():
    for shape in [(24, 32), (25, 33), (7, 9), (768, 1024)]:
        count = np.zeros(shape, dtype=int)
        for sy, sx in cell_slices(shape, (3, 4)):
            count[sy, sx] += 1
        assert (count == 1).all()
    assert boundaries(25, 3).tolist() == [0, 8, 17, 25]
    sizes = np.diff(boundaries(33, 4))
    assert sizes.max() - sizes.min() <= 1


def test_grid_is_row_major_and_rejects_images_smaller_than_the_grid():
    slices = cell_slices((24, 32), (3, 4))
    assert slices[1] == (slice(0, 8), slice(8, 16))
    assert slices[4] == (slice(8, 16), slice(0, 8))
    with pytest.raises(ValueError, match="smaller than the grid"):
        cell_slices((2, 32), (3, 4))
    with pytest.raises(ValueError, match="outside the 3x4 grid"):
        cell_mask((24, 32), [12])


def test_cell_means_and_blanking():
    img = np.arange(24 * 32, dtype=float).reshape(24, 32)
    means = cell_means(img)
    assert means[0] == pytest.approx(img[:8, :8].mean())
    assert means[11] == pytest.approx(img[16:, 24:].mean())
    rgb = np.ones((24, 32, 3))
    out = blank_cells(rgb, [0, 5], value=(0.2, 0.3, 0.4))
    assert np.allclose(out[:8, :8], (0.2, 0.3, 0.4)) and np.allclose(out[8:16, 8:16], (0.2, 0.3, 0.4))
    assert out.sum() == pytest.approx(rgb.sum() - 2 * 64 * (3 - 0.9))
    assert rgb.sum() == 24 * 32 * 3  # input untouched


def test_seeded_split_proportions_determinism_and_groups():
    split = seeded_split(1000, (0.7, 0.1, 0.2), seed=1)
    counts = {k: int((split == k).sum()) for k in ("train", "val", "test")}
    assert counts == {"train": 700, "val": 100, "test": 200}
    assert (split == seeded_split(1000, (0.7, 0.1, 0.2), seed=1)).all()
    assert (split != seeded_split(1000, (0.7, 0.1, 0.2), seed=2)).any()
    groups = np.repeat(np.arange(50), 5)
    gsplit = seeded_split(250, groups=groups, seed=0)
    for g in range(50):
        assert len(set(gsplit[groups == g])) == 1
    with pytest.raises(ValueError, match="three non-negative"):
        seeded_split(10, (0.5, 0.5))


def test_stratified_split_balances_quality_and_complexity():
    rng = np.random.default_rng(0)
    mos = rng.gamma(2.0, 15.0, 3000)  # skewed, long tail
    comp = rng.uniform(0, 1, 3000) + mos / 100
    split = stratified_split(mos, comp, (0.6, 0.2, 0.2), seed=0)
    for values in (mos, comp):
        qs = np.quantile(values, [0.1, 0.5, 0.9])
        for part in ("train", "val", "test"):
            assert np.allclose(np.quantile(values[split == part], [0.1, 0.5, 0.9]), qs, rtol=0.05, atol=0.02 * qs[-1])
    assert abs((split == "val").mean() - 0.2) < 0.002
    groups = np.repeat(np.arange(300), 10)
    gsplit = stratified_split(mos, comp, seed=0, groups=groups)
    assert all(len(set(gsplit[groups == g])) == 1 for g in range(300))
    with pytest.raises(ValueError, match="NaN"):
        stratified_split(np.array([1.0, np.nan, 2.0]))


def test_spatial_information_orders_flat_below_textured(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 128, np.uint8)
    noisy = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    Image.fromarray(flat).save(tmp_path / "flat.png")
    Image.fromarray(noisy).save(tmp_path / "noisy.png")
    assert spatial_information(tmp_path / "flat.png") == 0.0
    assert spatial_information(tmp_path / "noisy.png") > 50


def test_mass_in_cells():
    from iqaxai.grid import mass_in_cells

    values = np.zeros((6, 8))
    values[:2, :2] = 1.0  # block 0
    values[4:, 6:] = 3.0  # block 11
    assert mass_in_cells(values, [0]) == pytest.approx(0.25)
    assert mass_in_cells(values, [0, 11]) == pytest.approx(1.0)
    assert np.isnan(mass_in_cells(np.zeros((6, 8)), [0]))
    with pytest.raises(ValueError, match="non-negative"):
        mass_in_cells(-values, [0])
