"""Per-map deep-feature full-reference quality scores (*What are we looking at? Feature maps*, Methodology).

The paper compares a test image with its reference at every feature map of every convolutional layer of a
pre-trained AlexNet, with a traditional IQM (SSIM) per map, as Amirshahi et al. (2018, *Reviving traditional
image quality metrics using CNNs*) do; forward selection then picks the maps whose scores correlate best with
the subjective scores. This module computes the score matrix ``Q`` [N images, M maps] that selection works on:
``Q[i, m] = IQM(F_m(test_i), F_m(ref_i))`` (the paper's Eq. 1).

Choices (the paper leaves them open):

- **Backbones**: torchvision ``alexnet`` (5 conv layers, 64+192+384+256+256 = 1152 maps) and ``vgg16``
  (13 conv layers, 4224 maps), their ``.features`` only, run up to the last convolutional layer (the final
  max-pool is skipped). ``pretrained=True`` loads the ImageNet weights (``IMAGENET1K_V1``); offline they must
  already be in the torch hub cache (``$TORCH_HOME/hub/checkpoints``), else a RuntimeError says which file is
  missing at once (no download is attempted when ``HF_HUB_OFFLINE`` is set or download.pytorch.org does not
  answer within a few seconds). ``pretrained=False`` is torchvision's random initialisation of the conv layers
  under a fixed torch seed (the same seed gives the same weights; the global RNG is left untouched); the smoke
  profile uses it.
- **Feature map** = the output of the ReLU that follows each Conv2d (the activation the next layer sees).
  torchvision's ReLUs are ``inplace``; the extractor turns that off, so a captured map is never overwritten.
- **Input**: RGB [B, 3, H, W] float in [0, 1] (:func:`iqaxai.checks.check_images`), at least
  :data:`MIN_SIDE` pixels per side (the backbones' strides); the extractor applies the ImageNet mean/std.
- **SSIM** (default IQM): Wang et al. (2004), Gaussian window (sigma 1.5, 11 taps, separable), population
  (co)variances, K1 = 0.01, K2 = 0.03, averaged over the valid positions (no padding: scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L)``
  filters with reflection and then crops the same (11 - 1) / 2 border, so the two agree; tested).
  Feature maps have no fixed range, so the dynamic range ``L`` is set per map pair from the **reference**
  map: ``L = max(ref) - min(ref)``, floored at :data:`RANGE_FLOOR`. Hence scaling one channel of both test
  and reference by a factor leaves its SSIM unchanged; two all-zero maps (a dead ReLU channel) give exactly 1,
  not NaN; a dead reference channel whose test map is active gives about 0. Deep maps can be smaller than the
  window (AlexNet conv5 of a 96x128 image is 5x7): the window then shrinks to the largest odd size
  <= min(h, w) (the same sigma-1.5 Gaussian, truncated and renormalised); on a 1x1 map SSIM compares the
  two values (means) only. Computed in float64, on blocks of maps of a layer at once (blocks small enough
  for the CPU cache on a CPU, large on a GPU); no loop over single channels.
- **PSNR**: ``10 log10(L^2 / MSE)`` per map with the same per-map ``L``; identical maps (MSE 0) would give
  +inf, so every value is capped at :data:`PSNR_CAP` dB, so that correlation and forward selection never
  see inf or NaN.
- Other IQMs plug in through :data:`FEATURE_IQMS` (by name, cached) or as a callable (not cached): an IQM
  maps ``(test [B, C, h, w], ref [1 or B, C, h, w])`` (``ref`` broadcasts over the batch) to scores [B, C].
- **Reference once**: :func:`reference_features` runs the backbone on a reference image once and
  :func:`scores_against` scores any number of its distorted versions against it (SSIM also filters the
  reference's statistics once per batch). :func:`score_matrix` does this per reference image of a dataset
  table, one cache item per reference (:class:`iqaxai.results.ResultsCache`), so an interrupted run resumes.
- **Cache**: the configuration holds what shapes Q (backbone, pretrained, the seed of a random init, the IQM's
  name, ``image_size``); an item's id is the reference file's stem plus a hash of the reference's path and its
  distorted images' paths (in table order), so another table never reads stale rows. Files are identified by
  path, not content: overwrite an image and the cache must be cleared. A callable IQM cannot be cached; an IQM
  registered in :data:`FEATURE_IQMS` is cached under its name, so give a changed function a new name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import torch
from torch import nn

from iqaxai.checks import check_images
from iqaxai.data.images import load_image
from iqaxai.results import ResultsCache
from iqaxai.runtime import progress as progress_bar
from iqaxai.runtime import network_available, offline_requested, resolve_device

__all__ = [
    "BACKBONES",
    "FEATURE_IQMS",
    "K1",
    "K2",
    "MIN_SIDE",
    "PSNR_CAP",
    "RANGE_FLOOR",
    "SIGMA",
    "WINDOW",
    "FeatureExtractor",
    "LayerModel",
    "ReferenceFeatures",
    "ScoreMatrix",
    "feature_extractor",
    "layer_model",
    "map_table",
    "n_maps",
    "per_map_scores",
    "psnr",
    "reference_features",
    "score_matrix",
    "scores_against",
    "ssim",
    "window_size",
]

#: SSIM constants (Wang et al. 2004) and the Gaussian window (sigma, largest size).
K1, K2, SIGMA, WINDOW = 0.01, 0.03, 1.5, 11
#: Smallest dynamic range L of a map pair (a constant or all-zero reference map would give L = 0).
RANGE_FLOOR = 1e-6
#: PSNR of a map pair, in dB, is capped here (identical maps: MSE 0, PSNR +inf).
PSNR_CAP = 100.0
#: Smallest image side the backbones accept (their total stride before the last conv layer is 16).
MIN_SIDE = 32
#: ImageNet normalisation of torchvision's weights.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: Test values per block of the SSIM on a CPU: a layer is processed in (batch, channel) blocks this small, so
#: that its float64 working tensors stay in the CPU cache (measured on a 2-core EPYC, 2 MiB L2: 2^18 took about
#: half the CPU time of 2^15 or 2^22 per block, on AlexNet and VGG16 maps).
CHUNK_ELEMENTS = 1 << 18
#: The same on a GPU, where few large blocks are fast and many small ones cost a kernel launch each.
GPU_CHUNK_ELEMENTS = 1 << 24
#: Cache name and format of :func:`score_matrix` (bump the format when the computation changes).
CACHE_NAME, CACHE_FORMAT = "feature_map_scores", 1

IQM = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------------------------------------ backbones


def _default_init(conv: nn.Conv2d) -> None:
    """PyTorch's default Conv2d initialisation (torchvision's AlexNet keeps it)."""
    conv.reset_parameters()


def _vgg_init(conv: nn.Conv2d) -> None:
    """torchvision's VGG initialisation of a Conv2d: Kaiming normal (fan-out, ReLU), zero bias."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


