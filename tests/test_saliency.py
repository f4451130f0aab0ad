"""HiResCAM extraction against its closed form on a linear head, and MoRF/LeRF on a model with a planted region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from iqaxai.models import create_model
from iqaxai.models.base import IQAModel, ModelInfo
from iqaxai.saliency import (
    area_between_curves,
    curve_correlations,
    display_maps,
    hirescam,
    morf_lerf_curves,
    relevance_ranks,
)


class LinearHead(IQAModel):
    """score = sum_{c,i,j} W[c,i,j] * A[c,i,j] with A = conv(x): HiResCAM is sum_c W * A exactly."""

    def __init__(self, lower_better: bool = False):
        super().__init__()
        self.info = ModelInfo("linear", lower_better=lower_better, normalisation="none")
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 4, stride=4)
        self.weight = nn.Parameter(torch.randn(4, 4, 6))

    def target_layer(self) -> nn.Module:
        return self.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv(self.normalise(x)) * self.weight).sum(dim=(1, 2, 3))


class RegionModel(IQAModel):
    """Scores the mean brightness of the top-left quadrant only (0-100); everything else is ignored."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("region", normalisation="none")
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalise(x)
        h, w = x.shape[-2:]
        return 100 * x[..., : h // 2, : w // 2].mean(dim=(1, 2, 3)) + 0 * self.dummy


@pytest.fixture()
def images():
    return torch.rand(5, 3, 16, 24, generator=torch.Generator().manual_seed(1))


def test_hirescam_equals_its_closed_form_and_follows_the_quality_direction(images):
    model = LinearHead()
    maps = hirescam(model, images, aug_smooth=False, eigen_smooth=False)
    with torch.no_grad():
        expected = (model.conv(images) * model.weight).sum(dim=1).numpy()
    np.testing.assert_allclose(maps.raw, expected, rtol=1e-5, atol=1e-5)
    assert maps.display.shape == (5, 16, 24) and maps.display.min() >= 0 and maps.display.max() <= 1
    flipped = hirescam(LinearHead(lower_better=True), images, aug_smooth=False, eigen_smooth=False)
    np.testing.assert_allclose(flipped.raw, -expected, rtol=1e-5, atol=1e-5)


def test_augmentation_smoothing_undoes_the_flip(images):
    # position-independent weights and no bias: the map follows the content, which sits in the left half only;
    # a map of a mirrored pass not mirrored back would put relevance on the right
    model = LinearHead()
    with torch.no_grad():
        model.conv.bias.zero_()
        model.weight.copy_(torch.tensor([1.0, -0.5, 2.0, 0.3])[:, None, None].expand(4, 4, 6))
    left = images.clone()
    left[..., 12:] = 0.0
    smooth = hirescam(model, left, aug_smooth=True, eigen_smooth=False).raw
    assert np.abs(smooth[..., 3:]).max() == 0.0 and np.abs(smooth[..., :3]).max() > 0


def test_eigen_smoothing_is_oriented_like_the_plain_map(images):
    model = LinearHead()
    plain = hirescam(model, images, aug_smooth=False, eigen_smooth=False).raw
    eigen = hirescam(model, images, aug_smooth=False, eigen_smooth=True).raw
    assert eigen.shape == plain.shape
    assert all(np.corrcoef(e.ravel(), p.ravel())[0, 1] > 0 for e, p in zip(eigen, plain))


def test_hirescam_on_a_registry_model_and_bad_inputs(images):
    model = create_model("saliency_baseline", profile="smoke").eval()
    x = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    maps = hirescam(model, x)
    assert maps.raw.shape == (2, 3, 4) and np.isfinite(maps.raw).all() and maps.display.shape == (2, 96, 128)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        hirescam(model, x * 3)
    with pytest.raises(ValueError, match="one position"):
        hirescam(model, torch.rand(1, 3, 32, 32))
    for p in model.parameters():  # a frozen model (e.g. a pretrained metric used for inference) still explains
        p.requires_grad_(False)
    np.testing.assert_allclose(hirescam(model, x).raw, maps.raw, rtol=1e-5, atol=1e-7)


def test_display_maps_rectify_and_scale():
    raw = np.array([[[-1.0, 2.0], [0.0, 4.0]], [[-1.0, -2.0], [-3.0, -4.0]]], dtype=np.float32)
    shown = display_maps(raw, (4, 4))
    assert shown.shape == (2, 4, 4) and shown[0].max() == pytest.approx(1.0) and shown[0].min() == 0.0
    assert (shown[1] == 0).all()  # no positive evidence: nothing to show


def test_relevance_ranks_are_a_permutation_led_by_the_peak():
    m = np.zeros((1, 4, 6))
    m[0, 1, 4] = 1.0
    ranks = relevance_ranks(m, (8, 12), blur=0.0)
    assert sorted(ranks.ravel()) == list(range(96))
    y, x = np.unravel_index(ranks[0].argmin(), (8, 12))
    assert (y, x) in {(2, 8), (2, 9), (3, 8), (3, 9)}


def test_morf_collapses_the_correlation_lerf_keeps_it_and_a_random_map_does_neither():
    torch.manual_seed(0)
    n = 12
    x = torch.rand(n, 3, 16, 16)
    x[:, :, :8, :8] = torch.linspace(0.1, 0.9, n)[:, None, None, None]  # the planted region decides the score
    model = RegionModel()
    with torch.no_grad():
        mos = model(x).numpy()
    truth = np.zeros((n, 16, 16))
    truth[:, :8, :8] = 1.0
    fractions = [0.0, 0.25, 0.5, 0.75, 1.0]
    corr = curve_correlations(morf_lerf_curves(model, x, truth, fractions, blur=0.0), mos).set_index(["order", "fraction"])
    assert corr.loc[("MoRF", 0.0), "plcc"] == pytest.approx(1.0) and corr.loc[("LeRF", 0.75), "plcc"] == pytest.approx(1.0)
    assert np.isnan(corr.loc[("MoRF", 0.25), "plcc"])  # the region is black in every image: nothing to rank
    good = area_between_curves(corr.reset_index())
    assert good == pytest.approx(0.75 * 1.0, abs=0.01)  # LeRF 1 up to 0.75, MoRF 0 from 0.25: area 0.25..0.75 + halves
    random = np.random.default_rng(0).random((n, 16, 16))
    worse = area_between_curves(curve_correlations(morf_lerf_curves(model, x, random, fractions, blur=0.0), mos))
    assert worse < good - 0.3


def test_morf_lerf_refuses_bad_arguments(images):
    model = RegionModel()
    maps = np.ones((5, 4, 4))
    with pytest.raises(ValueError, match="fill must be one of"):
        morf_lerf_curves(model, images, maps, fill="grey")
    with pytest.raises(ValueError, match="fractions"):
        morf_lerf_curves(model, images, maps, fractions=[0.5, 1.5])
    with pytest.raises(ValueError, match="one map per image"):
        morf_lerf_curves(model, images, maps[:3])
    with pytest.raises(ValueError, match="finite"):
        morf_lerf_curves(model, images, np.full((5, 4, 4), np.nan))
