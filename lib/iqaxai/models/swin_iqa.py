"""Swin-IQA: a Swin transformer backbone with a regression head.

The ICIP 2023 paper (Table I) tests a "Swin-IQA" whose code and weights are not public (and no pyiqa Swin
NR model is trained on KonIQ-10k or SPAQ: pyiqa's MANIQA uses a ViT with Swin stages, its TOPIQ Swin variants
are for faces and aesthetics), so this is this project's construction, the common recipe for a transformer IQA
regressor:

- backbone ``swin_t``: torchvision's Swin-T (patch 4, embed 96, depths [2, 2, 6, 2], heads [3, 6, 12, 24],
  window 7, stochastic depth 0.2; ``Swin_T_Weights.IMAGENET1K_V1`` when ``pretrained``): ``features`` -> final
  LayerNorm -> global average pool (768-d);
- head: ``Linear -> GELU -> Dropout`` per hidden size (default one hidden layer of 256, dropout 0.1), then the
  zero-initialised :class:`ScoreHead` (MOS on 0-100);
- ImageNet mean/std normalisation.

``backbone="swin_tiny_smoke"`` builds a small randomly initialised hybrid for the smoke profile: a small CNN
patch embedding (stride 8) and two Swin stages (window 4, depth 2, 48 and 96 channels); see
:func:`smoke_hybrid_swin` for why. torchvision's Swin blocks pad feature maps to window multiples and odd sizes
before patch merging, so any input size works (e.g. 96x128, 192x256, 384x512 and 768x1024).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.ops.misc import Permute

from iqaxai.models.backbones import load_weights
from iqaxai.models.base import IQAModel, ModelInfo, ScoreHead

def smoke_hybrid_swin(dim: int = 48) -> tuple[nn.Module, nn.Module, int]:
    """(features, final norm, width) of the smoke profile's small hybrid Swin.

    A randomly initialised pure Swin does not learn the demo world from a few hundred images: the
    LayerNorms of its patch embedding and patch merging remove the per-patch energy that carries blur
    and noise. Here the first two stages of the ``tiny`` CNN (stride 8) embed the patches, followed by
    two Swin stages (window 4, shifted windows, patch merging in between), as in hybrid ViTs.
    """
    from functools import partial

    from torchvision.models.swin_transformer import PatchMerging, SwinTransformerBlock
    from torchvision.ops.misc import Permute

    from iqaxai.models.backbones import tiny

    cnn = tiny()
    norm = partial(nn.LayerNorm, eps=1e-5)
    stage = lambda d, heads: [SwinTransformerBlock(d, heads, [4, 4], [0, 0] if i % 2 == 0 else [2, 2], norm_layer=norm)
                              for i in range(2)]
    features = nn.Sequential(cnn.stem, cnn.stages[0], cnn.stages[1], nn.Conv2d(cnn.channels[1], dim, 1),
                             Permute([0, 2, 3, 1]), *stage(dim, 2), PatchMerging(dim, norm), *stage(2 * dim, 4))
    return features, nn.LayerNorm(2 * dim), 2 * dim


def swin_backbone(name: str, pretrained: bool = False) -> tuple[nn.Module, nn.Module, int]:
    """(features, final norm, width) of a torchvision Swin transformer."""
    import torchvision.models as tvm

    if name == "swin_t":
        weights = tvm.Swin_T_Weights.IMAGENET1K_V1
        net = load_weights(lambda: tvm.swin_t(weights=weights), "Swin-T") if pretrained else tvm.swin_t(weights=None)
    elif name == "swin_tiny_smoke":
        if pretrained:
            raise ValueError("the 'swin_tiny_smoke' backbone has no pretrained weights; use pretrained=False")
        return smoke_hybrid_swin()
    else:
        raise ValueError(f"unknown backbone {name!r}; expected 'swin_t' or 'swin_tiny_smoke'")
    return net.features, net.norm, int(net.head.in_features)


class SwinIQA(IQAModel):
    """Swin transformer -> LayerNorm -> GAP -> MLP -> MOS on 0-100."""

    def __init__(self, backbone: str = "swin_t", pretrained: bool = False, hidden: Sequence[int] = (256,),
                 dropout: float = 0.1, final_norm: bool = True):
        """``final_norm=False`` drops the backbone's last LayerNorm (the smoke profile: a randomly initialised
        hybrid learns the demo world far better without it, validation PLCC 0.91 instead of 0.67, because the
        per-token normalisation before pooling removes each token's magnitude, which carries the detail a
        distortion removed or added)."""
        super().__init__()
        self.info = ModelInfo("swin_iqa", source="Swin (Liu et al., ICCV 2021) + MLP regression head",
                              extra={"backbone": backbone, "hidden": tuple(hidden), "final_norm": final_norm})
        self.features, self.norm, width = swin_backbone(backbone, pretrained)
        if not final_norm:
            self.norm = nn.Identity()
        self.to_map = Permute([0, 3, 1, 2])  # [B, h, w, C] tokens -> [B, C, h, w] map (no parameters)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.GELU(), nn.Dropout(dropout)]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.head = ScoreHead(width)

    def target_layer(self) -> nn.Module:
        """The last-stage tokens (after the final LayerNorm, if any) as an NCHW map."""
        return self.to_map

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage tokens (after the final LayerNorm, if any) as a map [B, C, h, w] of images in [0, 1]."""
        return self.to_map(self.norm(self.features(self.normalise(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1]."""
        return self.head(self.mlp(self.feature_map(x).mean(dim=(2, 3))))
