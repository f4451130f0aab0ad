"""One calling convention for every explanation method; the parameter-randomisation sanity check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqaxai.faithfulness import explainers, randomisation_check, random_map, reinitialised
from iqaxai.models import create_model


@pytest.fixture(scope="module")
def model():
    """A smoke DBCNN with every weight drawn (a fresh one has a zero score head: no gradient to explain)."""
    return reinitialised(create_model("dbcnn", profile="smoke"), seed=7)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(2))


def test_every_method_gives_one_finite_map_per_image(model, images):
    methods = explainers(patch=16, stride=16, fills=("black", "mean"))
    assert list(methods) == ["HiResCAM", "Grad-CAM +", "Grad-CAM -", "guided BP", "occlusion (black)",
                             "occlusion (mean)", "random"]
    for name, explain in methods.items():
        maps = np.asarray(explain(model, images))
        assert maps.ndim == 3 and len(maps) == 2 and np.isfinite(maps).all(), name
    assert (methods["occlusion (black)"](model, images) >= 0).all()  # relevance: magnitude of the change


def test_reinitialised_replaces_every_weight_and_keeps_the_original(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fresh = reinitialised(model, seed=1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the trained model is untouched
    layers = {name for name, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    assert layers and all(not torch.equal(fresh.get_submodule(n).weight, model.get_submodule(n).weight) for n in layers)
    # TRIQ has parameters outside any reset_parameters (quality token, positional embedding): drawn anew as well;
    # only the norm layers' constant defaults (weight 1, bias 0) come back unchanged
    triq = create_model("triq", profile="smoke")
    fresh_triq = dict(reinitialised(triq).named_parameters())
    drawn = [k for k, p in triq.named_parameters() if p.numel() > 1 and float(p.detach().std()) > 0]
    assert any("pos" in k or "token" in k for k in drawn)
    assert all(not torch.equal(p, fresh_triq[k]) for k, p in triq.named_parameters() if k in drawn)


def test_randomisation_check_flags_a_map_that_ignores_the_model(model, images):
    ignoring = randomisation_check(random_map(seed=3), model, images)
    np.testing.assert_allclose(ignoring, 1.0)  # the same map whatever the weights: it explains nothing
    hires = randomisation_check(explainers()["HiResCAM"], model, images)
    assert np.isfinite(hires).all() and (hires < 0.9).all()
