"""KonCept512 (Hosu, Lin, Sziranyi and Saupe, "KonIQ-10k", IEEE TIP 2020): InceptionResNetV2 + FC head.

Values from the official TF-Keras notebook (subpic/koniq:``koncept512_train_test_py3.ipynb``) and its PyTorch
port (ZhengyuZhao/koniq-PyTorch:``koncept512_train_test_pytorch.ipynb``):

- backbone: ImageNet InceptionResNetV2 without its head, global average pooled (1536-d); here timm's
  ``inception_resnet_v2`` with ``num_classes=0`` (the same Cadene/Google weights the port uses);
- head ``fc_layers(fc_sizes=[2048, 1024, 256, 1], dropout_rates=[0.25, 0.25, 0.5, 0], batch_norm=2)``, in the
  port's order ``Linear -> ReLU -> BatchNorm1d -> Dropout`` per hidden size, then ``Linear(256, 1)`` (here the
  zero-initialised :class:`ScoreHead`, MOS on 0-100 as in the original's MSE on the 0-100 MOS);
- input 384x512 (``koniq10k_512x384``), InceptionResNetV2 preprocessing ``x / 127.5 - 1`` (the port's
  ``Normalize(0.5, 0.5)``). ``ModelInfo.input_size`` records 384x512; ``forward`` accepts any size the backbone
  accepts (at least 75x75 for InceptionResNetV2).

For the smoke profile ``backbone`` may be ``tiny``, ``resnet18`` or ``resnet50`` (the C5 map of
:func:`~iqaxai.models.backbones.create_backbone`, global average pooled).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from iqaxai.models.backbones import C5Map, load_weights
from iqaxai.models.base import IQAModel, ModelInfo, ScoreHead


def _inception_resnet_v2(pretrained: bool) -> tuple[nn.Module, int]:
    """timm InceptionResNetV2 returning its pooled 1536-d features."""
    try:
        import timm
    except ImportError as error:  # pragma: no cover - timm is an optional extra
        raise ImportError("KonCept512 with backbone='inception_resnet_v2' needs timm: "
                          "pip install 'iqaxai[xai]'") from error

    def build() -> nn.Module:
        return timm.create_model("inception_resnet_v2", pretrained=pretrained, num_classes=0)

    net = load_weights(build, "InceptionResNetV2 (timm)") if pretrained else build()
    return net, int(net.num_features)


class KonCept512(IQAModel):
    """KonCept512: pooled backbone features -> FC head -> MOS on 0-100."""

    def __init__(
        self,
        backbone: str = "inception_resnet_v2",
        pretrained: bool = False,
        fc_sizes: Sequence[int] = (2048, 1024, 256),
        dropout: Sequence[float] = (0.25, 0.25, 0.5),
        input_size: tuple[int, int] = (384, 512),
    ):
        super().__init__()
        fc_sizes, dropout = tuple(fc_sizes), tuple(dropout)
        if len(fc_sizes) != len(dropout):
            raise ValueError(f"fc_sizes {fc_sizes} and dropout {dropout} must have the same length")
        self.info = ModelInfo("koncept512", normalisation="minus_one_one", input_size=tuple(input_size),
                              source="Hosu et al., IEEE TIP 2020; subpic/koniq, ZhengyuZhao/koniq-PyTorch",
                              extra={"backbone": backbone, "fc_sizes": fc_sizes})
        if backbone == "inception_resnet_v2":
            self.backbone, width = _inception_resnet_v2(pretrained)
        else:
            self.backbone = C5Map(backbone, pretrained)
            width = self.backbone.channels
        layers: list[nn.Module] = []
        for size, p in zip(fc_sizes, dropout):
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True), nn.BatchNorm1d(size), nn.Dropout(p)]
            width = size
        self.fc = nn.Sequential(*layers)
        self.head = ScoreHead(width)

    def target_layer(self) -> nn.Module:
        """The last convolutional layer: timm's last feature module (``conv2d_7b``) or the C5 stage."""
        if isinstance(self.backbone, C5Map):
            return self.backbone.last_stage()
        return self.backbone.get_submodule(self.backbone.feature_info[-1]["module"])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features [B, D] of images in [0, 1] (a C5 map is global average pooled)."""
        f = self.backbone(self.normalise(x))
        return f.mean(dim=(2, 3)) if f.ndim == 4 else f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1]."""
        return self.head(self.fc(self.features(x)))
