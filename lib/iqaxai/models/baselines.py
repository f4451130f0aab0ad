"""Two baselines: the SPAQ baseline (BL) and the Baseline of the saliency/IQA paper.

**SPAQBaseline** (Fang et al., "Perceptual quality assessment of smartphone photography", CVPR 2020;
h4nwei/SPAQ:``BL_demo.py``, ``Prepare_image.py``): torchvision ResNet50 with ``fc = Linear(2048, 1)``, i.e.
C5 -> global average pool -> linear (here the zero-initialised :class:`ScoreHead`, MOS on 0-100), ImageNet
normalisation. At test time the authors resize the shorter side to 512 (when both sides are at least 512) and
average the scores of 224x224 patches taken with stride 112 (plus a last row and column flush with the border);
``patch_eval=True`` does the patch averaging in eval mode (the resize is the data pipeline's job); training always
sees the whole input.

**SaliencyBaseline** ("Bridging saliency and IQA", Section III: "a backbone, GAP pooling, and MLP head" with
EfficientNet-B0 or ResNet-50): backbone -> global average pool -> MLP -> :class:`ScoreHead`, ImageNet
normalisation. The MLP follows the authors' earlier prototype (Alexkkir/experiments-with-saliency:``train.py``,
``LinearBlock``): ``Dropout(0.25) -> Linear -> BatchNorm1d -> ReLU`` per hidden size (1024, 256), then the final
linear layer without dropout (the :class:`ScoreHead`). ``efficientnet_b0`` is torchvision's (``features``, 1280
channels, IMAGENET1K_V1 weights when ``pretrained``); ``tiny``/``resnet18``/``resnet50`` use the C5 map of
:func:`~iqaxai.models.backbones.create_backbone`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from iqaxai.models.backbones import C5Map, load_weights
from iqaxai.models.base import IQAModel, ModelInfo, ScoreHead


def patch_starts(size: int, patch: int = 224, stride: int = 112) -> list[int]:
    """Patch offsets along one side: every ``stride`` plus a last one flush with the border (0 if too small)."""
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


class SPAQBaseline(IQAModel):
    """SPAQ BL: ResNet50 C5 -> GAP -> linear -> MOS on 0-100 (optionally averaged over 224x224 patches)."""

    def __init__(self, backbone: str = "resnet50", pretrained: bool = False, patch_eval: bool = False,
                 patch: int = 224, stride: int = 112):
        super().__init__()
        self.info = ModelInfo("spaq_baseline", source="Fang et al., CVPR 2020; h4nwei/SPAQ BL_demo.py",
                              extra={"backbone": backbone, "patch_eval": patch_eval})
        self.backbone = C5Map(backbone, pretrained)
        self.head = ScoreHead(self.backbone.channels)
        self.patch_eval, self.patch, self.stride = patch_eval, patch, stride

    def target_layer(self) -> nn.Module:
        """The backbone's last stage (C5)."""
        return self.backbone.last_stage()

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """C5 map of images in [0, 1]."""
        return self.backbone(self.normalise(x))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """MOS on 0-100 of whole images in [0, 1], [B]."""
        return self.head(self.feature_map(x).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1]."""
        if not self.patch_eval or self.training:
            return self.score(x)
        b = x.shape[0]
        ys, xs = patch_starts(x.shape[-2], self.patch, self.stride), patch_starts(x.shape[-1], self.patch, self.stride)
        crops = [x[..., y:y + self.patch, c:c + self.patch] for y in ys for c in xs]
        return self.score(torch.cat(crops)).view(len(crops), b).mean(dim=0)


class SaliencyBaseline(IQAModel):
    """Saliency-paper Baseline: backbone -> GAP -> MLP -> MOS on 0-100."""

    registry_name = "saliency_baseline"

    def __init__(self, backbone: str = "efficientnet_b0", pretrained: bool = False, hidden: Sequence[int] = (1024, 256),
                 dropout: float = 0.25):
        super().__init__()
        self.info = ModelInfo(self.registry_name, source="Bridging saliency and IQA (SACID), Section III",
                              extra={"backbone": backbone, "hidden": tuple(hidden)})
        if backbone == "efficientnet_b0":
            import torchvision.models as tvm

            weights = tvm.EfficientNet_B0_Weights.IMAGENET1K_V1
            net = (load_weights(lambda: tvm.efficientnet_b0(weights=weights), "EfficientNet-B0") if pretrained
                   else tvm.efficientnet_b0(weights=None))
            self.backbone: nn.Module = net.features
            width = int(net.classifier[-1].in_features)
        else:
            self.backbone = C5Map(backbone, pretrained)
            width = self.backbone.channels
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Dropout(dropout), nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(inplace=True)]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.head = ScoreHead(width)

    def target_layer(self) -> nn.Module:
        """The last convolutional block (EfficientNet's final 1x1 conv stage, or the C5 stage)."""
        return self.backbone.last_stage() if isinstance(self.backbone, C5Map) else self.backbone[-1]

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Last conv map of images in [0, 1] (the Grad-CAM target)."""
        return self.backbone(self.normalise(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1]."""
        return self.head(self.mlp(self.feature_map(x).mean(dim=(2, 3))))


class SaliencyBaselineResNet50(SaliencyBaseline):
    """The Baseline's ResNet50 variant (the paper's Table I row "Baseline-ResNet50")."""

    registry_name = "saliency_baseline_resnet50"

    def __init__(self, backbone: str = "resnet50", pretrained: bool = False, hidden: Sequence[int] = (1024, 256),
                 dropout: float = 0.25):
        super().__init__(backbone, pretrained, hidden, dropout)


def load_spaq_release(model: SPAQBaseline, path, normalisation: str = "none") -> SPAQBaseline:
    """Load the SPAQ authors' ``BL_release.pt`` (h4nwei/SPAQ) into a ResNet50 :class:`SPAQBaseline`, in place.

    Their ``Baseline`` is ``torchvision.models.resnet50`` with ``fc = Linear(2048, 1)`` kept as ``self.backbone``;
    ``BL_demo.py`` loads ``torch.load(path)['state_dict']``, so the keys are ``backbone.conv1.weight``,
    ``backbone.bn1.*``, ``backbone.layer1..4.*`` and ``backbone.fc.{weight,bias}``. Also accepted: a bare state dict,
    keys with a ``module.`` (DataParallel) prefix and keys without ``backbone.`` (a plain torchvision ResNet50).
    ``conv1``/``bn1`` map to ``backbone.body.stem.0/1``, ``layerN`` to ``backbone.body.stages.N-1`` and ``fc`` to the
    :class:`ScoreHead` as ``W/25, (b-50)/25``, so that ``50 + 25 * fc(h)`` equals their raw output ``W h + b`` (no
    rescaling; read as MOS on SPAQ's 0-100 scale, the MOS the authors trained on). The key check is strict
    (missing, unexpected or mis-shaped keys raise a ValueError listing them); only BatchNorm
    ``num_batches_tracked`` counters, unused in eval mode, may be absent. ``normalisation`` replaces the model's
    input normalisation: ``"none"`` by default, because the authors' demo (``Prepare_image.Image_load``) feeds
    ``ToTensor()`` images in [0, 1] without a mean/std normalisation. Their test-time protocol (shorter side
    resized to 512, 224x224 patches at stride 112, mean score) is ``patch_eval=True`` plus the resize in the data
    pipeline. Load into a float64 model for an exact float64 head (``W/25`` is rounded in float32).
    """
    import dataclasses
    import re
    from pathlib import Path

    from iqaxai.models.base import SCORE_CENTER, SCORE_SCALE, normalise

    if not isinstance(model, SPAQBaseline):
        raise TypeError(f"model must be a SPAQBaseline, got {type(model).__name__}")
    normalise(torch.zeros(1, 3, 1, 1), normalisation)  # a ValueError for an unknown kind
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SPAQ BL checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path} is not a state dict (or a dict with a 'state_dict' entry) of tensors")
    stem = {"conv1": "backbone.body.stem.0", "bn1": "backbone.body.stem.1"}
    mapped: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in state.items():
        k = key[len("module."):] if key.startswith("module.") else key
        k = k[len("backbone."):] if k.startswith("backbone.") else k
        first, _, rest = k.partition(".")
        layer = re.fullmatch(r"layer([1-4])", first)
        if first in stem:
            mapped[f"{stem[first]}.{rest}"] = value
        elif layer:
            mapped[f"backbone.body.stages.{int(layer.group(1)) - 1}.{rest}"] = value
        elif first == "fc" and rest in ("weight", "bias"):
            v = value.double()
            mapped[f"head.fc.{rest}"] = v / SCORE_SCALE if rest == "weight" else (v - SCORE_CENTER) / SCORE_SCALE
        else:
            unexpected.append(key)
    own = model.state_dict()
    unexpected += [k for k in mapped if k not in own]
    missing = [k for k in own if k not in mapped and not k.endswith("num_batches_tracked")]
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
              for k, v in mapped.items() if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        def show(items: list[str]) -> str:
            return ", ".join(items[:8]) + (f" ... ({len(items)} in all)" if len(items) > 8 else "") or "none"

        raise ValueError(f"{path} does not match a ResNet50 SPAQBaseline (is it h4nwei/SPAQ's BL_release.pt?): "
                         f"missing keys: {show(missing)}; unexpected keys: {show(unexpected)}; "
                         f"shape mismatches: {show(shapes)}")
    for key in own:
        if key not in mapped:  # num_batches_tracked only
            mapped[key] = own[key]
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in mapped.items()}, strict=True)
    model.info = dataclasses.replace(model.info, normalisation=normalisation,
                                     source=f"{model.info.source}; weights: {path.name} (h4nwei/SPAQ)")
    return model
