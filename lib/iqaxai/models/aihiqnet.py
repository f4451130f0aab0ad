"""AIHIQnet (You and Korhonen): attention-integrated hierarchical IQA on a feature pyramid.

Architecture values follow the authors' TF-Keras code (junyongyou/aihiqnet):

- backbone: ResNet50 returning C2..C5 (strides 4, 8, 16, 32);
- FPN-like fusion (``src/image_quality/layers/fusion.py:fusion_layer``, ``feature_size = 256``): 1x1 lateral
  convs with bias to ``feature_size``; top-down pathway ``P_{k} = lateral(C_k) + upsample(P_{k+1})`` with nearest
  upsampling to the lower level's size (the lateral sum, before smoothing, is what is passed down); a 3x3
  smoothing conv on every level P2..P5; P6 = 3x3 stride-2 conv on C5. Output [P2, P3, P4, P5, P6];
- per level ``channel_spatial_attention`` (``src/image_quality/models/prediction_model_contrast_sensitivity.py``),
  with its own weights at every level:
  channel weights = average of a shared ``Dense(C, sigmoid)`` (he-normal, zero bias) applied to the GAP and the
  GMP vectors; spatial weights = ``Conv2D(1, 7x7, 'same', sigmoid, no bias)`` (he-normal) on
  concat[channel-mean, channel-max]; ``out = x * ch * sp`` -> GAP -> ``Dense(n_levels, softmax)``
  (``Dense(1)`` linear when ``n_levels == 1``, the MOS variant used for SPAQ; here a zero-initialised
  :class:`ScoreHead` on 0-100);
- final prediction = ``Average`` of the five level predictions
  (``src/image_quality/models/image_quality_model.py:phiq_net``);
- input scaled to [-1, 1] (``x / 127.5 - 1``).

Keras ``'same'`` padding of the stride-2 P6 conv pads bottom/right only; PyTorch's symmetric ``padding=1`` gives
the same output size (``ceil(n / 2)``) with a half-pixel shift, irrelevant to randomly or ImageNet-initialised
training. Fusion convs and the softmax layers use Keras' default glorot-uniform init with zero bias. ``n_levels``
is the number of opinion bins (5 for KonIQ's distribution, as in TRIQ).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from iqaxai.models.backbones import create_backbone
from iqaxai.models.base import IQAModel, ModelInfo, ScoreHead, distribution_to_score


def _he_normal_(weight: torch.Tensor) -> None:
    """Keras ``he_normal``: a normal truncated at 2 std whose truncated std is ``sqrt(2 / fan_in)``."""
    fan_in = weight.shape[1] * (weight[0, 0].numel() if weight.ndim > 2 else 1)
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978  # Keras' correction for the truncation
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


class FusionFPN(nn.Module):
    """FPN-like fusion of [C2, C3, C4, C5] into [P2, P3, P4, P5, P6], all with ``feature_size`` channels."""

    def __init__(self, in_channels: list[int], feature_size: int = 256):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, feature_size, 1) for c in in_channels)
        self.smooth = nn.ModuleList(nn.Conv2d(feature_size, feature_size, 3, padding=1) for _ in in_channels)
        self.p6 = nn.Conv2d(in_channels[-1], feature_size, 3, stride=2, padding=1)
        for conv in [*self.lateral, *self.smooth, self.p6]:  # Keras Conv2D defaults
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        merged: list[torch.Tensor] = [self.lateral[-1](feats[-1])]
        for k in range(len(feats) - 2, -1, -1):  # C4, C3, C2: lateral + nearest-upsampled merged level above
            lat = self.lateral[k](feats[k])
            merged.insert(0, lat + F.interpolate(merged[0], size=lat.shape[-2:], mode="nearest"))
        return [smooth(m) for smooth, m in zip(self.smooth, merged)] + [self.p6(feats[-1])]


class ChannelSpatialAttention(nn.Module):
    """Channel and spatial attention of one pyramid level, followed by GAP and the level's prediction layer."""

    def __init__(self, channels: int, n_levels: int = 5):
        super().__init__()
        self.shared = nn.Linear(channels, channels)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        _he_normal_(self.shared.weight)
        nn.init.zeros_(self.shared.bias)
        _he_normal_(self.spatial.weight)
        self.n_levels = n_levels
        self.head: nn.Module = ScoreHead(channels) if n_levels == 1 else nn.Linear(channels, n_levels)
        if n_levels > 1:  # Keras Dense defaults
            nn.init.xavier_uniform_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, 1, 1] in (0, 1): mean of the shared sigmoid dense layer on the GAP and GMP vectors."""
        w = 0.5 * (torch.sigmoid(self.shared(x.mean(dim=(2, 3)))) + torch.sigmoid(self.shared(x.amax(dim=(2, 3)))))
        return w[:, :, None, None]

    def spatial_weights(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, H, W] in (0, 1): sigmoid 7x7 conv of the channel-mean and channel-max maps."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.spatial(pooled))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Attended feature map ``x * ch * sp`` [B, C, H, W]."""
        return x * self.channel_weights(x) * self.spatial_weights(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Level prediction: [B, n_levels] probabilities, or [B] scores on 0-100 when ``n_levels == 1``."""
        h = self.head(self.features(x).mean(dim=(2, 3)))
        return h if self.n_levels == 1 else h.softmax(dim=-1)


class AIHIQnet(IQAModel):
    """AIHIQnet: backbone -> FPN fusion P2..P6 -> per-level attention heads, predictions averaged."""

    def __init__(self, backbone: str = "resnet50", pretrained: bool = False, feature_size: int = 256,
                 n_levels: int = 5):
        super().__init__()
        if n_levels < 1:
            raise ValueError(f"n_levels must be >= 1, got {n_levels}")
        self.info = ModelInfo("aihiqnet", output="score" if n_levels == 1 else "distribution",
                              normalisation="minus_one_one", source="You & Korhonen; junyongyou/aihiqnet",
                              extra={"backbone": backbone, "feature_size": feature_size})
        self.backbone = create_backbone(backbone, pretrained)
        self.fusion = FusionFPN(list(self.backbone.channels), feature_size)
        self.attention = nn.ModuleList(ChannelSpatialAttention(feature_size, n_levels) for _ in range(5))
        self.n_levels = n_levels

    def target_layer(self) -> nn.Module:
        """The backbone's last stage (C5)."""
        return self.backbone.stages[-1]

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pyramid maps [P2, P3, P4, P5, P6] of images in [0, 1]."""
        return self.fusion(self.backbone(self.normalise(x)))

    def level_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five per-level predictions (distributions [B, n_levels], or scores [B] when ``n_levels == 1``)."""
        return [att(p) for att, p in zip(self.attention, self.pyramid(x))]

    def distribution(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted opinion distribution [B, n_levels]: average of the five level distributions."""
        if self.n_levels == 1:
            raise ValueError("this AIHIQnet predicts a MOS (n_levels=1), not a distribution")
        return torch.stack(self.level_predictions(x)).mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1]."""
        if self.n_levels == 1:
            return torch.stack(self.level_predictions(x)).mean(dim=0)
        return distribution_to_score(self.distribution(x))
