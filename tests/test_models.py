"""The registered IQA models: interface, offline construction, gradients and known answers of their pieces."""

from __future__ import annotations

import socket
import urllib.error

import numpy as np
import pytest
import torch
from torch import nn

from iqaxai.models import SPECS, create_model, list_models
from iqaxai.models.base import ModelInfo, ScoreHead, distribution_to_score

MODELS = list_models()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: building with pretrained=False must stay offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small batches gain nothing from intra-op threads, and on a shared CPU OpenMP barriers stall them badly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _smoke(name: str) -> nn.Module:
    return create_model(name, profile="smoke")


def _paper_offline(name: str, **kw) -> nn.Module:
    """The paper profile without pretrained weights (models without a pretrained backbone take no such argument)."""
    if "pretrained" in SPECS[name].presets["paper"]:
        kw.setdefault("pretrained", False)
    return create_model(name, profile="paper", **kw)


# ----------------------------------------------------------------------------------------------- registry
def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError) as error:
        create_model("nope")
    for name in MODELS:
        assert name in str(error.value)


def test_unknown_profile_is_rejected():
    with pytest.raises(ValueError, match="profile"):
        create_model("cnniqa", profile="fast")


def test_every_model_spec_covers_both_profiles():
    assert set(SPECS) == set(MODELS)
    for spec in SPECS.values():
        assert set(spec.presets) == set(spec.train) == {"smoke", "paper"}, spec.name
        assert spec.explanation in ("grad_cam", "guided_backprop") and spec.display


# ----------------------------------------------------------------------------------------------- smoke profile
@pytest.mark.parametrize("name", MODELS)
def test_smoke_model_interface_forward_and_backward(name):
    model = _smoke(name)
    info = model.info
    assert isinstance(info, ModelInfo) and info.name == name
    assert info.kind == "NR" and info.output in ("score", "distribution") and not info.lower_better
    assert info.score_range == (0.0, 100.0)
    assert info.normalisation in ("imagenet", "minus_one_one", "none")
    for p in model.modules():  # zero-initialised heads would stop every gradient upstream: give them weights
        if isinstance(p, ScoreHead):
            nn.init.normal_(p.fc.weight, std=0.1)

    model.train()
    for shape in [(2, 3, 96, 128), (2, 3, 192, 256)]:
        x = torch.rand(shape)
        model.zero_grad()
        scores = model(x)
        assert scores.shape == (2,) and torch.isfinite(scores).all()
        scores.sum().backward()
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        for n, p in params:
            assert p.grad is None or torch.isfinite(p.grad).all(), n
        dead = [n for n, p in params if p.grad is None or not p.grad.any()]
        assert len(dead) <= 0.1 * len(params), f"{name}: no gradient reaches {dead}"

    model.eval()
    with torch.no_grad():
        x = torch.rand(2, 3, 96, 128)
        scores = model(x)
        assert torch.equal(scores, model(x))  # deterministic in eval mode
        if info.output == "distribution":
            p = model.distribution(x)
            assert p.shape == (2, 5) and (p >= 0).all()
            assert torch.allclose(p.sum(-1), torch.ones(2), atol=1e-6)
            assert torch.allclose(scores, distribution_to_score(p), atol=1e-5)


# ----------------------------------------------------------------------------------------------- paper profile, offline
#: Smallest convenient input per paper model (InceptionResNetV2 needs at least 75x75).
_PAPER_SIZE = {"koncept512": 80}


@pytest.mark.parametrize("name", MODELS)
def test_paper_model_builds_offline_without_weights(name):
    model = _paper_offline(name).eval()
    size = _PAPER_SIZE.get(name, 64)
    with torch.no_grad():
        scores = model(torch.rand(1, 3, size, size))
    assert scores.shape == (1,) and torch.isfinite(scores).all()


def _fail(*args, **kwargs):
    raise urllib.error.URLError("no network here")


@pytest.mark.parametrize("name", ["aihiqnet", "dbcnn", "swin_iqa", "spaq_baseline", "saliency_baseline"])
def test_pretrained_download_failure_is_a_clear_error(name, monkeypatch):
    from torchvision.models._api import WeightsEnum

    monkeypatch.setattr(WeightsEnum, "get_state_dict", _fail)
    with pytest.raises(RuntimeError, match="could not load the pretrained weights.*pretrained=False"):
        create_model(name, profile="paper")


