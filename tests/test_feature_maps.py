"""Per-map deep-feature quality scores (iqaxai.feature_maps): map bookkeeping, per-map SSIM/PSNR against
scikit-image and a slow reference, the reference-once path, the cached dataset score matrix and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from iqaxai import feature_maps as fm

ALEXNET_CHANNELS = [64, 192, 384, 256, 256]


@pytest.fixture(scope="module")
def alexnet():
    """A randomly initialised AlexNet extractor (seed 0) on the CPU."""
    return fm.feature_extractor("alexnet", pretrained=False, seed=0)


def _maps(shape, seed=0, sparse=True) -> torch.Tensor:
    """Random non-negative float64 'feature maps', about half zeros like post-ReLU activations."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64) * 2 + 0.5
    return x.clamp_min(0) if sparse else x


def _slow_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two 2-D maps, one window position at a time (the shrunk Gaussian window, valid positions)."""
    k = fm.window_size(*x.shape)
    r = np.arange(k) - (k - 1) / 2
    g = np.exp(-(r ** 2) / (2 * fm.SIGMA ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    L = max(y.max() - y.min(), fm.RANGE_FLOOR)
    c1, c2 = (fm.K1 * L) ** 2, (fm.K2 * L) ** 2
    values = []
    for i in range(x.shape[0] - k + 1):
        for j in range(x.shape[1] - k + 1):
            a, b = x[i:i + k, j:j + k], y[i:i + k, j:j + k]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cab = (w * (a - ma) * (b - mb)).sum()
            values.append((2 * ma * mb + c1) * (2 * cab + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


# ------------------------------------------------------------------------------------------------ maps


def test_map_counts_and_table():
    assert fm.n_maps("alexnet") == 1152
    assert fm.n_maps("vgg16") == 4224
    table = fm.map_table("alexnet")
    assert list(table.columns) == ["map", "layer", "channel", "name"]
    assert table["map"].tolist() == list(range(1152))
    assert table["layer"].value_counts().sort_index().tolist() == ALEXNET_CHANNELS
    assert table["name"].iloc[0] == "conv1/0" and table["name"].iloc[64 + 15] == "conv2/15"
    assert table["channel"].iloc[-1] == 255 and table["layer"].iloc[-1] == 5
    assert len(fm.map_table("vgg16")) == 4224 and fm.map_table("vgg16")["layer"].max() == 13
    table.loc[0, "name"] = "changed"  # a copy: the cached table stays intact
    assert fm.map_table("alexnet")["name"].iloc[0] == "conv1/0"


def test_extractors_match_the_table(alexnet):
    assert alexnet.channels == tuple(ALEXNET_CHANNELS)
    maps = alexnet(torch.rand(1, 3, 96, 128))
    assert [m.shape[1] for m in maps] == ALEXNET_CHANNELS
    assert tuple(maps[-1].shape[-2:]) == (5, 7)  # before the final max-pool
    assert all((m >= 0).all() for m in maps)  # post-ReLU
    vgg = fm.feature_extractor("vgg16", pretrained=False)
    assert sum(vgg.channels) == 4224 and len(vgg.channels) == 13
    assert [m.shape[1] for m in vgg(torch.rand(1, 3, 32, 32))] == list(vgg.channels)


def test_captured_maps_are_the_relu_outputs(alexnet):
    """Each captured map equals relu(conv(previous)) recomputed by hand (no inplace overwrite)."""
    x = torch.rand(1, 3, 64, 64)
    maps = alexnet(x)
    z = (x - alexnet.mean) / alexnet.std
    found = []
    with torch.no_grad():
        for module in alexnet.features:
            if isinstance(module, torch.nn.Conv2d):
                z = torch.relu(module(z))
                found.append(z)
            elif not isinstance(module, torch.nn.ReLU):
                z = module(z)
    assert all(torch.equal(a, b) for a, b in zip(maps, found))


def test_random_init_is_deterministic_and_leaves_the_global_rng():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = fm.feature_extractor("alexnet", pretrained=False, seed=5)
    assert torch.equal(torch.rand(3), before)
    b = fm.feature_extractor("alexnet", pretrained=False, seed=5)
    c = fm.feature_extractor("alexnet", pretrained=False, seed=6)
    wa, wb, wc = (m.features[0].weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    import torchvision.models as tvm

    torch.manual_seed(5)
    full = tvm.alexnet().features  # only the conv layers are built, with torchvision's draws
    assert all(torch.equal(p, q) for p, q in zip(a.features.parameters(), full.parameters()))
    vgg = fm.feature_extractor("vgg16", pretrained=False, seed=5)
    conv = vgg.features[0]
    assert conv.bias.abs().max() == 0 and 0.8 < conv.weight.std() / math.sqrt(2 / (64 * 9)) < 1.2  # Kaiming fan-out


def test_layer_model_gives_the_extractor_maps_with_gradients(alexnet):
    x = torch.rand(2, 3, 64, 64)
    maps = alexnet(x)
    for layer in (1, 3, 5):
        model = fm.layer_model("alexnet", layer, pretrained=False, seed=alexnet.seed)
        found = model(x)
        assert torch.allclose(found, maps[layer - 1], atol=1e-6)
        image = x.clone().requires_grad_(True)
        model(image)[:, 0].mean().backward()
        assert image.grad is not None and torch.isfinite(image.grad).all()
    with pytest.raises(ValueError, match="conv layers 1..5"):
        fm.layer_model("alexnet", 6, pretrained=False)


def test_pretrained_weights_missing_offline_fail_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    expected = r"AlexNet_Weights\.IMAGENET1K_V1.*alexnet-owt-7be5be79\.pth.*pretrained=False"
    with pytest.raises(RuntimeError, match=expected):
        fm.feature_extractor("alexnet", pretrained=True)


# ------------------------------------------------------------------------------------------------ per-map IQMs


def test_identical_maps_score_exactly_one_and_the_psnr_cap(alexnet):
    maps = alexnet(torch.rand(2, 3, 64, 64))
    maps[1][:, 7] = 0  # a dead channel in both
    for m in maps:
        assert torch.equal(fm.ssim(m, m), torch.ones(m.shape[:2], dtype=torch.float64))
        assert torch.equal(fm.psnr(m, m), torch.full(m.shape[:2], fm.PSNR_CAP, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(11, 11), (23, 31), (40, 17)])
def test_ssim_equals_scikit_image(shape):
    x, y = _maps((1, 3, *shape), seed=1), _maps((1, 3, *shape), seed=2)
    y = 0.7 * x + 0.3 * y  # correlated, as a distorted map is
    ours = fm.ssim(x, y)[0]
    for c in range(3):
        L = float(y[0, c].max() - y[0, c].min())
        ref = structural_similarity(x[0, c].numpy(), y[0, c].numpy(), gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=L)
        assert ours[c].item() == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("shape, window", [((5, 7), 5), ((6, 6), 5), ((3, 9), 3), ((1, 1), 1), ((12, 40), 11)])
def test_ssim_on_small_maps_equals_a_slow_reference(shape, window):
    """scikit-image keeps its 11-tap filter when win_size shrinks, so small maps are checked by hand."""
    assert fm.window_size(*shape) == window
    x, y = _maps((2, 2, *shape), seed=3, sparse=False), _maps((2, 2, *shape), seed=4, sparse=False)
    y = 0.5 * x + 0.5 * y
    ours = fm.ssim(x, y)
    for b in range(2):
        for c in range(2):
            assert ours[b, c].item() == pytest.approx(_slow_ssim(x[b, c].numpy(), y[b, c].numpy()), abs=1e-9)


def test_one_pixel_maps_compare_values_only():
    x = torch.tensor([[[[2.0]]], [[[0.0]]]], dtype=torch.float64)
    y = torch.tensor([[[[3.0]]], [[[0.0]]]], dtype=torch.float64)
    c1 = (fm.K1 * fm.RANGE_FLOOR) ** 2
    expected = torch.tensor([(2 * 6 + c1) / (4 + 9 + c1), 1.0], dtype=torch.float64)
    assert torch.allclose(fm.ssim(x, y)[:, 0], expected, rtol=0, atol=1e-12)


def test_scaling_a_channel_leaves_its_scores_unchanged():
    x, y = _maps((2, 4, 20, 24), seed=5), _maps((2, 4, 20, 24), seed=6)
    y = 0.6 * x + 0.4 * y
    xs, ys = x.clone(), y.clone()
    xs[:, 2] *= 7
    ys[:, 2] *= 7
    for iqm in (fm.ssim, fm.psnr):
        assert torch.allclose(iqm(xs, ys), iqm(x, y), rtol=0, atol=1e-10)
    assert (fm.ssim(x, y) < 0.99).all()  # a real difference, not a trivial 1


def test_blocks_give_the_same_scores(monkeypatch):
    """Small (batch, channel) blocks, with a reference batch of 1 or B, change nothing."""
    x, y = _maps((3, 5, 30, 40), seed=7), _maps((1, 5, 30, 40), seed=8)
    whole = {iqm: iqm(x, y) for iqm in (fm.ssim, fm.psnr)}
    paired = fm.ssim(x, y.expand(3, -1, -1, -1).contiguous())
    monkeypatch.setattr(fm, "CHUNK_ELEMENTS", 700)  # less than one 30x40 map: blocks of one image and channel
    assert len(fm._blocks(x)) == 15
    for iqm, expected in whole.items():
        assert torch.allclose(iqm(x, y), expected, rtol=0, atol=1e-12)
    assert torch.allclose(paired, whole[fm.ssim], rtol=0, atol=1e-12)
    monkeypatch.setattr(fm, "CHUNK_ELEMENTS", 8000)  # two maps of all three images per block
    assert len(fm._blocks(x)) == 3
    assert torch.allclose(fm.ssim(x, y), whole[fm.ssim], rtol=0, atol=1e-12)


def test_reference_once_equals_independent_pairs(alexnet):
    ref, tests = torch.rand(1, 3, 64, 80), torch.rand(3, 3, 64, 80)
    reference = fm.reference_features(alexnet, ref[0])
    for iqm in ("ssim", "psnr"):
        once = fm.scores_against(alexnet, reference, tests, iqm)
        pairs = torch.cat([fm.per_map_scores(alexnet, tests[i:i + 1], ref, iqm) for i in range(3)])
        assert once.shape == (3, 1152) and once.dtype == torch.float64
        # the backbone's float32 convolutions round differently for batches of 1 and 3 (features differ by
        # ~1e-7): SSIM by ~1e-5, PSNR of near-identical deep maps (60 dB) by ~1e-3 dB
        assert torch.allclose(once, pairs, rtol=1e-4, atol=1e-4)
    broadcast = fm.per_map_scores(alexnet, tests, ref)
    assert torch.allclose(broadcast, fm.scores_against(alexnet, reference, tests), rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------------------------ datasets


def _smooth_image(seed: int, size: int = 64) -> np.ndarray:
    """A smooth colourful test image in [0, 1] (gradients and blobs)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    channels = []
    for _ in range(3):
        cx, cy, f = rng.random(3)
        wave = np.sin(2 * np.pi * (1 + 2 * f) * (xx + cx)) * np.cos(2 * np.pi * (1 + f) * (yy + cy))
        channels.append(0.5 + 0.25 * wave)
    return np.stack(channels, axis=-1)