@dataclass(frozen=True)
class BackboneSpec:
    """A torchvision backbone: constructor and weights names, conv initialisation, and its conv layers' channels."""

    builder: str
    weights: str
    init: Callable[[nn.Conv2d], None]
    channels: tuple[int, ...]


BACKBONES: dict[str, BackboneSpec] = {
    "alexnet": BackboneSpec("alexnet", "AlexNet_Weights", _default_init, (64, 192, 384, 256, 256)),
    "vgg16": BackboneSpec("vgg16", "VGG16_Weights", _vgg_init,
                          (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)),
}


def _spec(backbone: str) -> BackboneSpec:
    """The spec of a known backbone, else ValueError listing the known ones."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[backbone]


@lru_cache(maxsize=None)
def _map_table(backbone: str) -> pd.DataFrame:
    """Cached body of :func:`map_table`."""
    channels = _spec(backbone).channels
    layer = np.repeat(np.arange(1, len(channels) + 1), channels)
    channel = np.concatenate([np.arange(c) for c in channels])
    return pd.DataFrame({"map": np.arange(len(layer)), "layer": layer, "channel": channel,
                         "name": [f"conv{l}/{c}" for l, c in zip(layer, channel)]})


def map_table(backbone: str) -> pd.DataFrame:
    """One row per feature map in the column order of Q: ``map``, ``layer`` (1-based), ``channel``, ``name``."""
    return _map_table(backbone).copy()


def n_maps(backbone: str) -> int:
    """Number of feature maps (columns of Q) of a backbone."""
    return sum(_spec(backbone).channels)


def _offline() -> bool:
    """Whether no download should be tried: ``HF_HUB_OFFLINE`` set, or download.pytorch.org does not answer."""
    return offline_requested() or not network_available("download.pytorch.org")


def _load_pretrained(spec: BackboneSpec) -> nn.Module:
    """The ImageNet-pretrained torchvision model, or a RuntimeError naming the missing weights file."""
    import torchvision.models as tvm

    weights = getattr(tvm, spec.weights).IMAGENET1K_V1
    file = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)
    why = None
    if file.exists() or not _offline():
        try:
            return getattr(tvm, spec.builder)(weights=weights)
        except (OSError, RuntimeError) as error:  # URLError is an OSError; a damaged file a RuntimeError
            why = f"{type(error).__name__}: {error}"
    raise RuntimeError(
        f"the pretrained weights {spec.weights}.IMAGENET1K_V1 of {spec.builder} are not available "
        f"({why or 'not in the torch hub cache and no network'}): expected the file {file}. Offline, place it "
        f"there ($TORCH_HOME/hub/checkpoints) or use pretrained=False, as the smoke profile does."
    ) from None


def _random_init(spec: BackboneSpec, seed: int) -> nn.Sequential:
    """The conv layers with torchvision's initialisation under ``torch.manual_seed(seed)``; the global RNG is kept.

    The model is built on the meta device and only ``features`` is materialised, so the large classifier is never
    initialised (AlexNet: bit-identical to ``torchvision.models.alexnet().features`` after the same seed; VGG16:
    the same distribution, drawn without the classifier's draws in between).
    """
    import torchvision.models as tvm

    with torch.device("meta"):
        model = getattr(tvm, spec.builder)(weights=None)
    features = model.features.to_empty(device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in features:
            if isinstance(module, nn.Conv2d):
                spec.init(module)
    return features


class FeatureExtractor(nn.Module):
    """A backbone's conv layers returning the post-ReLU feature maps of every conv layer."""

    def __init__(self, features: nn.Sequential, backbone: str, pretrained: bool, seed: int | None):
        """Keep ``features`` up to the ReLU after the last Conv2d, with non-inplace ReLUs."""
        super().__init__()
        modules = list(features)
        for m in modules:
            if isinstance(m, nn.ReLU):
                m.inplace = False
        taps = [i + 1 for i, m in enumerate(modules) if isinstance(m, nn.Conv2d)]
        if not all(isinstance(modules[i], nn.ReLU) for i in taps):
            raise ValueError(f"{backbone}: every Conv2d must be followed by a ReLU")
        self.features = nn.Sequential(*modules[: taps[-1] + 1])
        self.taps = frozenset(taps)
        self.backbone, self.pretrained, self.seed = backbone, pretrained, seed
        self.channels = tuple(m.out_channels for m in modules if isinstance(m, nn.Conv2d))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    @property
    def device(self) -> torch.device:
        """The device of the weights."""
        return self.mean.device

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU maps [B, C_n, h_n, w_n] of every conv layer n of RGB images [B, 3, H, W] in [0, 1]."""
        check_images(images, f"{self.backbone} feature extractor(images)", min_side=MIN_SIDE)
        x = (images.to(self.device, torch.float32) - self.mean) / self.std
        maps = []
        with torch.no_grad():
            for i, module in enumerate(self.features):
                x = module(x)
                if i in self.taps:
                    maps.append(x)
        return maps


def feature_extractor(backbone: str = "alexnet", *, pretrained: bool, seed: int = 0,
                      device: str = "cpu") -> FeatureExtractor:
    """The feature extractor of ``backbone`` (ImageNet weights, or random init under ``seed``) on ``device``."""
    spec = _spec(backbone)
    dev = resolve_device(device)
    features = _load_pretrained(spec).features if pretrained else _random_init(spec, seed)
    return FeatureExtractor(features, backbone, pretrained, None if pretrained else seed).to(dev)


class LayerModel(nn.Module):
    """One conv layer's post-ReLU maps [B, C, h, w] of RGB images in [0, 1], differentiable in the input (the
    "layer model" of :mod:`iqaxai.feature_vis`: activation maximisation and occlusion)."""

    def __init__(self, extractor: FeatureExtractor, layer: int):
        """Keep ``extractor``'s modules up to the ReLU after its conv layer ``layer`` (1-based)."""
        super().__init__()
        taps = sorted(extractor.taps)
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 1 <= layer <= len(taps):
            raise ValueError(f"{extractor.backbone} has conv layers 1..{len(taps)}, got layer {layer!r}")
        self.features = nn.Sequential(*list(extractor.features)[: taps[int(layer) - 1] + 1])
        self.register_buffer("mean", extractor.mean.clone(), persistent=False)
        self.register_buffer("std", extractor.std.clone(), persistent=False)
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The layer's maps of ``images`` [B, 3, H, W] in [0, 1] (gradients flow to the images)."""
        check_images(images, "LayerModel(images)", min_side=MIN_SIDE)
        return self.features((images.to(self.mean.device, torch.float32) - self.mean) / self.std)


