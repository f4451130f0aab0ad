"""Perturbation explanations in three domains (master thesis "Explainable AI for IQA", 2023, Section 3.3.1).

Every method perturbs the input, runs the perturbed images through the model in large batches (under
``torch.no_grad`` and ``model.eval()``) and reports the score change ``f(x) - f(x_perturbed)`` ("The difference
between the original score and the perturbed score Delta f(x_0i) = f(x_0) - f(x_0i) indicates the importance of
the corresponding location of pixel change", 3.3.1.1): positive where the removed information raised the score.

- **Spatial** (3.3.1.1, Figs 4.13-4.15): :func:`occlusion_map` slides a ``patch`` x ``patch`` window with
  ``stride`` over the image, replaces the window by a fill and averages the score changes of all windows
  covering a pixel, exactly as ``captum.attr.Occlusion`` does (same window positions, same averaging). The
  thesis found "image patches of size 15x15 with a stride equal to 5" best at 384x512 (Section 4.3).
- **Frequency** (3.3.1.2, Figs 4.16-4.17): :func:`dct_band_perturbation` zeroes one band of the orthonormal 2-D
  DCT of every channel at a time ("the information at one small sub-band is replaced by setting the magnitude
  to the value zero, while the other coefficients have remained the same"), inverts the DCT and scores.
- **Colour** (3.3.1.3, Figs 4.18-4.19): :func:`hsv_perturbation` converts to HSV with scikit-image (as the
  thesis, Section 4.5), replaces the values of one channel that fall in one range by a value outside the
  range, converts back and scores.

Written by hand rather than with captum because captum builds one mask per window in a Python loop, can only
express fills that are one baseline image (not the thesis' per-patch mean/median) and has no DCT or HSV
domain; the spatial maps equal captum's for the same baseline (tests/test_perturbation.py,
benchmarks/bench_occlusion.py).

``progress`` of the three: ``None`` (default) reports the batches only in a headless run (``run_all.sh``'s
terminal, :func:`iqaxai.runtime.progress`), ``True`` in a notebook too, ``False`` never.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import scipy.fft
import torch
import torch.nn.functional as F
from skimage.color import hsv2rgb, rgb2hsv

from iqaxai.checks import check_images
from iqaxai.runtime import progress as progress_bar

#: Fills of :func:`occlusion_map`: a baseline image (black, image mean/median, blurred copy) or, as the thesis
#: words it, a constant per window (the window's own mean/median).
FILLS = ("black", "mean", "median", "blur", "patch_mean", "patch_median")

#: Band layouts of :func:`band_masks`.
BAND_KINDS = ("radial", "diagonal")

#: HSV channel names, in skimage's channel order.
HSV_CHANNELS = ("H", "S", "V")


# ---------------------------------------------------------------------------------------------- helpers


def _as_batch(images, where: str) -> tuple[torch.Tensor, bool]:
    """Images [B, 3, H, W] in [0, 1] checked by :func:`check_images`, and whether one [3, H, W] image was given."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    single = images.dim() == 3
    check_images(images, where, "CHW" if single else "BCHW")
    return (images[None] if single else images), single


def _pair(value, name: str) -> tuple[int, int]:
    """(rows, cols) from an int or a pair of ints, each >= 1."""
    try:
        pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


@contextmanager
def evaluating(model, no_grad: bool = True) -> Iterator[None]:
    """``model.eval()`` (and ``torch.no_grad()`` unless ``no_grad`` is False) within the block; the model's
    training flag is restored after."""
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.set_grad_enabled(not no_grad and torch.is_grad_enabled()):
            yield
    finally:
        if was_training:
            model.train()


def _scores(model, batch: torch.Tensor) -> torch.Tensor:
    """Model scores [N] (float64, CPU) of a batch [N, 3, H, W]."""
    out = model(batch)
    if not isinstance(out, torch.Tensor) or out.numel() != batch.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return one score per image ([{batch.shape[0]}]), got {shape}")
    return out.detach().reshape(-1).to("cpu", torch.float64)