def _write(path, image: np.ndarray) -> str:
    Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)
    return str(path)


NOISE = (0.02, 0.08, 0.25)


@pytest.fixture
def tiny_table(tmp_path, monkeypatch):
    """2 references x 3 Gaussian-noise levels, 64x64 PNGs, rows interleaved; the cache under tmp_path."""
    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path / "cache"))
    rows = []
    for r in range(2):
        clean = _smooth_image(r)
        ref = _write(tmp_path / f"ref{r}.png", clean)
        rng = np.random.default_rng(10 + r)
        for level, sigma in enumerate(NOISE):
            path = _write(tmp_path / f"ref{r}_noise{level}.png", clean + rng.normal(0, sigma, clean.shape))
            rows.append({"image": f"ref{r}_noise{level}", "path": path, "ref_path": ref, "mos": 5.0 - level,
                         "ref": r, "level": level})
    table = pd.DataFrame(rows)
    return table.iloc[[0, 3, 1, 4, 2, 5]].reset_index(drop=True)


def _items(tmp_path):
    return sorted((tmp_path / "cache" / "results" / fm.CACHE_NAME).glob("*/*.npz"))


def test_score_matrix_caches_resumes_and_finds_the_planted_order(tiny_table, tmp_path, monkeypatch):
    first = fm.score_matrix(tiny_table, "alexnet", pretrained=False, progress=False)
    assert first.Q.shape == (6, 1152) and first.Q.dtype == np.float64
    assert first.images == tiny_table["image"].tolist()
    assert first.backbone == "alexnet" and first.iqm == "ssim" and len(first.maps) == 1152
    assert np.isfinite(first.Q).all() and (first.Q <= 1 + 1e-12).all()
    mean = pd.Series(first.Q.mean(axis=1), index=first.images)
    for r in range(2):
        levels = [mean[f"ref{r}_noise{level}"] for level in range(3)]
        assert levels[0] > levels[1] > levels[2], levels
    items = _items(tmp_path)
    assert len(items) == 2

    def refuse(*args, **kwargs):
        raise AssertionError("computed although cached")

    real = fm._reference_rows
    monkeypatch.setattr(fm, "_reference_rows", refuse)
    second = fm.score_matrix(tiny_table, "alexnet", pretrained=False, progress=False)
    np.testing.assert_array_equal(second.Q, first.Q)

    calls = []
    def counted(extractor, group, *args):
        calls.append(group.ref_path)
        return real(extractor, group, *args)

    monkeypatch.setattr(fm, "_reference_rows", counted)
    items[0].unlink()
    third = fm.score_matrix(tiny_table, "alexnet", pretrained=False, progress=False)
    assert len(calls) == 1
    np.testing.assert_allclose(third.Q, first.Q, rtol=0, atol=1e-12)

    subset = tiny_table[tiny_table["level"] < 2].reset_index(drop=True)  # other files: other items, no stale rows
    sub = fm.score_matrix(subset, "alexnet", pretrained=False, progress=False)
    assert len(calls) == 3 and sub.Q.shape == (4, 1152)
    # float32 convolutions of other batch compositions: SSIM of a low-contrast map moves by ~1e-5; a stale row by far more
    np.testing.assert_allclose(sub.Q, first.Q[tiny_table["level"] < 2], rtol=0, atol=1e-4)

    uncached = fm.score_matrix(tiny_table, "alexnet", pretrained=False, progress=False, cache=False)
    np.testing.assert_allclose(uncached.Q, first.Q, rtol=0, atol=1e-12)


