"""Perturbation explanations (thesis 3.3.1): planted models, slow reference loops, captum and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch
from iqaxai.perturbation import (
    band_masks,
    dct_band_perturbation,
    gaussian_blur,
    hsv_perturbation,
    hsv_roundtrip,
    occlusion_map,
    summarise_by_group,
    tidy_changes,
)
from scipy.ndimage import gaussian_filter
from skimage.color import hsv2rgb
from torch import nn

ALL_FILLS = ("black", "mean", "median", "blur", "patch_mean", "patch_median")


class RegionMean(nn.Module):
    """Score = 100 x the mean of the image inside rows r0:r1, cols c0:c1 (a planted model)."""

    def __init__(self, r0: int, r1: int, c0: int, c1: int):
        super().__init__()
        self.box = (r0, r1, c0, c1)

    def forward(self, x):
        r0, r1, c0, c1 = self.box
        return 100 * x[:, :, r0:r1, c0:c1].mean((1, 2, 3))


class TinyConv(nn.Module):
    """A small nonlinear CNN with a scalar output, so that windows interact."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.tanh(self.conv(x))
        return 10 * self.fc(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)).squeeze(-1)


def starts(length, patch, stride):
    """Window starts written out independently: every multiple of stride below length - patch + stride."""
    return list(range(0, length - patch + stride, stride))


def reference_map(model, x, patch, stride, fill, sigma):
    """Slow reference: one perturbed image and one forward pass per window, pixel sums / pixel counts."""
    (ph, pw), (sh, sw) = patch, stride
    _, h, w = x.shape
    xn = x.double().numpy()
    if fill == "blur":
        base = np.stack([gaussian_filter(c, sigma, mode="nearest", truncate=4.0) for c in xn])
    total, count = np.zeros((h, w)), np.zeros((h, w))
    with torch.no_grad():
        f0 = float(model(x[None]))
        for r in starts(h, ph, sh):
            for c in starts(w, pw, sw):
                p = xn.copy()
                win = (slice(None), slice(r, r + ph), slice(c, c + pw))
                if fill == "black":
                    p[win] = 0
                elif fill == "mean":
                    p[win] = xn.mean((1, 2))[:, None, None]
                elif fill == "median":
                    p[win] = np.median(xn.reshape(3, -1), 1)[:, None, None]
                elif fill == "blur":
                    p[win] = base[win]
                elif fill == "patch_mean":
                    p[win] = xn[win].mean((1, 2))[:, None, None]
                else:
                    p[win] = np.median(xn[win].reshape(3, -1), 1)[:, None, None]
                diff = f0 - float(model(torch.from_numpy(p).float()[None]))
                total[r:r + ph, c:c + pw] += diff
                count[r:r + ph, c:c + pw] += 1
    assert count.min() >= 1
    return total / count


# ---------------------------------------------------------------------------------------- spatial


@pytest.mark.parametrize("fill", ALL_FILLS)
def test_occlusion_map_equals_a_slow_per_window_loop(fill):
    torch.manual_seed(1)
    x = torch.rand(3, 22, 27)  # (22 - 7) % 3 == 0, (27 - 5) % 4 == 2, (22 - 15) % 5 == 2, (27 - 15) % 5 == 2
    model = TinyConv()
    for patch, stride in (((7, 5), (3, 4)), ((15, 15), (5, 5))):
        ours = occlusion_map(model, x, patch=patch, stride=stride, fill=fill, batch_size=16, blur_sigma=1.5)
        ref = reference_map(model, x, patch, stride, fill, 1.5)
        assert ours.shape == (22, 27)
        assert np.abs(ours).max() > 1e-3  # a map that could be wrong
        np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("size", [(20, 25), (22, 27), (31, 19)])