def test_koncept_pretrained_failure_is_a_clear_error(monkeypatch):
    timm = pytest.importorskip("timm")
    monkeypatch.setattr(timm, "create_model", _fail)
    with pytest.raises(RuntimeError, match="could not load the pretrained weights of InceptionResNetV2"):
        create_model("koncept512", profile="paper")


# ----------------------------------------------------------------------------------------------- known answers
def test_dbcnn_bilinear_pool_matches_numpy():
    from iqaxai.models.dbcnn import bilinear_pool, signed_sqrt

    x1, x2 = torch.randn(2, 3, 4, 5), torch.randn(2, 6, 4, 5)
    a, b = x1.numpy().astype(np.float64), x2.numpy().astype(np.float64)
    expected = np.stack([a[k].reshape(3, -1) @ b[k].reshape(6, -1).T / 20.0 for k in range(2)]).reshape(2, 18)
    assert np.allclose(bilinear_pool(x1, x2).numpy(), expected, atol=1e-6)
    # hand-made: one channel each, 1x2 maps [1, 2] and [3, 4] -> (1*3 + 2*4) / 2
    assert bilinear_pool(torch.tensor([[[[1.0, 2.0]]]]), torch.tensor([[[[3.0, 4.0]]]])).item() == pytest.approx(5.5)
    v = torch.tensor([-4.0, 0.0, 9.0])
    assert torch.allclose(signed_sqrt(v), torch.tensor([-2.0, 0.0, 3.0]), atol=1e-4)
    with pytest.raises(ValueError):
        bilinear_pool(torch.randn(1, 2, 3, 3), torch.randn(1, 2, 4, 4))


def test_dbcnn_feature_is_unit_length_and_maps_share_stride_16():
    model = _smoke("dbcnn").eval()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        x1, x2 = model.feature_maps(x)
        feat = model.features(x)
    assert x1.shape[-2:] == x2.shape[-2:] == (6, 8)
    assert feat.shape == (2, x1.shape[1] * x2.shape[1])
    assert torch.allclose(feat.norm(dim=1), torch.ones(2), atol=1e-5)


def test_aihiqnet_attention_weights_and_level_average():
    model = _smoke("aihiqnet").eval()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        pyramid = model.pyramid(x)
        assert [tuple(p.shape[-2:]) for p in pyramid] == [(24, 32), (12, 16), (6, 8), (3, 4), (2, 2)]
        for att, p in zip(model.attention, pyramid):
            sp, ch = att.spatial_weights(p), att.channel_weights(p)
            assert sp.shape == (2, 1, *p.shape[-2:]) and ((sp > 0) & (sp < 1)).all()
            assert ch.shape == (2, p.shape[1], 1, 1) and ((ch > 0) & (ch < 1)).all()
        levels = model.level_predictions(x)
        assert torch.allclose(model.distribution(x), torch.stack(levels).mean(0), atol=1e-6)


def test_aihiqnet_mos_variant():
    model = create_model("aihiqnet", profile="smoke", n_levels=1).eval()
    assert model.info.output == "score"
    with torch.no_grad():
        assert torch.allclose(model(torch.rand(2, 3, 64, 64)), torch.full((2,), 50.0))  # zero-initialised heads
    with pytest.raises(ValueError):
        model.distribution(torch.rand(1, 3, 64, 64))


def test_cnniqa_max_min_pooling_and_its_fast_training_path():
    from iqaxai.models.cnniqa import extreme_responses

    model = _smoke("cnniqa")
    x = torch.rand(2, 3, 40, 48, requires_grad=True)
    h = model.conv(x)
    plain = torch.cat([torch.amax(h, dim=(2, 3)), torch.amin(h, dim=(2, 3))], dim=1)
    model.eval()
    assert torch.allclose(model.pooled(x), plain)
    model.train()
    fast = model.pooled(x)
    assert torch.allclose(fast, plain, atol=1e-5)
    g = torch.randn_like(plain)
    grads_plain = torch.autograd.grad((plain * g).sum(), [model.conv.weight, model.conv.bias, x])
    grads_fast = torch.autograd.grad((fast * g).sum(), [model.conv.weight, model.conv.bias, x])
    for a, b in zip(grads_plain, grads_fast):
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError):
        extreme_responses(nn.Conv2d(3, 4, 3, padding=1), x)