def test_score_matrix_psnr_and_custom_iqm(tiny_table):
    q = fm.score_matrix(tiny_table, "alexnet", pretrained=False, iqm="psnr", progress=False)
    assert q.iqm == "psnr" and np.isfinite(q.Q).all() and q.Q.max() <= fm.PSNR_CAP
    with pytest.raises(ValueError, match="cannot be cached.*cache=False"):
        fm.score_matrix(tiny_table, "alexnet", pretrained=False, iqm=lambda t, r: -fm.psnr(t, r), progress=False)

    def negative_psnr(t, r):
        return -fm.psnr(t, r)

    custom = fm.score_matrix(tiny_table, "alexnet", pretrained=False, iqm=negative_psnr, cache=False, progress=False)
    assert custom.iqm == "negative_psnr"
    np.testing.assert_allclose(custom.Q, -q.Q, rtol=0, atol=1e-9)


def test_nan_scores_name_the_image_and_map_and_are_not_cached(tiny_table, tmp_path, monkeypatch):
    def broken(t, r):
        s = fm.ssim(t, r)
        if t.shape[1] == 192:
            s[:, 5] = math.nan
        return s

    with pytest.raises(RuntimeError, match=r"image 'ref0_noise0'.*conv2/5"):
        fm.score_matrix(tiny_table, "alexnet", pretrained=False, iqm=broken, cache=False, progress=False)
    monkeypatch.setitem(fm.FEATURE_IQMS, "broken", broken)  # a registered IQM is cached under its name
    with pytest.raises(RuntimeError, match=r"image 'ref0_noise0'.*conv2/5"):
        fm.score_matrix(tiny_table, "alexnet", pretrained=False, iqm="broken", progress=False)
    assert _items(tmp_path) == []


