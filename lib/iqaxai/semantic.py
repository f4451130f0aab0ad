"""Per-pixel semantic measures and their region matching degree (ICIP 2023 "Half of an image is enough", Sec. 3, 4.2).

Three measures explain why a region is important for IQA: **saliency** (spectral residual, eq. 1),
**spatial frequency** (FFT magnitudes in 10 bins of [0, 50] cycles/degree; see
:data:`SPATIAL_FREQUENCY_METHODS`: the paper's literal local-FFT sum by default, or a CSF-weighted band
energy) and **objectness** (likelihood of belonging to a foreground object). The fourth, **averaged**
measure is the mean of the three after min-max normalisation. Region values are block means on the 3x4
grid of :mod:`iqaxai.grid`; the matching degree (Table II) counts the images whose important half of
the blocks agrees with the half of higher measure values.

This module is the NumPy reference, one image at a time: images are float arrays (H, W, 3) in [0, 1]; a
torch tensor [3, H, W] is accepted too. :mod:`iqaxai.semantic_torch` computes the same measures batched in
torch on a CPU or GPU (:func:`~iqaxai.semantic_torch.semantic_measures_torch`); :func:`semantic_measures_batch`
and :func:`dataset_region_values` use it by default (``backend="torch"``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from math import atan, degrees
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from scipy import fft as sfft
from scipy import ndimage
from scipy.stats import rankdata
from skimage.color import rgb2lab
from skimage.feature import canny
from skimage.segmentation import slic
from skimage.transform import resize

from iqaxai.checks import check_images
from iqaxai.grid import Grid, cell_means, top_half

MIN_SIDE = 16
"""Smallest image side (pixels) the measures accept."""

MEASURES = ("saliency", "spatial_frequency", "objectness", "average")
"""Keys of :func:`semantic_measures`, in the paper's order (Fig. 3, Table II)."""

OBJECTNESS_METHODS = {
    "classical": "objectness (classical, no weights: superpixel straddling + edge density + colour contrast, "
                 "Alexe et al. 2012 window cues)",
    "pretrained": "objectness (torchvision segmentation net, COCO_WITH_VOC_LABELS_V1 weights: 1 - P(background))",
}
"""Objectness methods and the label to print next to their outputs."""

PRETRAINED_ARCHS = ("deeplabv3_resnet50", "fcn_resnet50")

SPATIAL_FREQUENCY_METHODS = {
    "literal": "spatial frequency (paper, literal: Hann-windowed local FFT magnitudes summed over 10 bins of "
               "(0, 50] cycles/degree, local mean removed, unweighted)",
    "csf": "spatial frequency (CSF-weighted: Mannos-Sakrison-weighted local RMS amplitude of 10 DCT bands "
           "of [0, 50] cycles/degree)",
}
"""Spatial-frequency methods and the label to print next to their outputs; "literal" is the default."""

BACKENDS = ("torch", "numpy")
"""Implementations of the measures: batched torch (:mod:`iqaxai.semantic_torch`) or this module's NumPy reference."""

LITERAL_WINDOW_DEG = 0.32
"""Side (degrees of visual angle) of the literal method's Hann window: 32 px at the default 100 px/degree."""

LITERAL_STRIDE = 8
"""Pixels between the literal method's window centres; the measure is bilinearly interpolated in between."""

CSF_WINDOW_DEG = 0.1
"""Standard deviation (degrees) of the CSF method's Gaussian energy window: 10 px at 100 px/degree."""

_REC601 = np.array([0.2989, 0.5870, 0.1140])  # MATLAB rgb2gray weights, as in the original SR code


# ----------------------------------------------------------------------------------------------- inputs
def as_image(image: np.ndarray | torch.Tensor, where: str = "semantic measures") -> np.ndarray:
    """Float64 copy (H, W, 3) of an RGB image in [0, 1] (numpy HxWx3 or torch 3xHxW), checked by
    :func:`~iqaxai.checks.check_images` with at least :data:`MIN_SIDE` pixels per side."""
    if isinstance(image, torch.Tensor):
        check_images(image, where, "CHW", min_side=MIN_SIDE)
        return image.detach().cpu().permute(1, 2, 0).numpy().astype(np.float64).clip(0.0, 1.0)
    arr = check_images(np.asarray(image), where, "HWC", min_side=MIN_SIDE)
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


def _gray(image: np.ndarray) -> np.ndarray:
    """Luma (Rec. 601) of an (H, W, 3) image."""
    return image @ _REC601


def check_choice(value: str, choices, what: str) -> str:
    """``value`` if it is one of ``choices`` (a tuple or the keys of a dict), else a ValueError naming them."""
    names = tuple(choices)
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"unknown {what} {value!r}; choose one of {names}")
    return value


def normalise(measure: np.ndarray) -> np.ndarray:
    """Min-max normalisation to [0, 1]; a constant map becomes zeros."""
    m = np.asarray(measure, dtype=np.float64)
    if m.size == 0:
        raise ValueError("cannot normalise an empty map")
    if not np.isfinite(m).all():
        raise ValueError("map contains NaN or infinite values")
    lo, span = m.min(), np.ptp(m)
    return np.zeros_like(m) if span == 0 else (m - lo) / span


