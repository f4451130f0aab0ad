"""Feature-map visualisation (iqaxai.feature_vis) on tiny analytic layer models with planted preferences."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy import ndimage

from iqaxai.feature_vis import (activation_maximisation, feature_occlusion, map_activation, maximise_many,
                                plot_layer_histogram, plot_maps_gallery, plot_occlusion_maps)

LUMA = (0.299, 0.587, 0.114)
SOBEL_X = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]  # responds to vertical edges


class Planted(nn.Module):
    """Three maps of known preference, cropped to one size [B, 3, H-2, W-2]:
    0: relu(2 b - r - g) (blue), 1: relu(Sobel-x of luma) (vertical edges), 2: relu(Sobel-y) (horizontal edges)."""

    def __init__(self) -> None:
        super().__init__()
        self.colour = nn.Conv2d(3, 1, 1, bias=False)
        self.colour.weight.data[:] = torch.tensor([-1.0, -1.0, 2.0]).view(1, 3, 1, 1)
        self.edges = nn.Conv2d(1, 2, 3, bias=False)
        sobel = torch.tensor(SOBEL_X)
        self.edges.weight.data[:] = torch.stack([sobel, sobel.T])[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        luma = (x * torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return torch.relu(torch.cat([self.colour(x)[..., 1:-1, 1:-1], self.edges(luma)], 1))


class Dead(nn.Module):
    """Map 0 is never active (relu of minus a positive number); map 1 is the blue map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.stack([-1.0 - x.sum(1), 2 * x[:, 2] - x[:, 0] - x[:, 1]], 1))


@pytest.fixture(scope="module")
def model() -> Planted:
    return Planted()


def edge_energies(image: np.ndarray) -> tuple[float, float]:
    """(vertical-edge, horizontal-edge) energy: mean squared Sobel-x / Sobel-y response of the luma."""
    luma = image @ np.array(LUMA)
    return float(np.mean(ndimage.sobel(luma, axis=1) ** 2)), float(np.mean(ndimage.sobel(luma, axis=0) ** 2))


# ------------------------------------------------------------------------------- activation maximisation


def test_am_finds_the_planted_colour(model):
    image = activation_maximisation(model, 0, size=24)  # default steps and regularisers
    red, green, blue = image.reshape(-1, 3).mean(0)
    assert blue > 0.7 and red < 0.3 and green < 0.3
    grey = torch.full((1, 3, 24, 24), 0.5)
    found = torch.from_numpy(image).permute(2, 0, 1)[None]
    assert map_activation(model, found, 0)[0] > map_activation(model, grey, 0)[0] + 1.0


@pytest.mark.parametrize("channel, vertical_wins", [(1, True), (2, False)])
def test_am_finds_the_planted_edge_orientation(model, channel, vertical_wins):
    vertical, horizontal = edge_energies(activation_maximisation(model, channel, size=(24, 32)))
    ratio = vertical / horizontal if vertical_wins else horizontal / vertical
    assert ratio > 3, (vertical, horizontal)


def test_am_shape_range_and_determinism(model):
    first = activation_maximisation(model, 1, size=(20, 28), steps=30, seed=3)
    assert first.shape == (20, 28, 3) and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 1
    np.testing.assert_array_equal(first, activation_maximisation(model, 1, size=(20, 28), steps=30, seed=3))
    assert not np.array_equal(first, activation_maximisation(model, 1, size=(20, 28), steps=30, seed=4))


def test_maximise_many_equals_separate_runs(model):
    options = {"size": 20, "steps": 30, "seed": 1}
    batch = maximise_many(model, [2, 0, 1], **options)
    assert batch.shape == (3, 20, 20, 3)
    for image, channel in zip(batch, [2, 0, 1]):
        np.testing.assert_allclose(image, activation_maximisation(model, channel, **options), atol=1e-5)


def test_am_leaves_the_model_as_it_was(model):
    model.train()
    activation_maximisation(model, 0, size=16, steps=3)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_am_warns_about_a_map_without_gradient():
    with pytest.warns(RuntimeWarning, match=r"\[0\] never had a gradient"):
        images = maximise_many(Dead(), [0, 1], size=12, steps=10, blur_every=0, l2=0)
    assert np.abs(images[0] - 0.5).max() < 0.2  # still the noisy grey start image
    assert images[1][..., 2].mean() > images[1][..., 0].mean() + 0.2  # the live map's image did move


