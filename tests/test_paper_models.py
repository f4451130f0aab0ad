"""Every registered model in its paper configuration (randomly initialised, small input): its declared
explanation method, zeroing after normalisation and, for TRIQ, the masked sweep run on it. A model without a
working target layer cannot land."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqaxai.gradients import cam_layer, grad_cam, guided_backprop
from iqaxai.masking import block_masks, sweep_block_masks
from iqaxai.models import SPECS, create_model, get_spec
from iqaxai.models.base import ScoreHead
from iqaxai.training import recalibrate_batchnorm
from iqaxai.zeroing import pixel_keep_mask, predict_zeroed

SIZE = (128, 160)  # small enough for a CPU test, large enough for every paper backbone's stride


@pytest.fixture(scope="module", params=sorted(SPECS))
def paper_model(request):
    torch.manual_seed(0)
    spec = get_spec(request.param)
    kwargs = {"pretrained": False} if "pretrained" in spec.presets["paper"] else {}
    model = create_model(request.param, "paper", **kwargs).eval()
    # an untrained network is nearly constant in its input: BatchNorm statistics of real inputs (as the dry run
    # sets them) and a non-zero regression head, as training would give
    recalibrate_batchnorm(model, [torch.rand(4, 3, *SIZE, generator=torch.Generator().manual_seed(3))])
    model.eval()
    with torch.no_grad():
        for head in (m for m in model.modules() if isinstance(m, ScoreHead)):
            torch.nn.init.normal_(head.fc.weight, std=0.05)
    return request.param, model


def test_declared_explanation_gives_a_finite_map_that_depends_on_the_image(paper_model):
    name, model = paper_model
    x = torch.rand(2, 3, *SIZE, generator=torch.Generator().manual_seed(1))
    layer = cam_layer(model)
    with torch.no_grad():  # the target layer outputs a 4-D map (what Grad-CAM weights)
        seen = []
        handle = layer.register_forward_hook(lambda m, i, o: seen.append(o.shape))
        model(x)
        handle.remove()
    assert seen and len(seen[-1]) == 4, f"{name}: target layer output {seen}"
    if get_spec(name).explanation == "grad_cam":
        maps = grad_cam(model, x)
        assert maps.shape == (2, *SIZE) and np.isfinite(maps).all()
    else:
        maps = guided_backprop(model, x)
        assert maps.shape == (2, *SIZE) and np.isfinite(maps).all() and (maps > 0).any()
    assert np.abs(maps[0] - maps[1]).max() > 1e-6  # two different images, two different maps


def test_zeroing_after_normalisation_changes_the_prediction(paper_model):
    name, model = paper_model
    x = torch.rand(2, 3, *SIZE, generator=torch.Generator().manual_seed(2))
    halves = np.array([[True] * 6 + [False] * 6, [False] * 6 + [True] * 6])
    original = predict_zeroed(model, x, None)
    zeroed = predict_zeroed(model, x, halves)
    assert np.isfinite(zeroed).all() and np.abs(original - zeroed).max() > 1e-4, name
    # zeroing nothing is the original prediction, zeroing everything equals feeding the normalised zero image
    assert np.allclose(predict_zeroed(model, x, np.zeros((2, 12), dtype=bool)), original, atol=1e-5)
    keep = pixel_keep_mask(np.ones((2, 12), dtype=bool), SIZE)
    assert keep.sum() == 0


def test_paper_triq_masks_the_unpooled_map_and_sweeps_all_4094_masks():
    torch.manual_seed(0)
    model = create_model("triq", "paper", pretrained=False).eval()
    assert model.pool is False and model.max_positions == 769
    masks = block_masks()
    with torch.no_grad():
        assert model.feature_map(torch.rand(1, 3, 768, 1024)).shape[-2:] == (24, 32)  # the paper's 24x32 map
        x = torch.rand(1, 3, 192, 256)  # a 6x8 map: 2x2 tokens per block
        sweep = sweep_block_masks(model, x, masks)
        picked = [0, 1000, 4093]  # three masks through the model's own forward with the -1e9 key masking
        direct = torch.stack([model(x, mask=masks[k]) for k in picked], dim=1)
    assert sweep.shape == (1, 4094) and torch.isfinite(sweep).all()
    assert torch.allclose(sweep[:, picked], direct, atol=1e-3)
