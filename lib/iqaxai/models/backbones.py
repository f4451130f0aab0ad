"""CNN backbones returning their stage feature maps C2..C5 (strides 4, 8, 16, 32).

``resnet50`` / ``resnet18`` / ``vgg16`` come from torchvision (ImageNet weights when ``pretrained``);
``tiny`` is a small residual network for the smoke profile, so that every model trains on the demo
world in minutes on a CPU. Offline, ``pretrained=False`` never touches the network and
``pretrained=True`` fails fast with a clear message unless the weights are already cached.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def load_weights(loader: Callable[[], nn.Module], what: str) -> nn.Module:
    """Build a pretrained module, turning a failed download into a clear error."""
    try:
        return loader()
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        raise RuntimeError(
            f"could not load the pretrained weights of {what}: {error}. Offline, build the model with "
            f"pretrained=False (the smoke profile does) or place the weights in the torch hub cache "
            f"({torch.hub.get_dir()})."
        ) from error


class _Block(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN with a residual connection (a ResNet basic block)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class StageBackbone(nn.Module):
    """A backbone as a stem plus four stages; ``forward`` returns [C2, C3, C4, C5]."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], channels: list[int]):
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class C5Map(nn.Module):
    """The last (C5) map of a named :class:`StageBackbone`; ``channels`` is its width."""

    def __init__(self, name: str, pretrained: bool = False):
        super().__init__()
        self.body = create_backbone(name, pretrained)
        self.channels = self.body.channels[-1]

    def last_stage(self) -> nn.Module:
        """The stage that outputs the C5 map."""
        return self.body.stages[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[-1]


def tiny(width: int = 16, stride: int = 32) -> StageBackbone:
    """Small residual CNN (about 1 M parameters at width 16) with ResNet's strides (or 16 at the last stage)."""
    if stride not in (16, 32):
        raise ValueError(f"tiny backbone stride must be 16 or 32, got {stride}")
    c = [width * 2, width * 4, width * 8, width * 16]
    stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                         nn.Conv2d(width, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    stages = [_Block(width, c[0], 1), _Block(c[0], c[1], 2), _Block(c[1], c[2], 2), _Block(c[2], c[3], stride // 16)]
    return StageBackbone(stem, stages, c)


def resnet(depth: int = 50, pretrained: bool = False) -> StageBackbone:
    """torchvision ResNet-18/50 without its head, as stages C2..C5."""
    import torchvision.models as tvm

    build = {18: (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1), 50: (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1)}
    if depth not in build:
        raise ValueError(f"resnet depth must be 18 or 50, got {depth}")
    fn, weights = build[depth]
    net = load_weights(lambda: fn(weights=weights), f"ResNet-{depth}") if pretrained else fn(weights=None)
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    channels = [256, 512, 1024, 2048] if depth == 50 else [64, 128, 256, 512]
    return StageBackbone(stem, [net.layer1, net.layer2, net.layer3, net.layer4], channels)


def create_backbone(name: str, pretrained: bool = False, **kwargs) -> StageBackbone:
    """``tiny``, ``tiny_s16`` (last stage at stride 16), ``resnet18`` or ``resnet50`` as a :class:`StageBackbone`."""
    if name in ("tiny", "tiny_s16"):
        if pretrained:
            raise ValueError(f"the '{name}' backbone has no pretrained weights; use pretrained=False")
        return tiny(stride=16 if name == "tiny_s16" else 32, **kwargs)
    if name in ("resnet18", "resnet50"):
        return resnet(int(name[6:]), pretrained)
    raise ValueError(f"unknown backbone {name!r}; expected 'tiny', 'tiny_s16', 'resnet18' or 'resnet50'")
