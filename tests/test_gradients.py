"""Grad-CAM (+/-), guided backpropagation, LIME and TRIQ's attention on planted models with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from iqaxai.gradients import (cam_layer, grad_cam, grid_segments, guided_backprop, lime_map, triq_gradcam_attention,
                              triq_quality_attention)
from iqaxai.grid import cell_slices
from iqaxai.models.base import IQAModel, ModelInfo


class RedMinusGreen(IQAModel):
    """Score = mean red - mean green activation of an identity 1x1 conv: red raises quality, green lowers it."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("planted", normalisation="none")
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3)[:, :, None, None])
        self.relu = nn.ReLU()

    def forward(self, x):
        a = self.relu(self.conv(x))
        return a[:, 0].mean((-1, -2)) - a[:, 1].mean((-1, -2))


class BlockReader(IQAModel):
    """Score = 100 x mean brightness of grid block ``k`` (after a ReLU)."""

    def __init__(self, k: int = 5, shape=(96, 128)):
        super().__init__()
        self.info = ModelInfo("planted", normalisation="none")
        self.region = cell_slices(shape)[k]
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        sy, sx = self.region
        return 100 * self.relu(x[:, :, sy, sx] - 0.1).mean((1, 2, 3))


def _two_blobs() -> torch.Tensor:
    x = torch.zeros(1, 3, 96, 128)
    x[0, 0, :32, :32] = 1.0  # red, top-left block
    x[0, 1, 64:, 96:] = 1.0  # green, bottom-right block
    return x


def test_positive_and_negative_grad_cam_find_what_raises_and_lowers_the_score():
    model = RedMinusGreen()
    x = _two_blobs()
    pos, neg = grad_cam(model, x, sign=1, layer=model.conv)[0], grad_cam(model, x, sign=-1, layer=model.conv)[0]
    assert pos.shape == (96, 128)
    assert pos[:32, :32].min() > 0.99 and pos[64:, 96:].max() < 1e-6
    assert neg[64:, 96:].min() > 0.99 and neg[:32, :32].max() < 1e-6
    with pytest.raises(ValueError, match="sign must be"):
        grad_cam(model, x, sign=2, layer=model.conv)


def test_guided_backprop_is_zero_outside_the_region_the_model_reads():
    model = BlockReader(5)
    x = torch.rand(2, 3, 96, 128)
    gbp = guided_backprop(model, x)
    sy, sx = model.region
    inside = np.zeros((96, 128), dtype=bool)
    inside[sy, sx] = True
    assert gbp.shape == (2, 96, 128)
    assert (gbp[:, ~inside] == 0).all() and (gbp[:, inside] > 0).mean() > 0.5
    assert model.relu.inplace  # restored after the attribution


def test_lime_on_grid_segments_credits_the_read_block():
    model = BlockReader(7)
    image = np.random.default_rng(0).uniform(0.3, 1.0, (96, 128, 3))
    pixel_map, weights = lime_map(model, image, segments=grid_segments((96, 128)), num_samples=200)
    assert weights.shape == (12,) and np.argmax(weights) == 7
    assert np.abs(np.delete(weights, 7)).max() < 0.05 * weights[7]
    assert pixel_map[cell_slices((96, 128))[7]].min() == weights[7]


def test_triq_attention_is_uniform_when_queries_are_zero_and_the_fig1_map_is_scaled():
    from iqaxai.models.triq import TRIQ

    torch.manual_seed(0)
    model = TRIQ(backbone="tiny_s16").eval()
    x = torch.rand(2, 3, 96, 128)
    attention = triq_quality_attention(model, x)
    assert attention.shape == (2, 6, 8) and (attention > 0).all() and (attention.sum((1, 2)) < 1).all()
    with torch.no_grad():
        model.layers[-1].attn.q.weight.zero_()
        model.layers[-1].attn.q.bias.zero_()
    assert torch.allclose(triq_quality_attention(model, x), torch.full((2, 6, 8), 1 / 49))
    fig1 = triq_gradcam_attention(model, x)
    assert fig1.shape == (2, 96, 128) and fig1.min() >= 0 and np.allclose(fig1.max((1, 2)), 1.0)
    assert cam_layer(model) is model.backbone.stages[-1]
    with pytest.raises(ValueError, match="no Grad-CAM layer"):
        cam_layer(BlockReader())


def test_explanations_refuse_unscaled_non_finite_and_empty_input():
    model = RedMinusGreen()
    x = _two_blobs()
    for explain, where in ((lambda b: grad_cam(model, b, layer=model.conv), r"grad_cam\(images\)"),
                           (lambda b: guided_backprop(model, b), r"guided_backprop\(images\)")):
        with pytest.raises(ValueError, match=where + r": expected values in \[0, 1\], got values in \[0, 255\]"):
            explain(x * 255)
        with pytest.raises(ValueError, match=where + ": expected a float image .*got dtype uint8"):
            explain((x * 255).to(torch.uint8))
        with pytest.raises(ValueError, match=where + ": images contain NaN"):
            explain(torch.where(x > 0.5, float("nan"), x))
        with pytest.raises(ValueError, match=where + r": got an empty batch"):
            explain(x[:0])  # grad_cam used to raise AttributeError: 'int' object has no attribute 'backward'
        with pytest.raises(ValueError, match=where + r": expected RGB images \[B, 3, H, W\], got shape \(1, 1, 96, 128\)"):
            explain(x[:, :1])
        assert explain(x.double()).shape == (1, 96, 128)  # float64 is accepted
        assert explain(x[0]).shape == (1, 96, 128)  # one image [3, H, W]
    image = x[0].permute(1, 2, 0).numpy()
    with pytest.raises(ValueError, match=r"lime_map\(image\): expected values in \[0, 1\]"):
        lime_map(BlockReader(7), image * 255, segments=grid_segments((96, 128)), num_samples=10)
    with pytest.raises(ValueError, match=r"lime_map\(image\): expected a float image .*uint8"):
        lime_map(BlockReader(7), (image * 255).astype(np.uint8), segments=grid_segments((96, 128)), num_samples=10)
    with pytest.raises(ValueError, match=r"lime_map\(image\): expected an RGB image of shape \(H, W, 3\)"):
        lime_map(BlockReader(7), image[..., :1], num_samples=10)


def test_grad_cam_refuses_a_target_map_with_one_position():
    from iqaxai.models import create_model

    torch.manual_seed(0)
    model = create_model("triq", profile="smoke").eval()  # stride-16 backbone: an 8x8 image gives a 1x1 map
    with pytest.raises(ValueError, match=r"grad_cam: the target layer \(.*\) gives a 1x1 map for 8x8 images"):
        grad_cam(model, torch.rand(1, 3, 8, 8))  # used to return an all-zero map
    maps = grad_cam(model, torch.rand(1, 3, 32, 32))  # a 2x2 map: a real map
    assert maps.shape == (1, 32, 32) and maps.max() > 0.5