def test_score_matrix_bad_tables(tiny_table, tmp_path):
    with pytest.raises(ValueError, match=r"\['ref_path', 'mos'\]"):
        fm.score_matrix(tiny_table.drop(columns=["ref_path", "mos"]), "alexnet", pretrained=False)
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        fm.score_matrix(tiny_table, "resnet", pretrained=False)
    with pytest.raises(ValueError, match="unknown feature-map IQM 'vif'"):
        fm.score_matrix(tiny_table, "alexnet", pretrained=False, iqm="vif")
    small = tiny_table.copy()
    small.loc[2, "path"] = _write(tmp_path / "small.png", np.full((24, 64, 3), 0.5))
    with pytest.raises(ValueError, match=r"small\.png.*24x64.*at least 32"):
        fm.score_matrix(small, "alexnet", pretrained=False, cache=False, progress=False)
    other = tiny_table.copy()
    other.loc[1, "path"] = _write(tmp_path / "wide.png", np.full((64, 96, 3), 0.5))
    with pytest.raises(ValueError, match=r"wide\.png.*image_size"):
        fm.score_matrix(other, "alexnet", pretrained=False, cache=False, progress=False)
    resized = fm.score_matrix(other, "alexnet", pretrained=False, image_size=(48, 48), cache=False, progress=False)
    assert resized.Q.shape == (6, 1152)


