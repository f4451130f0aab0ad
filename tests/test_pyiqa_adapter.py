"""PyiqaModel: offline tests with pyiqa absent (as in the test environment) and with a fake pyiqa module.

No test here touches the network: socket connections and name lookups are replaced for every test
(``no_network``), and "fails fast" is checked by what is (not) called and with which timeout, never by a
clock; the times themselves are measured in ``benchmarks/bench_pyiqa_offline.py``."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import sys
import threading
import types

import pytest
import torch
from torch import nn

from iqaxai.models import pyiqa_adapter
from iqaxai.models.base import IQAModel
from iqaxai.models.pyiqa_adapter import PyiqaModel, list_pyiqa_models, parse_score_range, pyiqa_model

HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main"
ARCH_MODULE = "fake_pyiqa_archs"
KONIQ_FILE = "FAKE_KonIQ-0123abcd.pth"
URL_FILE = "fake_direct-89ab.pth"
EXTRA_FILE = "fake_backbone-4567.pth"


# ----------------------------------------------------------------------------------------------------
# A fake pyiqa: same public surface as the real one, as far as the adapter reads it
# ----------------------------------------------------------------------------------------------------


class FakeNet(nn.Module):
    """Mean brightness * 10, returned as [B, 1] like pyiqa's networks."""

    def __init__(self, pretrained=None, pretrained_model_path=None):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        return (x.mean(dim=(1, 2, 3)) * self.scale).unsqueeze(1)


FakeNet.__module__ = ARCH_MODULE


class FakeInferenceModel(nn.Module):
    """Mimics pyiqa's InferenceModel: forward runs the net with grad mode = as_loss."""

    def __init__(self, name, cfg, as_loss, device):
        super().__init__()
        self.metric_name = name
        self.lower_better = cfg.get("lower_better", False)
        self.metric_mode = cfg["metric_mode"]
        self.score_range = cfg.get("score_range")
        self.as_loss = as_loss
        self.device = torch.device(device or "cpu")
        self.net = FakeNet()

    def forward(self, x):
        with torch.set_grad_enabled(self.as_loss):
            return self.net(x)


class Registry:
    def __init__(self, objects):
        self._objects = objects

    def get(self, name):
        if name not in self._objects:
            raise KeyError(name)
        return self._objects[name]


CONFIGS = {
    "fakeiqa": {"metric_opts": {"type": "FakeNet", "pretrained": "koniq"}, "metric_mode": "NR", "score_range": "~0, ~10"},
    "fakeiqa_lb": {
        "metric_opts": {"type": "FakeNet", "pretrained": "koniq"},
        "metric_mode": "NR",
        "lower_better": True,
        "score_range": "0, ~",
    },
    "fakeurl": {"metric_opts": {"type": "FakeNet", "pretrained_model_path": f"{HF}/{URL_FILE}"}, "metric_mode": "NR"},
    "fakeextra": {"metric_opts": {"type": "FakeNet"}, "metric_mode": "NR", "score_range": "0, 1"},
    "fakefr": {"metric_opts": {"type": "FakeNet", "pretrained": "koniq"}, "metric_mode": "FR", "lower_better": True},
    "fid": {"metric_opts": {"type": "FakeNet"}, "metric_mode": "NR", "lower_better": True},
}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Inject a fake ``pyiqa`` (and its architecture module); its weights cache is ``tmp_path/cache``."""
    cache = tmp_path / "cache"
    cache.mkdir()
    archs = types.ModuleType(ARCH_MODULE)
    archs.default_model_urls = {"koniq": f"{HF}/{KONIQ_FILE}", "live": f"{HF}/FAKE_LIVE-ffff.pth"}
    archs.FakeNet = FakeNet
    module = types.ModuleType("pyiqa")
    module.calls = []
    module.DEFAULT_CONFIGS = CONFIGS
    module.utils = types.SimpleNamespace(
        download_util=types.SimpleNamespace(DEFAULT_CACHE_DIR=str(cache)),
        registry=types.SimpleNamespace(ARCH_REGISTRY=Registry({"FakeNet": FakeNet})),
    )

    def create_metric(metric_name, as_loss=False, device=None, **kwargs):
        module.calls.append((metric_name, as_loss, device, kwargs))
        if metric_name == "fakeextra":  # pyiqa fetches a file the adapter cannot foresee
            dst = os.path.join(str(cache), EXTRA_FILE)
            if not os.path.exists(dst):
                torch.hub.download_url_to_file(f"{HF}/{EXTRA_FILE}", dst)
        return FakeInferenceModel(metric_name, CONFIGS[metric_name], as_loss, device)

    def list_models(metric_mode=None, filter="", exclude_filters=""):
        return sorted(n for n, c in CONFIGS.items() if metric_mode is None or c["metric_mode"] == metric_mode)

    module.create_metric = create_metric
    module.list_models = list_models
    monkeypatch.setitem(sys.modules, "pyiqa", module)
    monkeypatch.setitem(sys.modules, ARCH_MODULE, archs)
    module.cache_dir = cache
    return module


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test: a socket connection or name lookup is recorded and fails at once (no real network use)."""
    attempts: list[tuple] = []

    def refuse(name):
        def refused(*args, **kwargs):
            attempts.append((name, args))
            raise OSError(f"network disabled in tests ({name})")

        return refused

    for name in ("create_connection", "getaddrinfo", "gethostbyname"):
        monkeypatch.setattr(socket, name, refuse(name))
    return attempts