def _batched_scores(model, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Model scores [B] (float64, CPU) of images [B, 3, H, W], ``batch_size`` per forward pass."""
    return torch.cat([_scores(model, images[i:i + batch_size]) for i in range(0, len(images), batch_size)])

# ------------------------------------------------------------------------------------ spatial domain


def window_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Start indices of the sliding windows along one axis (captum's ``Occlusion`` rule).

    Windows start at ``0, stride, 2 * stride, ...``, ``ceil((length - patch) / stride) + 1`` of them; where
    ``(length - patch) % stride != 0`` the last one runs past the edge and is cut off (smaller than ``patch``),
    as captum does, so every pixel is covered.
    """
    if patch > length:
        raise ValueError(f"patch {patch} is larger than the image side {length}")
    if stride > patch and patch < length:
        raise ValueError(f"stride {stride} is larger than the patch {patch}: pixels between windows would be "
                         "left uncovered")
    return np.arange(math.ceil((length - patch) / stride) + 1) * stride


def _window_indicators(length: int, patch: int, stride: int, device) -> torch.Tensor:
    """Bool [n_windows, length]: which pixels of the axis each window covers (cut off at the edge)."""
    starts = torch.as_tensor(window_starts(length, patch, stride), device=device)
    pos = torch.arange(length, device=device)
    return (pos[None] >= starts[:, None]) & (pos[None] < starts[:, None] + patch)


def gaussian_blur(images: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur of [B, C, H, W] with edge replication (``scipy.ndimage.gaussian_filter``'s
    ``mode="nearest"``; kernel radius ``int(truncate * sigma + 0.5)`` as scipy)."""
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma!r}")
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(images.device, images.dtype)
    b, c, h, w = images.shape
    x = images.reshape(b * c, 1, h, w)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    return x.reshape(b, c, h, w)


def _patch_constants(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, median: bool) -> torch.Tensor:
    """Per-window, per-channel mean or median [B, n_windows, 3] of every (cut-off) window."""
    r_idx = [torch.nonzero(r).flatten() for r in rows]
    c_idx = [torch.nonzero(c).flatten() for c in cols]
    out = torch.empty(images.shape[0], len(r_idx) * len(c_idx), 3, device=images.device, dtype=images.dtype)
    for i, r in enumerate(r_idx):
        band = images[:, :, int(r[0]):int(r[-1]) + 1]
        for j, c in enumerate(c_idx):
            block = band[..., int(c[0]):int(c[-1]) + 1].flatten(2)
            out[:, i * len(c_idx) + j] = torch.quantile(block, 0.5, dim=-1) if median else block.mean(-1)
    return out


def occlusion_map(model, image, patch: int | tuple[int, int] = 15, stride: int | tuple[int, int] = 5,
                  fill: str = "black", batch_size: int = 256, blur_sigma: float | None = None,
                  progress: bool | None = None) -> np.ndarray:
    """Signed occlusion map [H, W] (or [B, H, W]): per pixel, the mean of ``f(x) - f(x with the window filled)``
    over the windows covering it.

    Windows and averaging follow ``captum.attr.Occlusion`` with ``sliding_window_shapes=(3, *patch)``,
    ``strides=(3, *stride)`` (all channels occluded together; see :func:`window_starts` for the last window).
    ``fill`` is what replaces a window (thesis 3.3.1.1, "1) replacing the region in the image with a black
    patch, 2) ... with a patch of the mean value of the original region, 3) ... of the median value of the
    original patch and 4) blurring the patch region"):

    - ``"black"``: 0 (captum ``baselines=0``; the thesis' choice in Section 4.3);
    - ``"mean"`` / ``"median"``: the image's per-channel mean / median (a fixed baseline image, as a captum
      baseline tensor would be);
    - ``"patch_mean"`` / ``"patch_median"``: the per-channel mean / median of the window itself, the thesis'
      literal wording (a different constant per window; windows cut off at the edge use their own pixels);
    - ``"blur"``: the same pixels of a Gaussian-blurred copy of the whole image (:func:`gaussian_blur`, edges
      replicated). The thesis does not give the kernel width; ``blur_sigma`` defaults to ``max(patch) / 3``
      (5 px for its 15x15 patches), so the kernel spans about the patch and wipes out its detail.

    The perturbed images are built by broadcasting a window mask over the image, ``batch_size`` per forward
    pass (across images when an image has fewer windows); the per-pixel average is a separable product of the
    window score changes with the row and column window indicators.
    """
    images, single = _as_batch(image, "occlusion_map(image)")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    _check_batch_size(batch_size)
    (ph, pw), (sh, sw) = _pair(patch, "patch"), _pair(stride, "stride")
    b, _, h, w = images.shape
    if ph > h or pw > w:
        raise ValueError(f"patch {(ph, pw)} is larger than the image {(h, w)}")
    device = images.device
    rows = _window_indicators(h, ph, sh, device)  # [nh, H]
    cols = _window_indicators(w, pw, sw, device)  # [nw, W]
    nh, nw = len(rows), len(cols)
    n = nh * nw

    per_window = None
    if fill == "black":
        base = torch.zeros((), device=device, dtype=images.dtype)
    elif fill in ("mean", "median"):
        flat = images.flatten(2)
        base = (flat.mean(-1) if fill == "mean" else torch.quantile(flat, 0.5, dim=-1))[..., None, None]
    elif fill == "blur":
        base = gaussian_blur(images, blur_sigma if blur_sigma is not None else max(ph, pw) / 3.0)
    else:
        per_window = _patch_constants(images, rows, cols, median=fill == "patch_median")

    diffs = torch.empty(b * n, dtype=torch.float64)
    with evaluating(model):
        original = _batched_scores(model, images, batch_size)
        for start in progress_bar(range(0, b * n, batch_size), desc=f"occlusion map ({fill}, batches)", show=progress, leave=False):
            job = torch.arange(start, min(start + batch_size, b * n), device=device)
            img, win = job // n, job % n
            mask = (rows[win // nw][:, :, None] & cols[win % nw][:, None, :])[:, None]  # [m, 1, H, W]
            one_image = bool(img[0] == img[-1])
            x = images[img[:1]] if one_image else images[img]
            if per_window is not None:
                fill_value = per_window[img, win][..., None, None]  # [m, 3, 1, 1]
            elif base.dim() == 0:
                fill_value = base
            else:
                fill_value = base[img[:1]] if one_image else base[img]
            perturbed = torch.where(mask, fill_value, x)
            diffs[start:start + len(job)] = original[img.cpu()] - _scores(model, perturbed)

    d = diffs.reshape(b, nh, nw)
    r64, c64 = rows.cpu().double(), cols.cpu().double()
    total = torch.einsum("ih,bij,jw->bhw", r64, d, c64)
    counts = r64.sum(0)[:, None] * c64.sum(0)[None, :]
    result = (total / counts).numpy()
    return result[0] if single else result


# ---------------------------------------------------------------------------------- frequency domain


def band_masks(shape: tuple[int, int], n_bands: int = 16, kind: str = "radial") -> np.ndarray:
    """Bool [n_bands, H, W] partition of the DCT plane into ``n_bands`` equal-width frequency bands, low first.

    Coefficient (u, v) of an H x W orthonormal DCT-II has the normalised frequency

    - ``kind="radial"``: ``r = sqrt((u / H)^2 + (v / W)^2) / sqrt(2)`` (rings around the DC coefficient);
    - ``kind="diagonal"``: ``r = (u / H + v / W) / 2`` (anti-diagonals, the zig-zag order of JPEG and of the
      low/middle/high split of the thesis' Fig. 3.7).

    Both lie in [0, 1); band k holds ``k / n_bands <= r < (k + 1) / n_bands``, so band 0 holds the DC
    coefficient. The thesis splits the plane into "small sub-band[s]" without giving their shape or number.
    """
    if not isinstance(n_bands, (int, np.integer)) or n_bands < 1:
        raise ValueError(f"n_bands must be a positive int, got {n_bands!r}")
    if kind not in BAND_KINDS:
        raise ValueError(f"kind must be one of {BAND_KINDS}, got {kind!r}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (H, W) with H, W >= 1, got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    u = (np.arange(h) / h)[:, None]
    v = (np.arange(w) / w)[None, :]
    r = np.sqrt(u ** 2 + v ** 2) / np.sqrt(2) if kind == "radial" else (u + v) / 2
    band = np.minimum((r * n_bands).astype(int), n_bands - 1)
    return band[None] == np.arange(n_bands)[:, None, None]


def dct_band_perturbation(model, images, bands: int | np.ndarray = 16, batch_size: int = 64, clip: bool = True,
                          kind: str = "radial", progress: bool | None = None) -> np.ndarray:
    """Score change [B, n_bands] when one DCT band of every channel is zeroed: ``f(x) - f(x_band_zeroed)``.

    Each channel goes through the orthonormal 2-D DCT (``scipy.fft.dctn(..., norm="ortho")``, float64); the
    coefficients of one band are set to zero, the rest kept (thesis 3.3.1.2), and the inverse DCT gives the
    perturbed image. By linearity this is computed as ``x - idct(dct(x) * band)``, so zeroing a band that holds
    no energy gives back ``x`` itself (not its DCT round trip) up to the band's round-off. ``bands`` is a band count (:func:`band_masks` with ``kind``) or a
    bool array [n_bands, H, W] of coefficient masks.

    ``clip=True`` (default) clips the perturbed image to [0, 1]: every model takes images in [0, 1], and an
    image that is stored or shown is necessarily in range. The thesis says nothing on this; clipping only
    acts where removing a band pushes pixels out of range (typically the DC band, which carries the mean
    brightness); ``clip=False`` feeds the raw inverse DCT, which the models of :mod:`iqaxai.models` refuse where
    it leaves [0, 1] (use it with models that accept such input).
    """
    images, _ = _as_batch(images, "dct_band_perturbation(images)")
    _check_batch_size(batch_size)
    b, _, h, w = images.shape
    masks = band_masks((h, w), bands, kind) if isinstance(bands, (int, np.integer)) else np.asarray(bands, bool)
    if masks.ndim != 3 or masks.shape[1:] != (h, w) or masks.shape[0] < 1:
        raise ValueError(f"bands must be a band count or a bool array [n_bands, {h}, {w}], got shape {masks.shape}")
    nb = len(masks)
    coeffs = scipy.fft.dctn(images.detach().cpu().double().numpy(), axes=(-2, -1), norm="ortho")  # [B, 3, H, W]
    changes = np.empty((b, nb))
    with evaluating(model):
        original = _batched_scores(model, images, batch_size).numpy()
        jobs = [(i, k) for i in range(b) for k in range(nb)]
        for start in progress_bar(range(0, len(jobs), batch_size), desc="DCT bands (batches)", show=progress, leave=False):
            chunk = jobs[start:start + batch_size]
            idx_img = np.array([i for i, _ in chunk])
            idx_band = np.array([k for _, k in chunk])
            band_part = scipy.fft.idctn(coeffs[idx_img] * masks[idx_band][:, None], axes=(-2, -1), norm="ortho")
            perturbed = images[torch.as_tensor(idx_img, device=images.device)] - torch.from_numpy(band_part).to(
                images.device, images.dtype)
            if clip:
                perturbed = perturbed.clamp(0.0, 1.0)
            changes[idx_img, idx_band] = original[idx_img] - _scores(model, perturbed).numpy()
    return changes


# ------------------------------------------------------------------------------------- colour domain


def hsv_roundtrip(image) -> torch.Tensor:
    """RGB -> HSV -> RGB with scikit-image (float64 inside), shape and dtype kept: the identity up to round-off."""
    images, single = _as_batch(image, "hsv_roundtrip(image)")
    hwc = images.detach().cpu().double().permute(0, 2, 3, 1).numpy()
    back = hsv2rgb(rgb2hsv(hwc, channel_axis=-1), channel_axis=-1)
    out = torch.from_numpy(back).permute(0, 3, 1, 2).to(images.device, images.dtype)
    return out[0] if single else out


def hsv_ranges(channel_ranges: int | Sequence[float] = 10) -> np.ndarray:
    """Value ranges [R, 2] (p_min, p_max): ``n`` equal ranges of [0, 1], or consecutive pairs of given edges."""
    if isinstance(channel_ranges, (int, np.integer)):
        if channel_ranges < 1:
            raise ValueError(f"channel_ranges must be >= 1, got {channel_ranges}")
        edges = np.linspace(0.0, 1.0, int(channel_ranges) + 1)
    else:
        edges = np.asarray(channel_ranges, dtype=float)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0 or edges[-1] > 1:
            raise ValueError(f"channel_ranges must be a count or increasing edges within [0, 1], got {channel_ranges!r}")
    return np.stack([edges[:-1], edges[1:]], axis=1)


def _replacement(new_value, p_min: float, p_max: float) -> float:
    """The value p_new that replaces [p_min, p_max) (checked to lie outside it)."""
    if new_value is None:
        value = (p_min + 0.5) % 1.0
    elif callable(new_value):
        value = float(new_value(p_min, p_max))
    else:
        value = float(new_value)
    if p_min <= value <= p_max or not 0.0 <= value <= 1.0:
        raise ValueError(f"the replacement {value:.4g} for the range [{p_min:.4g}, {p_max:.4g}) must lie in [0, 1] "
                         "outside the range; give new_value explicitly")
    return value


def hsv_perturbation(model, images, channel_ranges: int | Sequence[float] = 10,
                     new_value: float | Callable[[float, float], float] | None = None, batch_size: int = 64,
                     progress: bool | None = None) -> np.ndarray:
    """Score change [B, 3, R] (channels H, S, V; R value ranges) when, in one HSV channel, the pixels whose
    value lies in one range are given a value outside it: ``f(x) - f(x_perturbed)``.

    Thesis 3.3.1.3: "we sequentially replace each pixel of value in a range [p_min, p_max] by a new value p_new
    such as p_new not in [p_min, p_max]. For example, by replacing all pixels whose values are in the range of
    [0, 0.1] in channel Hue by 0.5"; "Similar procedures are applied for saturation and brightness channels".
    HSV is scikit-image's (``rgb2hsv`` / ``hsv2rgb``, all channels in [0, 1], Section 4.5).

    - Ranges (:func:`hsv_ranges`) are half-open ``[p_min, p_max)`` so neighbours do not share pixels; a range
      ending at 1 also takes the value 1. The same ranges are used for the three channels.
    - ``new_value=None`` (default) replaces by ``(p_min + 0.5) % 1``, which reproduces the thesis' example
      ([0, 0.1) -> 0.5) for every range: half-way round the hue circle, half the scale away for S and V. A
      float is one fixed value for all ranges, a callable ``(p_min, p_max) -> p_new`` any rule; a value inside
      its range raises ValueError.
    - Only the replaced pixels are converted back to RGB; all others keep their RGB values exactly, so a range
      containing no pixel leaves the image unchanged. Grey pixels (S = 0) have hue 0 in skimage; changing
      their hue changes nothing.
    """
    images, _ = _as_batch(images, "hsv_perturbation(images)")
    _check_batch_size(batch_size)
    ranges = hsv_ranges(channel_ranges)
    replacements = [_replacement(new_value, lo, hi) for lo, hi in ranges]
    b = images.shape[0]
    rgb = images.detach().cpu().double().permute(0, 2, 3, 1).numpy()  # [B, H, W, 3]
    hsv = rgb2hsv(rgb, channel_axis=-1)
    jobs = [(i, c, k) for i in range(b) for c in range(3) for k in range(len(ranges))]

    def perturbed_image(i: int, c: int, k: int) -> np.ndarray:
        lo, hi = ranges[k]
        values = hsv[i, ..., c]
        inside = (values >= lo) & ((values < hi) | ((values <= hi) & (hi >= 1.0)))
        out = rgb[i].copy()
        if inside.any():
            pixels = hsv[i][inside].copy()  # [N, 3]
            pixels[:, c] = replacements[k]
            out[inside] = hsv2rgb(pixels[:, None, :], channel_axis=-1)[:, 0, :]
        return out

    changes = np.empty((b, 3, len(ranges)))
    with evaluating(model):
        original = _batched_scores(model, images, batch_size).numpy()
        for start in progress_bar(range(0, len(jobs), batch_size), desc="HSV ranges (batches)", show=progress, leave=False):
            chunk = jobs[start:start + batch_size]
            batch = np.stack([perturbed_image(*job) for job in chunk])
            # unchanged pixels are float64 copies of the input's values: casting back restores them exactly
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(images.device, images.dtype)
            scores = _scores(model, x).numpy()
            for j, (i, c, k) in enumerate(chunk):
                changes[i, c, k] = original[i] - scores[j]
    return changes


# ------------------------------------------------------------------------------------------ summaries


def tidy_changes(changes: np.ndarray, groups: Sequence | None = None) -> pd.DataFrame:
    """Long table of score changes: [B, n_bands] -> (image, group, band, change); [B, 3, R] from
    :func:`hsv_perturbation` -> (image, group, channel, range, change)."""
    changes = np.asarray(changes, dtype=float)
    if changes.ndim not in (2, 3) or (changes.ndim == 3 and changes.shape[1] != 3):
        raise ValueError(f"changes must be [B, n_bands] or [B, 3, n_ranges], got shape {changes.shape}")
    b = changes.shape[0]
    groups = np.full(b, "all", dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if groups.shape != (b,):
        raise ValueError(f"groups must hold one label per image ({b}), got shape {groups.shape}")
    if changes.ndim == 2:
        img, band = np.meshgrid(np.arange(b), np.arange(changes.shape[1]), indexing="ij")
        return pd.DataFrame({"image": img.ravel(), "group": groups[img.ravel()], "band": band.ravel(),
                             "change": changes.ravel()})
    img, ch, rng = np.meshgrid(np.arange(b), np.arange(3), np.arange(changes.shape[2]), indexing="ij")
    return pd.DataFrame({"image": img.ravel(), "group": groups[img.ravel()],
                         "channel": np.asarray(HSV_CHANNELS)[ch.ravel()], "range": rng.ravel(),
                         "change": changes.ravel()})


def summarise_by_group(changes: np.ndarray, groups: Sequence | None = None) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1), standard error and count of score changes per group and band (or
    per group, HSV channel and range): the points and error bars of the thesis' Figs 4.16-4.19 (whose error
    bars are "the standard deviation"; ``sem`` is ``std / sqrt(n)``)."""
    tidy = tidy_changes(changes, groups)
    keys = ["group", "band"] if "band" in tidy else ["group", "channel", "range"]
    out = tidy.groupby(keys, sort=False)["change"].agg(mean="mean", std="std", n="count").reset_index()
    out["sem"] = out["std"] / np.sqrt(out["n"])
    return out[keys + ["mean", "std", "sem", "n"]]