# ------------------------------------------------------------------------------------------- occlusion


def slow_occlusion(model, image: torch.Tensor, channel: int, patch, stride, baseline: torch.Tensor) -> np.ndarray:
    """Reference: one window at a time, captum's window rule (the last window cut off at the edge)."""
    h, w = image.shape[-2:]

    def starts(length, p, s):
        out = list(range(0, length - p + 1, s))
        return out + [out[-1] + s] if out[-1] + p < length else out

    def score(x):
        with torch.no_grad():
            return float(model(x[None])[0, channel].mean())

    total, count = np.zeros((h, w)), np.zeros((h, w))
    original = score(image)
    for y in starts(h, patch[0], stride[0]):
        for x in starts(w, patch[1], stride[1]):
            occluded = image.clone()
            occluded[:, y:y + patch[0], x:x + patch[1]] = baseline[:, y:y + patch[0], x:x + patch[1]]
            total[y:y + patch[0], x:x + patch[1]] += original - score(occluded)
            count[y:y + patch[0], x:x + patch[1]] += 1
    return total / count


@pytest.mark.parametrize("fill", ["mean", "black", "blur"])
@pytest.mark.parametrize("channel", [0, 1])
def test_occlusion_matches_a_per_window_loop(model, fill, channel):
    double = Planted().double()
    image = torch.rand(3, 14, 12, generator=torch.Generator().manual_seed(channel), dtype=torch.float64)
    patch, stride = (4, 3), (3, 2)  # (14 - 4) % 3 and (12 - 3) % 2 != 0: the last windows are cut off at the edge
    if fill == "mean":
        baseline = image.mean((1, 2), keepdim=True).expand_as(image)
    elif fill == "black":
        baseline = torch.zeros_like(image)
    else:
        baseline = torch.from_numpy(ndimage.gaussian_filter(image.numpy(), sigma=(0, 1.5, 1.5), mode="nearest"))
    expected = slow_occlusion(double, image, channel, patch, stride, baseline)
    got = feature_occlusion(double, image, channel, patch=patch, stride=stride, fill=fill, blur_sigma=1.5,
                            batch_size=7)
    assert got.shape == (14, 12)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def blue_square() -> np.ndarray:
    image = np.full((32, 32, 3), 0.5)
    image[10:20, 12:22] = (0.0, 0.0, 1.0)
    return image


def test_occlusion_finds_the_blue_square(model):
    image = blue_square()  # numpy (H, W, 3) input
    inside = np.zeros((32, 32), bool)
    inside[10:20, 12:22] = True
    heat = feature_occlusion(model, image, 0, patch=5, stride=1, fill="mean")
    assert inside[np.unravel_index(np.argmax(heat), heat.shape)]
    assert abs(heat[~inside].mean()) < 0.1 * heat.max()
    # Far from the square the mean fill (slightly blue: 2b - r - g = 2 * 100 / 1024) *raises* the map: each of
    # the 25 windows over pixel (5, 5) adds 25 such pixels to a 30 x 30 map.
    np.testing.assert_allclose(heat[5, 5], -25 * (2 * 100 / 1024) / 900, rtol=1e-5)
    # black fill: grey gives relu(0) = 0 like black, so occluding grey changes nothing; every window over the
    # square's middle removes 25 pixels of activation 2 from a 30 x 30 map.
    black = feature_occlusion(model, torch.from_numpy(image).permute(2, 0, 1).float(), 0, patch=5, stride=1,
                              fill="black")
    far = np.ones((32, 32), bool)
    far[6:24, 8:26] = False
    np.testing.assert_allclose(black[far], 0, atol=1e-7)
    np.testing.assert_allclose(black[15, 17], 2 * 25 / 900, rtol=1e-5)


# --------------------------------------------------------------------------------------------- figures


def test_layer_histogram_counts():
    layers = [5, 1, 5, 3, 5, 1, 13]
    fig, ax = plt.subplots()
    counts = plot_layer_histogram(ax, layers, 13, label="CID:IQ")
    np.testing.assert_array_equal(counts, np.bincount(np.array(layers) - 1, minlength=13))
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == counts.tolist() and len(heights) == 13  # zero counts drawn too
    assert [t for t in ax.get_xticks()] == list(range(1, 14))
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_legend() is not None
    plt.close(fig)