# --------------------------------------------------------------------------------------------- saliency
def spectral_residual_saliency(image: np.ndarray | torch.Tensor, width: int = 64, sigma: float = 2.5) -> np.ndarray:
    """Spectral-residual saliency S = G * |F^-1[exp(R + iP)]|^2 (Hou & Zhang 2007; paper eq. 1), (H, W) in [0, 1].

    As the original MATLAB code: Rec. 601 grey, resized to ``width`` = 64 px wide (aspect kept),
    R = log|F| minus its 3x3 average (replicated border; |F| floored at 1e-6 of its maximum), Gaussian of ``sigma`` = 2.5 working pixels with
    zero padding (the original's 10x10 kernel is approximated by an 11x11 one), min-max normalised,
    then resized (bilinear) back to H x W. A uniform image has no salient region and gives zeros.
    """
    img = as_image(image, "spectral_residual_saliency(image)")
    if width < 8:
        raise ValueError(f"working width must be at least 8 pixels, got {width}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    gray = _gray(img)
    if np.ptp(gray) == 0:
        return np.zeros(gray.shape)
    h, w = gray.shape
    small = resize(gray, (max(1, int(np.ceil(h * width / w))), width), order=3, anti_aliasing=True)
    spectrum = np.fft.fft2(small)
    amplitude = np.abs(spectrum)
    # guard: (near-)zero coefficients of noise-free synthetic images give log 0 = -inf (NaN in the original);
    # 1e-6 of the largest coefficient changes natural-image maps by < 1e-3
    log_amp = np.log(amplitude + 1e-6 * amplitude.max())
    residual = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="nearest")
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = ndimage.gaussian_filter(sal, sigma, mode="constant", truncate=5.0 / sigma)
    return normalise(np.clip(resize(normalise(sal), (h, w), order=1), 0.0, 1.0))


# ------------------------------------------------------------------------------------ spatial frequency
@dataclass(frozen=True)
class ViewingGeometry:
    """How an image pixel maps to visual angle: viewing distance and pixel pitch of the display.

    Defaults: 57.3 cm (the distance at which 1 cm on the screen subtends 1 degree) and a 0.1 mm pixel
    pitch (a 254-ppi laptop-class display), i.e. about 100 pixels per degree. The Nyquist frequency,
    0.5 cycles/pixel, is then 50 cycles/degree: the paper's [0, 50] cpd range spans exactly the
    frequencies an image can hold.
    """

    viewing_distance_mm: float = 573.0
    pixel_pitch_mm: float = 0.1

    def __post_init__(self) -> None:
        if not (self.viewing_distance_mm > 0 and self.pixel_pitch_mm > 0):
            raise ValueError(f"viewing distance and pixel pitch must be positive, got "
                             f"{self.viewing_distance_mm} mm and {self.pixel_pitch_mm} mm")

    @classmethod
    def from_pixels_per_degree(cls, pixels_per_degree: float, pixel_pitch_mm: float = 0.1) -> ViewingGeometry:
        """The geometry (same pitch) whose viewing distance gives ``pixels_per_degree``."""
        if pixels_per_degree <= 0:
            raise ValueError(f"pixels per degree must be positive, got {pixels_per_degree}")
        return cls(pixel_pitch_mm / (2 * np.tan(np.radians(0.5 / pixels_per_degree))), pixel_pitch_mm)

    @property
    def pixels_per_degree(self) -> float:
        """Pixels per degree of visual angle at the centre of the screen."""
        return 1.0 / degrees(2 * atan(self.pixel_pitch_mm / (2 * self.viewing_distance_mm)))

    @property
    def nyquist_cpd(self) -> float:
        """Highest frequency an image can hold, in cycles per degree."""
        return 0.5 * self.pixels_per_degree


def mannos_sakrison_csf(cpd: np.ndarray | float) -> np.ndarray:
    """Mannos-Sakrison (1974) CSF 2.6 (0.0192 + 0.114 f) exp(-(0.114 f)^1.1); peak about 1 near 8 cpd."""
    f = np.asarray(cpd, dtype=np.float64)
    return 2.6 * (0.0192 + 0.114 * f) * np.exp(-((0.114 * f) ** 1.1))