@pytest.mark.parametrize("bad, message", [
    (torch.full((1, 3, 64, 64), math.nan), "NaN"),
    (torch.full((1, 3, 64, 64), 2.0), r"values in \[0, 1\]"),
    (torch.full((1, 3, 64, 64), 200, dtype=torch.uint8), "float"),
    (torch.rand(1, 3, 31, 64), "at least 32"),
    (torch.rand(1, 1, 64, 64), "RGB"),
])
def test_bad_images(alexnet, bad, message):
    with pytest.raises(ValueError, match=message):
        fm.per_map_scores(alexnet, bad, torch.rand(1, 3, *bad.shape[-2:]))


def test_bad_arguments(alexnet):
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="unknown feature-map IQM"):
        fm.per_map_scores(alexnet, x, x, iqm="msssim")
    with pytest.raises(ValueError, match="unknown backbone"):
        fm.feature_extractor("resnet50", pretrained=False)
    with pytest.raises(ValueError, match="do not match"):
        fm.per_map_scores(alexnet, x, torch.rand(1, 3, 64, 96))
    with pytest.raises(ValueError, match="do not match"):
        fm.per_map_scores(alexnet, torch.rand(3, 3, 64, 64), torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="scores_against: test images are"):
        fm.scores_against(alexnet, fm.reference_features(alexnet, x), torch.rand(1, 3, 64, 96))
    with pytest.raises(ValueError, match="do not match"):
        fm.ssim(torch.rand(2, 4, 8, 8), torch.rand(2, 5, 8, 8))
    with pytest.raises(ValueError, match="returned shape"):
        fm.per_map_scores(alexnet, x, x, iqm=lambda t, r: fm.ssim(t, r).mean(1))
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            fm.feature_extractor("alexnet", pretrained=False, device="cuda")
