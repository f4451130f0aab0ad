"""Semantic measures (saliency, spatial frequency, objectness) and the region matching degree (ICIP 2023)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from iqaxai.grid import cell_slices
from iqaxai.semantic import (
    MEASURES,
    OBJECTNESS_METHODS,
    SPATIAL_FREQUENCY_METHODS,
    ViewingGeometry,
    frequency_band_energy,
    frequency_bin_edges,
    literal_band_magnitudes,
    literal_spatial_frequency_map,
    mannos_sakrison_csf,
    matched,
    matching_degree,
    normalise,
    objectness_map,
    pretrained_checkpoint,
    region_values,
    semantic_measures,
    semantic_measures_batch,
    spatial_frequency_map,
    spatial_frequency_measure,
    spectral_residual_saliency,
)
from iqaxai.grid import top_half


def _noise_background(shape=(96, 128), level=0.5, sd=0.02, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(level + rng.normal(0, sd, (*shape, 3)), 0, 1)


def _grating(cpd: float, geometry: ViewingGeometry, axis: int, size: int = 160, amplitude: float = 0.4) -> np.ndarray:
    """Grey sinusoidal grating of ``cpd`` cycles/degree under ``geometry``, varying along ``axis``."""
    coord = np.mgrid[:size, :size][axis]
    g = 0.5 + amplitude * np.sin(2 * np.pi * cpd / geometry.pixels_per_degree * coord + 0.3)
    return np.repeat(g[..., None], 3, axis=2)


# ------------------------------------------------------------------------------------------ saliency
@pytest.mark.parametrize("sd", [0.0, 0.05])
def test_pop_out_patch_is_the_most_salient_region(sd):
    img = _noise_background(sd=sd)
    img[40:52, 72:84] = [0.9, 0.1, 0.1]  # inside block 6 (row 1, column 2) of the 3x4 grid
    sal = spectral_residual_saliency(img)
    assert sal.shape == (96, 128) and sal.min() == 0.0 and sal.max() == 1.0
    values = region_values(sal)
    assert values.argmax() == 6
    assert values[6] > 1.5 * np.delete(values, 6).max()


def test_saliency_of_uniform_image_is_zero_and_odd_sizes_work():
    assert not spectral_residual_saliency(np.full((40, 50, 3), 0.3)).any()
    assert spectral_residual_saliency(_noise_background((37, 201), sd=0.1)).shape == (37, 201)


# --------------------------------------------------------------------------------- spatial frequency
def test_viewing_geometry_defaults_and_closed_form():
    geo = ViewingGeometry()
    assert geo.viewing_distance_mm == 573.0 and geo.pixel_pitch_mm == 0.1
    assert geo.pixels_per_degree == pytest.approx(100.0, rel=1e-3)
    assert geo.nyquist_cpd == pytest.approx(50.0, rel=1e-3)
    # 0.25 mm pitch at 60 cm: 1 degree covers about 600 * tan(1 deg) / 0.25 = 41.9 px
    assert ViewingGeometry(600.0, 0.25).pixels_per_degree == pytest.approx(600 * np.tan(np.radians(1)) / 0.25, rel=1e-3)
    assert ViewingGeometry.from_pixels_per_degree(50.0).pixels_per_degree == pytest.approx(50.0)
    with pytest.raises(ValueError, match="positive"):
        ViewingGeometry(viewing_distance_mm=-1.0)


@pytest.mark.parametrize("cpd, axis, expected_bin", [(7.5, 1, 1), (22.5, 0, 4), (42.5, 1, 8)])
def test_grating_energy_lands_in_its_bin(cpd, axis, expected_bin):
    geo = ViewingGeometry()
    energy = frequency_band_energy(_grating(cpd, geo, axis), geo)
    assert energy.shape == (10, 160, 160)
    share = energy.mean(axis=(1, 2)) / energy.mean(axis=(1, 2)).sum()
    assert share.argmax() == expected_bin and share[expected_bin] > 0.9
    # local energy of a grating of amplitude 0.4 is 0.4^2 / 2 = 0.08 everywhere (borders included: DCT)
    assert energy[expected_bin].mean() == pytest.approx(0.08, rel=0.1)
    assert energy[expected_bin, 20:-20, 20:-20].min() > 0.07


def test_single_full_band_is_gaussian_local_variance():
    """One bin covering every frequency: the band is the image minus its mean, energy = Gaussian(x^2)."""
    from scipy import ndimage

    img = _noise_background((40, 56), sd=0.15, seed=4)
    gray = img @ np.array([0.2989, 0.5870, 0.1140])
    geo = ViewingGeometry.from_pixels_per_degree(20.0)  # diagonal Nyquist 0.71 cycles/px = 14.1 cpd < 15
    energy = frequency_band_energy(img, geo, n_bins=1, max_cpd=15.0, window=0.15)  # sigma = 3 px
    slow = ndimage.gaussian_filter((gray - gray.mean()) ** 2, 3.0, mode="reflect", truncate=10.0)
    assert energy.shape == (1, 40, 56) and np.allclose(energy[0], slow, atol=1e-10)


def test_same_grating_moves_bins_with_viewing_distance():
    near = ViewingGeometry()  # ~100 px/deg: 0.075 cycles/px is 7.5 cpd -> bin 1 (5-10 cpd)
    img = _grating(7.5, near, axis=1)
    assert frequency_band_energy(img, near).mean(axis=(1, 2)).argmax() == 1
    far = ViewingGeometry.from_pixels_per_degree(300.0)  # three times the distance: 22.5 cpd -> bin 4
    assert far.viewing_distance_mm == pytest.approx(3 * near.viewing_distance_mm, rel=1e-3)
    assert frequency_band_energy(img, far).mean(axis=(1, 2)).argmax() == 4
    closer = ViewingGeometry.from_pixels_per_degree(50.0)  # half the distance: 3.75 cpd -> bin 0
    assert frequency_band_energy(img, closer).mean(axis=(1, 2)).argmax() == 0


def test_csf_weighting_prefers_mid_frequencies():
    geo = ViewingGeometry()
    assert mannos_sakrison_csf(8.0) == pytest.approx(1.0, abs=0.02)
    assert mannos_sakrison_csf(2.5) < mannos_sakrison_csf(7.5) and mannos_sakrison_csf(40.0) < 0.1
    mid, high = (spatial_frequency_map(_grating(c, geo, 1), geo).mean() for c in (7.5, 42.5))
    assert mid > 5 * high  # equal contrast, but 7.5 cpd sits near the CSF peak
    flat = spatial_frequency_map(np.full((64, 64, 3), 0.4), geo)
    assert np.allclose(flat, 0.0, atol=1e-12)
    unweighted = [spatial_frequency_map(_grating(c, geo, 1), geo, csf=None).mean() for c in (7.5, 42.5)]
    assert unweighted[0] == pytest.approx(unweighted[1], rel=0.1)


# ------------------------------------------------------------------- literal spatial frequency (paper)
def _slow_literal(gray: np.ndarray, n: int, ppd: float, edges: np.ndarray) -> np.ndarray:
    """The paper's definition written out: one Hann-windowed FFT per pixel, |FFT| / N^2 summed per bin -> [bins, H, W]."""
    h, w = gray.shape
    padded = np.pad(gray, n, mode="reflect")  # window of pixel (y, x): rows y - n/2 .. y + n/2 - 1
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    win = np.outer(hann, hann)
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")) * ppd
    out = np.zeros((len(edges) - 1, h, w))
    for y in range(h):
        for x in range(w):
            patch = padded[y + n - n // 2:y + n + n // 2, x + n - n // 2:x + n + n // 2]
            mag = np.abs(np.fft.fft2(win * (patch - (win * patch).sum() / win.sum()))) / n ** 2
            for i in range(len(edges) - 1):
                last = i == len(edges) - 2
                inside = (freq >= edges[i]) & ((freq <= edges[i + 1]) if last else (freq < edges[i + 1])) & (freq > 0)
                out[i, y, x] = mag[inside].sum()
    return out


def test_literal_equals_slow_per_pixel_fft():
    img = _noise_background((19, 23), sd=0.2, seed=5)
    gray = img @ np.array([0.2989, 0.5870, 0.1140])
    geo = ViewingGeometry.from_pixels_per_degree(80.0)  # 0.2 deg -> a 16-px window; Nyquist 40 cpd < 50
    slow = _slow_literal(gray, 16, geo.pixels_per_degree, frequency_bin_edges())
    assert slow.sum(0).min() > 0.01  # the test image has texture everywhere
    dense = literal_band_magnitudes(img, geo, window=0.2, stride=1)
    assert dense.shape == (10, 19, 23) and np.allclose(dense, slow, atol=1e-12)
    strided = literal_band_magnitudes(img, geo, window=0.2, stride=4)  # exact at the window centres
    assert np.allclose(strided[:, ::4, ::4], slow[:, ::4, ::4], atol=1e-12)
    assert not np.allclose(strided, slow, atol=1e-3)  # interpolated in between
    y, x = 5, 10  # between centres (4, 8), (4, 12), (8, 8), (8, 12): bilinear weights 3/4 x 1/2
    expected = 0.375 * (slow[:, 4, 8] + slow[:, 4, 12]) + 0.125 * (slow[:, 8, 8] + slow[:, 8, 12])
    assert np.allclose(strided[:, y, x], expected, atol=1e-12)
    assert np.allclose(literal_spatial_frequency_map(img, geo, window=0.2, stride=4), strided.sum(0), atol=1e-12)


@pytest.mark.parametrize("k, expected_bin", [(2, 1), (7, 4), (13, 8)])  # k cycles per 32-px window
def test_literal_grating_closed_form(k, expected_bin):
    geo = ViewingGeometry.from_pixels_per_degree(100.0)
    cpd = k / 32 * 100.0  # 6.25, 21.875, 40.625 cpd: on the window's FFT grid
    bands = literal_band_magnitudes(_grating(cpd, geo, axis=1, size=96, amplitude=0.4), geo, stride=8)
    inner = bands[:, 16:-16, 16:-16]  # away from the reflected borders
    # Hann: half of the magnitude in the grating's coefficient, a quarter in each neighbour; |FFT| / N^2 sums to the
    # grey amplitude a = 0.4 x 0.9999 (the Rec. 601 weights sum to 0.9999)
    assert np.allclose(inner.sum(0), 0.4 * 0.9999, rtol=1e-9)
    share = inner.mean((1, 2)) / inner.mean((1, 2)).sum()
    assert share.argmax() == expected_bin and share[expected_bin] >= 0.5 - 1e-9


def test_literal_flat_offset_and_linearity():
    geo = ViewingGeometry()
    assert np.abs(literal_spatial_frequency_map(np.full((40, 48, 3), 0.37), geo)).max() < 1e-15
    texture = _noise_background((40, 48), level=0.0, sd=0.05, seed=6)
    low, high = np.clip(0.2 + texture, 0, 1), np.clip(0.6 + texture, 0, 1)
    assert (low > 0).all() and (high < 1).all()  # no clipping: the images differ by a constant only
    # the local weighted mean is removed, not only the DC coefficient: brightness does not leak into the bins
    assert np.allclose(literal_spatial_frequency_map(low, geo), literal_spatial_frequency_map(high, geo), atol=1e-12)
    one, two = (literal_spatial_frequency_map(_grating(9.375, geo, 0, 64, a), geo) for a in (0.1, 0.2))
    assert one.min() > 0.05 and np.allclose(two, 2 * one, rtol=1e-12)  # linear in contrast


def test_spatial_frequency_methods():
    img = _noise_background((40, 56), sd=0.15, seed=7)
    assert set(SPATIAL_FREQUENCY_METHODS) == {"literal", "csf"}
    assert np.array_equal(spatial_frequency_measure(img), literal_spatial_frequency_map(img))
    assert np.array_equal(spatial_frequency_measure(img, "csf"), spatial_frequency_map(img))
    assert np.array_equal(spatial_frequency_measure(img, window=0.16, stride=4),
                          literal_spatial_frequency_map(img, window=0.16, stride=4))
    lit, csf = semantic_measures(img), semantic_measures(img, spatial_frequency="csf")
    assert lit.spatial_frequency_method == "literal" and csf.spatial_frequency_label == SPATIAL_FREQUENCY_METHODS["csf"]
    assert np.array_equal(lit["spatial_frequency"], normalise(literal_spatial_frequency_map(img)))
    assert np.array_equal(csf["spatial_frequency"], normalise(spatial_frequency_map(img)))
    assert np.array_equal(lit["saliency"], csf["saliency"]) and not np.allclose(lit["average"], csf["average"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="fft"), "unknown spatial-frequency method 'fft'"),
    (dict(window=0.0), "window must be a positive"),
    (dict(window=float("nan")), "window must be a positive"),
    (dict(stride=0), "stride must be an integer from 1 to the window side"),
    (dict(stride=33), r"window side \(32 px\)"),
    (dict(stride=2.0), "stride must be an integer"),
    (dict(method="csf", stride=-1), "stride must be an integer"),
])
def test_spatial_frequency_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        spatial_frequency_measure(_noise_background((32, 32)), **kwargs)


