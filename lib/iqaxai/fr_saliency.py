"""Saliency-weighted full-reference metrics (*Bridging the Gap Between Saliency Prediction and IQA*, III-D).

- **EW-PSNR** (Ahmadi et al., ``ahmadi86/EWPSNR``: ``CalculateEWMSE.m``): the eye-tracking weighted MSE
  ``EW-MSE = sum(S * e^2) / sum(S)``, with ``e^2`` the squared error averaged over the RGB channels (RGB PSNR,
  not the Y channel), then ``10 log10(1 / EW-MSE)`` for images in [0, 1].
- **EW-SSIM**: ``sum(S * ssim_map) / sum(S)`` over the positions where the SSIM map is defined.

``S`` is a non-negative saliency map per image. With a uniform map both equal their unweighted metric
(:func:`psnr`, :func:`ssim`). A map that is zero wherever the images differ gives EW-MSE 0 and EW-PSNR
``+inf`` (as PSNR of identical images): returned as ``inf``, never NaN; a map that is zero everywhere is refused.

SSIM here is Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, data range 1,
computed on the valid positions only (no padding), on the BT.601 luma by default (``channel="y"``, as pyiqa's
SSIM) or averaged over the RGB channels (``channel="rgb"``). Its mean over the valid positions equals
scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1)``, which crops the same border (tested). pyiqa's SSIM follows the authors' MATLAB code, which
first downsamples images larger than 256 pixels, so its values differ (pyiqa's calibration pair I03 at 512x384:
0.6997 there, 0.7353 here); RGB PSNR reproduces pyiqa's calibration values to the printed 4 decimals (tested on
the five pairs that ship in its wheel). Written in torch for batches on the device, which the libraries'
single-image NumPy functions are not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: BT.601 luma of RGB in [0, 1]: ``(16 + 65.481 R + 128.553 G + 24.966 B) / 255`` (pyiqa's ``to_y_channel``).
BT601 = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
BT601_OFFSET = 16.0 / 255.0
C1, C2 = 0.01 ** 2, 0.03 ** 2
WINDOW, SIGMA = 11, 1.5


def _images(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must be a tensor [B, 3, H, W], got {getattr(x, 'shape', type(x))}")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} must be finite and in [0, 1] (got range {float(x.min()):.3g} .. {float(x.max()):.3g})")
    return x.double()


def _pair(dist: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dist, ref = _images(dist, "dist"), _images(ref, "ref")
    if dist.shape != ref.shape:
        raise ValueError(f"dist {tuple(dist.shape)} and ref {tuple(ref.shape)} must have the same shape")
    return dist, ref


def _saliency(saliency: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    s = torch.as_tensor(saliency, dtype=torch.float64)
    if s.shape != (shape[0], shape[2], shape[3]):
        raise ValueError(f"saliency must be [B, H, W] = {(shape[0], shape[2], shape[3])}, got {tuple(s.shape)}")
    if not torch.isfinite(s).all() or (s < 0).any():
        raise ValueError("saliency must be finite and non-negative")
    if (s.flatten(1).sum(1) <= 0).any():
        raise ValueError("a saliency map is zero everywhere: the weighted mean is undefined")
    return s


def _psnr_of(mse: torch.Tensor) -> torch.Tensor:
    return torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-300)), torch.full_like(mse, float("inf")))


def psnr(dist: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """RGB PSNR [B] of images in [0, 1] (``inf`` for identical images)."""
    dist, ref = _pair(dist, ref)
    return _psnr_of(((dist - ref) ** 2).mean(dim=(1, 2, 3)))


def ew_psnr(dist: torch.Tensor, ref: torch.Tensor, saliency: torch.Tensor) -> torch.Tensor:
    """Eye-tracking weighted PSNR [B]: ``10 log10(1 / (sum(S e^2) / sum(S)))``, ``e^2`` averaged over RGB."""
    dist, ref = _pair(dist, ref)
    s = _saliency(saliency, dist.shape).to(dist.device)
    error = ((dist - ref) ** 2).mean(dim=1)
    return _psnr_of((s * error).flatten(1).sum(1) / s.flatten(1).sum(1))


def luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma [B, 1, H, W] of RGB in [0, 1], in [16/255, 235/255] (SSIM's luminance term depends on the
    offset, so it is kept, as pyiqa keeps it)."""
    w = torch.tensor(BT601, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True) + BT601_OFFSET


def _window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    r = torch.arange(WINDOW, dtype=dtype, device=device) - WINDOW // 2
    g = torch.exp(-(r ** 2) / (2 * SIGMA ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_map(dist: torch.Tensor, ref: torch.Tensor, channel: str = "y") -> torch.Tensor:
    """The SSIM map [B, H - 10, W - 10] (valid positions of the 11x11 window), on luma or averaged over RGB."""
    dist, ref = _pair(dist, ref)
    if channel not in ("y", "rgb"):
        raise ValueError(f"channel must be 'y' or 'rgb', got {channel!r}")
    if min(dist.shape[-2:]) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}x{WINDOW} pixels, got {tuple(dist.shape[-2:])}")
    if channel == "y":
        dist, ref = luma(dist), luma(ref)
    b, c, h, w = dist.shape
    x, y = dist.reshape(b * c, 1, h, w), ref.reshape(b * c, 1, h, w)
    win = _window(x.dtype, x.device)
    mx, my = F.conv2d(x, win), F.conv2d(y, win)
    vx = F.conv2d(x * x, win) - mx ** 2
    vy = F.conv2d(y * y, win) - my ** 2
    cxy = F.conv2d(x * y, win) - mx * my
    s = ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx ** 2 + my ** 2 + C1) * (vx + vy + C2))
    return s.reshape(b, c, *s.shape[-2:]).mean(1)


def ssim(dist: torch.Tensor, ref: torch.Tensor, channel: str = "y") -> torch.Tensor:
    """SSIM [B]: the mean of :func:`ssim_map`."""
    return ssim_map(dist, ref, channel).flatten(1).mean(1)


def ew_ssim(dist: torch.Tensor, ref: torch.Tensor, saliency: torch.Tensor, channel: str = "y") -> torch.Tensor:
    """Saliency-weighted SSIM [B]: ``sum(S * ssim_map) / sum(S)`` over the SSIM map's valid positions (the
    saliency map cropped alike)."""
    smap = ssim_map(dist, ref, channel)
    s = _saliency(saliency, dist.shape).to(smap.device)
    k = WINDOW // 2
    s = s[:, k:-k, k:-k]
    total = s.flatten(1).sum(1)
    if (total <= 0).any():
        raise ValueError("a saliency map is zero on every position where SSIM is defined (all of it within "
                         f"{k} pixels of the border)")
    return (s * smap).flatten(1).sum(1) / total