def frequency_bin_edges(n_bins: int = 10, max_cpd: float = 50.0) -> np.ndarray:
    """The n_bins + 1 edges (cycles/degree) splitting [0, max_cpd] into equal bins."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if not max_cpd > 0:
        raise ValueError(f"max_cpd must be positive, got {max_cpd}")
    return np.linspace(0.0, max_cpd, n_bins + 1)


def _band_masks(shape: tuple[int, int], pixels_per_degree: float, edges: np.ndarray) -> np.ndarray:
    """[n_bins, h, w] DCT-domain band masks: a partition of (0, max_cpd] with raised-cosine inner edges."""
    h, w = shape
    # DCT-II coefficient k of an N-point signal is cos(pi k (2n + 1) / 2N): k / 2N cycles per pixel
    f = np.hypot(*np.meshgrid(np.arange(h) / (2 * h), np.arange(w) / (2 * w), indexing="ij")) * pixels_per_degree
    t = 0.5 * (edges[1] - edges[0])  # transition width: a grating at a bin centre lies fully inside its bin

    def below(e: float) -> np.ndarray:  # smooth step from 1 (f < e - t/2) to 0 (f > e + t/2)
        return np.cos(0.5 * np.pi * np.clip((f - e + t / 2) / t, 0.0, 1.0)) ** 2

    steps = [(f == 0).astype(float)] + [below(e) for e in edges[1:-1]] + [(f <= edges[-1]).astype(float)]
    return np.diff(np.stack(steps), axis=0)


def frequency_band_energy(image: np.ndarray | torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(),
                          n_bins: int = 10, max_cpd: float = 50.0, window: float = 0.1) -> np.ndarray:
    """Local energy [n_bins, H, W] of the grey image in each frequency bin of [0, max_cpd] cycles/degree.

    Band-pass filtering then local averaging is the efficient equivalent of a short-time FFT: the grey
    image (DC removed) is split into bands by masks on its 2-D DCT (the FFT of the mirrored image, so
    borders do not leak high frequencies; raised-cosine bin edges limit ringing), and the squared band
    signal is averaged by a Gaussian window of ``window`` degrees standard deviation (10 px at the
    default geometry). By Parseval this is the band's share of the windowed power spectrum; a grating
    of amplitude a gives a^2 / 2 in its bin. Frequencies above ``max_cpd`` are not counted.
    """
    img = as_image(image, "frequency_band_energy(image)")
    edges = frequency_bin_edges(n_bins, max_cpd)
    if not window > 0:
        raise ValueError(f"window must be positive (degrees), got {window}")
    gray = _gray(img)
    gray = gray - gray.flat[0]  # DC is in no band: no change, except that a flat image gives exact zeros
    coeffs = sfft.dctn(gray, type=2, norm="ortho", workers=1)
    masks = _band_masks(gray.shape, viewing.pixels_per_degree, edges)
    bands = sfft.idctn(coeffs[None] * masks, type=2, norm="ortho", axes=(1, 2), workers=1)
    # Gaussian window applied as its transfer function on the DCT (mirrored borders, as ndimage's
    # mode="reflect"): about 5x faster than ndimage.gaussian_filter for a 10-px sigma
    h, w = gray.shape
    f2 = (np.arange(h)[:, None] / (2 * h)) ** 2 + (np.arange(w)[None, :] / (2 * w)) ** 2
    transfer = np.exp(-2 * np.pi ** 2 * (window * viewing.pixels_per_degree) ** 2 * f2)
    energy = sfft.dctn(bands ** 2, type=2, norm="ortho", axes=(1, 2), workers=1)
    return np.maximum(sfft.idctn(energy * transfer, type=2, norm="ortho", axes=(1, 2), workers=1), 0.0)


def spatial_frequency_map(image: np.ndarray | torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(),
                          n_bins: int = 10, max_cpd: float = 50.0, window: float = 0.1,
                          csf: Callable[[np.ndarray], np.ndarray] | None = mannos_sakrison_csf) -> np.ndarray:
    """Spatial-frequency measure (H, W): CSF-weighted sum over the bins of the local band amplitude.

    The paper sums FFT magnitudes per bin at each pixel (10 values); to rank regions by "mid-range"
    frequency content it is reduced to one number by weighting each bin's local RMS amplitude
    sqrt(:func:`frequency_band_energy`) with the CSF at the bin centre (Mannos-Sakrison by default:
    weights 0.62, 0.98, 0.80, ..., 0.02 for 2.5, 7.5, 12.5, ..., 47.5 cpd). Plain regions have
    little energy anywhere and fine texture sits where the CSF is low, so both score low.
    ``csf=None`` gives the unweighted sum.
    """
    amplitude = np.sqrt(frequency_band_energy(image, viewing, n_bins, max_cpd, window))
    edges = frequency_bin_edges(n_bins, max_cpd)
    weights = np.ones(n_bins) if csf is None else np.asarray(csf(0.5 * (edges[:-1] + edges[1:])), dtype=float)
    return np.tensordot(weights, amplitude, axes=1)


# --------------------------------------------------------------------- literal spatial frequency (paper)
def literal_window_pixels(window: float, viewing: ViewingGeometry = ViewingGeometry()) -> int:
    """Side N (pixels, even, at least 8) of the literal method's square window of ``window`` degrees."""
    if isinstance(window, bool) or not isinstance(window, (int, float, np.floating)) or not (np.isfinite(window) and window > 0):
        raise ValueError(f"window must be a positive number of degrees, got {window!r}")
    return max(8, 2 * int(round(window * viewing.pixels_per_degree / 2)))


