"""The shared input checks: images in [0, 1] with 3 channels, finite, non-empty; masks exactly 0/1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqaxai.checks import RANGE_TOLERANCE, check_images, check_masks


def _with(value: float) -> torch.Tensor:
    x = torch.rand(2, 3, 8, 8)
    x[1, 2, 3, 4] = value
    return x


def test_images_in_range_pass_unchanged_in_every_layout_and_float_dtype():
    x = torch.rand(2, 3, 8, 8)
    assert check_images(x, "here") is x
    assert check_images(x.double(), "here").dtype == torch.float64  # float64 passes; the models cast it
    assert check_images(x.half(), "here").dtype == torch.float16
    assert check_images(x[0], "here", "CHW") is not None
    hwc = x[0].permute(1, 2, 0).numpy()
    assert check_images(hwc, "here", "HWC") is hwc
    edge = x.clone()
    edge[0, 0, 0, 0], edge[0, 0, 0, 1] = -RANGE_TOLERANCE / 2, 1 + RANGE_TOLERANCE / 2  # resize round-off
    check_images(edge, "here")
    check_images(x.requires_grad_(True), "here")


@pytest.mark.parametrize("images, message", [
    (torch.rand(2, 3, 8, 8) * 255, r"f\(x\): expected values in \[0, 1\], got values in \[.*\] \(8-bit values: divide by 255\)"),
    ((torch.rand(2, 3, 8, 8) * 255).to(torch.uint8), r"f\(x\): expected a float image .* got dtype uint8 .*x\.float\(\) / 255"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.bool), r"f\(x\): .*got dtype bool"),
    (_with(float("nan")), r"f\(x\): images contain NaN or infinite values \(shape \(2, 3, 8, 8\), dtype float32\)"),
    (_with(float("inf")), "NaN or infinite"),
    (_with(-float("inf")), "NaN or infinite"),
    (_with(-0.5), r"got values in \[-0\.5, "),
    (torch.rand(2, 1, 8, 8), r"f\(x\): expected RGB images \[B, 3, H, W\], got shape \(2, 1, 8, 8\); for grey images"),
    (torch.rand(2, 4, 8, 8), r"expected RGB images \[B, 3, H, W\], got shape \(2, 4, 8, 8\)$"),
    (torch.rand(3, 8, 8), r"got shape \(3, 8, 8\)"),
    (torch.rand(0, 3, 8, 8), r"f\(x\): got an empty batch \(shape \(0, 3, 8, 8\)\)"),
    (torch.rand(1, 3, 0, 8), r"image is 0x8; need at least 1 pixels per side"),
])
def test_bad_batches_are_refused_with_where_what_and_found(images, message):
    with pytest.raises(ValueError, match=message):
        check_images(images, "f(x)")


def test_single_image_layouts_and_minimum_side():
    with pytest.raises(ValueError, match=r"g: expected an RGB image \[3, H, W\], got shape \(8, 8, 3\)"):
        check_images(torch.rand(8, 8, 3), "g", "CHW")
    with pytest.raises(ValueError, match=r"g: expected an RGB image of shape \(H, W, 3\), got shape \(8, 8\)"):
        check_images(np.zeros((8, 8)), "g", "HWC")
    with pytest.raises(ValueError, match="g: image is 8x40; need at least 16 pixels per side"):
        check_images(np.zeros((8, 40, 3)), "g", "HWC", min_side=16)
    with pytest.raises(ValueError, match=r"g: expected values in \[0, 1\]"):
        check_images(np.full((16, 16, 3), 2.0), "g", "HWC")
    with pytest.raises(ValueError, match="g: images contain NaN"):
        check_images(np.full((16, 16, 3), np.nan), "g", "HWC")
    with pytest.raises(TypeError, match=r"g: expected RGB images \[B, 3, H, W\] as a torch.Tensor or numpy array, got list"):
        check_images([[0.5]], "g")
    with pytest.raises(ValueError, match="unknown image layout"):
        check_images(torch.rand(3, 8, 8), "g", "NHWC")


def test_masks_must_be_bool_or_exactly_zero_or_one():
    bool_masks = torch.tensor([[True, False], [False, True]])
    assert check_masks(bool_masks, "m") is bool_masks
    assert torch.equal(check_masks(bool_masks.float(), "m"), bool_masks)
    assert torch.equal(check_masks(np.array([[1, 0], [0, 1]]), "m"), bool_masks)
    with pytest.raises(ValueError, match=r"m: masks must be bool or exactly 0/1 \(True/1 = masked\), found the value 0\.5"):
        check_masks(torch.tensor([[0.5, 0.0]]), "m")
    with pytest.raises(ValueError, match="found the value 2"):
        check_masks(np.array([0, 2]), "m")
    with pytest.raises(ValueError, match="found the value nan"):
        check_masks(torch.tensor([float("nan"), 1.0]), "m")
