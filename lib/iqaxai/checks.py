"""Input checks shared by every public entry point that takes images or block masks.

Images are RGB with values in [0, 1], as a float tensor batch [B, 3, H, W] (models, explanations, the masked
sweep), one tensor image [3, H, W], or one numpy image (H, W, 3) (semantic measures, LIME). Any floating-point
dtype is accepted: float64 passes the check and the models cast it to their own parameter dtype
(:meth:`iqaxai.models.base.IQAModel.check_input`). Integer images (8-bit 0..255), values outside [0, 1], NaN or
infinite pixels, empty batches and images with other than 3 channels are refused with a ValueError that says
where, what was expected and what was found. The value check is one min/max pass over the data (NaN and inf
propagate into the min or max), so it is cheap enough to run on every forward pass. Block and token masks
(:func:`check_masks`) are bool, or numbers that are exactly 0 or 1.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

__all__ = ["LAYOUTS", "RANGE_TOLERANCE", "check_images", "check_masks"]

#: How far outside [0, 1] image values may stray (the float round-off of a resize).
RANGE_TOLERANCE = 1e-6

#: Image layouts: name -> (description, number of dimensions, channel axis).
LAYOUTS: dict[str, tuple[str, int, int]] = {
    "BCHW": ("RGB images [B, 3, H, W]", 4, 1),
    "CHW": ("an RGB image [3, H, W]", 3, 0),
    "HWC": ("an RGB image of shape (H, W, 3)", 3, 2),
}

Images = TypeVar("Images", torch.Tensor, np.ndarray)


def _check_shape(shape: tuple[int, ...], where: str, layout: str, min_side: int) -> None:
    """Number of dimensions, 3 channels, at least one image and ``min_side`` pixels per side."""
    what, ndim, channel_axis = LAYOUTS[layout]
    if len(shape) != ndim or shape[channel_axis] != 3:
        hint = ""
        if len(shape) == ndim and shape[channel_axis] == 1:
            hint = "; for grey images repeat the channel 3 times"
        raise ValueError(f"{where}: expected {what}, got shape {shape}{hint}")
    if layout == "BCHW" and shape[0] == 0:
        raise ValueError(f"{where}: got an empty batch (shape {shape}); need at least one image")
    h, w = (shape[0], shape[1]) if layout == "HWC" else (shape[-2], shape[-1])
    if min(h, w) < max(min_side, 1):
        raise ValueError(f"{where}: image is {h}x{w}; need at least {max(min_side, 1)} pixels per side")


def _value_range(images: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """(min, max) of all values in one pass; NaN if any value is NaN."""
    if isinstance(images, np.ndarray):
        return float(np.min(images)), float(np.max(images))
    lo, hi = torch.aminmax(images.detach())
    return tuple(torch.stack([lo, hi]).float().tolist())


def check_images(images: Images, where: str, layout: str = "BCHW", min_side: int = 1) -> Images:
    """Return ``images`` unchanged if they are RGB images in [0, 1] laid out as ``layout``, else raise.

    ``layout`` is ``"BCHW"`` (a non-empty batch), ``"CHW"`` or ``"HWC"`` (one image); ``where`` names the
    caller in the error (e.g. ``"grad_cam(images)"``). Any floating-point dtype passes (float64 included; the
    models cast it to their parameter dtype). Raises TypeError for something that is neither a tensor nor a
    numpy array, ValueError for a wrong shape, fewer than ``min_side`` pixels per side, an integer or bool
    dtype (8-bit images must be divided by 255 first), NaN/inf values or values outside [0, 1].
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown image layout {layout!r}; choose one of {tuple(LAYOUTS)}")
    if not isinstance(images, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{where}: expected {LAYOUTS[layout][0]} as a torch.Tensor or numpy array, "
                        f"got {type(images).__name__}")
    shape = tuple(int(s) for s in images.shape)
    _check_shape(shape, where, layout, min_side)
    floating = images.is_floating_point() if isinstance(images, torch.Tensor) else np.issubdtype(images.dtype, np.floating)
    dtype = str(images.dtype).removeprefix("torch.")
    if not floating:
        hint = " (8-bit images: convert with x.float() / 255)" if dtype == "uint8" else ""
        raise ValueError(f"{where}: expected a float image (floating-point dtype, values in [0, 1]), got dtype {dtype}{hint}")
    lo, hi = _value_range(images)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{where}: images contain NaN or infinite values (shape {shape}, dtype {dtype})")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = " (8-bit values: divide by 255)" if hi > 1 + RANGE_TOLERANCE and lo >= 0 and hi <= 255 else ""
        raise ValueError(f"{where}: expected values in [0, 1], got values in [{lo:.4g}, {hi:.4g}]{hint}")
    return images


def check_masks(masks: torch.Tensor | np.ndarray, where: str) -> torch.Tensor:
    """Bool tensor of block or token masks (True = masked) from bool values or numbers that are exactly 0 or 1.

    Other values (0.5, 2, NaN) are refused with a ValueError: a mask is not a weight.
    """
    tensor = masks if isinstance(masks, torch.Tensor) else torch.as_tensor(np.asarray(masks))
    if tensor.dtype == torch.bool:
        return tensor
    if tensor.is_complex():
        raise ValueError(f"{where}: masks must be bool or 0/1 numbers, got dtype {tensor.dtype}")
    other = (tensor != 0) & (tensor != 1)
    if other.any():
        raise ValueError(f"{where}: masks must be bool or exactly 0/1 (True/1 = masked), found the value "
                         f"{tensor[other].flatten()[0].item()!r}")
    return tensor != 0