def test_black_occlusion_equals_captum(size):
    captum_attr = pytest.importorskip("captum.attr")
    torch.manual_seed(2)
    x = torch.rand(2, 3, *size)  # 22 - 15 = 7 and 27 - 15 = 12 are not multiples of the stride 5
    model = TinyConv().eval()
    ours = occlusion_map(model, x, patch=15, stride=5, fill="black", batch_size=7)  # chunks span both images
    ref = captum_attr.Occlusion(model).attribute(x, sliding_window_shapes=(3, 15, 15), strides=(3, 5, 5),
                                                 baselines=0, perturbations_per_eval=7)
    assert ours.shape == (2, *size)
    assert np.abs(ours).max() > 1e-3
    np.testing.assert_allclose(ours, ref[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(ours[1], occlusion_map(model, x[1], patch=15, stride=5), atol=1e-6)


@pytest.mark.parametrize("fill", ALL_FILLS)
def test_importance_lies_only_where_the_model_looks(fill):
    torch.manual_seed(3)
    x = 0.1 + 0.8 * torch.rand(3, 40, 48)
    r0, r1, c0, c1 = 15, 22, 20, 27
    model = RegionMean(r0, r1, c0, c1).train()
    m = occlusion_map(model, x, patch=5, stride=2, fill=fill, blur_sigma=2.0)
    assert model.training  # the training flag is restored
    # support: pixels covered by at least one 5x5 window that overlaps the box
    support = np.zeros((40, 48), bool)
    for r in starts(40, 5, 2):
        for c in starts(48, 5, 2):
            if r < r1 and r + 5 > r0 and c < c1 and c + 5 > c0:
                support[r:r + 5, c:c + 5] = True
    assert np.all(m[~support] == 0)
    assert np.all(np.abs(m[r0:r1, c0:c1]) > 1e-4)
    if fill == "black":  # removing bright pixels the model averages lowers its score: positive importance
        assert np.all(m[support] > 0)


def test_blur_fill_is_a_gaussian_with_replicated_edges():
    torch.manual_seed(4)
    x = torch.rand(1, 3, 17, 23)
    ours = gaussian_blur(x, 2.5)[0].numpy()
    ref = np.stack([gaussian_filter(c, 2.5, mode="nearest", truncate=4.0) for c in x[0].double().numpy()])
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_spatial_arguments_are_checked():
    model, x = TinyConv(), torch.rand(3, 20, 24)
    for kwargs, match in (
        ({"patch": 21}, "larger than the image"),
        ({"patch": (5, 25)}, "larger than the image"),
        ({"stride": 0}, "stride must be >= 1"),
        ({"patch": 4, "stride": 5}, "stride 5 is larger than the patch"),
        ({"patch": 0}, "patch must be >= 1"),
        ({"fill": "grey"}, "fill must be one of"),
        ({"batch_size": 0}, "batch_size"),
        ({"fill": "blur", "blur_sigma": 0.0}, "sigma"),
    ):
        with pytest.raises(ValueError, match=match):
            occlusion_map(model, x, **{"patch": 5, "stride": 2, **kwargs})
    for bad, match in ((torch.rand(20, 24), "shape"), (torch.rand(1, 4, 20, 24), "RGB"),
                       (torch.rand(3, 20, 24) * 2, r"in \[0, 1\]"), (torch.zeros(3, 20, 24, dtype=torch.uint8), "floating")):
        with pytest.raises(ValueError, match=match):
            occlusion_map(model, bad, patch=5, stride=2)
    with pytest.raises(ValueError, match="one score per image"):
        occlusion_map(lambda b: b.mean((2, 3)), x, patch=5, stride=2)


# -------------------------------------------------------------------------------------- frequency


def dct_basis(h, w, u, v):
    """The orthonormal 2-D DCT-II basis image (u, v), written out in closed form."""
    a = lambda k, n: np.sqrt((1 if k == 0 else 2) / n)
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    return a(u, h) * a(v, w) * np.cos(np.pi * u * (2 * ys + 1) / (2 * h)) * np.cos(np.pi * v * (2 * xs + 1) / (2 * w))


class ACEnergy(nn.Module):
    """Score = energy of the image minus its per-channel mean (by Parseval, the energy of all AC DCT bands)."""

    def forward(self, x):
        return ((x - x.mean((2, 3), keepdim=True)) ** 2).sum((1, 2, 3))


class BandEnergy(nn.Module):
    """Score = DCT energy inside one band mask, with the DCT as matrices (a planted band-reading model)."""

    def __init__(self, mask: np.ndarray):
        super().__init__()
        h, w = mask.shape
        self.dh = torch.from_numpy(scipy.fft.dct(np.eye(h), norm="ortho", axis=0))
        self.dw = torch.from_numpy(scipy.fft.dct(np.eye(w), norm="ortho", axis=0))
        self.mask = torch.from_numpy(mask).double()

    def forward(self, x):
        c = self.dh @ x.double() @ self.dw.T
        return (c ** 2 * self.mask).sum((1, 2, 3))


@pytest.mark.parametrize("kind", ["radial", "diagonal"])
def test_band_masks_partition_the_dct_plane(kind):
    masks = band_masks((24, 32), 6, kind)
    assert masks.shape == (6, 24, 32) and masks.dtype == bool
    assert np.all(masks.sum(0) == 1)
    assert masks[0, 0, 0] and masks[-1, -1, -1]
    u, v = np.meshgrid(np.arange(24) / 24, np.arange(32) / 32, indexing="ij")
    r = np.hypot(u, v) / np.sqrt(2) if kind == "radial" else (u + v) / 2  # normalised frequency in [0, 1)
    np.testing.assert_array_equal(masks.argmax(0), np.floor(r * 6).astype(int))


@pytest.mark.parametrize("clip", [True, False])
def test_zeroing_an_empty_band_changes_nothing(clip):
    h, w = 24, 32
    constant = torch.full((3, h, w), 0.4)
    cosine = torch.from_numpy(0.5 + 0.1 * dct_basis(h, w, 1, 0) / dct_basis(h, w, 1, 0).max()).float().expand(3, h, w)
    images = torch.stack([constant, cosine])
    changes = dct_band_perturbation(TinyConv(), images, bands=4, batch_size=3, clip=clip)
    assert changes.shape == (2, 4)
    np.testing.assert_allclose(changes[:, 1:], 0.0, atol=1e-6)  # both images live in band 0 (DC, u = 1)
    assert np.all(np.abs(changes[:, 0]) > 1e-3)  # removing band 0 removes the image


@pytest.mark.parametrize("kind", ["radial", "diagonal"])
def test_a_cosine_in_band_k_moves_the_score_only_for_band_k(kind):
    h, w, n = 32, 32, 5
    masks = band_masks((h, w), n, kind)
    amplitude = np.array([4.0, 3.0, 2.0])  # per channel: in range as 0.5 + 4 * (2 / 32) = 0.75
    for u, v in ((8, 6), (18, 14), (22, 22), (25, 30)):
        k = int(np.flatnonzero(masks[:, u, v])[0])
        assert k > 0
        x = torch.from_numpy(0.5 + amplitude[:, None, None] * dct_basis(h, w, u, v)[None]).float()
        expected = np.zeros(n)
        expected[k] = (amplitude ** 2).sum()  # Parseval: the AC energy of the cosine
        got = dct_band_perturbation(ACEnergy(), x, bands=n, kind=kind, clip=False, batch_size=4)[0]
        np.testing.assert_allclose(got, expected, atol=1e-3)
        clipped = dct_band_perturbation(ACEnergy(), x, bands=n, kind=kind, clip=True)[0]
        np.testing.assert_allclose(clipped[1:], expected[1:], atol=1e-3)
        assert clipped[0] > 1.0  # removing the mean sends pixels below 0: clipping lowers the AC energy
        for j in (k, (k % (n - 1)) + 1):  # a model reading band j sees the cosine only when j == k
            got_j = dct_band_perturbation(BandEnergy(masks[j]), x, bands=masks, clip=False)[0]
            np.testing.assert_allclose(got_j, expected if j == k else 0.0, atol=1e-3)


def test_dct_arguments_are_checked():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="n_bands"):
        dct_band_perturbation(ACEnergy(), x, bands=0)
    with pytest.raises(ValueError, match="bool array"):
        dct_band_perturbation(ACEnergy(), x, bands=np.ones((3, 8, 8), bool))
    with pytest.raises(ValueError, match="kind"):
        band_masks((16, 16), 4, "square")
    with pytest.raises(ValueError, match="RGB"):
        dct_band_perturbation(ACEnergy(), torch.rand(1, 1, 16, 16))


# ------------------------------------------------------------------------------------------ colour


class MeanSaturation(nn.Module):
    """Score = 100 x the mean HSV saturation (max - min) / max (0 where max = 0)."""

    def forward(self, x):
        mx, mn = x.amax(1), x.amin(1)
        s = torch.where(mx > 0, (mx - mn) / mx.clamp_min(1e-12), torch.zeros_like(mx))
        return 100 * s.mean((1, 2))


def planted_hsv_image(rng, h=12, w=16):
    """RGB image whose saturation is 0.25 on a quarter of the pixels and 0.65 elsewhere, value in [0.8, 0.95)."""
    hsv = np.empty((h, w, 3))
    hsv[..., 0] = rng.uniform(0, 1, (h, w))
    hsv[..., 1] = 0.65
    hsv[: h // 2, : w // 2, 1] = 0.25
    hsv[..., 2] = rng.uniform(0.8, 0.95, (h, w))
    return torch.from_numpy(hsv2rgb(hsv, channel_axis=-1)).permute(2, 0, 1).float()


def test_hsv_round_trip_is_lossless():
    torch.manual_seed(5)
    x = torch.rand(2, 3, 20, 24)
    x[0, :, :5] = 0.3  # grey pixels: hue undefined
    back = hsv_roundtrip(x)
    assert back.shape == x.shape and back.dtype == x.dtype
    assert float((back - x).abs().max()) < 1e-6
    assert hsv_roundtrip(x[1]).shape == (3, 20, 24)


def test_a_range_without_pixels_changes_nothing():
    x = planted_hsv_image(np.random.default_rng(6))
    changes = hsv_perturbation(TinyConv(), x, channel_ranges=10, batch_size=7)
    assert changes.shape == (1, 3, 10)
    empty_s = [r for r in range(10) if r not in (2, 6)]
    empty_v = list(range(8))  # value lies in [0.8, 0.95)
    np.testing.assert_allclose(changes[0, 1, empty_s], 0.0, atol=1e-6)
    np.testing.assert_allclose(changes[0, 2, empty_v], 0.0, atol=1e-6)
    assert np.all(np.abs(changes[0, 1, [2, 6]]) > 1e-4) and np.all(np.abs(changes[0, 2, 8:]) > 1e-4)
    assert np.all(np.abs(changes[0, 0]) > 1e-5)  # hue is uniform over [0, 1): every hue range holds pixels


def test_a_saturation_model_responds_only_to_populated_saturation_ranges():
    x = torch.stack([planted_hsv_image(np.random.default_rng(s)) for s in (7, 8)])
    changes = hsv_perturbation(MeanSaturation(), x, channel_ranges=10)
    expected = np.zeros(10)
    expected[2] = 100 * 0.25 * (0.25 - 0.7)  # [0.2, 0.3) -> 0.7 on a quarter of the pixels
    expected[6] = 100 * 0.75 * (0.65 - 0.1)  # [0.6, 0.7) -> 0.1 on three quarters
    for b in range(2):
        np.testing.assert_allclose(changes[b, 1], expected, atol=1e-3)
        np.testing.assert_allclose(changes[b, [0, 2]], 0.0, atol=1e-3)  # hue and value keep saturation


class MeanValue(nn.Module):
    """Score = 100 x the mean HSV value max(R, G, B)."""

    def forward(self, x):
        return 100 * x.amax(1).mean((1, 2))


def test_hsv_ranges_are_half_open_and_the_last_one_takes_1():
    x = torch.tensor([1.0, 0.5, 0.5])[:, None, None].expand(3, 4, 4).contiguous()  # S = 0.5, V = 1.0 exactly
    s_changes = hsv_perturbation(MeanSaturation(), x, channel_ranges=10)[0, 1]
    expected = np.zeros(10)
    expected[5] = 100 * (0.5 - 0.0)  # 0.5 lies in [0.5, 0.6), replaced by 0.0; not in [0.4, 0.5)
    np.testing.assert_allclose(s_changes, expected, atol=1e-4)
    v_changes = hsv_perturbation(MeanValue(), x, channel_ranges=10)[0, 2]
    expected = np.zeros(10)
    expected[9] = 100 * (1.0 - 0.4)  # 1.0 lies in the last range [0.9, 1.0], replaced by 0.4
    np.testing.assert_allclose(v_changes, expected, atol=1e-4)


def test_hsv_replacement_rules():
    x = planted_hsv_image(np.random.default_rng(9))
    fixed = hsv_perturbation(MeanSaturation(), x, channel_ranges=[0.0, 0.3, 0.5, 0.9], new_value=1.0)
    assert fixed.shape == (1, 3, 3)
    np.testing.assert_allclose(fixed[0, 1], [100 * 0.25 * (0.25 - 1.0), 0.0, 100 * 0.75 * (0.65 - 1.0)], atol=1e-3)
    with pytest.raises(ValueError, match="outside the range"):
        hsv_perturbation(MeanSaturation(), x, channel_ranges=10, new_value=0.5)
    with pytest.raises(ValueError, match="outside the range"):
        hsv_perturbation(MeanSaturation(), x, channel_ranges=[0.0, 0.6, 1.0])  # 0.0 + 0.5 is inside [0, 0.6)
    with pytest.raises(ValueError, match="increasing edges"):
        hsv_perturbation(MeanSaturation(), x, channel_ranges=[0.0, 0.5, 0.4])


# --------------------------------------------------------------------------------------- summaries


def test_summaries_give_mean_std_and_standard_error_per_group():
    changes = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, -1.0]])
    table = summarise_by_group(changes, ["a", "a", "b"])
    row = table[(table.group == "a") & (table.band == 1)].iloc[0]
    assert row["mean"] == 4.0 and row["n"] == 2
    assert row["std"] == pytest.approx(np.sqrt(8.0)) and row["sem"] == pytest.approx(2.0)
    assert len(table) == 4
    hsv = summarise_by_group(np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4))
    assert list(hsv.columns) == ["group", "channel", "range", "mean", "std", "sem", "n"]
    assert hsv.set_index(["channel", "range"]).loc[("S", 2), "mean"] == 12.0  # mean of 6 and 18
    assert len(tidy_changes(np.zeros((2, 3, 4)))) == 24
    with pytest.raises(ValueError, match="one label per image"):
        summarise_by_group(changes, ["a", "b"])