# ----------------------------------------------------------------------------------------- objectness
def test_classical_objectness_higher_on_centred_object():
    img = _noise_background()
    yy, xx = np.mgrid[:96, :128]
    disk = np.hypot(yy - 48, xx - 64) < 20
    texture = 0.5 + 0.3 * np.sin(xx / 2.0) * np.cos(yy / 3.0)
    img[disk] = np.stack([0.8 * texture, np.full_like(texture, 0.3), np.full_like(texture, 0.2)], -1)[disk]
    obj = objectness_map(img, method="classical")
    assert obj.shape == (96, 128) and obj.min() >= 0 and obj.max() == pytest.approx(1.0)
    far = np.hypot(yy - 48, xx - 64) > 35
    assert obj[disk].mean() > 0.6 and obj[far].mean() < 0.2
    assert set(np.argsort(region_values(obj))[-2:]) == {5, 6}  # the two central blocks
    assert not objectness_map(np.full((40, 40, 3), 0.7)).any()


def test_pretrained_objectness_fails_fast_without_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"deeplabv3_resnet50_coco-cd0a2569\.pth") as info:
        objectness_map(_noise_background(), method="pretrained")
    assert str(tmp_path / "checkpoints") in str(info.value) and "COCO_WITH_VOC_LABELS_V1" in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"fcn_resnet50_coco-1167a1af\.pth"):
        pretrained_checkpoint("fcn_resnet50")
    with pytest.raises(ValueError, match="architecture"):
        pretrained_checkpoint("resnet18")


