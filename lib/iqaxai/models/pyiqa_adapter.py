"""Any no-reference metric of `pyiqa <https://github.com/chaofengc/IQA-PyTorch>`_ as an :class:`IQAModel`.

pyiqa is an optional extra (``pip install 'iqaxai[pyiqa]'``) under the PolyForm-Noncommercial-1.0.0
licence; it downloads pretrained weights at run time. This adapter is meant for inference-only
experiments (scoring, explanation maps) on a reviewer's machine, never for the test environment::

    from iqaxai.models.pyiqa_adapter import PyiqaModel, list_pyiqa_models
    model = PyiqaModel("musiq")          # or "dbcnn", "topiq_nr", "clipiqa+", "hyperiqa", ...
    scores = model(images)               # images [B, 3, H, W] in [0, 1] -> [B] pyiqa scores

Scores are pyiqa's own, on the metric's own range; ``model.info.lower_better`` is True for metrics
such as NIQE or BRISQUE where a lower score means better quality, and ``model.info.score_range`` is
pyiqa's rough estimate of the range (``nan`` where pyiqa gives no bound).

**Gradients.** ``pyiqa.create_metric(..., as_loss=False)`` returns an ``InferenceModel`` whose
``forward`` runs the network under ``torch.set_grad_enabled(as_loss)``, i.e. without autograd (older
pyiqa releases even switched grad mode off globally); with ``as_loss=True`` it instead reduces the
batch to one number (``loss_reduction='mean'``) and skips the input-range check. :class:`PyiqaModel`
therefore builds the metric with ``as_loss=False`` and calls the underlying network
(``metric.net``) directly in :meth:`PyiqaModel.forward`: the caller's grad mode applies (so explanation
methods can backpropagate to the input) and every image keeps its own score.

**Offline behaviour.** pyiqa caches weights in ``pyiqa.utils.download_util.DEFAULT_CACHE_DIR``
(``torch.hub.get_dir()/pyiqa``, i.e. ``$TORCH_HOME/hub/pyiqa``, by default
``~/.cache/torch/hub/pyiqa``) and fetches missing files from the Hugging Face repository
``chaofengc/IQA-PyTorch-Weights`` (host ``huggingface.co`` or ``$HF_ENDPOINT``) with
``torch.hub.download_url_to_file``; backbones come from torchvision's cache
(``torch.hub.get_dir()/checkpoints``) or the Hugging Face hub. Without a network these attempts can
hang or retry for a long time, so before building a metric this module

1. raises :class:`ImportError` at once when pyiqa is not installed;
2. works out which weight files the metric needs (from pyiqa's default config and the architecture's
   ``default_model_urls``) and, if one is missing from the cache, checks the download host with one
   short TCP connection (:func:`iqaxai.runtime.network_available`, ~3 s at most, DNS included) -- or, when
   ``HF_HUB_OFFLINE`` is set, treats the network as unavailable without probing -- and raises
   :class:`RuntimeError` naming the metric, the cache directory and what to do;
3. while pyiqa builds the metric, guards ``torch.hub.download_url_to_file`` (which pyiqa and
   torchvision use for every download, only when a file is not cached yet) in the same way, so files
   that step 2 could not foresee also fail fast; a download that does start gets a socket timeout of
   ``DOWNLOAD_SOCKET_TIMEOUT`` seconds per network operation instead of none;
4. sets ``HF_HUB_ETAG_TIMEOUT`` and ``HF_HUB_DOWNLOAD_TIMEOUT`` (only where unset, and effective only
   if ``huggingface_hub`` was not imported yet) before importing pyiqa, to shorten Hugging Face hub
   requests of backbones.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import inspect
import math
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from iqaxai.models.base import IQAModel, ModelInfo
from iqaxai.runtime import PROBE_TIMEOUT
from iqaxai.runtime import network_available as _network_available
from iqaxai.runtime import offline_requested as _offline_env

#: Licence of pyiqa, recorded in ``ModelInfo.source``.
PYIQA_LICENCE = "PolyForm-Noncommercial-1.0.0"

#: Hugging Face repository pyiqa downloads its weights from.
PYIQA_WEIGHTS_REPO = "chaofengc/IQA-PyTorch-Weights"

#: Socket timeout (seconds per network operation) while pyiqa downloads a missing file.
DOWNLOAD_SOCKET_TIMEOUT = 30.0

#: Hugging Face hub timeouts (seconds) set before pyiqa is imported, unless already set.
HF_TIMEOUTS = {"HF_HUB_ETAG_TIMEOUT": "5", "HF_HUB_DOWNLOAD_TIMEOUT": "10"}

#: pyiqa "NR" metrics that score a set of images (folders), not one image: not wrapped.
DATASET_LEVEL_METRICS = frozenset({"fid", "sfid", "fid_dinov2", "inception_score"})

_INSTALL_HINT = (
    "pyiqa is not installed: pip install 'iqaxai[pyiqa]' (PolyForm-Noncommercial licence); "
    "it is an optional extra for inference-only experiments with pyiqa's pretrained metrics"
)

_TRUE = {"1", "on", "yes", "true"}


# ----------------------------------------------------------------------------------------------------
# pyiqa import and metadata
# ----------------------------------------------------------------------------------------------------


def _import_pyiqa():
    """Import pyiqa, or raise :class:`ImportError` with the install hint; sets short HF timeouts first."""
    if sys.modules.get("pyiqa") is not None:
        return sys.modules["pyiqa"]
    try:
        spec = importlib.util.find_spec("pyiqa")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ImportError(_INSTALL_HINT)
    for key, value in HF_TIMEOUTS.items():
        os.environ.setdefault(key, value)
    try:
        return importlib.import_module("pyiqa")
    except ImportError as err:
        raise ImportError(f"{_INSTALL_HINT} (importing it failed: {err})") from err


def _lookup(pyiqa, dotted: str):
    """``pyiqa.<dotted>`` by attribute access, else by importing the submodule; None if absent."""
    obj = pyiqa
    for part in dotted.split("."):
        if not hasattr(obj, part):
            obj = None
            break
        obj = getattr(obj, part)
    if obj is not None:
        return obj
    module_name, _, attr = f"pyiqa.{dotted}".rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr, None)
    except Exception:  # noqa: BLE001 - a partial or fake pyiqa: nothing to find
        return None


def _default_configs(pyiqa) -> dict:
    configs = getattr(pyiqa, "DEFAULT_CONFIGS", None)
    if configs is None:
        configs = _lookup(pyiqa, "default_model_configs.DEFAULT_CONFIGS")
    return dict(configs) if configs else {}


def pyiqa_cache_dir(pyiqa=None) -> str:
    """The directory pyiqa caches downloaded weights in (``torch.hub.get_dir()/pyiqa`` by default)."""
    pyiqa = pyiqa if pyiqa is not None else _import_pyiqa()
    cache_dir = _lookup(pyiqa, "utils.download_util.DEFAULT_CACHE_DIR")
    if not cache_dir:
        cache_dir = os.path.join(torch.hub.get_dir(), "pyiqa")
    return os.path.abspath(os.path.expanduser(str(cache_dir)))


def parse_score_range(value) -> tuple[float, float]:
    """pyiqa's score range (``"~0, ~100"``, ``"0, 1"``, ``"0, ~"``, ``(0, 1)``) as floats, nan if unknown."""
    if value is None:
        return (math.nan, math.nan)
    parts = list(value) if isinstance(value, (tuple, list)) else str(value).split(",")
    if len(parts) != 2:
        return (math.nan, math.nan)
    bounds = []
    for part in parts:
        try:
            bounds.append(float(str(part).strip().lstrip("~").strip()))
        except ValueError:
            bounds.append(math.nan)
    return (bounds[0], bounds[1])