def layer_model(backbone: str, layer: int, *, pretrained: bool, seed: int = 0, device: str = "cpu") -> LayerModel:
    """The :class:`LayerModel` of conv layer ``layer`` (1-based) of the same network :func:`score_matrix` uses
    with these arguments."""
    return LayerModel(feature_extractor(backbone, pretrained=pretrained, seed=seed, device=device), layer)


# ------------------------------------------------------------------------------------------------ per-map IQMs


def window_size(height: int, width: int) -> int:
    """SSIM window side for an h x w map: 11, or the largest odd size <= min(h, w) on smaller maps."""
    side = min(WINDOW, height, width)
    if side < 1:
        raise ValueError(f"cannot compute SSIM on an empty {height}x{width} map")
    return side if side % 2 else side - 1


def _gaussian(size: int) -> list[float]:
    """The normalised 1-D Gaussian (sigma :data:`SIGMA`) of ``size`` taps."""
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r ** 2) / (2 * SIGMA ** 2))
    return (g / g.sum()).tolist()


def _filter(x: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Separable Gaussian filter of maps [..., h, w] over the valid positions only."""
    k = len(taps)
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    rows = x[..., 0:h, :] * taps[0]
    for i in range(1, k):
        rows.add_(x[..., i:i + h, :], alpha=taps[i])
    out = rows[..., 0:w] * taps[0]
    for i in range(1, k):
        out.add_(rows[..., i:i + w], alpha=taps[i])
    return out


def _pair(test: torch.Tensor, ref: torch.Tensor, where: str) -> None:
    """Check that ``test`` [B, C, h, w] and ``ref`` [1 or B, C, h, w] are feature maps of one layer."""
    if test.ndim != 4 or ref.ndim != 4:
        raise ValueError(f"{where}: expected feature maps [B, C, h, w], got {tuple(test.shape)} and "
                         f"{tuple(ref.shape)}")
    if test.shape[1:] != ref.shape[1:] or ref.shape[0] not in (1, test.shape[0]):
        raise ValueError(f"{where}: test {tuple(test.shape)} and reference {tuple(ref.shape)} maps do not match "
                         "(the reference's batch must be 1 or the test's)")


def _dynamic_range(ref: torch.Tensor) -> torch.Tensor:
    """Per-map dynamic range [b, C, 1, 1] of reference maps: max - min, floored at :data:`RANGE_FLOOR`."""
    flat = ref.flatten(2)
    return (flat.amax(2) - flat.amin(2)).clamp_min(RANGE_FLOOR)[..., None, None]


def _blocks(test: torch.Tensor) -> list[tuple[slice, slice]]:
    """(batch, channel) slices of blocks of at most :data:`CHUNK_ELEMENTS` test values (at least one map)."""
    b, c, h, w = test.shape
    size = CHUNK_ELEMENTS if test.device.type == "cpu" else GPU_CHUNK_ELEMENTS
    per_map = max(1, h * w)
    channels = max(1, size // (b * per_map))
    batch = b if channels > 1 else max(1, size // per_map)
    return [(slice(i, min(b, i + batch)), slice(j, min(c, j + channels)))
            for j in range(0, c, channels) for i in range(0, b, batch)]


def _ssim_block(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM [B, C] of float64 test maps ``x`` and reference maps ``y`` (batch 1 or B)."""
    taps = _gaussian(window_size(*x.shape[-2:]))
    L = _dynamic_range(y)
    c1, c2 = (K1 * L) ** 2, (K2 * L) ** 2
    mx, my = _filter(x, taps), _filter(y, taps)
    vx = _filter(x * x, taps) - mx * mx
    vy = _filter(y * y, taps) - my * my
    cxy = _filter(x * y, taps) - mx * my
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(-2, -1))