def check_stride(stride: int, window_pixels: int | None = None) -> int:
    """``stride`` if it is an integer in [1, window_pixels] (a larger stride would skip pixels), else a ValueError."""
    top = window_pixels if window_pixels is not None else np.inf
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= top:
        allowed = f"from 1 to the window side ({window_pixels} px)" if window_pixels is not None else ">= 1"
        raise ValueError(f"stride must be an integer {allowed}, got {stride!r}")
    return int(stride)


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window 0.5 - 0.5 cos(2 pi k / n), k < n: its peak (1) is at k = n / 2, the patch centre."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def lattice_size(size: int, stride: int) -> int:
    """Number J of window centres 0, stride, ..., (J - 1) * stride >= size - 1 covering an axis of ``size`` px."""
    return -(-(size - 1) // stride) + 1


def padded_indices(size: int, window_pixels: int, stride: int) -> np.ndarray:
    """Indices into an axis of ``size`` px of its reflect-padded copy ((J - 1) * stride + N samples, numpy mode
    "reflect": the edge pixel is not repeated); the window of centre j * stride starts at padded index j * stride."""
    before = window_pixels // 2
    after = (lattice_size(size, stride) - 1) * stride + window_pixels - before - size
    return np.pad(np.arange(size), (before, after), mode="reflect")


def literal_bin_weights(window_pixels: int, pixels_per_degree: float, edges: np.ndarray) -> np.ndarray:
    """[N, N, n_bins] 0/1: which bin holds each coefficient of an N x N FFT (numpy.fft order).

    A coefficient (ky, kx) has the radial frequency hypot(ky, kx) / N * pixels_per_degree cycles/degree; bin i
    holds edges[i] <= f < edges[i + 1], the last bin also f = edges[-1]. DC (f = 0) and f > edges[-1] (the
    corners of the spectrum beyond 50 cpd) are in no bin.
    """
    k = np.fft.fftfreq(window_pixels)
    f = np.hypot(k[:, None], k[None, :]) * pixels_per_degree
    n_bins = len(edges) - 1
    index = np.minimum(np.searchsorted(edges, f, side="right") - 1, n_bins - 1)
    valid = (f > 0) & (f <= edges[-1])
    return (valid[..., None] & (index[..., None] == np.arange(n_bins))).astype(np.float64)


def lattice_upsample(values: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation [..., H, W] of values [..., Jy, Jx] given at the pixels (j * stride, i * stride)."""
    out = values
    for axis, size in ((-2, shape[0]), (-1, shape[1])):
        pos = np.arange(size)
        j0, t = pos // stride, (pos % stride) / stride
        j1 = np.minimum(j0 + 1, out.shape[axis] - 1)
        t = t.reshape((-1, 1) if axis == -2 else (-1,))
        out = np.take(out, j0, axis=axis) * (1 - t) + np.take(out, j1, axis=axis) * t
    return out


def _literal_lattice(gray: np.ndarray, window_pixels: int, stride: int, pixels_per_degree: float,
                     edges: np.ndarray) -> np.ndarray:
    """Band magnitudes [Jy, Jx, n_bins] at the window centres (one FFT per window, rows in chunks)."""
    from numpy.lib.stride_tricks import sliding_window_view

    n = window_pixels
    gray = gray - gray.flat[0]  # no change to the measure (the local mean is removed), but a flat image gives exact zeros
    padded = gray[np.ix_(padded_indices(gray.shape[0], n, stride), padded_indices(gray.shape[1], n, stride))]
    windows = sliding_window_view(padded, (n, n))[::stride, ::stride]  # [Jy, Jx, N, N], a view
    hann2 = np.outer(hann_window(n), hann_window(n))
    bins = literal_bin_weights(n, pixels_per_degree, edges).reshape(n * n, -1)
    out = np.empty((*windows.shape[:2], len(edges) - 1))
    rows = max(1, 2 ** 21 // (windows.shape[1] * n * n))
    for r in range(0, windows.shape[0], rows):
        patch = windows[r:r + rows]
        mean = np.einsum("yxij,ij->yx", patch, hann2) / hann2.sum()  # the local (window-weighted) mean: DC
        spectrum = np.fft.fft2(hann2 * (patch - mean[..., None, None])) / n ** 2
        out[r:r + rows] = np.abs(spectrum).reshape(*patch.shape[:2], n * n) @ bins
    return out


def literal_band_magnitudes(image: np.ndarray | torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(),
                            n_bins: int = 10, max_cpd: float = 50.0, window: float = LITERAL_WINDOW_DEG,
                            stride: int = LITERAL_STRIDE) -> np.ndarray:
    """The paper's per-pixel FFT magnitudes summed in each frequency bin, [n_bins, H, W] (literal definition).

    Around each pixel a square patch of the grey (Rec. 601) image, N = ``window`` degrees a side (32 px at the
    default 0.32 degrees and 100 px/degree; even, the pixel at offset N/2), is weighted by a 2-D periodic Hann
    window after removing its window-weighted mean, then FFT'd; |FFT| / N^2 is summed over the coefficients
    whose radial frequency lies in each of the ``n_bins`` bins of [0, ``max_cpd``] cycles/degree
    (:func:`literal_bin_weights`). DC is excluded: the local mean brightness is not a spatial frequency (removing
    the weighted mean also removes its leakage into the next coefficients through the window). Borders are
    reflect-padded (numpy mode "reflect"). The patches are taken every ``stride`` px (window centres (j * stride,
    i * stride)) and the bands interpolated bilinearly in between; ``stride=1`` evaluates every pixel. A flat
    image gives zeros; a grating of amplitude a at a frequency on the FFT grid (k / N cycles/px, 2 <= k < N/2)
    gives a in total, the centre bin holding at least half of it (Hann: half in the centre coefficient, a
    quarter in each neighbour).
    """
    img = as_image(image, "literal_band_magnitudes(image)")
    edges = frequency_bin_edges(n_bins, max_cpd)
    n = literal_window_pixels(window, viewing)
    stride = check_stride(stride, n)
    lattice = _literal_lattice(_gray(img), n, stride, viewing.pixels_per_degree, edges)
    return lattice_upsample(np.moveaxis(lattice, -1, 0), stride, img.shape[:2])


def literal_spatial_frequency_map(image: np.ndarray | torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(),
                                  n_bins: int = 10, max_cpd: float = 50.0, window: float = LITERAL_WINDOW_DEG,
                                  stride: int = LITERAL_STRIDE) -> np.ndarray:
    """The paper's spatial-frequency measure (H, W): the sum of :func:`literal_band_magnitudes` over the bins.

    Unweighted ("summed"): a CSF weighting would build the paper's mid-frequency finding into the measure.
    Linear in the image's contrast (a grating of twice the amplitude scores twice as high).
    """
    img = as_image(image, "literal_spatial_frequency_map(image)")
    edges = frequency_bin_edges(n_bins, max_cpd)
    n = literal_window_pixels(window, viewing)
    stride = check_stride(stride, n)
    lattice = _literal_lattice(_gray(img), n, stride, viewing.pixels_per_degree, edges)
    return lattice_upsample(lattice.sum(-1), stride, img.shape[:2])


def spatial_frequency_measure(image: np.ndarray | torch.Tensor, method: str = "literal",
                              viewing: ViewingGeometry = ViewingGeometry(), *, window: float | None = None,
                              stride: int = LITERAL_STRIDE) -> np.ndarray:
    """Spatial-frequency measure (H, W) by ``method`` (:data:`SPATIAL_FREQUENCY_METHODS`).

    "literal": :func:`literal_spatial_frequency_map` (``window`` = side in degrees, default
    :data:`LITERAL_WINDOW_DEG`; ``stride`` px between window centres). "csf": :func:`spatial_frequency_map`
    (``window`` = Gaussian standard deviation in degrees, default :data:`CSF_WINDOW_DEG`; no stride).
    """
    check_choice(method, SPATIAL_FREQUENCY_METHODS, "spatial-frequency method")
    window = default_sf_window(method) if window is None else window
    if method == "literal":
        return literal_spatial_frequency_map(image, viewing, window=window, stride=stride)
    check_stride(stride)  # unused by "csf", but a bad value is still an error
    return spatial_frequency_map(image, viewing, window=window)


def default_sf_window(method: str) -> float:
    """The default window (degrees) of a spatial-frequency method: side (literal) or Gaussian SD (csf)."""
    check_choice(method, SPATIAL_FREQUENCY_METHODS, "spatial-frequency method")
    return LITERAL_WINDOW_DEG if method == "literal" else CSF_WINDOW_DEG


# ------------------------------------------------------------------------------------------ objectness
def _integral(stack: np.ndarray) -> np.ndarray:
    """Zero-padded integral image [h + 1, w + 1, K] of an (h, w, K) stack, in the stack's dtype (counts: int32,
    exact and half the memory traffic of float64)."""
    out = np.zeros((stack.shape[0] + 1, stack.shape[1] + 1, stack.shape[2]), dtype=stack.dtype)
    np.cumsum(stack, axis=0, out=out[1:, 1:])
    np.cumsum(out[1:, 1:], axis=1, out=out[1:, 1:])
    return out


def _box_sums(ii: np.ndarray, y0: np.ndarray, x0: np.ndarray, y1: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Sums [N, K] over the boxes [y0, y1) x [x0, x1) from an integral image."""
    return ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]