@pytest.mark.parametrize("layers", [[0, 1], [1, 6], [1.5]])
def test_layer_histogram_refuses_bad_layers(layers):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"1\.\.5"):
        plot_layer_histogram(ax, layers, 5)
    plt.close(fig)


def test_galleries(model):
    images = maximise_many(model, [0, 1, 2], size=16, steps=5)
    fig = plot_maps_gallery(images, ["15 (1)", "27 (1)", "9 (1)"], cols=2)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["15 (1)", "27 (1)", "9 (1)"]
    assert all(not ax.images[0].get_array().ndim == 2 for ax in titled)  # RGB, no colour map
    plt.close(fig)
    image = blue_square()
    maps = [feature_occlusion(model, image, c, patch=8, stride=4) for c in range(3)]
    fig = plot_occlusion_maps(image, maps, ["blue", "vertical", "horizontal"], cols=4)
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "drop of mean activation"]
    assert len(bars) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="2 titles"):
        plot_maps_gallery(images, ["a", "b"])
    with pytest.raises(ValueError, match=r"\(N, 32, 32\)"):
        plot_occlusion_maps(image, np.zeros((2, 16, 16)), ["a", "b"])


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call", [
    lambda m: activation_maximisation(m, 3, size=8, steps=1),
    lambda m: maximise_many(m, [0, -1], size=8, steps=1),
    lambda m: feature_occlusion(m, blue_square(), 3, patch=4, stride=2),
    lambda m: map_activation(m, torch.rand(1, 3, 8, 8), 7),
    lambda m: activation_maximisation(m, True, size=8, steps=1),
])
def test_channel_out_of_range(model, call):
    with pytest.raises(ValueError, match=r"the layer has 3 feature maps.*0\.\.2"):
        call(model)


def test_bad_images(model):
    nan = blue_square()
    nan[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        feature_occlusion(model, nan, 0, patch=4, stride=2)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        feature_occlusion(model, blue_square() * 2, 0, patch=4, stride=2)
    with pytest.raises(ValueError, match="expected an RGB image"):
        feature_occlusion(model, torch.rand(1, 32, 32), 0, patch=4, stride=2)
    with pytest.raises(ValueError, match="one image"):
        feature_occlusion(model, torch.rand(2, 3, 32, 32), 0, patch=4, stride=2)
    with pytest.raises(ValueError, match="values in"):
        map_activation(model, torch.full((1, 3, 8, 8), 1.5), 0)


def test_bad_options(model):
    image = blue_square()
    with pytest.raises(ValueError, match=r"patch \(40, 40\) is larger than the image \(32, 32\)"):
        feature_occlusion(model, image, 0, patch=40, stride=2)
    with pytest.raises(ValueError, match="left uncovered"):
        feature_occlusion(model, image, 0, patch=4, stride=5)
    with pytest.raises(ValueError, match="fill must be one of"):
        feature_occlusion(model, image, 0, patch=4, stride=2, fill="white")
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        activation_maximisation(model, 0, size=8, steps=0)
    with pytest.raises(ValueError, match="lr must be"):
        activation_maximisation(model, 0, size=8, lr=float("nan"))
    with pytest.raises(ValueError, match="l2 must be"):
        activation_maximisation(model, 0, size=8, l2=1.0)
    with pytest.raises(ValueError, match="size must be"):
        activation_maximisation(model, 0, size=(8, 0))
    with pytest.raises(ValueError, match="channels is empty"):
        maximise_many(model, [], size=8)
    with pytest.raises(ValueError, match=r"feature maps \[B, C, h, w\]"):
        activation_maximisation(lambda x: x.mean((1, 2, 3)), 0, size=8, steps=1)
    with pytest.raises(TypeError, match="layer model"):
        feature_occlusion("alexnet", image, 0)


def test_am_defaults_are_the_signature_defaults():
    import inspect

    from iqaxai.feature_vis import AM_DEFAULTS
    for func in (activation_maximisation, maximise_many):
        params = inspect.signature(func).parameters
        assert {k: params[k].default for k in AM_DEFAULTS} == AM_DEFAULTS