@pytest.fixture
def probe(monkeypatch):
    """Replace the network probe; ``probe.answer`` is what it returns, ``probe.calls`` its calls."""
    state = types.SimpleNamespace(answer=False, calls=[])

    def fake_probe(host, port=443, timeout=3.0):
        state.calls.append((host, port, timeout))
        return state.answer

    monkeypatch.setattr(pyiqa_adapter, "_network_available", fake_probe)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return state


def images(b=2, requires_grad=False):
    torch.manual_seed(0)
    return torch.rand(b, 3, 16, 20, requires_grad=requires_grad)


# ----------------------------------------------------------------------------------------------------
# pyiqa missing
# ----------------------------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("pyiqa") is not None, reason="pyiqa is installed here")
def test_missing_pyiqa_raises_import_error_without_network(no_network):
    with pytest.raises(ImportError, match=r"iqaxai\[pyiqa\]") as err:
        PyiqaModel("musiq")
    assert "PolyForm-Noncommercial" in str(err.value)
    assert no_network == []


def test_blocked_pyiqa_raises_for_every_entry_point(monkeypatch, no_network):
    monkeypatch.setitem(sys.modules, "pyiqa", None)  # import pyiqa fails, installed or not
    for call in (lambda: PyiqaModel("musiq"), lambda: pyiqa_model("dbcnn"), list_pyiqa_models):
        with pytest.raises(ImportError, match=r"pip install 'iqaxai\[pyiqa\]'"):
            call()
    assert no_network == []


# ----------------------------------------------------------------------------------------------------
# weights cached
# ----------------------------------------------------------------------------------------------------


def test_cached_weights_build_score_and_backpropagate(fake, probe):
    (fake.cache_dir / KONIQ_FILE).write_bytes(b"weights")
    model = PyiqaModel("fakeiqa", device="cpu")
    assert isinstance(model, IQAModel)
    assert probe.calls == []  # cached: no network probe
    assert fake.calls == [("fakeiqa", False, "cpu", {})]

    x = images(3, requires_grad=True)
    scores = model(x)
    assert scores.shape == (3,)
    torch.testing.assert_close(scores, x.mean(dim=(1, 2, 3)) * 10)
    scores.sum().backward()  # pyiqa's own forward would run without grad: the adapter calls the net
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.testing.assert_close(x.grad, torch.full_like(x, 10.0 / x[0].numel()))

    info = model.info
    assert info.name == "pyiqa:fakeiqa" and info.kind == "NR" and info.lower_better is False
    assert info.score_range == (0.0, 10.0)
    assert info.normalisation == "none"
    assert info.source == "pyiqa (PolyForm-Noncommercial-1.0.0)"
    assert model.cache_dir == str(fake.cache_dir)


def test_lower_better_mirrors_the_metric_and_open_range_is_nan(fake, probe):
    (fake.cache_dir / KONIQ_FILE).write_bytes(b"weights")
    model = pyiqa_model("fakeiqa_lb")
    assert model.info.lower_better is True
    low, high = model.info.score_range
    assert low == 0.0 and math.isnan(high)


