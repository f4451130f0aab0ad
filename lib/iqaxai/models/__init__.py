"""IQA models behind one factory: ``create_model(name, profile=None, **overrides)``.

Every model takes [B, 3, H, W] images in [0, 1] and returns [B] quality scores on 0-100 (higher is
better); its :class:`~iqaxai.models.base.ModelInfo` says what it predicts, and its ``target_layer()`` is
the layer its declared explanation method (Grad-CAM) reads. Each registered name has one declarative
:class:`ModelSpec`: the factory, constructor presets and training schedule per profile (the schedule holds
the input size), the explanation method, the display name, the score direction and where the pretrained
weights come from. Nothing else in the project switches on model names.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from iqaxai.models.base import IQAModel, ModelInfo
from iqaxai.profiles import check_profile


@dataclass(frozen=True)
class ModelSpec:
    """Everything the project knows about one registered model."""

    name: str
    factory: str  # "module:Class"
    display: str
    description: str
    presets: Mapping[str, Mapping[str, Any]]  # profile -> constructor keyword arguments
    train: Mapping[str, Mapping[str, Any]]  # profile -> TrainConfig fields (image_size = the input size)
    weights: str = ""  # where the pretrained weights of the paper profile come from
    explanation: str = "grad_cam"  # the gradient explanation the papers use for it: grad_cam or guided_backprop
    lower_better: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def input_size(self, profile: str) -> tuple[int, int] | None:
        """(H, W) the model is trained and run at in ``profile`` (None: the images' stored size)."""
        size = self.train[check_profile(profile)].get("image_size")
        return tuple(size) if size else None

    def build(self, profile: str | None = None, **overrides) -> IQAModel:
        """The model with ``profile``'s preset arguments (``overrides`` win)."""
        module, cls = self.factory.split(":")
        kwargs = {**(self.presets[check_profile(profile)] if profile else {}), **overrides}
        return getattr(importlib.import_module(module), cls)(**kwargs)


#: Smoke schedules: 10 epochs, warm-up + cosine, inputs as stored in the demo world (96x128). On the demo world of
#: rule 3 (1600 training images) the validation PLCC of DBCNN and TRIQ passes 0.9 by epoch 7-9 of a 12-epoch run.
_SMOKE = {"epochs": 10, "batch_size": 16, "lr": 1e-3, "warmup_epochs": 1.0}
#: Paper schedules of the models without their own recipe: ImageNet backbone fine-tuned at 384x512.
_PAPER = {"epochs": 30, "batch_size": 16, "lr": 1e-4, "weight_decay": 1e-4, "warmup_epochs": 1, "image_size": (384, 512),
          "preload": False, "num_workers": 8}

_SPECS = [
    ModelSpec(
        "triq", "iqaxai.models.triq:TRIQ", "TRIQ", "TRIQ: ResNet50 + transformer, positional masking (ICIP 2021/2023)",
        # smoke: stride 16 keeps a 6x8 token map (2x2 tokens per block) at 96x128; paper: the ICIP 2023 masking
        # runs on the unpooled 24x32 map at 768x1024 (8x8 = 64 feature vectors per block, Section 2)
        presets={"smoke": {"backbone": "tiny_s16", "pretrained": False},
                 "paper": {"backbone": "resnet50", "pretrained": True, "pool": False}},
        # smoke: the post-LN transformer trains stably only at 5e-4 (2e-3 stalled on the demo world);
        # paper: junyongyou/triq train_triq.py: Adam 5e-5, warm-up 10 epochs, cosine, 120 epochs, batch 8, early stop 40
        train={"smoke": {**_SMOKE, "lr": 5e-4},
               "paper": {"epochs": 120, "batch_size": 8, "lr": 5e-5, "weight_decay": 0.0, "warmup_epochs": 10,
                         "image_size": (768, 1024), "patience": 40, "preload": False, "num_workers": 8}},
        weights="ResNet50 ImageNet (torchvision IMAGENET1K_V1); transformer trained here",
    ),
    ModelSpec(
        "aihiqnet", "iqaxai.models.aihiqnet:AIHIQnet", "AIHIQnet", "attention integrated hierarchical network (You & Korhonen)",
        presets={"smoke": {"backbone": "tiny", "pretrained": False, "feature_size": 32},
                 "paper": {"backbone": "resnet50", "pretrained": True}},
        # junyongyou/aihiqnet train.py: Adam 5e-5, warm-up 10 epochs, cosine, 100 epochs, batch 8
        train={"smoke": _SMOKE,
               "paper": {"epochs": 100, "batch_size": 8, "lr": 5e-5, "weight_decay": 0.0, "warmup_epochs": 10,
                         "image_size": (768, 1024), "patience": 40, "preload": False, "num_workers": 8}},
        weights="ResNet50 ImageNet (torchvision IMAGENET1K_V1); pyramid and heads trained here",
    ),
    ModelSpec(
        "koncept512", "iqaxai.models.koncept:KonCept512", "KonCept", "InceptionResNetV2 + FC head (Hosu et al. 2020)",
        # smoke: no dropout and 15 epochs (with the original 0.25/0.25/0.5 the small head trains erratically on the
        # demo world: test PLCC 0.81 in one run, validation 0.72 in another; without, 0.80-0.93 after 10 epochs
        # depending on the thread count, 0.885 after 15 with two threads)
        presets={"smoke": {"backbone": "tiny", "pretrained": False, "fc_sizes": (128, 64, 32), "dropout": (0.0, 0.0, 0.0)},
                 "paper": {"backbone": "inception_resnet_v2", "pretrained": True}},
        # paper: subpic/koniq KonCept512: Adam 1e-4, 40 epochs, batch 16, 512x384 (the 20-epoch 2e-5 stage folded into the decay)
        train={"smoke": {**_SMOKE, "epochs": 15},
               "paper": {"epochs": 60, "batch_size": 16, "lr": 1e-4, "weight_decay": 0.0, "warmup_epochs": 1,
                         "image_size": (384, 512), "preload": False, "num_workers": 8}},
        weights="InceptionResNetV2 ImageNet (timm inception_resnet_v2); head trained here",
    ),
    ModelSpec(
        "dbcnn", "iqaxai.models.dbcnn:DBCNN", "DBCNN", "VGG16 + synthetic-distortion CNN, bilinear pooling (Zhang et al. 2020)",
        presets={"smoke": {"backbone": "tiny", "pretrained": False}, "paper": {"backbone": "vgg16", "pretrained": True}},
        # pyiqa train_DBCNN_koniq10k.yml: 512x384, batch 8; Adam 1e-5 fine-tuning of all layers
        train={"smoke": _SMOKE,
               "paper": {"epochs": 30, "batch_size": 8, "lr": 1e-5, "weight_decay": 5e-4, "warmup_epochs": 1,
                         "image_size": (384, 512), "preload": False, "num_workers": 8}},
        weights="VGG16 ImageNet (torchvision IMAGENET1K_V1); SCNN branch randomly initialised (the authors pre-train it on "
                "synthetic distortions)",
        # two branches make a single Grad-CAM layer a poor choice (thesis 4.6)
        explanation="guided_backprop",
    ),
    ModelSpec(
        "swin_iqa", "iqaxai.models.swin_iqa:SwinIQA", "Swin-IQA", "Swin transformer + regression head",
        # smoke: without the final LayerNorm (see SwinIQA), 5e-4: test PLCC 0.88 on the rule-3 demo world (0.67 with it)
        presets={"smoke": {"backbone": "swin_tiny_smoke", "pretrained": False, "hidden": (), "final_norm": False},
                 "paper": {"backbone": "swin_t", "pretrained": True}},
        # paper: no public recipe: AdamW-style fine-tuning of an ImageNet Swin-T at 384x512
        train={"smoke": {**_SMOKE, "lr": 5e-4},
               "paper": {"epochs": 30, "batch_size": 16, "lr": 2e-5, "weight_decay": 0.05, "warmup_epochs": 2,
                         "image_size": (384, 512), "preload": False, "num_workers": 8}},
        weights="Swin-T ImageNet (torchvision IMAGENET1K_V1); head trained here",
    ),
    ModelSpec(
        "cnniqa", "iqaxai.models.cnniqa:CNNIQA", "CNNIQA", "shallow CNN with max/min pooling (Kang et al. 2014)",
        presets={"smoke": {}, "paper": {}}, train={"smoke": _SMOKE, "paper": _PAPER},
        weights="none (trained from scratch, as the original)",
    ),
    ModelSpec(
        "spaq_baseline", "iqaxai.models.baselines:SPAQBaseline", "SPAQ baseline",
        "SPAQ baseline: ResNet50 + linear head (Fang et al. 2020)",
        presets={"smoke": {"backbone": "tiny", "pretrained": False}, "paper": {"backbone": "resnet50", "pretrained": True}},
        train={"smoke": _SMOKE, "paper": _PAPER},
        weights="ResNet50 ImageNet (torchvision IMAGENET1K_V1); the authors' BL_release.pt loads with baselines.load_spaq_release",
        explanation="guided_backprop",
    ),
    ModelSpec(
        "saliency_baseline", "iqaxai.models.baselines:SaliencyBaseline", "Baseline",
        "saliency paper Baseline: EfficientNet-B0 + GAP + MLP",
        presets={"smoke": {"backbone": "tiny", "pretrained": False},
                 "paper": {"backbone": "efficientnet_b0", "pretrained": True}},
        train={"smoke": _SMOKE, "paper": _PAPER},
        weights="EfficientNet-B0 ImageNet (torchvision IMAGENET1K_V1); head trained here",
    ),
    ModelSpec(
        "saliency_baseline_resnet50", "iqaxai.models.baselines:SaliencyBaselineResNet50", "Baseline (ResNet50)",
        "saliency paper Baseline, ResNet50 variant: ResNet50 + GAP + MLP",
        # smoke: the same tiny backbone as saliency_baseline (the variant differs only in the paper backbone)
        presets={"smoke": {"backbone": "tiny", "pretrained": False},
                 "paper": {"backbone": "resnet50", "pretrained": True}},
        train={"smoke": _SMOKE, "paper": _PAPER},
        weights="ResNet50 ImageNet (torchvision IMAGENET1K_V1); head trained here",
    ),
    # the dual-task Baselines (saliency paper III-C): trained by notebook 11 on an IQA set with saliency maps
    # (TrainConfig.saliency_column), with the Baseline's backbones and schedules
    ModelSpec(
        "baseline_sal_loss", "iqaxai.models.dual_task:SalLossBaseline", "Baseline-Sal-Loss",
        "saliency paper Baseline + 1x1 conv + sigmoid saliency decoder, IQA + saliency loss",
        presets={"smoke": {"backbone": "tiny", "pretrained": False},
                 "paper": {"backbone": "efficientnet_b0", "pretrained": True}},
        train={"smoke": _SMOKE, "paper": _PAPER},
        weights="EfficientNet-B0 ImageNet (torchvision IMAGENET1K_V1); head and decoder trained here",
    ),
    ModelSpec(
        "baseline_gradcam_loss", "iqaxai.models.dual_task:GradCAMLossBaseline", "Baseline-GradCAM-Loss",
        "saliency paper Baseline trained with its own Grad-CAM in a saliency loss (no extra parameters)",
        presets={"smoke": {"backbone": "tiny", "pretrained": False},
                 "paper": {"backbone": "efficientnet_b0", "pretrained": True}},
        train={"smoke": _SMOKE, "paper": _PAPER},
        weights="EfficientNet-B0 ImageNet (torchvision IMAGENET1K_V1); head trained here",
    ),
]

#: name -> spec of every registered model.
SPECS: dict[str, ModelSpec] = {s.name: s for s in _SPECS}

#: Table I of the ICIP 2023 paper: the five models of the zeroing experiment.
TABLE_I_MODELS = ("triq", "aihiqnet", "koncept512", "dbcnn", "swin_iqa")


def _key(name: str) -> str:
    return name.lower().replace("-", "_")


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model (a KeyError lists the registered names)."""
    key = _key(name)
    if key not in SPECS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return SPECS[key]


def display_name(name: str) -> str:
    """The papers' name of a model (registered names; anything else is returned as given)."""
    return SPECS[_key(name)].display if _key(name) in SPECS else name


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``."""
    return sorted(n for n in SPECS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, profile: str | None = None, **overrides) -> IQAModel:
    """Build a registered model; ``profile`` (smoke/paper) picks preset arguments, ``overrides`` win.

    ``"pyiqa:<metric>"`` wraps a pyiqa no-reference metric (inference on a machine with pyiqa installed).
    """
    if name.lower().startswith("pyiqa:"):
        from iqaxai.models.pyiqa_adapter import PyiqaModel

        return PyiqaModel(name.split(":", 1)[1], **overrides)
    return get_spec(name).build(profile, **overrides)


def describe_models() -> dict[str, str]:
    """One-line description of every registered model."""
    return {n: SPECS[n].description for n in list_models()}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["IQAModel", "ModelInfo", "ModelSpec", "SPECS", "TABLE_I_MODELS", "create_model", "get_spec", "display_name",
           "list_models", "describe_models", "count_parameters"]
