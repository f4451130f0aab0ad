"""CNNIQA (Kang, Ye, Li and Doermann, "Convolutional neural networks for no-reference IQA", CVPR 2014).

This is pyiqa's variant (chaofengc/IQA-PyTorch:``pyiqa/archs/cnniqa_arch.py``), which runs on whole RGB
images: ``Conv2d(3, 50, 7)`` (no padding), global max-pool and global min-pool of the 50 maps (100-d), then
``FC800 -> ReLU -> Dropout(0.5) -> FC800 -> ReLU -> FC1`` (here the zero-initialised :class:`ScoreHead`, MOS on
0-100). pyiqa feeds the RGB image in [0, 1] unnormalised, so ``ModelInfo.normalisation`` is ``"none"``.

The original (lidq92/CNNIQA:``CNNIQA.py``, ``IQADataset.py``) differs: grayscale input, non-overlapping 32x32
patches, each locally normalised (3x3 mean and standard deviation, ``(x - mu) / (sigma + 1)``), one score per
patch and the image score the mean of its patch scores, L1 loss. ``patch_size=32`` reproduces the patch
scoring and averaging (full patches only, as the original) on RGB input; the grayscale conversion and local
normalisation are not applied.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from iqaxai.models.base import IQAModel, ModelInfo, ScoreHead


def max_min_pool(h: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, 2C]: global max of every map, then global min of every map."""
    return torch.cat([h.amax(dim=(2, 3)), h.amin(dim=(2, 3))], dim=1)


def extreme_responses(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``max_min_pool(conv(x))`` with autograd only through the arg-max/arg-min windows (stride 1, no padding)."""
    if conv.stride != (1, 1) or conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError("extreme_responses needs a stride-1, unpadded, undilated, ungrouped conv")
    kh, kw = conv.kernel_size
    b = x.shape[0]
    with torch.no_grad():
        h = conv(x).flatten(2)  # [B, C, L]
        width = x.shape[-1] - kw + 1
        idx = torch.cat([h.argmax(dim=2), h.argmin(dim=2)], dim=1)  # [B, 2C]
    top, left = idx // width, idx % width
    rows = (top[..., None] + torch.arange(kh, device=x.device))[:, :, None, :, None]  # [B, 2C, 1, kh, 1]
    cols = (left[..., None] + torch.arange(kw, device=x.device))[:, :, None, None, :]  # [B, 2C, 1, 1, kw]
    batch = torch.arange(b, device=x.device)[:, None, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, None, :, None, None]
    windows = x[batch, chans, rows, cols]  # [B, 2C, Cin, kh, kw]
    kernel = conv.weight.repeat(2, 1, 1, 1)  # [2C, Cin, kh, kw]: max then min of every kernel
    out = (windows * kernel).sum(dim=(2, 3, 4))
    return out + conv.bias.repeat(2) if conv.bias is not None else out


class CNNIQA(IQAModel):
    """Shallow CNN with global max/min pooling -> MOS on 0-100; optionally averaged over square patches."""

    def __init__(self, kernel: int = 7, n_kernels: int = 50, hidden: int = 800, patch_size: int | None = None):
        super().__init__()
        self.info = ModelInfo("cnniqa", normalisation="none",
                              source="Kang et al., CVPR 2014; pyiqa/archs/cnniqa_arch.py",
                              extra={"patch_size": patch_size})
        if patch_size is not None and patch_size < kernel:
            raise ValueError(f"patch_size {patch_size} is smaller than the kernel {kernel}")
        self.patch_size = patch_size
        self.conv = nn.Conv2d(3, n_kernels, kernel)
        self.fc1 = nn.Linear(2 * n_kernels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.5)
        self.head = ScoreHead(hidden)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Max/min-pooled conv responses [B, 2 * n_kernels] of (normalised) images or patches.

        In training mode with autograd on, the conv map is computed without autograd, and only its 2 * n_kernels
        extreme responses per image are recomputed with autograd from their input windows: the same values and
        the same gradients (those of max/min pooling reach only the arg-max/arg-min positions), without the
        full-resolution backward pass of the conv. Otherwise (evaluation, explanation hooks on ``conv``) the
        plain conv -> max/min pooling runs.
        """
        if not (self.training and torch.is_grad_enabled()):
            return max_min_pool(self.conv(x))
        return extreme_responses(self.conv, x)

    def target_layer(self) -> nn.Module:
        """The one convolutional layer."""
        return self.conv

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """MOS on 0-100 of whole (normalised) images or patches, [B]."""
        h = self.dropout(F.relu(self.fc1(self.pooled(x))))
        return self.head(F.relu(self.fc2(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1]."""
        x = self.normalise(x)
        p = self.patch_size
        if p is None:
            return self.score(x)
        b, c, h, w = x.shape
        if h < p or w < p:
            raise ValueError(f"images of {h}x{w} are smaller than patch_size {p}")
        patches = x.unfold(2, p, p).unfold(3, p, p)  # [B, C, nh, nw, p, p], full patches only
        n = patches.shape[2] * patches.shape[3]
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(b * n, c, p, p)
        return self.score(patches).view(b, n).mean(dim=1)