def test_single_image_and_caller_grad_mode(fake, probe):
    (fake.cache_dir / KONIQ_FILE).write_bytes(b"weights")
    model = PyiqaModel("fakeiqa").train()  # train() keeps the pretrained metric in eval mode
    assert not model.metric.training
    x = images(1, requires_grad=True)
    assert model(x).shape == (1,)
    with torch.no_grad():
        assert not model(x).requires_grad
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        model(x[0])


def test_direct_weight_url_is_checked_in_the_cache(fake, probe):
    (fake.cache_dir / URL_FILE).write_bytes(b"weights")
    PyiqaModel("fakeurl")
    assert probe.calls == []
    (fake.cache_dir / URL_FILE).unlink()
    with pytest.raises(RuntimeError, match=URL_FILE):
        PyiqaModel("fakeurl")


# ----------------------------------------------------------------------------------------------------
# weights not cached
# ----------------------------------------------------------------------------------------------------


def test_not_cached_and_unreachable_fails_fast(fake, probe):
    with pytest.raises(RuntimeError) as err:
        PyiqaModel("fakeiqa")
    message = str(err.value)
    assert "'fakeiqa'" in message and str(fake.cache_dir) in message
    assert "unreachable" in message and KONIQ_FILE in message
    # one probe, with the short probe timeout, then no download attempt
    assert probe.calls == [("huggingface.co", 443, pyiqa_adapter.PROBE_TIMEOUT)]
    assert 0 < pyiqa_adapter.PROBE_TIMEOUT <= 5
    assert fake.calls == []  # pyiqa was never asked to download


def test_hf_hub_offline_fails_without_probing(fake, probe, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError) as err:
        PyiqaModel("fakeiqa")
    assert probe.calls == []
    assert "'fakeiqa'" in str(err.value) and str(fake.cache_dir) in str(err.value)
    assert "HF_HUB_OFFLINE" in str(err.value)
    assert fake.calls == []


def test_not_cached_but_reachable_leaves_the_download_to_pyiqa(fake, probe):
    probe.answer = True
    model = PyiqaModel("fakeiqa")
    assert len(probe.calls) == 1 and fake.calls[0][0] == "fakeiqa"
    assert model.info.name == "pyiqa:fakeiqa"


def test_unforeseen_download_is_guarded(fake, probe, monkeypatch):
    downloads = []

    def recorder(url, dst, *args, **kwargs):
        downloads.append((url, dst, __import__("socket").getdefaulttimeout()))
        with open(dst, "wb") as f:
            f.write(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", recorder)
    with pytest.raises(RuntimeError, match="'fakeextra'") as err:
        PyiqaModel("fakeextra")
    assert EXTRA_FILE in str(err.value) and str(fake.cache_dir) in str(err.value)
    assert downloads == []
    assert torch.hub.download_url_to_file is recorder  # restored after the attempt

    probe.answer = True
    PyiqaModel("fakeextra")
    assert [d[0] for d in downloads] == [f"{HF}/{EXTRA_FILE}"]
    assert downloads[0][2] == pyiqa_adapter.DOWNLOAD_SOCKET_TIMEOUT
    assert torch.hub.download_url_to_file is recorder


# ----------------------------------------------------------------------------------------------------
# refused metrics, listing, helpers
# ----------------------------------------------------------------------------------------------------


def test_full_reference_metric_is_refused(fake, probe):
    with pytest.raises(ValueError, match="full-reference") as err:
        PyiqaModel("fakefr")
    assert "reference image" in str(err.value) and "no-reference" in str(err.value)
    assert fake.calls == [] and probe.calls == []


def test_unknown_and_dataset_level_metrics_are_refused(fake, probe):
    with pytest.raises(ValueError, match="did you mean fakeiqa"):
        PyiqaModel("fakeiq")
    with pytest.raises(ValueError, match="set of images"):
        PyiqaModel("fid")
    assert fake.calls == []


def test_list_pyiqa_models_is_nr_only(fake):
    assert list_pyiqa_models() == ["fakeextra", "fakeiqa", "fakeiqa_lb", "fakeurl"]


def test_parse_score_range():
    assert parse_score_range("~0, ~100") == (0.0, 100.0)
    assert parse_score_range((1, 5)) == (1.0, 5.0)
    assert all(math.isnan(v) for v in parse_score_range(None))
    assert all(math.isnan(v) for v in parse_score_range("quality: 0, 1; rank: 0, 2"))
    low, high = parse_score_range("~, 2")
    assert math.isnan(low) and high == 2.0


def test_hf_hub_offline_makes_no_socket_call(fake, monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the real probe this time: it must not even be reached
    for name in ("fakeiqa", "fakeextra"):  # foreseen weights, and a download only the guard sees
        with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
            PyiqaModel(name)
    assert no_network == []


def test_network_probe_passes_its_timeout_and_reports_failure(monkeypatch):
    calls = []

    def unreachable(address, timeout=None, *args, **kwargs):
        calls.append((address, timeout))
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    assert pyiqa_adapter._network_available("unreachable.invalid", 443, timeout=0.5) is False
    assert pyiqa_adapter._network_available("huggingface.co") is False
    assert calls == [(("unreachable.invalid", 443), 0.5), (("huggingface.co", 443), pyiqa_adapter.PROBE_TIMEOUT)]


def test_network_probe_reports_a_connection(monkeypatch):
    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None, *a, **k: Connection())
    assert pyiqa_adapter._network_available("mirror.example", 8080, timeout=0.5) is True


def test_network_probe_gives_up_on_a_connection_that_hangs(monkeypatch):
    entered, release = threading.Event(), threading.Event()

    def hangs(address, timeout=None, *args, **kwargs):  # ignores its timeout, as a stuck resolver can
        entered.set()
        release.wait()
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hangs)
    try:
        assert pyiqa_adapter._network_available("stuck.example", 443, timeout=0.05) is False
        assert entered.is_set()  # it did try, and returned while the attempt was still hanging
        assert not release.is_set()
    finally:
        release.set()