# ----------------------------------------------------------------------------------------------------
# Weights cache and network
# ----------------------------------------------------------------------------------------------------


def _host_port(url: str | None) -> tuple[str, int]:
    """Host and port of a download URL (default: the Hugging Face endpoint)."""
    parsed = urlparse(url or os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = parsed.hostname or "huggingface.co"
    return host, parsed.port or (80 if parsed.scheme == "http" else 443)


def _url_filename(url: str) -> str:
    """The name pyiqa stores a downloaded URL under (last path component, as pyiqa computes it)."""
    return os.path.basename(urlparse(url).path)


def _expected_downloads(pyiqa, metric_name: str, metric_kwargs: dict) -> list[str]:
    """URLs of the weight files the metric is known to need (best effort; [] = unknown / none).

    Reads ``pretrained_model_path`` when it is a URL; otherwise the architecture module's
    ``default_model_urls`` entries whose key equals a string option of the metric (its pyiqa default
    config, the caller's keyword arguments, then the architecture's constructor defaults), e.g.
    ``pretrained='koniq'`` or ``model_name='cfanet_nr_koniq_res50'``. Files that pyiqa fetches beyond
    these are caught by the download guard while the metric is built.
    """
    cfg = _default_configs(pyiqa).get(metric_name) or {}
    opts = {**dict(cfg.get("metric_opts") or {}), **metric_kwargs}
    path = opts.get("pretrained_model_path")
    if isinstance(path, str):
        return [path] if path.startswith(("http://", "https://")) else []
    arch = None
    registry = _lookup(pyiqa, "utils.registry.ARCH_REGISTRY")
    if registry is not None and opts.get("type"):
        try:
            arch = registry.get(opts["type"])
        except Exception:  # noqa: BLE001 - unknown architecture: let pyiqa report it
            arch = None
    if arch is None:
        return []
    try:
        for name, param in inspect.signature(arch).parameters.items():
            if name not in opts and param.default is not inspect.Parameter.empty:
                opts[name] = param.default
    except (TypeError, ValueError):
        pass
    urls = getattr(sys.modules.get(getattr(arch, "__module__", "")), "default_model_urls", None)
    if not isinstance(urls, dict):
        return []
    keys = {v for v in opts.values() if isinstance(v, str)}
    return [str(url) for key, url in urls.items() if key in keys and isinstance(url, str)]


def _offline_message(metric_name: str, cache_dir: str, missing: list[str], host: str) -> str:
    why = "HF_HUB_OFFLINE is set" if _offline_env() else f"the network is unreachable ({host} did not answer)"
    files = f" (missing: {', '.join(missing)})" if missing else ""
    return (
        f"pyiqa metric {metric_name!r}: its pretrained weights are not cached at {cache_dir}{files} and "
        f"{why}, so they cannot be downloaded. Run it once on a machine with internet access to cache "
        f"the weights (from https://huggingface.co/{PYIQA_WEIGHTS_REPO}), or copy the weight files to "
        f"{cache_dir} (pyiqa's cache: $TORCH_HOME/hub/pyiqa); then retry."
    )


class _NetworkCheck:
    """Network availability, probed at most once per host for one metric construction."""

    def __init__(self):
        self._seen: dict[tuple[str, int], bool] = {}

    def __call__(self, host: str, port: int) -> bool:
        if _offline_env():
            return False
        if (host, port) not in self._seen:
            self._seen[(host, port)] = _network_available(host, port, PROBE_TIMEOUT)
        return self._seen[(host, port)]


@contextlib.contextmanager
def _download_guard(metric_name: str, network: _NetworkCheck):
    """Make ``torch.hub.download_url_to_file`` (pyiqa's and torchvision's downloader) fail fast offline."""
    targets = [torch.hub]
    download_util = sys.modules.get("pyiqa.utils.download_util")
    if download_util is not None and hasattr(download_util, "download_url_to_file"):
        targets.append(download_util)
    originals = [(module, module.download_url_to_file) for module in targets]

    def guard(download):
        def guarded(url, dst, *args, **kwargs):
            host, port = _host_port(url)
            if not network(host, port):
                where = os.path.dirname(os.path.abspath(dst))
                raise RuntimeError(_offline_message(metric_name, where, [os.path.basename(dst)], host))
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT)
            try:
                return download(url, dst, *args, **kwargs)
            finally:
                socket.setdefaulttimeout(previous)

        return guarded

    for module, download in originals:
        module.download_url_to_file = guard(download)
    try:
        yield
    finally:
        for module, function in originals:
            module.download_url_to_file = function