def _blockwise(block: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], test: torch.Tensor,
               ref: torch.Tensor) -> torch.Tensor:
    """Scores [B, C] of ``block(test, ref)`` applied to float64 (batch, channel) blocks of one layer."""
    out = torch.empty(test.shape[:2], dtype=torch.float64, device=test.device)
    for rows, channels in _blocks(test):
        y = ref[:, channels] if ref.shape[0] == 1 else ref[rows, channels]
        out[rows, channels] = block(test[rows, channels].double(), y.double())
    return out


def ssim(test: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-map SSIM [B, C] of feature maps, with each map's dynamic range taken from the reference map."""
    _pair(test, ref, "ssim")
    return _blockwise(_ssim_block, test, ref)


def _psnr_block(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Capped PSNR [B, C] of float64 test maps ``x`` and reference maps ``y`` (batch 1 or B)."""
    mse = (x - y).square().flatten(2).mean(2)
    peak = _dynamic_range(y)[..., 0, 0].expand_as(mse)
    db = 10 * torch.log10(peak.square() / mse.clamp_min(1e-300))
    return torch.where(mse > 0, db, torch.full_like(db, PSNR_CAP)).clamp_max(PSNR_CAP)


def psnr(test: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-map PSNR [B, C] in dB with the reference map's dynamic range as peak, capped at :data:`PSNR_CAP`."""
    _pair(test, ref, "psnr")
    return _blockwise(_psnr_block, test, ref)


#: Per-map IQMs by name: ``(test [B, C, h, w], ref [1 or B, C, h, w]) -> scores [B, C]``.
FEATURE_IQMS: dict[str, IQM] = {"ssim": ssim, "psnr": psnr}


def _resolve_iqm(iqm: str | IQM) -> tuple[str | None, IQM]:
    """(registry name or None for an unregistered callable, function) of an IQM given by name or callable."""
    if isinstance(iqm, str):
        if iqm not in FEATURE_IQMS:
            raise ValueError(f"unknown feature-map IQM {iqm!r}; choose one of {sorted(FEATURE_IQMS)} "
                             "or pass a callable")
        return iqm, FEATURE_IQMS[iqm]
    if not callable(iqm):
        raise TypeError(f"iqm must be a name in FEATURE_IQMS or a callable, got {type(iqm).__name__}")
    names = [name for name, func in FEATURE_IQMS.items() if func is iqm]
    return (names[0] if names else None), iqm


# ------------------------------------------------------------------------------------------------ scores


@dataclass(frozen=True)
class ReferenceFeatures:
    """The feature maps of one reference image, computed once and compared with all its distorted versions."""

    maps: tuple[torch.Tensor, ...]
    size: tuple[int, int]


def reference_features(extractor: FeatureExtractor, reference: torch.Tensor) -> ReferenceFeatures:
    """The feature maps of one reference image [1, 3, H, W] or [3, H, W]."""
    ref = reference[None] if reference.ndim == 3 else reference
    if ref.ndim != 4 or ref.shape[0] != 1:
        raise ValueError("reference_features: expected one image [1, 3, H, W] or [3, H, W], "
                         f"got {tuple(reference.shape)}")
    return ReferenceFeatures(tuple(extractor(ref)), (int(ref.shape[-2]), int(ref.shape[-1])))


def _scores(test_maps: Sequence[torch.Tensor], ref_maps: Sequence[torch.Tensor], func: IQM) -> torch.Tensor:
    """Scores [B, M] of all layers, concatenated in map_table order, as float64 on the CPU."""
    out = []
    for n, (x, y) in enumerate(zip(test_maps, ref_maps), start=1):
        s = func(x, y)
        if tuple(s.shape) != tuple(x.shape[:2]):
            raise ValueError(f"the IQM returned shape {tuple(s.shape)} for conv layer {n} maps {tuple(x.shape)}; "
                             f"expected [B, C] = {tuple(x.shape[:2])}")
        out.append(s.detach().to("cpu", torch.float64))
    return torch.cat(out, dim=1)


def scores_against(extractor: FeatureExtractor, reference: ReferenceFeatures, test: torch.Tensor,
                   iqm: str | IQM = "ssim") -> torch.Tensor:
    """Per-map scores [B, M] of test images [B, 3, H, W] against one reference's features."""
    func = _resolve_iqm(iqm)[1]
    if tuple(m.shape[1] for m in reference.maps) != extractor.channels:
        raise ValueError(f"scores_against: the reference's features do not come from this {extractor.backbone} "
                         "extractor")
    if tuple(test.shape[-2:]) != reference.size:
        raise ValueError(f"scores_against: test images are {tuple(test.shape[-2:])}, "
                         f"the reference is {reference.size}")
    return _scores(extractor(test), reference.maps, func)


def per_map_scores(extractor: FeatureExtractor, test: torch.Tensor, ref: torch.Tensor,
                   iqm: str | IQM = "ssim") -> torch.Tensor:
    """Per-map scores [B, M] of test images [B, 3, H, W] against references [B or 1, 3, H, W]."""
    func = _resolve_iqm(iqm)[1]
    if test.shape[-2:] != ref.shape[-2:] or ref.shape[0] not in (1, test.shape[0]):
        raise ValueError(f"per_map_scores: test {tuple(test.shape)} and reference {tuple(ref.shape)} do not match "
                         "(same image size; the references' batch must be 1 or the test's)")
    return _scores(extractor(test), extractor(ref), func)


# ------------------------------------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class ScoreMatrix:
    """Per-map scores Q [N images, M maps] of a dataset, with the image ids (rows) and the map table (columns)."""

    Q: np.ndarray
    images: list[str]
    maps: pd.DataFrame
    backbone: str
    iqm: str


@dataclass(frozen=True)
class _Group:
    """One reference image and its distorted images (table positions, paths and image ids)."""

    item: str
    ref_path: str
    rows: tuple[int, ...]
    paths: tuple[str, ...]
    images: tuple[str, ...]


REQUIRED_COLUMNS = ("path", "ref_path", "mos", "image")


def _check_table(table: pd.DataFrame) -> None:
    """ValueError for missing columns, an empty table or missing reference paths."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"score_matrix: the table lacks the column(s) {missing}; need {list(REQUIRED_COLUMNS)}")
    if len(table) == 0:
        raise ValueError("score_matrix: the table is empty")
    blank = table["ref_path"].isna() | table["path"].isna()
    if blank.any():
        raise ValueError(f"score_matrix: {int(blank.sum())} row(s) have no path or ref_path "
                         f"(first image: {table['image'][blank].iloc[0]!r}); a full-reference metric needs both")


def _item_id(ref_path: str, paths: Sequence[str]) -> str:
    """Cache item id of one reference: its file stem plus a hash of its path and its distorted images' paths."""
    digest = hashlib.sha256(json.dumps([ref_path, list(paths)]).encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.=+,@-]", "_", Path(ref_path).stem)[:40].lstrip(".") or "ref"
    return f"{stem}-{digest}"


def _groups(table: pd.DataFrame) -> list[_Group]:
    """The table's rows grouped by reference image, in order of first appearance."""
    refs = table["ref_path"].astype(str).to_numpy()
    paths = table["path"].astype(str).to_numpy()
    images = table["image"].astype(str).to_numpy()
    groups = []
    for ref in dict.fromkeys(refs):
        rows = np.flatnonzero(refs == ref)
        members = tuple(paths[rows])
        groups.append(_Group(_item_id(ref, members), ref, tuple(int(i) for i in rows), members, tuple(images[rows])))
    return groups


def _load(path: str, size: tuple[int, int] | None) -> torch.Tensor:
    """One image file as [1, 3, H, W] float32 in [0, 1]; ValueError naming it when it is too small."""
    image = load_image(path, size)
    check_images(image, f"image {path}", layout="HWC", min_side=MIN_SIDE)
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def _reference_rows(extractor: FeatureExtractor, group: _Group, iqm: IQM, image_size: tuple[int, int] | None,
                    batch_size: int) -> dict[str, np.ndarray]:
    """Q's rows of one reference's distorted images (the backbone runs once on the reference)."""
    reference = reference_features(extractor, _load(group.ref_path, image_size))
    rows = []
    for start in range(0, len(group.paths), batch_size):
        chunk = group.paths[start:start + batch_size]
        images = [_load(p, image_size) for p in chunk]
        for p, im in zip(chunk, images):
            if tuple(im.shape[-2:]) != reference.size:
                raise ValueError(f"image {p} is {tuple(im.shape[-2:])} but its reference {group.ref_path} is "
                                 f"{reference.size}; pass image_size=(H, W) to bring both to one size")
        rows.append(scores_against(extractor, reference, torch.cat(images), iqm))
    Q = torch.cat(rows).numpy()
    _check_finite(Q, group.images, map_table(extractor.backbone))  # before it is cached
    return {"Q": Q}


def _check_finite(Q: np.ndarray, images: Sequence[str], maps: pd.DataFrame) -> None:
    """RuntimeError naming the first image and map whose score is NaN or infinite."""
    bad = ~np.isfinite(Q)
    if bad.any():
        i, m = np.argwhere(bad)[0]
        raise RuntimeError(f"score_matrix: {int(bad.sum())} non-finite score(s) in Q; first: image {images[i]!r}, "
                           f"map {maps['name'].iloc[m]} (column {m}) is {Q[i, m]}")


def _rows_of(values: dict[str, Any], group: _Group, n: int) -> np.ndarray:
    """The stored rows [len(group), n] of one reference, or a RuntimeError naming its cache item."""
    rows = np.asarray(values[group.item]["Q"])
    if rows.shape != (len(group.rows), n):
        raise RuntimeError(f"score_matrix: cache item {group.item!r} holds scores of shape {rows.shape}, expected "
                           f"{(len(group.rows), n)}; delete it to compute it again")
    return rows


def _cache_config(backbone: str, pretrained: bool, seed: int, iqm: str,
                  image_size: tuple[int, int] | None) -> dict[str, Any]:
    """Everything that shapes Q (the table's files go into the item ids)."""
    config = {"format": CACHE_FORMAT, "backbone": backbone, "pretrained": bool(pretrained), "iqm": iqm,
              "image_size": None if image_size is None else [int(s) for s in image_size]}
    if not pretrained:
        config["seed"] = int(seed)
    return config


def score_matrix(
    table: pd.DataFrame,
    backbone: str,
    *,
    pretrained: bool,
    iqm: str | IQM = "ssim",
    image_size: tuple[int, int] | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    cache: bool = True,
    progress: bool = True,
    seed: int = 0,
) -> ScoreMatrix:
    """Per-map scores Q [N, M] of a full-reference dataset table (``path``, ``ref_path``, ``mos``, ``image``)."""
    _check_table(table)
    _spec(backbone)
    name, func = _resolve_iqm(iqm)
    if cache and name is None:
        raise ValueError("score_matrix: a custom IQM callable cannot be cached (its code is not part of the cache "
                         "key); pass cache=False, or register it in FEATURE_IQMS under a name")
    if batch_size < 1:
        raise ValueError(f"score_matrix: batch_size must be >= 1, got {batch_size}")
    extractor = feature_extractor(backbone, pretrained=pretrained, seed=seed, device=device)
    groups = _groups(table)
    compute = lambda g: _reference_rows(extractor, g, func, image_size, batch_size)  # noqa: E731
    desc = f"{backbone} {name or 'iqm'} per-map scores"
    if cache:
        store = ResultsCache(CACHE_NAME, _cache_config(backbone, pretrained, seed, name, image_size))
        values = store.map(compute, [(g.item, g) for g in groups], desc=desc, progress=progress)
    else:
        values = {g.item: compute(g) for g in progress_bar(groups, desc=desc, show=progress)}
    maps = map_table(backbone)
    Q = np.empty((len(table), len(maps)), dtype=np.float64)
    for g in groups:
        Q[list(g.rows)] = _rows_of(values, g, len(maps))
    images = [str(i) for i in table["image"]]
    _check_finite(Q, images, maps)
    return ScoreMatrix(Q, images, maps, backbone, name or getattr(func, "__name__", "custom"))