# ------------------------------------------------------------------------------- normalise, all maps
def test_normalise():
    assert np.array_equal(normalise(np.full((4, 5), 3.7)), np.zeros((4, 5)))
    assert np.allclose(normalise(np.array([[2.0, 4.0], [3.0, 6.0]])), [[0.0, 0.5], [0.25, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        normalise(np.array([1.0, np.nan]))


def test_semantic_measures_and_batch():
    img = _noise_background(sd=0.1)
    img[30:60, 50:90] = [0.1, 0.6, 0.9]
    maps = semantic_measures(img)
    assert tuple(maps) == MEASURES and maps.objectness_method == "classical"
    assert maps.objectness_label == OBJECTNESS_METHODS["classical"]
    for name, m in maps.items():
        assert m.shape == (96, 128) and np.isfinite(m).all() and 0 <= m.min() <= m.max() <= 1, name
    assert np.allclose(maps["average"], (maps["saliency"] + maps["spatial_frequency"] + maps["objectness"]) / 3)
    pair = torch.from_numpy(np.stack([img, img[::-1].copy()])).permute(0, 3, 1, 2)
    batch = semantic_measures_batch(pair, backend="numpy")
    assert batch["average"].shape == (2, 96, 128) and batch.spatial_frequency_method == "literal"
    assert np.array_equal(batch["saliency"][0], maps["saliency"]) and np.array_equal(
        batch["objectness"][1], semantic_measures(img[::-1].copy())["objectness"])
    fast = semantic_measures_batch(pair, device="cpu")  # backend="torch", float32: the tolerance of test_semantic_torch
    assert all(fast[k].dtype == np.float64 and np.abs(fast[k] - batch[k]).max() < 1e-4 for k in MEASURES)
    arrays = semantic_measures_batch(np.stack([img, img]), backend="numpy", spatial_frequency="csf")
    assert np.array_equal(arrays["spatial_frequency"][1], semantic_measures(img, spatial_frequency="csf")["spatial_frequency"])


@pytest.mark.parametrize("bad, message", [
    (np.zeros((32, 32)), r"shape \(H, W, 3\)"),
    (np.zeros((32, 32, 4)), r"shape \(H, W, 3\)"),
    (np.zeros((8, 40, 3)), "at least 16 pixels"),
    (np.zeros((32, 32, 3), dtype=np.uint8), "float image"),
    (np.full((32, 32, 3), 255.0), r"\[0, 1\]"),
    (np.full((32, 32, 3), np.nan), "NaN"),
    (torch.zeros(32, 32, 3), r"\[3, H, W\]"),
])
def test_bad_images_raise(bad, message):
    for fn in (spectral_residual_saliency, spatial_frequency_map, objectness_map, semantic_measures):
        with pytest.raises(ValueError, match=message):
            fn(bad)


def test_bad_parameters_raise():
    img = _noise_background((32, 32))
    with pytest.raises(ValueError, match="n_bins"):
        frequency_band_energy(img, n_bins=0)
    with pytest.raises(ValueError, match="max_cpd"):
        frequency_band_energy(img, max_cpd=0.0)
    with pytest.raises(ValueError, match="objectness method"):
        objectness_map(img, method="magic")
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        semantic_measures_batch(torch.zeros(2, 4, 32, 32))
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        semantic_measures_batch(np.zeros((2, 32, 32, 4)))
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        semantic_measures_batch(torch.zeros(1, 3, 32, 32), backend="jax")
    with pytest.raises(ValueError, match="unknown spatial-frequency method 'dct'"):
        semantic_measures(img, spatial_frequency="dct")
    with pytest.raises(ValueError, match="unknown objectness method 'magic'"):
        semantic_measures(img, objectness="magic")


# -------------------------------------------------------------------------------------------- regions
def test_region_values_equal_slow_block_means():
    rng = np.random.default_rng(1)
    measure = rng.random((97, 130))
    bounds_y, bounds_x = [0, 32, 65, 97], [0, 32, 65, 98, 130]  # round(i * size / n)
    slow = [measure[bounds_y[r]:bounds_y[r + 1], bounds_x[c]:bounds_x[c + 1]].mean() for r in range(3) for c in range(4)]
    assert np.allclose(region_values(measure), slow)
    assert len(cell_slices(measure.shape)) == 12
    assert np.allclose(region_values(measure, (2, 2)), [measure[:48, :65].mean(), measure[:48, 65:].mean(),
                                                        measure[48:, :65].mean(), measure[48:, 65:].mean()])
    with pytest.raises(ValueError, match=r"shape \(H, W\)"):
        region_values(rng.random((10, 10, 3)))
    with pytest.raises(ValueError, match="smaller than the grid"):
        region_values(rng.random((2, 10)))


# ------------------------------------------------------------------------------------------- matching
def test_top_half_and_ties():
    assert top_half(np.array([0.1, 0.9, 0.5, 0.3])).tolist() == [False, True, True, False]
    assert top_half(np.ones(12)).tolist() == [True] * 6 + [False] * 6  # ties: lower index first
    assert top_half(np.array([1.0, 2.0, 2.0, 2.0])).tolist() == [False, True, True, False]
    assert top_half(np.array([[3.0, 1.0], [1.0, 3.0]])).tolist() == [[True, False], [False, True]]
    with pytest.raises(ValueError, match="even number"):
        top_half(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        top_half(np.array([1.0, np.nan]))


def _case(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Important = blocks 0..5; measure ranks exactly k of them among its 6 highest regions."""
    important = np.arange(12) < 6
    high = list(range(k)) + list(range(6, 12 - k))  # k important + (6 - k) trivial blocks get the high values
    values = np.zeros(12)
    values[high] = np.linspace(1.0, 2.0, 6)
    return important, values


@pytest.mark.parametrize("k", range(7))
def test_matched_for_every_threshold(k):
    important, values = _case(k)
    assert (important & top_half(values)).sum() == k
    for t in range(1, 6):
        assert matched(important, values, t) == (k > t), (k, t)  # more than T, i.e. at least T + 1


@pytest.mark.parametrize("t", range(1, 6))
def test_matched_at_t_but_not_t_plus_one(t):
    important, values = _case(t + 1)
    assert matched(important, values, t)
    if t < 5:
        assert not matched(important, values, t + 1)


def test_matched_with_shuffled_blocks_and_ties():
    rng = np.random.default_rng(2)
    perm = rng.permutation(12)
    important, values = _case(5)
    assert matched(important[perm], values[perm], 4) and not matched(important[perm], values[perm], 5)
    # all-equal values: the top half is blocks 0..5 by the tie rule
    important = np.zeros(12, dtype=bool)
    important[[0, 1, 2, 3, 4, 11]] = True
    assert matched(important, np.zeros(12), 4) and not matched(important, np.zeros(12), 5)


def test_matching_degree_percentages_and_bruteforce():
    cases = [_case(k) for k in (6, 5, 4, 3, 2, 6, 5, 1)]
    important = np.stack([c[0] for c in cases])
    values = np.stack([c[1] for c in cases])
    degree = matching_degree(important, values)
    assert degree == {1: 87.5, 2: 75.0, 3: 62.5, 4: 50.0, 5: 25.0}
    rng = np.random.default_rng(3)
    important = np.stack([rng.permutation(12) < 6 for _ in range(50)])
    values = rng.random((50, 12))
    degree = matching_degree(important, values, thresholds=[0, 2, 4])
    for t in (0, 2, 4):  # slow reference: both counts of the paper's rule, by sets of block indices
        hits = []
        for imp, v in zip(important, values):
            higher, lower = set(np.argsort(-v)[:6]), set(np.argsort(-v)[6:])  # no ties in random values
            hits.append(len(set(np.flatnonzero(imp)) & higher) > t and len(set(np.flatnonzero(~imp)) & lower) > t)
        assert degree[t] == pytest.approx(100 * np.mean(hits))


def test_matching_input_errors():
    important, values = _case(3)
    with pytest.raises(ValueError, match="exactly half"):
        matched(np.arange(12) < 5, values, 2)
    with pytest.raises(ValueError, match="same shape"):
        matched(important, values[:10], 2)
    with pytest.raises(ValueError, match="boolean"):
        matched(important.astype(int), values, 2)
    for t in (-1, 6, 2.0):
        with pytest.raises(ValueError, match="threshold"):
            matched(important, values, t)
    with pytest.raises(ValueError, match="threshold"):
        matching_degree(important[None], values[None], thresholds=range(1, 7))


def test_hypergeometric_chance_level():
    """Random measures: P(k > T) for k ~ Hypergeometric(12, 6, 6), a closed form the rule must reproduce."""
    important = np.arange(12) < 6
    counts = np.zeros(7)
    for top in itertools.combinations(range(12), 6):
        values = np.zeros(12)
        values[list(top)] = 1.0
        counts[(important & top_half(values)).sum()] += 1
    assert counts.tolist() == [1, 36, 225, 400, 225, 36, 1]
    all_tops = np.array([[1.0 if b in top else 0.0 for b in range(12)] for top in itertools.combinations(range(12), 6)])
    degree = matching_degree(np.tile(important, (len(all_tops), 1)), all_tops)
    assert degree[1] == pytest.approx(100 * (1 - 37 / 924)) and degree[3] == pytest.approx(100 * 262 / 924)
    assert degree[5] == pytest.approx(100 / 924)


def test_dataset_region_values_are_cached_and_match_direct_calls(small_world, tmp_path, monkeypatch):
    from iqaxai.data.demo import load_demo
    from iqaxai.data.images import load_image
    from iqaxai.semantic import dataset_region_values, region_values, semantic_measures

    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path))
    table = load_demo(small_world[1]).head(3)
    values = dataset_region_values(table, chunk_images=2, progress=False, device="cpu")  # torch, literal
    slow = dataset_region_values(table, chunk_images=2, progress=False, backend="numpy")
    assert set(values) == set(MEASURES) == set(slow)
    direct = semantic_measures(load_image(table["path"].iloc[2]))
    for name, v in values.items():
        assert v.shape == (3, 12) and np.array_equal(slow[name][2], region_values(direct[name]))
        assert np.abs(v - slow[name]).max() < 1e-4  # float32 torch vs float64 NumPy
    csf = dataset_region_values(table, chunk_images=2, progress=False, backend="numpy", spatial_frequency="csf")
    assert np.array_equal(csf["saliency"], slow["saliency"]) and not np.allclose(csf["spatial_frequency"], slow["spatial_frequency"])
    fail = lambda *a, **k: pytest.fail("recomputed a cached chunk")  # noqa: E731
    monkeypatch.setattr("iqaxai.semantic.semantic_measures", fail)
    monkeypatch.setattr("iqaxai.semantic_torch.semantic_measures_torch", fail)
    again = dataset_region_values(table, chunk_images=2, progress=False, device="cpu")
    assert all(np.array_equal(values[k], again[k]) for k in values)
    assert all(np.array_equal(slow[k], dataset_region_values(table, chunk_images=2, progress=False, backend="numpy")[k])
               for k in MEASURES)
    for changed in (dict(sf_stride=4), dict(sf_window=0.16), dict(spatial_frequency="csf"), dict(backend="numpy", sf_stride=4)):
        with pytest.raises(pytest.fail.Exception, match="recomputed"):  # another configuration: another cache entry
            dataset_region_values(table, chunk_images=2, progress=False, device="cpu", **changed)
    with pytest.raises(ValueError, match="stride must be"):
        dataset_region_values(table, sf_stride=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        dataset_region_values(table, batch_size=0)


def test_bad_images_name_the_measure_that_refused_them():
    bad = np.full((32, 32, 3), 255.0)
    for fn, where in ((spectral_residual_saliency, "spectral_residual_saliency"), (frequency_band_energy, "frequency_band_energy"),
                      (objectness_map, "objectness_map"), (semantic_measures, "semantic_measures")):
        with pytest.raises(ValueError, match=where + r"\(image\): expected values in \[0, 1\].*divide by 255"):
            fn(bad)
    inf = np.random.default_rng(0).random((32, 32, 3))
    inf[3, 3, 1] = np.inf
    with pytest.raises(ValueError, match=r"semantic_measures\(image\): images contain NaN or infinite values"):
        semantic_measures(inf)
    with pytest.raises(ValueError, match=r"semantic_measures_batch\(images\): got an empty batch"):
        semantic_measures_batch(torch.zeros(0, 3, 32, 32))
    with pytest.raises(ValueError, match=r"semantic_measures_batch\(images\): expected values in \[0, 1\]"):
        semantic_measures_batch(torch.full((2, 3, 32, 32), 255.0))