def create_metric(pyiqa, metric_name: str, device: str | torch.device | None, metric_kwargs: dict,
                  network: _NetworkCheck | None = None):
    """``pyiqa.create_metric(metric_name, as_loss=False)`` after looking its weights up in pyiqa's cache: a
    RuntimeError naming the missing files when they are absent and their host does not answer (at once under
    ``HF_HUB_OFFLINE``), and downloads during creation fail fast the same way (:func:`_download_guard`)."""
    network = network or _NetworkCheck()
    cache_dir = pyiqa_cache_dir(pyiqa)
    urls = _expected_downloads(pyiqa, metric_name, dict(metric_kwargs))
    missing = [u for u in urls if not os.path.exists(os.path.join(cache_dir, _url_filename(u)))]
    if missing:
        host, port = _host_port(missing[0])
        if not network(host, port):
            raise RuntimeError(_offline_message(metric_name, cache_dir, [_url_filename(u) for u in missing], host))
    with _download_guard(metric_name, network):
        try:
            return pyiqa.create_metric(metric_name, as_loss=False, device=device, **metric_kwargs)
        except ModuleNotFoundError as err:  # pyiqa installed without the dependencies of this metric
            raise RuntimeError(f"pyiqa metric {metric_name!r}: it needs the missing package {err.name!r} "
                               "(pip install -e '.[pyiqa]')") from err
        except KeyError as err:  # pyiqa registers an architecture only if its module imports
            if "registry" not in str(err):
                raise
            arch = str(err).split("'")[1] if str(err).count("'") >= 2 else ""
            why = _arch_import_error(pyiqa, arch) or str(err)
            raise RuntimeError(f"pyiqa metric {metric_name!r}: {why}") from err


