"""The batched torch semantic measures (iqaxai.semantic_torch) against the NumPy reference (iqaxai.semantic).

Tolerance: the torch path computes in float32, the reference in float64. Its maps are min-max normalised, so an
absolute difference is relative to the map's range; float32 rounding (about 6e-8 per operation) grows through
FFTs, sums of 1024 window values and, for the CSF method, a square root of small band energies, to a few 1e-6 on
the natural-like images here (measured up to 4e-6). The tests require max |torch - NumPy| < 1e-4 on every
normalised map and region value: 25x the measured error, and still 10x below the 1e-3 at which a block's rank in
the 3x4 grid (Table II) could plausibly change.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import fft as sfft
from skimage.transform import resize

from iqaxai import semantic as sem
from iqaxai.semantic import MEASURES, ViewingGeometry
from iqaxai.semantic_torch import (
    csf_spatial_frequency_torch,
    dct2_torch,
    frequency_band_energy_torch,
    idct2_torch,
    literal_band_magnitudes_torch,
    literal_spatial_frequency_torch,
    normalise_torch,
    objectness_torch,
    region_values_torch,
    resize_torch,
    semantic_measures_torch,
    spectral_residual_saliency_torch,
)

TOL = 1e-4


def natural(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Natural-looking RGB image (H, W, 3) in [0, 1]: 1/f^1.3 noise per channel and two textured disks."""
    rng = np.random.default_rng(seed)
    amplitude = np.maximum(np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]), 1.0 / max(h, w)) ** -1.3
    img = np.stack([np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((h, w)))).real for _ in range(3)], -1)
    img = (img - img.min()) / np.ptp(img)
    yy, xx = np.mgrid[:h, :w]
    for _ in range(2):
        disk = np.hypot(yy - rng.integers(0, h), xx - rng.integers(0, w)) < rng.integers(h // 6, h // 3)
        img[disk] = np.clip(0.5 * img[disk] + 0.4 * (np.sin(xx[disk] / rng.uniform(1, 5)) > 0)[:, None], 0, 1)
    return img


def batch(*images: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[B, 3, H, W] of ``dtype`` from (H, W, 3) arrays."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(dtype)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two natural-like images of an odd size."""
    return natural(97, 131, 1), natural(97, 131, 2)


# ------------------------------------------------------------------------------------------ helpers
@pytest.mark.parametrize("n", [16, 37, 64])
def test_dct_matches_scipy(n):
    x = torch.from_numpy(np.random.default_rng(n).random((2, n, n + 3)))
    assert np.abs(dct2_torch(x).numpy() - sfft.dctn(x.numpy(), type=2, norm="ortho", axes=(1, 2))).max() < 1e-12
    assert np.abs(idct2_torch(x).numpy() - sfft.idctn(x.numpy(), type=2, norm="ortho", axes=(1, 2))).max() < 1e-12
    assert float((idct2_torch(dct2_torch(x)) - x).abs().max()) < 1e-12


@pytest.mark.parametrize("shape, order", [((24, 32), 3), ((40, 45), 1), ((200, 301), 1)])
def test_resize_matches_skimage(shape, order):
    img = np.random.default_rng(3).random((97, 131))
    got = resize_torch(torch.from_numpy(img)[None], shape, order)[0].numpy()
    assert np.abs(got - resize(img, shape, order=order)).max() < 1e-12  # linear operator + the input-range clip


def test_normalise_and_region_values(pair):
    maps = torch.from_numpy(np.stack([pair[0][..., 0], np.full((97, 131), 0.3)]))
    out = normalise_torch(maps)
    assert np.allclose(out[0].numpy(), sem.normalise(pair[0][..., 0])) and not out[1].any()
    assert np.allclose(region_values_torch(maps).numpy(), [sem.region_values(m) for m in maps.numpy()], atol=1e-12)
    assert region_values_torch(maps, (2, 2)).shape == (2, 4)
    with pytest.raises(ValueError, match="NaN"):
        normalise_torch(torch.full((1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match=r"maps \[B, H, W\]"):
        region_values_torch(maps[0])


# --------------------------------------------------------------------------------- torch vs NumPy
@pytest.mark.parametrize("spatial_frequency", ["literal", "csf"])
def test_measures_equal_numpy_reference(pair, spatial_frequency):
    maps = semantic_measures_torch(batch(*pair), spatial_frequency=spatial_frequency, device="cpu")
    assert tuple(maps) == MEASURES and maps.spatial_frequency_method == spatial_frequency
    for i, img in enumerate(pair):
        ref = sem.semantic_measures(img, spatial_frequency=spatial_frequency)
        for k in MEASURES:
            got = maps[k][i]
            assert got.dtype == torch.float32 and got.shape == (97, 131)
            assert ref[k].std() > 0.05, k  # a map with structure, not a trivially equal constant
            assert (got.double().numpy() - ref[k]).__abs__().max() < TOL, (k, i)
            assert np.abs(region_values_torch(got[None])[0].double().numpy() - sem.region_values(ref[k])).max() < TOL


def test_single_measures_equal_numpy_reference(pair):
    img = batch(pair[0], dtype=torch.float64)  # float64 in, float64 computed: agreement to round-off
    ref = pair[0]
    assert np.abs(spectral_residual_saliency_torch(img)[0].numpy() - sem.spectral_residual_saliency(ref)).max() < 1e-10
    assert np.abs(literal_band_magnitudes_torch(img, stride=4)[0].numpy() - sem.literal_band_magnitudes(ref, stride=4)).max() < 1e-12
    assert np.abs(literal_spatial_frequency_torch(img, window=0.2, stride=1)[0].numpy()
                  - sem.literal_spatial_frequency_map(ref, window=0.2, stride=1)).max() < 1e-12
    assert np.abs(frequency_band_energy_torch(img)[0].numpy() - sem.frequency_band_energy(ref)).max() < 1e-12
    assert np.abs(csf_spatial_frequency_torch(img)[0].numpy() - sem.spatial_frequency_map(ref)).max() < 1e-9
    assert np.abs(objectness_torch(img)[0].numpy() - sem.objectness_map(ref)).max() < 1e-10


def test_uniform_images_give_zero_maps(pair):
    flat = np.full((40, 52, 3), 0.6)
    maps = semantic_measures_torch(batch(flat, natural(40, 52, 4)), device="cpu")
    for k in MEASURES:
        assert not maps[k][0].any(), k
        assert maps[k][1].max() > 0.5, k
    assert not semantic_measures_torch(batch(flat), spatial_frequency="csf", device="cpu")["average"].any()


# ------------------------------------------------------------------------- literal closed forms (torch)
def test_literal_torch_grating_flat_and_linearity():
    geo = ViewingGeometry()
    coord = np.arange(96)[None, :].repeat(96, 0)
    grating = lambda a: np.repeat((0.5 + a * np.sin(2 * np.pi * 7 / 32 * coord + 0.3))[..., None], 3, 2)  # noqa: E731
    bands = literal_band_magnitudes_torch(batch(grating(0.4), grating(0.2)), geo)  # 21.9 cpd: bin 4 (20-25 cpd)
    inner = bands[:, :, 16:-16, 16:-16].double()
    assert np.allclose(inner[0].sum(0).numpy(), 0.4 * 0.9999, rtol=1e-5)  # the grey amplitude (see test_semantic)
    assert int(inner[0].mean((1, 2)).argmax()) == 4 and float(inner[0, 4].mean() / inner[0].sum(0).mean()) > 0.49
    total = literal_spatial_frequency_torch(batch(grating(0.4), grating(0.2), np.full((96, 96, 3), 0.2)), geo)
    assert np.allclose(total[0].numpy(), 2 * total[1].numpy(), rtol=1e-5)
    assert total[2].abs().max() < 1e-6


def test_batch_items_do_not_interact(pair):
    both = semantic_measures_torch(batch(*pair), device="cpu")
    alone = semantic_measures_torch(batch(pair[1]), device="cpu")
    assert all(torch.allclose(both[k][1], alone[k][0], atol=1e-6) for k in MEASURES)


# ---------------------------------------------------------------------------------- pretrained, batched
class _TinySegmenter(torch.nn.Module):
    """Stands in for a VOC segmentation net: {"out": 21-class logits at 1/8 resolution}."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 21, 3, stride=8, padding=1)

    def forward(self, x):
        return {"out": self.conv(x)}


def test_pretrained_objectness_batched_equals_per_image(pair, tmp_path, monkeypatch):
    fake = tmp_path / "weights.pth"
    fake.write_bytes(b"not read")
    model = _TinySegmenter().eval()
    monkeypatch.setattr("iqaxai.semantic._segmentation_model", lambda *a: model)
    monkeypatch.setattr("iqaxai.semantic_torch._segmentation_model", lambda *a: model)
    maps = semantic_measures_torch(batch(*pair), "pretrained", device="cpu", checkpoint=fake)
    assert maps.objectness_method == "pretrained"
    for i, img in enumerate(pair):
        ref = sem.normalise(sem.objectness_map(img, "pretrained", "cpu", checkpoint=fake))
        assert ref.std() > 0.05 and np.abs(maps["objectness"][i].double().numpy() - ref).max() < TOL
    with pytest.raises(FileNotFoundError, match="weights file"):
        objectness_torch(batch(pair[0]), "pretrained", checkpoint=tmp_path / "missing.pth")


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad, error, message", [
    (torch.full((1, 3, 32, 32), float("nan")), ValueError, "NaN"),
    (torch.full((1, 3, 32, 32), 255.0), ValueError, r"\[0, 1\].*divide by 255"),
    (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), ValueError, "float image"),
    (torch.zeros(3, 32, 32), ValueError, r"\[B, 3, H, W\]"),
    (torch.zeros(1, 32, 32, 3), ValueError, r"\[B, 3, H, W\]"),
    (torch.zeros(0, 3, 32, 32), ValueError, "empty batch"),
    (torch.zeros(1, 3, 8, 40), ValueError, "at least 16 pixels"),
    (np.zeros((1, 3, 32, 32)), TypeError, "torch.Tensor"),
])
def test_bad_images_raise(bad, error, message):
    for fn in (semantic_measures_torch, spectral_residual_saliency_torch, literal_band_magnitudes_torch,
               literal_spatial_frequency_torch, frequency_band_energy_torch, csf_spatial_frequency_torch, objectness_torch):
        with pytest.raises(error, match=message):
            fn(bad)
    with pytest.raises(error, match=r"semantic_measures_torch\(images\)" if error is ValueError else "got ndarray"):
        semantic_measures_torch(bad)


@pytest.mark.parametrize("kwargs, message", [
    (dict(objectness="magic"), "unknown objectness method 'magic'"),
    (dict(spatial_frequency="fft"), "unknown spatial-frequency method 'fft'"),
    (dict(sf_stride=0), "stride must be an integer from 1 to the window side"),
    (dict(sf_stride=40), r"window side \(32 px\)"),
    (dict(sf_stride=4.0), "stride must be an integer"),
    (dict(sf_window=-0.1), "window must be a positive"),
    (dict(spatial_frequency="csf", sf_window=0.0), "window must be positive"),
    (dict(dtype=torch.int32), "dtype must be a floating-point"),
])
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        semantic_measures_torch(torch.rand(1, 3, 32, 32), device="cpu", **kwargs)


def test_bad_parameters_of_single_measures():
    img = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="n_bins"):
        literal_band_magnitudes_torch(img, n_bins=0)
    with pytest.raises(ValueError, match="max_cpd"):
        frequency_band_energy_torch(img, max_cpd=-1.0)
    with pytest.raises(ValueError, match="working width"):
        spectral_residual_saliency_torch(img, width=4)
    with pytest.raises(TypeError, match="classical objectness takes no options"):
        semantic_measures_torch(img, device="cpu", arch="fcn_resnet50")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu(pair):
    for sf in ("literal", "csf"):
        cpu = semantic_measures_torch(batch(*pair), spatial_frequency=sf, device="cpu")
        gpu = semantic_measures_torch(batch(*pair), spatial_frequency=sf, device="cuda")
        assert all(gpu[k].is_cuda and (gpu[k].cpu() - cpu[k]).abs().max() < TOL for k in MEASURES)