def _windows(h: int, w: int) -> tuple[np.ndarray, ...]:
    """Sliding windows (y0, x0, y1, x1) of 0.2 .. 0.6 of the image height and width."""
    fracs = (0.2, 0.3, 0.4, 0.5, 0.6)
    stride = max(1, round(min(h, w) / 12))
    boxes = []
    for fh in fracs:
        for fw in fracs:
            wh, ww = max(2, round(fh * h)), max(2, round(fw * w))
            ys, xs = np.meshgrid(np.arange(0, h - wh + 1, stride), np.arange(0, w - ww + 1, stride), indexing="ij")
            boxes.append(np.stack([ys.ravel(), xs.ravel(), ys.ravel() + wh, xs.ravel() + ww], 1))
    b = np.concatenate(boxes)
    return b[:, 0], b[:, 1], b[:, 2], b[:, 3]


def _classical_objectness(img: np.ndarray, work_size: int = 64, top_fraction: float = 0.1) -> np.ndarray:
    """Objectness heat map from sliding-window cues (Alexe, Deselaers & Ferrari 2012), (H, W) in [0, 1].

    At ``work_size`` px (longest side) every window of 0.2-0.6 of the image size is scored by three
    cues: superpixel straddling SS = 1 - sum_s min(|s \\ w|, |s n w|) / |w| (SLIC superpixels), edge
    density ED of Canny edges in the window's inner border band, and colour contrast CC (chi-square
    distance of Lab histograms of the window and its surrounding ring of equal area). Without trained
    likelihoods the cues are turned into percentiles over the windows and combined by geometric mean;
    the best ``top_fraction`` windows add their score to the pixels they cover (the heat map).
    """
    H, W = img.shape[:2]
    if np.ptp(img.reshape(-1, 3), axis=0).max() == 0:
        return np.zeros((H, W))
    small = np.clip(resize(img, objectness_working_shape(H, W, work_size), order=1, anti_aliasing=True), 0.0, 1.0)
    heat = objectness_heat(small, top_fraction)
    return normalise(np.clip(resize(heat, (H, W), order=1), heat.min(), heat.max()))


def objectness_working_shape(height: int, width: int, work_size: int = 64) -> tuple[int, int]:
    """(h, w) at which the classical objectness scores its windows: longest side ``work_size``, each >= MIN_SIDE."""
    scale = work_size / max(height, width)
    return max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))


