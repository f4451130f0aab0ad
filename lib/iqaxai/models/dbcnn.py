"""DBCNN (Zhang, Ma, Yan, Deng and Wang, "Blind image quality assessment using a deep bilinear CNN", TCSVT 2020).

Values follow pyiqa's port (chaofengc/IQA-PyTorch:``pyiqa/archs/dbcnn_arch.py``):

- ``features1``: ImageNet VGG16 ``features`` without the last max-pool (512 channels, stride 16);
- ``features2``: the SCNN branch, 9 conv3x3-BN-ReLU layers with channels 48, 48, 64, 64, 64, 64, 128, 128, 128
  and strides 1, 2, 1, 2, 1, 2, 1, 1, 2 (4 stride-2 convs: stride 16, 128 channels);
- the SCNN map is resized bilinearly to the VGG map's size; bilinear pooling ``X1 X2^T / (H W)``
  (512 x 128 = 65536-d), ``sqrt(x + 1e-8)``, L2 normalisation, ``Linear(65536, 1)`` (here the zero-initialised
  :class:`ScoreHead`);
- ImageNet mean/std normalisation.

Differences, all deliberate:

- the original pre-trains SCNN to classify synthetic distortion types and levels (pyiqa ships its weights as
  ``DBCNN_scnn-7ea73d75.pth``); offline there is no such checkpoint, so SCNN starts from a random (kaiming) init
  and is trained jointly with the rest of the model, in the smoke profile as in the paper profile;
- the square root is the signed ``sign(x) * sqrt(|x| + 1e-8)``: identical to the original for the non-negative
  (post-ReLU) features both branches produce, and finite for any input;
- ``scnn_width`` is SCNN's output width (128 in the original; the other widths scale with it). ``None`` gives 128
  with ``vgg16``/``resnet*`` and 16 with ``tiny`` (SCNN's first two convs run at full resolution and dominate the
  smoke model's cost: width 16 is about 3x faster than 32);
- ``backbone="tiny"`` (or ``resnet18``/``resnet50``) uses the stem and first three stages of
  :func:`~iqaxai.models.backbones.create_backbone`, i.e. C4 at stride 16, in place of VGG16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from iqaxai.models.backbones import create_backbone, load_weights
from iqaxai.models.base import IQAModel, ModelInfo, ScoreHead

#: SCNN conv widths as fractions of its output width (48, 48, 64, 64, 64, 64, 128, 128, 128 at 128) and strides.
_SCNN_FRACTIONS = (0.375, 0.375, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0)
_SCNN_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 2)


def bilinear_pool(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Bilinear pooling of two maps of equal spatial size: [B, C1, H, W], [B, C2, H, W] -> [B, C1 * C2].

    Entry ``(i, j)`` (row-major) is ``sum_{h,w} x1[i, h, w] * x2[j, h, w] / (H W)``.
    """
    if x1.shape[0] != x2.shape[0] or x1.shape[-2:] != x2.shape[-2:]:
        raise ValueError(f"maps must share batch and spatial size, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    b, _, h, w = x1.shape
    return torch.bmm(x1.flatten(2), x2.flatten(2).transpose(1, 2)).flatten(1) / (h * w)


def signed_sqrt(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``sign(x) * sqrt(|x| + eps)``: the original ``sqrt(x + eps)`` for ``x >= 0``, finite elsewhere."""
    return torch.sign(x) * torch.sqrt(x.abs() + eps)


def scnn(width: int = 128) -> nn.Sequential:
    """SCNN feature branch: 9 conv3x3-BN-ReLU layers, 4 of them stride 2, ending with ``width`` channels."""
    layers: list[nn.Module] = []
    cin = 3
    for fraction, stride in zip(_SCNN_FRACTIONS, _SCNN_STRIDES):
        cout = max(1, round(width * fraction))
        conv = nn.Conv2d(cin, cout, 3, stride, 1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*layers)


def vgg16_features(pretrained: bool = False) -> nn.Sequential:
    """torchvision VGG16 ``features`` without the last max-pool (512 channels, stride 16)."""
    import torchvision.models as tvm
    from torchvision.models import vgg

    if pretrained:
        net = load_weights(lambda: tvm.vgg16(weights=tvm.VGG16_Weights.IMAGENET1K_V1), "VGG16")
        features = net.features
    else:  # the conv layers alone, initialised as torchvision's VGG does (skips the 120 M-parameter classifier)
        features = vgg.make_layers(vgg.cfgs["D"])
        for m in features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return nn.Sequential(*list(features)[:-1])


class DBCNN(IQAModel):
    """DBCNN: bilinear pooling of an ImageNet branch and a distortion (SCNN) branch -> MOS on 0-100."""

    def __init__(self, backbone: str = "vgg16", pretrained: bool = False, scnn_width: int | None = None):
        super().__init__()
        if scnn_width is None:
            scnn_width = 16 if backbone == "tiny" else 128
        if backbone == "vgg16":
            self.features1: nn.Module = vgg16_features(pretrained)
            c1 = 512
        else:
            net = create_backbone(backbone, pretrained)
            self.features1 = nn.Sequential(net.stem, *net.stages[:3])
            c1 = net.channels[2]
        self.features2 = scnn(scnn_width)
        c2 = self.features2[-2].num_features
        self.info = ModelInfo("dbcnn", source="Zhang et al., TCSVT 2020; pyiqa/archs/dbcnn_arch.py",
                              extra={"backbone": backbone, "scnn_width": scnn_width, "bilinear_dim": c1 * c2})
        self.head = ScoreHead(c1 * c2)

    def target_layer(self) -> nn.Module:
        """The last layer of the ImageNet branch (its declared explanation is guided backpropagation)."""
        return self.features1[-1]

    def feature_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two stride-16 maps (X1, X2 resized to X1's size) of images in [0, 1]."""
        x = self.normalise(x)
        x1, x2 = self.features1(x), self.features2(x)
        if x2.shape[-2:] != x1.shape[-2:]:
            x2 = F.interpolate(x2, size=x1.shape[-2:], mode="bilinear", align_corners=False)
        return x1, x2

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised signed-sqrt bilinear feature [B, C1 * C2]."""
        return F.normalize(signed_sqrt(bilinear_pool(*self.feature_maps(x))), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1]."""
        return self.head(self.features(x))