def _arch_import_error(pyiqa, arch: str) -> str:
    """Why pyiqa's module defining the architecture ``arch`` does not import ("" if it does or is not found)."""
    folder = Path(pyiqa.__file__).parent / "archs"
    for path in sorted(folder.glob("*_arch.py")):
        if f"class {arch}(" in path.read_text(errors="ignore"):
            try:
                importlib.import_module(f"pyiqa.archs.{path.stem}")
            except Exception as err:  # noqa: BLE001 - the import error is the answer
                text = " ".join(str(err).split())
                return f"pyiqa.archs.{path.stem} does not import ({type(err).__name__}: {text[:200]}; pip install -e '.[pyiqa]')"
    return ""


# ----------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------


class PyiqaModel(IQAModel):
    """A pyiqa no-reference metric: ``forward(x)`` maps [B, 3, H, W] images in [0, 1] to [B] pyiqa scores.

    ``metric_kwargs`` go to ``pyiqa.create_metric`` (e.g. ``pretrained_model_path``). ``device=None``
    lets pyiqa choose (CUDA when available); inputs are moved to the metric's device. The metric stays
    in eval mode (``train()`` does not switch it). Gradients flow to the input (see the module docs).
    pyiqa's networks normalise their input themselves (``self.normalise`` is never called), so zeroing after
    normalisation (``iqaxai.zeroing``) is refused for these models.
    """

    zeroing_after_normalisation = False

    def __init__(self, metric_name: str, device: str | torch.device | None = None, target: str | None = None,
                 **metric_kwargs):
        super().__init__()
        self.target = target
        pyiqa = _import_pyiqa()
        configs = _default_configs(pyiqa)
        cfg = configs.get(metric_name)
        if configs and cfg is None:
            close = difflib.get_close_matches(metric_name, list(configs), n=5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown pyiqa metric {metric_name!r}{hint} (see list_pyiqa_models())")
        cfg = cfg or {}
        _check_no_reference(metric_name, cfg.get("metric_mode"))

        cache_dir = pyiqa_cache_dir(pyiqa)
        metric = create_metric(pyiqa, metric_name, device, metric_kwargs)
        _check_no_reference(metric_name, getattr(metric, "metric_mode", None))

        self.metric_name = metric_name
        self.metric = metric
        self.metric.eval()
        self.cache_dir = cache_dir
        raw_range = getattr(metric, "score_range", None) or cfg.get("score_range")
        lower_better = getattr(metric, "lower_better", cfg.get("lower_better", False))
        self.info = ModelInfo(
            name=f"pyiqa:{metric_name}",
            kind="NR",
            output="score",
            score_range=parse_score_range(raw_range),
            lower_better=bool(lower_better),
            input_size=None,
            normalisation="none",
            source=f"pyiqa ({PYIQA_LICENCE})",
            extra={"metric_name": metric_name, "score_range_text": raw_range, "cache_dir": cache_dir},
        )

    def target_layer(self) -> nn.Module:
        """The layer named by ``target``, a dotted path under the metric's network ``metric.net`` in which a number
        indexes a list (pyiqa keeps some backbones in plain lists, outside the module tree): TOPIQ-NR's
        ``semantic_model.layer4``, CLIP-IQA+'s ``clip_model.0.visual.layer4``. pyiqa declares no explanation
        layer, so the caller names it."""
        if self.target is None:
            raise NotImplementedError(f"pyiqa:{self.metric_name} has no explanation layer: pass target='<dotted path "
                                      "under metric.net>' to PyiqaModel")
        layer = self.metric.net
        for part in filter(None, self.target.split(".")):
            try:
                layer = layer[int(part)] if part.isdigit() else getattr(layer, part)
            except (AttributeError, IndexError, TypeError, KeyError):
                raise ValueError(f"pyiqa:{self.metric_name} has no layer {self.target!r} under metric.net "
                                 f"(no {part!r} in {type(layer).__name__})") from None
        if not isinstance(layer, nn.Module):
            raise ValueError(f"pyiqa:{self.metric_name}: {self.target!r} is a {type(layer).__name__}, not a layer")
        return layer

    @property
    def device(self) -> torch.device | None:
        """The device the metric runs on."""
        param = next(iter(self.metric.parameters()), None)
        if param is not None:
            return param.device
        device = getattr(self.metric, "device", None)
        return torch.device(device) if device is not None else None

    def train(self, mode: bool = True):
        super().train(mode)
        self.metric.eval()  # pretrained inference only: batch norm / dropout stay in eval mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """pyiqa scores [B] of images [B, 3, H, W] in [0, 1] (checked by :meth:`check_input`)."""
        x = self.check_input(x)
        device = self.device
        if device is not None:
            x = x.to(device)
        net = getattr(self.metric, "net", None)
        out = net(x) if isinstance(net, torch.nn.Module) else self.metric(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        out = torch.as_tensor(out).reshape(x.shape[0], -1)
        if out.shape[1] != 1:
            raise ValueError(f"pyiqa metric {self.metric_name!r} returned {out.shape[1]} values per image, expected 1")
        return out[:, 0]


def _check_no_reference(metric_name: str, mode) -> None:
    if mode is not None and str(mode).upper() == "FR":
        raise ValueError(
            f"pyiqa metric {metric_name!r} is a full-reference (FR) metric: it compares an image with a "
            "pristine reference image, so it cannot score images on their own. PyiqaModel wraps "
            "no-reference (NR) metrics only; see list_pyiqa_models() for those."
        )
    if metric_name in DATASET_LEVEL_METRICS:
        raise ValueError(f"pyiqa metric {metric_name!r} scores a set of images (folders), not one image per input")


def pyiqa_model(name: str, **kw) -> PyiqaModel:
    """Shorthand for ``PyiqaModel(name, **kw)``."""
    return PyiqaModel(name, **kw)


def list_pyiqa_models() -> list[str]:
    """Names of pyiqa's no-reference metrics that score single images (ImportError if pyiqa is missing)."""
    pyiqa = _import_pyiqa()
    return sorted(n for n in pyiqa.list_models(metric_mode="NR") if n not in DATASET_LEVEL_METRICS)


__all__ = [
    "PyiqaModel",
    "pyiqa_model",
    "list_pyiqa_models",
    "pyiqa_cache_dir",
    "parse_score_range",
    "PYIQA_LICENCE",
    "PYIQA_WEIGHTS_REPO",
]
