"""One calling convention for every explanation method; the parameter-randomisation sanity check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from iqaxai.faithfulness import (aopc, benchmark, block_maps, explainers, precomputed, randomisation_check, random_map,
                                 reinitialised, resized)
from iqaxai.models import create_model


@pytest.fixture(scope="module")
def model():
    """A smoke DBCNN with every weight drawn (a fresh one has a zero score head: no gradient to explain)."""
    return reinitialised(create_model("dbcnn", profile="smoke"), seed=7)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(2))


def test_every_method_gives_one_finite_map_per_image(model, images):
    methods = explainers(patch=16, stride=16, fills=("black", "mean"), lime_samples=10)
    assert list(methods) == ["HiResCAM", "Grad-CAM +", "Grad-CAM -", "guided BP", "occlusion (black)",
                             "occlusion (mean)", "LIME", "random"]
    for name, explain in methods.items():
        maps = np.asarray(explain(model, images))
        assert maps.ndim == 3 and len(maps) == 2 and np.isfinite(maps).all(), name
    assert (methods["occlusion (black)"](model, images) >= 0).all()  # relevance: magnitude of the change


def test_lime_ranks_the_only_region_the_score_reads_first():
    from test_saliency import RegionModel

    blocks = torch.rand(2, 3, 6, 8, generator=torch.Generator().manual_seed(4))  # 48 flat 8 x 8 patches
    x = torch.nn.functional.interpolate(blocks, size=(48, 64), mode="nearest")
    maps = explainers(lime_samples=200, lime_segments=24)["LIME"](RegionModel(), x)
    assert maps.shape == (2, 48, 64) and (maps >= 0).all()
    for m in maps:
        assert len(np.unique(m)) >= 12  # a map of many superpixels, not LIME's few on a small image
        inside, outside = m[:20, :28], m[28:, 36:]  # well inside the read quadrant, well outside it
        assert inside.mean() > 10 * outside.mean() + 1e-9


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


def test_block_maps_and_resized_keep_the_values():
    values = np.arange(24, dtype=float).reshape(2, 12)
    maps = block_maps(values, (6, 8))
    assert maps.shape == (2, 6, 8) and maps[1, 0, 0] == 12 and maps[0, 5, 7] == 11 and maps[0, 2, 3] == 5
    with pytest.raises(ValueError, match=r"\[N, 12\]"):
        block_maps(values[:, :6], (6, 8))
    np.testing.assert_allclose(resized(np.full((1, 3, 4), -2.0), (12, 16)), -2.0)  # signed, not rescaled


def test_aopc_is_the_mean_absolute_change_from_the_unmasked_score():
    curves = pd.DataFrame({"order": ["MoRF"] * 4 + ["LeRF"] * 4, "fraction": [0, 0, 1, 1] * 2, "image": [0, 1] * 4,
                           "score": [50, 60, 40, 66, 50, 60, 50, 59]})
    # MoRF: changes 0, 0, 10, 6 -> 4; LeRF: 0, 0, 0, 1 -> 0.25
    assert aopc(curves) == pytest.approx({"MoRF": 4.0, "LeRF": 0.25})
    with pytest.raises(ValueError, match="fractions must include 0"):
        aopc(curves[curves["fraction"] == 1])


def test_benchmark_ranks_the_deciding_region_first_and_a_random_map_last():
    from test_saliency import RegionModel

    torch.manual_seed(0)
    n = 12
    x = torch.rand(n, 3, 16, 16)
    x[:, :, :8, :8] = torch.linspace(0.1, 0.9, n)[:, None, None, None]
    model = RegionModel()
    with torch.no_grad():
        mos = model(x).numpy()
    truth = np.zeros((n, 16, 16))
    truth[:, :8, :8] = 1.0
    maps = {"random": random_map(seed=1, shape=(16, 16))(model, x), "inverted": -truth,
            "truth": precomputed(truth)(model, x)}
    summary, curves = benchmark(model, x, mos, maps, [0.0, 0.25, 0.5, 0.75, 1.0], blur=0.0)
    assert list(summary["method"]) == ["truth", "random", "inverted"] and list(summary["rank"]) == [1, 2, 3]
    top = summary.set_index("method")
    assert top.loc["truth", "area PLCC"] == pytest.approx(0.75, abs=0.01) and top.loc["truth", "AOPC gap"] > 0
    assert top.loc["inverted", "area PLCC"] < 0 and set(curves["method"]) == set(maps)
    assert top.loc["truth", "P(area > random)"] == 1.0 and top.loc["inverted", "P(area > random)"] == 0.0
    assert top.loc["truth", "area PLCC 2.5%"] <= top.loc["truth", "area PLCC"] <= top.loc["truth", "area PLCC 97.5%"]
    with pytest.raises(ValueError, match="are for 12 images, got a batch of 3"):
        precomputed(truth)(model, x[:3])


def test_bootstrap_areas_without_resampling_equal_the_area_and_bracket_it_otherwise():
    from iqaxai.faithfulness import bootstrap_areas
    from iqaxai.saliency import area_between_curves, curve_correlations

    rng = np.random.default_rng(0)
    n, fractions = 20, [0.0, 0.5, 1.0]
    mos = rng.random(n) * 100
    rows = [{"order": o, "fraction": f, "image": i, "score": mos[i] * (1 - f if o == "MoRF" else 1) + rng.normal(0, 5)}
            for o in ("MoRF", "LeRF") for f in fractions for i in range(n)]
    rows += [{"order": o, "fraction": 1.0, "image": i, "score": 7.0} for o in ("MoRF",) for i in range(n)]
    scores = pd.DataFrame(rows).drop_duplicates(["order", "fraction", "image"], keep="last")  # MoRF at 1: constant
    exact = area_between_curves(curve_correlations(scores, mos))
    identity = np.arange(n)[None]
    assert bootstrap_areas(scores, mos, identity)[0] == pytest.approx(exact)  # undefined PLCC counted 0 alike
    boot = bootstrap_areas(scores, mos, rng.integers(0, n, (300, n)))
    assert boot.shape == (300,) and np.percentile(boot, 2.5) < exact < np.percentile(boot, 97.5)