def test_a_registry_model_goes_through_all_three_domains():
    from iqaxai.models import create_model

    model = create_model("cnniqa", profile="smoke")
    x = torch.rand(2, 3, 24, 32)
    assert occlusion_map(model, x, patch=8, stride=4, fill="blur").shape == (2, 24, 32)
    assert model.training  # restored after explaining
    assert np.isfinite(dct_band_perturbation(model, x, bands=4)).all()
    assert hsv_perturbation(model, x[:1], channel_ranges=5).shape == (1, 3, 5)


def test_every_method_checks_its_images_with_the_shared_check_and_names_itself():
    model, x = TinyConv(), torch.rand(2, 3, 20, 24)
    nan = x.clone()
    nan[1, 0, 3, 3] = float("nan")
    for call, where in ((lambda b: occlusion_map(model, b, patch=5, stride=5), "occlusion_map(image)"),
                        (lambda b: dct_band_perturbation(model, b, bands=2), "dct_band_perturbation(images)"),
                        (lambda b: hsv_perturbation(model, b, channel_ranges=2), "hsv_perturbation(images)"),
                        (hsv_roundtrip, "hsv_roundtrip(image)")):
        prefix = where.replace("(", r"\(").replace(")", r"\)") + ": "
        for bad, message in ((x * 255, r"expected values in \[0, 1\].*divide by 255"), (nan, "images contain NaN"),
                             (x[:0], "got an empty batch"), (x[:, :1], r"expected RGB images \[B, 3, H, W\]"),
                             ((x * 255).to(torch.uint8), "expected a float image .*uint8")):
            with pytest.raises(ValueError, match=prefix + message):
                call(bad)
