"""Every explanation method behind one calling convention, and the model-randomisation sanity check.

An :data:`Explainer` takes a model and an image batch [B, 3, H, W] in [0, 1] and returns one map per image
[B, h, w] (any resolution; higher = more relevant to the score). :func:`explainers` builds the project's
methods in that form, so that MoRF/LeRF (:func:`iqaxai.saliency.morf_lerf_curves`) and the planted-truth hit
rates score them alike. Methods whose native output is signed are turned into relevance as their papers read
them: HiResCAM keeps its sign (evidence for the score ranks first, against it last), occlusion uses the
magnitude of the score change, the random map is the floor.

:func:`randomisation_check` is the model parameter randomisation test of Adebayo et al. (2018, *Sanity
checks for saliency maps*): the Spearman correlation between each image's map from the trained model and from
the same architecture with re-initialised weights. A method whose maps hardly change does not explain the
model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

Explainer = Callable[[nn.Module, torch.Tensor], np.ndarray]


def random_map(seed: int = 0, shape: tuple[int, int] = (12, 16)) -> Explainer:
    """The floor of every benchmark: an independent uniform random map per image (fixed by ``seed``)."""

    def explain(model: nn.Module, images: torch.Tensor) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.random((len(images), *shape))

    return explain


def explainers(patch: int = 12, stride: int = 6, fills: tuple[str, ...] = ("black",), seed: int = 0) -> dict[str, Explainer]:
    """The model-based methods of this project by name: HiResCAM (the saliency paper's smoothing), Grad-CAM +
    and - (the thesis), guided backpropagation, occlusion with each fill (``patch``/``stride`` in pixels) and
    a random map."""
    from iqaxai.gradients import grad_cam, guided_backprop
    from iqaxai.perturbation import occlusion_map
    from iqaxai.saliency import hirescam

    methods: dict[str, Explainer] = {
        "HiResCAM": lambda m, x: hirescam(m, x).raw,
        "Grad-CAM +": lambda m, x: grad_cam(m, x, 1),
        "Grad-CAM -": lambda m, x: grad_cam(m, x, -1),
        "guided BP": guided_backprop,
    }
    for fill in fills:
        methods[f"occlusion ({fill})"] = (
            lambda m, x, fill=fill: np.abs(occlusion_map(m, x, patch=patch, stride=stride, fill=fill, progress=False)))
    methods["random"] = random_map(seed)
    return methods


def reinitialised(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every weight replaced, in eval mode: each module's ``reset_parameters`` (the
    layer's own initialisation), and for parameters of modules without one (e.g. a positional embedding or a
    quality token) a normal draw with the trained tensor's standard deviation; BatchNorm statistics reset."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in clone.modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            with torch.no_grad():
                for p in own:
                    std = float(p.std()) if p.numel() > 1 else 0.0
                    nn.init.normal_(p, 0.0, std if std > 0 else 0.02)
    for bn in clone.modules():
        if hasattr(bn, "reset_running_stats"):
            bn.reset_running_stats()
    return clone.eval()


def randomisation_check(explain: Explainer, model: nn.Module, images: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Per image, the Spearman correlation between the maps of the trained and the re-initialised model (near 1:
    the map does not depend on the weights). A constant map (either side) gives NaN: no ranking to compare."""
    trained = np.asarray(explain(model, images), dtype=np.float64)
    random = np.asarray(explain(reinitialised(model, seed), images), dtype=np.float64)
    if trained.shape != random.shape or len(trained) != len(images):
        raise ValueError(f"the explainer gave maps of shape {trained.shape} and {random.shape} for {len(images)} images")
    out = np.full(len(images), np.nan)
    for i, (a, b) in enumerate(zip(trained, random)):
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            out[i] = spearmanr(a.ravel(), b.ravel())[0]
    return out