def objectness_heat(small: np.ndarray, top_fraction: float = 0.1) -> np.ndarray:
    """Window-cue heat map (h, w) of an image already at the working size (the core of :func:`_classical_objectness`)."""
    h, w = small.shape[:2]
    y0, x0, y1, x1 = _windows(h, w)
    area = ((y1 - y0) * (x1 - x0)).astype(float)

    labels = slic(small, n_segments=max(16, h * w // 64), compactness=10.0, start_label=0, channel_axis=-1)
    onehot = np.eye(labels.max() + 1, dtype=np.int32)[labels]
    inside = _box_sums(_integral(onehot), y0, x0, y1, x1)
    ss = 1.0 - np.minimum(inside, onehot.sum((0, 1)) - inside).sum(1) / area

    edges = canny(_gray(small), sigma=1.0).astype(float)[..., None]
    bh, bw = np.maximum(1, (y1 - y0) // 5), np.maximum(1, (x1 - x0) // 5)
    ii_e = _integral(edges)
    band = _box_sums(ii_e, y0, x0, y1, x1)[:, 0] - _box_sums(ii_e, y0 + bh, x0 + bw, y1 - bh, x1 - bw)[:, 0]
    ed = band / (area - (y1 - y0 - 2 * bh) * (x1 - x0 - 2 * bw))

    lab = rgb2lab(small)
    ranges = ((0.0, 100.0), (-86.2, 98.3), (-107.9, 94.5))  # extent of Lab over the sRGB gamut
    q = [np.clip(((lab[..., c] - lo) / (hi - lo) * 8).astype(int), 0, 7) for c, (lo, hi) in enumerate(ranges)]
    _, codes = np.unique(q[0] * 64 + q[1] * 8 + q[2], return_inverse=True)
    ii_c = _integral(np.eye(codes.max() + 1, dtype=np.int32)[codes.reshape(h, w)])
    dy = np.round((y1 - y0) * (np.sqrt(2) - 1) / 2).astype(int)  # sqrt(2) x larger: ring area = window area
    dx = np.round((x1 - x0) * (np.sqrt(2) - 1) / 2).astype(int)
    hist_in = _box_sums(ii_c, y0, x0, y1, x1)
    hist_ring = _box_sums(ii_c, np.maximum(y0 - dy, 0), np.maximum(x0 - dx, 0),
                          np.minimum(y1 + dy, h), np.minimum(x1 + dx, w)) - hist_in
    p = hist_in / hist_in.sum(1, keepdims=True)
    ring = hist_ring.sum(1, keepdims=True)
    qh = hist_ring / np.maximum(ring, 1)
    cc = np.where(ring[:, 0] > 0, 0.5 * ((p - qh) ** 2 / np.maximum(p + qh, 1e-12)).sum(1), 0.0)

    score = np.cbrt(np.prod([rankdata(c) / len(c) for c in (ss, ed, cc)], axis=0))
    top = score >= np.quantile(score, 1.0 - top_fraction)
    heat = np.zeros((h + 1, w + 1))  # difference array: each window adds its score to its box
    for ys, xs, sign in ((y0, x0, 1), (y0, x1, -1), (y1, x0, -1), (y1, x1, 1)):
        np.add.at(heat, (ys[top], xs[top]), sign * score[top])
    return ndimage.gaussian_filter(heat.cumsum(0).cumsum(1)[:h, :w], 1.0)


def pretrained_checkpoint(arch: str = "deeplabv3_resnet50", checkpoint: str | Path | None = None) -> Path:
    """Path of the COCO_WITH_VOC_LABELS_V1 weights of ``arch``; raises FileNotFoundError naming the file if absent."""
    weights = voc_weights(arch)
    name = Path(urlparse(weights.url).path).name
    path = Path(checkpoint) if checkpoint is not None else Path(torch.hub.get_dir()) / "checkpoints" / name
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained objectness needs the {arch} COCO_WITH_VOC_LABELS_V1 weights file {name!r}, not found at "
            f"{path}. Nothing is downloaded here: fetch {weights.url} on a connected machine and put it in "
            f"{path.parent} (or pass checkpoint=...), or use method='classical'.")
    return path


@functools.lru_cache(maxsize=2)
def _segmentation_model(arch: str, path: str, device: str) -> torch.nn.Module:
    """A torchvision segmentation model with 21 VOC classes loaded from a local checkpoint."""
    from torchvision.models import segmentation as seg

    model = getattr(seg, arch)(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval().to(device)


def voc_weights(arch: str):
    """The torchvision COCO_WITH_VOC_LABELS_V1 weights enum of ``arch`` (its URL and input transforms)."""
    from torchvision.models import segmentation as seg

    if arch not in PRETRAINED_ARCHS:
        raise ValueError(f"unknown pretrained objectness architecture {arch!r}; choose one of {PRETRAINED_ARCHS}")
    return {"deeplabv3_resnet50": seg.DeepLabV3_ResNet50_Weights,
            "fcn_resnet50": seg.FCN_ResNet50_Weights}[arch].COCO_WITH_VOC_LABELS_V1


def _pretrained_objectness(img: np.ndarray, arch: str, device: str | torch.device | None,
                           checkpoint: str | Path | None) -> np.ndarray:
    """1 - P(background) (H, W) from a VOC-label segmentation network."""
    path = pretrained_checkpoint(arch, checkpoint)
    dev = str(device) if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    model = _segmentation_model(arch, str(path), dev)
    x = voc_weights(arch).transforms()(torch.from_numpy(img).permute(2, 0, 1).float()[None]).to(dev)
    with torch.inference_mode():
        logits = model(x)["out"]
        logits = torch.nn.functional.interpolate(logits, size=img.shape[:2], mode="bilinear", align_corners=False)
        p_background = logits.softmax(1)[0, 0]
    return (1.0 - p_background).double().cpu().numpy()


def objectness_map(image: np.ndarray | torch.Tensor, method: str = "classical", device: str | torch.device | None = None,
                   *, arch: str = "deeplabv3_resnet50", checkpoint: str | Path | None = None) -> np.ndarray:
    """Objectness (H, W) in [0, 1] by ``method`` (see :data:`OBJECTNESS_METHODS` for the labels).

    "classical" needs no weights (:func:`_classical_objectness`). "pretrained" stands in for the
    paper's pixel-objectness FCN [30] with torchvision ``arch`` and COCO_WITH_VOC_LABELS_V1 weights read
    from the torch hub cache or ``checkpoint`` (never downloaded; missing -> FileNotFoundError).
    """
    if method not in OBJECTNESS_METHODS:
        raise ValueError(f"unknown objectness method {method!r}; choose one of {tuple(OBJECTNESS_METHODS)}")
    img = as_image(image, "objectness_map(image)")
    if method == "classical":
        return _classical_objectness(img)
    return _pretrained_objectness(img, arch, device, checkpoint)


# -------------------------------------------------------------------------------------- all measures
class SemanticMeasures(dict):
    """dict measure name -> map, plus the objectness and spatial-frequency methods that produced them."""

    def __init__(self, maps: dict, objectness_method: str, spatial_frequency_method: str = "literal"):
        super().__init__(maps)
        self.objectness_method = objectness_method
        self.spatial_frequency_method = spatial_frequency_method

    @property
    def objectness_label(self) -> str:
        """Human-readable description of the objectness method, for captions."""
        return OBJECTNESS_METHODS[self.objectness_method]

    @property
    def spatial_frequency_label(self) -> str:
        """Human-readable description of the spatial-frequency method, for captions."""
        return SPATIAL_FREQUENCY_METHODS[self.spatial_frequency_method]


def semantic_measures(image: np.ndarray | torch.Tensor, objectness: str = "classical",
                      device: str | torch.device | None = None, viewing: ViewingGeometry = ViewingGeometry(),
                      *, spatial_frequency: str = "literal", sf_window: float | None = None,
                      sf_stride: int = LITERAL_STRIDE, **objectness_kwargs) -> SemanticMeasures:
    """The four per-pixel measures (H, W) of one image, NumPy reference: "saliency", "spatial_frequency",
    "objectness", "average".

    The first three are min-max normalised (:func:`normalise`); "average" is their mean (paper Sec. 4.2).
    ``spatial_frequency``, ``sf_window``, ``sf_stride``: see :func:`spatial_frequency_measure`; today's
    pre-literal behaviour is ``spatial_frequency="csf"``.
    """
    check_choice(objectness, OBJECTNESS_METHODS, "objectness method")
    check_choice(spatial_frequency, SPATIAL_FREQUENCY_METHODS, "spatial-frequency method")
    img = as_image(image, "semantic_measures(image)")
    maps = {
        "saliency": normalise(spectral_residual_saliency(img)),
        "spatial_frequency": normalise(spatial_frequency_measure(img, spatial_frequency, viewing,
                                                                 window=sf_window, stride=sf_stride)),
        "objectness": normalise(objectness_map(img, objectness, device, **objectness_kwargs)),
    }
    maps["average"] = (maps["saliency"] + maps["spatial_frequency"] + maps["objectness"]) / 3.0
    return SemanticMeasures(maps, objectness, spatial_frequency)


def averaged_measure(image: np.ndarray | torch.Tensor, objectness: str = "classical",
                     device: str | torch.device | None = None, viewing: ViewingGeometry = ViewingGeometry(),
                     **kwargs) -> np.ndarray:
    """Mean (H, W) of the three normalised measures (the paper's fourth, "averaged" measure)."""
    return semantic_measures(image, objectness, device, viewing, **kwargs)["average"]


def semantic_measures_batch(images: np.ndarray | torch.Tensor | Sequence[np.ndarray], objectness: str = "classical",
                            device: str | torch.device | None = None, viewing: ViewingGeometry = ViewingGeometry(),
                            *, spatial_frequency: str = "literal", sf_window: float | None = None,
                            sf_stride: int = LITERAL_STRIDE, backend: str = "torch",
                            **objectness_kwargs) -> SemanticMeasures:
    """The four measures stacked [B, H, W] (float64 numpy) for a tensor [B, 3, H, W] or [3, H, W], or arrays [B, H, W, 3].

    ``backend="torch"`` computes the batch at once on ``device`` (:func:`iqaxai.semantic_torch.semantic_measures_torch`,
    float32; default: CUDA if available); ``"numpy"`` loops over :func:`semantic_measures`.
    """
    check_choice(backend, BACKENDS, "backend")
    where = "semantic_measures_batch(images)"
    if isinstance(images, torch.Tensor):
        batch = images[None] if images.ndim == 3 else images
        check_images(batch, where, min_side=MIN_SIDE)
    else:
        arr = images if isinstance(images, np.ndarray) else np.stack([np.asarray(i) for i in images])
        arr = arr[None] if arr.ndim == 3 else arr
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ValueError(f"{where}: expected arrays [B, H, W, 3] or [H, W, 3], got shape {arr.shape}")
        batch = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
        check_images(batch, where, min_side=MIN_SIDE)
    options = dict(spatial_frequency=spatial_frequency, sf_window=sf_window, sf_stride=sf_stride)
    if backend == "torch":
        from iqaxai.semantic_torch import semantic_measures_torch

        maps = semantic_measures_torch(batch, objectness, device=device, viewing=viewing, **options, **objectness_kwargs)
        return SemanticMeasures({k: v.double().cpu().numpy() for k, v in maps.items()}, objectness, spatial_frequency)
    results = [semantic_measures(i, objectness, device, viewing, **options, **objectness_kwargs) for i in batch]
    return SemanticMeasures({k: np.stack([r[k] for r in results]) for k in MEASURES}, objectness, spatial_frequency)


# --------------------------------------------------------------------------------- regions and matching
def region_values(measure: np.ndarray, grid: Grid = (3, 4)) -> np.ndarray:
    """Mean of a per-pixel measure (H, W) over each grid block, shape (rows * cols,), row-major."""
    m = np.asarray(measure, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"expected a per-pixel measure of shape (H, W), got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("measure contains NaN or infinite values")
    return cell_means(m, grid)


def _check_matching(important: np.ndarray, values: np.ndarray, thresholds: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Validated (important bool [N, B], values [N, B]) for the matching rule."""
    imp, val = np.atleast_2d(np.asarray(important)), np.atleast_2d(np.asarray(values, dtype=np.float64))
    if imp.dtype != bool:
        raise ValueError(f"important must be a boolean mask, got dtype {imp.dtype}")
    if imp.ndim != 2 or imp.shape != val.shape:
        raise ValueError(f"important {imp.shape} and measure values {val.shape} must have the same shape [N, B]")
    n_half = imp.shape[1] // 2
    if imp.shape[1] % 2 or (imp.sum(1) != n_half).any():
        raise ValueError(f"every image needs exactly half of its {imp.shape[1]} regions marked important")
    for t in thresholds:
        if not isinstance(t, (int, np.integer)) or not 0 <= t < n_half:
            raise ValueError(f"threshold must be an integer in [0, {n_half - 1}], got {t!r}")
    return imp, val


def _overlaps(imp: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: (#important among the higher half, #trivial among the lower half)."""
    top = top_half(val)
    return (imp & top).sum(1), (~imp & ~top).sum(1)


def matched(important: np.ndarray, measure_values: np.ndarray, threshold: int) -> bool:
    """Whether one image is matched by a measure at threshold T (paper Sec. 4.2, Table II).

    Paper: "an image is counted as matched by a measure if n regions (n>T) are identified as important
    regions and they also belong to the 6 regions with higher semantic measures, meanwhile the other n
    regions (n>T) are identified as trivial regions and in the other 6 regions with lower semantic
    measures", and for T=4: "at least 5 regions with higher values of objectness measure belong to the
    6 important regions for IQA, whilst other 5 or 6 regions with lower objectness levels are trivial".
    Rule implemented: |important n top_half(values)| > T and |trivial n lower half| > T (strictly more
    than T, i.e. at least T + 1, as both quotes agree). With exactly B/2 important regions the two counts
    are always equal, so the second condition never changes the outcome; it is kept as written.
    """
    imp, val = _check_matching(np.asarray(important)[None], np.asarray(measure_values)[None], [threshold])
    n_imp, n_triv = _overlaps(imp, val)
    return bool(n_imp[0] > threshold and n_triv[0] > threshold)


def matching_degree(important: np.ndarray, values: np.ndarray, thresholds: Iterable[int] = range(1, 6)) -> dict[int, float]:
    """Percentage of images matched (:func:`matched`) at each threshold T, from [N, B] masks and region values."""
    thresholds = list(thresholds)
    imp, val = _check_matching(important, values, thresholds)
    n_imp, n_triv = _overlaps(imp, val)
    return {int(t): float(100.0 * np.mean((n_imp > t) & (n_triv > t))) for t in thresholds}


# ------------------------------------------------------------------------------------ whole datasets
def dataset_region_values(table, objectness: str = "classical", grid: Grid = (3, 4), viewing: ViewingGeometry = ViewingGeometry(),
                          device: str | torch.device | None = None, chunk_images: int = 64, progress: bool = True,
                          image_size: tuple[int, int] | None = None, *, spatial_frequency: str = "literal",
                          sf_window: float | None = None, sf_stride: int = LITERAL_STRIDE, backend: str = "torch",
                          batch_size: int = 8) -> dict[str, np.ndarray]:
    """Region values [N, B] of every measure for every image of a dataset table, cached per chunk of images.

    One pass over the dataset: each chunk of ``chunk_images`` images is loaded once and all measures computed,
    with ``backend="torch"`` in batches of up to ``batch_size`` images of equal size on ``device`` (default:
    CUDA if available; float32), with ``"numpy"`` one image at a time (:func:`semantic_measures`).
    ``image_size`` (H, W): measure the images as the model sees them (the rule of ``load_image``), so that the
    regions align with the masked model's blocks; None keeps the stored size. The cache identity holds every
    setting that shapes the values: images, objectness and spatial-frequency methods, the effective SF window
    (and stride, for "literal"), grid, viewing geometry, size, chunking and backend (with its float type).
    """
    from iqaxai.data.images import load_image
    from iqaxai.results import ResultsCache

    check_choice(objectness, OBJECTNESS_METHODS, "objectness method")
    check_choice(spatial_frequency, SPATIAL_FREQUENCY_METHODS, "spatial-frequency method")
    check_choice(backend, BACKENDS, "backend")
    window = default_sf_window(spatial_frequency) if sf_window is None else sf_window
    stride = check_stride(sf_stride, literal_window_pixels(window, viewing) if spatial_frequency == "literal" else None)
    for name, value in (("chunk_images", chunk_images), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    paths = table["path"].tolist()
    cache = ResultsCache("semantic_regions", {
        "images": table["image"].astype(str).tolist(), "objectness": objectness, "grid": list(grid),
        "viewing": [viewing.viewing_distance_mm, viewing.pixel_pitch_mm], "size": image_size, "chunk_images": chunk_images,
        "spatial_frequency": spatial_frequency, "sf_window": float(window),
        "sf_stride": stride if spatial_frequency == "literal" else None,
        "backend": backend if backend == "numpy" else "torch-float32"})
    options = dict(spatial_frequency=spatial_frequency, sf_window=window, sf_stride=stride)

    def numpy_chunk(images: list[np.ndarray]) -> dict[str, np.ndarray]:
        maps = [semantic_measures(img, objectness, device, viewing, **options) for img in images]
        return {k: np.stack([region_values(m[k], grid) for m in maps]) for k in MEASURES}

    def torch_chunk(images: list[np.ndarray]) -> dict[str, np.ndarray]:
        from iqaxai.semantic_torch import region_values_torch, semantic_measures_torch

        out: dict[str, list[np.ndarray]] = {k: [] for k in MEASURES}
        start = 0
        while start < len(images):  # consecutive images of one size form a batch
            stop = start + 1
            while stop < len(images) and stop - start < batch_size and images[stop].shape == images[start].shape:
                stop += 1
            batch = torch.from_numpy(np.stack(images[start:stop])).permute(0, 3, 1, 2)
            maps = semantic_measures_torch(batch, objectness, device=device, viewing=viewing, **options)
            for k in MEASURES:
                out[k].append(region_values_torch(maps[k], grid).double().cpu().numpy())
            start = stop
        return {k: np.concatenate(v) for k, v in out.items()}

    def chunk(start: int) -> dict[str, np.ndarray]:
        images = [load_image(p, image_size) for p in paths[start:start + chunk_images]]
        return (torch_chunk if backend == "torch" else numpy_chunk)(images)

    items = {f"images_{s:06d}": s for s in range(0, len(paths), chunk_images)}
    done = cache.map(chunk, items, desc="semantic measures", progress=progress)
    return {k: np.concatenate([done[i][k] for i in items]) for k in MEASURES}