def test_the_explanation_layer_is_named_by_the_caller(fake, probe):
    (fake.cache_dir / KONIQ_FILE).write_bytes(b"weights")
    with pytest.raises(NotImplementedError, match="pass target="):
        PyiqaModel("fakeiqa", device="cpu").target_layer()
    assert PyiqaModel("fakeiqa", device="cpu", target="").target_layer() is not None  # "" names the network itself
    with pytest.raises(ValueError, match="has no layer 'layer4'"):
        PyiqaModel("fakeiqa", device="cpu", target="layer4").target_layer()
    model = PyiqaModel("fakeiqa", device="cpu", target="hidden.0.conv")
    model.metric.net.hidden = [nn.Module()]  # a backbone kept in a plain list, as CLIP-IQA+ keeps CLIP
    model.metric.net.hidden[0].conv = nn.Conv2d(3, 4, 1)
    assert model.target_layer() is model.metric.net.hidden[0].conv
    with pytest.raises(ValueError, match="not a layer"):
        PyiqaModel("fakeiqa", device="cpu", target="scale").target_layer()


def test_a_metric_whose_dependencies_are_missing_is_a_runtime_error_naming_them(fake, tmp_path, monkeypatch):
    """pyiqa installed without its dependencies: a missing package, or an architecture whose module does not
    import (pyiqa then only says the name is not in its registry), is named in a RuntimeError."""
    archs = tmp_path / "pyiqa" / "archs"
    archs.mkdir(parents=True)
    (archs / "cfanet_arch.py").write_text("import no_such_package_here\n\nclass CFANet(object):\n    pass\n")
    fake.__file__ = str(tmp_path / "pyiqa" / "__init__.py")
    monkeypatch.setitem(sys.modules, "pyiqa.archs.cfanet_arch", None)  # importing it fails as the real one would

    def failing(metric_name, as_loss=False, device=None, **kwargs):
        if metric_name == "needs_clip":
            raise ModuleNotFoundError("No module named 'clip'", name="clip")
        raise KeyError("No object named 'CFANet' found in 'arch' registry!")

    monkeypatch.setattr(fake, "create_metric", failing)
    with pytest.raises(RuntimeError, match=r"needs the missing package 'clip'"):
        pyiqa_adapter.create_metric(fake, "needs_clip", "cpu", {})
    with pytest.raises(RuntimeError, match=r"pyiqa\.archs\.cfanet_arch does not import"):
        pyiqa_adapter.create_metric(fake, "topiq_nr", "cpu", {})
