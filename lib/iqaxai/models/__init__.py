"""IQA models behind one factory: ``create_model(name, profile=None, **overrides)``.

Every model takes [B, 3, H, W] images in [0, 1] and returns [B] quality scores on 0-100 (higher is
better); its :class:`~iqaxai.models.base.ModelInfo` says what it predicts. ``profile="smoke"`` picks
small randomly initialised backbones (offline, CPU, minutes on the demo world); ``profile="paper"`` the
papers' ImageNet-pretrained backbones. Keyword arguments override both.
"""

from __future__ import annotations

import fnmatch
import importlib

from torch import nn

from iqaxai.models.base import IQAModel, ModelInfo

#: name -> (module, class, description)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "triq": ("iqaxai.models.triq", "TRIQ", "TRIQ: ResNet50 + transformer, positional masking (ICIP 2021/2023)"),
    "aihiqnet": ("iqaxai.models.aihiqnet", "AIHIQnet", "attention integrated hierarchical network (You & Korhonen)"),
    "koncept512": ("iqaxai.models.koncept", "KonCept512", "InceptionResNetV2 + FC head (Hosu et al. 2020)"),
    "dbcnn": ("iqaxai.models.dbcnn", "DBCNN", "VGG16 + synthetic-distortion CNN, bilinear pooling (Zhang et al. 2020)"),
    "swin_iqa": ("iqaxai.models.swin_iqa", "SwinIQA", "Swin transformer + regression head"),
    "cnniqa": ("iqaxai.models.cnniqa", "CNNIQA", "shallow CNN with max/min pooling (Kang et al. 2014)"),
    "spaq_baseline": ("iqaxai.models.baselines", "SPAQBaseline", "SPAQ baseline: ResNet50 + linear head (Fang et al. 2020)"),
    "saliency_baseline": ("iqaxai.models.baselines", "SaliencyBaseline", "saliency paper Baseline: EfficientNet-B0 + GAP + MLP"),
}

#: Table I of the ICIP 2023 paper: the five models of the zeroing experiment.
TABLE_I_MODELS = ("triq", "aihiqnet", "koncept512", "dbcnn", "swin_iqa")

#: Per-profile constructor arguments; ``create_model`` keyword arguments override them.
PRESETS: dict[str, dict[str, dict]] = {
    "smoke": {
        # stride 16 keeps a 6x8 token map (2x2 tokens per block of the 3x4 grid) at the demo world's 96x128
        "triq": {"backbone": "tiny_s16", "pretrained": False},
        "aihiqnet": {"backbone": "tiny", "pretrained": False, "feature_size": 32},
        "koncept512": {"backbone": "tiny", "pretrained": False, "fc_sizes": (128, 64, 32)},
        "dbcnn": {"backbone": "tiny", "pretrained": False},
        "swin_iqa": {"backbone": "swin_tiny_smoke", "pretrained": False, "hidden": ()},
        "cnniqa": {},
        "spaq_baseline": {"backbone": "tiny", "pretrained": False},
        "saliency_baseline": {"backbone": "tiny", "pretrained": False},
    },
    "paper": {
        "triq": {"backbone": "resnet50", "pretrained": True},
        "aihiqnet": {"backbone": "resnet50", "pretrained": True},
        "koncept512": {"backbone": "inception_resnet_v2", "pretrained": True},
        "dbcnn": {"backbone": "vgg16", "pretrained": True},
        "swin_iqa": {"backbone": "swin_t", "pretrained": True},
        "cnniqa": {},
        "spaq_baseline": {"backbone": "resnet50", "pretrained": True},
        "saliency_baseline": {"backbone": "efficientnet_b0", "pretrained": True},
    },
}


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def create_model(name: str, profile: str | None = None, **overrides) -> IQAModel:
    """Build a registered model; ``profile`` (smoke/paper) picks preset arguments, ``overrides`` win.

    ``"pyiqa:<metric>"`` wraps a pyiqa no-reference metric (inference on a machine with pyiqa installed).
    """
    if name.lower().startswith("pyiqa:"):
        from iqaxai.models.pyiqa_adapter import PyiqaModel

        return PyiqaModel(name.split(":", 1)[1], **overrides)
    key = name.lower().replace("-", "_")
    if key not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    if profile is not None and profile not in PRESETS:
        raise ValueError(f"profile must be one of {sorted(PRESETS)}, got {profile!r}")
    module, cls, _ = _REGISTRY[key]
    kwargs = {**(PRESETS[profile][key] if profile else {}), **overrides}
    return getattr(importlib.import_module(module), cls)(**kwargs)


def describe_models() -> dict[str, str]:
    """One-line description of every registered model."""
    return {n: d for n, (_, _, d) in sorted(_REGISTRY.items())}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["IQAModel", "ModelInfo", "TABLE_I_MODELS", "PRESETS", "create_model", "list_models", "describe_models", "count_parameters"]