def test_cnniqa_patch_mode_averages_patch_scores():
    model = create_model("cnniqa", patch_size=32).eval()
    nn.init.normal_(model.head.fc.weight, std=0.1)
    x = torch.rand(1, 3, 70, 100)  # 2x3 full patches; the border remainder is ignored
    with torch.no_grad():
        patches = [x[..., r:r + 32, c:c + 32] for r in (0, 32) for c in (0, 32, 64)]
        expected = torch.stack([model.score(p) for p in patches]).mean()
        assert model(x).item() == pytest.approx(expected.item(), abs=1e-4)


def test_spaq_patch_evaluation():
    from iqaxai.models.baselines import patch_starts

    assert patch_starts(512) == [0, 112, 224, 288]
    assert patch_starts(448) == [0, 112, 224]
    assert patch_starts(200) == [0]
    model = create_model("spaq_baseline", profile="smoke", patch_eval=True, patch=32, stride=16).eval()
    nn.init.normal_(model.head.fc.weight, std=0.1)
    x = torch.rand(2, 3, 48, 56)
    with torch.no_grad():
        crops = [x[..., r:r + 32, c:c + 32] for r in (0, 16) for c in (0, 16, 24)]
        expected = torch.stack([model.score(cr) for cr in crops]).mean(0)
        assert torch.allclose(model(x), expected, atol=1e-4)
    model.train()  # training sees the whole image
    assert model(x).shape == (2,)


def test_koncept_records_its_input_size_and_accepts_others():
    model = _smoke("koncept512").eval()
    assert model.info.input_size == (384, 512)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 80, 100)).shape == (2,)
    with pytest.raises(ValueError):
        create_model("koncept512", profile="smoke", dropout=(0.1,))


def test_swin_smoke_accepts_paper_resolution():
    model = _smoke("swin_iqa").eval()
    with torch.no_grad():
        # hybrid: CNN embedding at stride 8, then one patch merging (odd sizes padded): stride 16, rounded up
        assert model.feature_map(torch.rand(1, 3, 384, 512)).shape[-2:] == (24, 32)
        assert model.feature_map(torch.rand(1, 3, 100, 150)).shape[-2:] == (7, 10)


# ----------------------------------------------------------------------------------------------- input checks
def _bad_inputs() -> list[tuple[str, torch.Tensor, str]]:
    """(case, batch, expected message) that every model must refuse before computing anything."""
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    nan, inf = x.clone(), x.clone()
    nan[0, 1, 2, 3], inf[1, 0, 0, 0] = float("nan"), float("inf")
    return [
        ("0..255 float", x * 255, r"expected values in \[0, 1\], got values in .*divide by 255"),
        ("uint8", (x * 255).to(torch.uint8), r"expected a float image .*got dtype uint8 .*x.float\(\) / 255"),
        ("NaN pixel", nan, "images contain NaN or infinite values"),
        ("inf pixel", inf, "images contain NaN or infinite values"),
        ("one channel", x[:, :1], r"expected RGB images \[B, 3, H, W\], got shape \(2, 1, 32, 32\)"),
        ("empty batch", x[:0], r"got an empty batch \(shape \(0, 3, 32, 32\)\)"),
    ]


@pytest.mark.parametrize("name", MODELS)
def test_every_model_refuses_bad_input_and_casts_float64(name):
    model = _smoke(name).eval()
    where = f"{type(model).__name__} input: "
    for case, batch, message in _bad_inputs():
        with pytest.raises(ValueError, match=where + message):
            with torch.no_grad():
                model(batch)
            pytest.fail(f"{name} accepted {case}")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        single, double = model(x), model(x.double())
    assert double.dtype == torch.float32 and torch.allclose(single, double, atol=1e-5)


class _MeanMetric(nn.Module):
    """Stand-in for a pyiqa inference model: score = 10 x mean brightness."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        return (x.mean(dim=(1, 2, 3)) * self.scale)[:, None]


def test_pyiqa_adapter_checks_its_input():
    from iqaxai.models.pyiqa_adapter import PyiqaModel

    model = PyiqaModel.__new__(PyiqaModel)  # the forward alone: no pyiqa installed offline
    nn.Module.__init__(model)
    model.metric, model.metric_name = _MeanMetric(), "mean"
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(model(x), x.mean(dim=(1, 2, 3)) * 10)
    assert torch.allclose(model(x.double()), x.mean(dim=(1, 2, 3)) * 10)
    for _, batch, message in _bad_inputs():
        with pytest.raises(ValueError, match="PyiqaModel input: " + message):
            model(batch)
