"""The semantic measures of :mod:`iqaxai.semantic`, batched in torch on a CPU or a GPU.

Same definitions as the NumPy reference, for a batch of equal-size images [B, 3, H, W] in [0, 1] at once:

* saliency (spectral residual): the two resizes are skimage's ``resize`` written as exact matrices
  (:func:`resize_matrix`, applied by matmul), the small 64-px spectrum in float64 (torch FFT);
* spatial frequency "literal": the Hann-windowed local DFT as two separable matmuls (rows, then columns, cosine
  and sine parts) at the window centres, |FFT| summed per bin, bilinear interpolation in between;
* spatial frequency "csf": the DCT band split and the Gaussian energy window through orthonormal DCTs computed
  with real FFTs (Makhoul's reordering), as the reference's scipy DCTs;
* objectness "pretrained": one forward pass of the segmentation network for the batch; "classical": the
  working-size resizes as matrices on the device, the window cues per image in NumPy at 64 px (about 15 ms an
  image on one CPU core, whatever the image size).

Maps and region values stay on the device. The compute type is ``dtype`` (float32 by default; the small saliency
spectrum is float64 whatever it is); tests/test_semantic_torch.py holds the float32 maps and region values to the
NumPy reference (float64) within 1e-4, and float64 runs to round-off. The resize matrices are n x n for an image
side of n pixels (8 MB for n = 1024), cached per size.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage.transform import resize

from iqaxai.checks import check_images
from iqaxai.grid import Grid, cell_slices
from iqaxai.semantic import (
    _REC601,
    CSF_WINDOW_DEG,
    LITERAL_STRIDE,
    LITERAL_WINDOW_DEG,
    MEASURES,
    MIN_SIDE,
    OBJECTNESS_METHODS,
    SPATIAL_FREQUENCY_METHODS,
    SemanticMeasures,
    ViewingGeometry,
    _band_masks,
    _segmentation_model,
    check_choice,
    check_stride,
    default_sf_window,
    frequency_bin_edges,
    hann_window,
    lattice_size,
    literal_bin_weights,
    literal_window_pixels,
    mannos_sakrison_csf,
    objectness_heat,
    objectness_working_shape,
    padded_indices,
    pretrained_checkpoint,
    voc_weights,
)

__all__ = [
    "csf_spatial_frequency_torch", "dct2_torch", "frequency_band_energy_torch", "idct2_torch",
    "literal_band_magnitudes_torch", "literal_spatial_frequency_torch", "normalise_torch", "objectness_torch",
    "region_values_torch", "resize_matrix", "resize_torch", "semantic_measures_torch",
    "spectral_residual_saliency_torch",
]


# ----------------------------------------------------------------------------------------------- inputs
def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device``, or CUDA when available and CPU otherwise."""
    return torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))


def _images(images: torch.Tensor, where: str, device: str | torch.device | None = None,
            dtype: torch.dtype | None = None) -> torch.Tensor:
    """Checked images [B, 3, H, W] (values in [0, 1] up to the checks' 1e-6 tolerance, sides >= MIN_SIDE) as ``dtype``
    on ``device`` (None: the images' own dtype and device)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor [B, 3, H, W], got {type(images).__name__}")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"{where}: dtype must be a floating-point torch dtype, got {dtype!r}")
    check_images(images, where, "BCHW", min_side=MIN_SIDE)
    return images.detach().to(device=device if device is not None else images.device, dtype=dtype or images.dtype)


def _gray(images: torch.Tensor) -> torch.Tensor:
    """Luma (Rec. 601) [B, H, W] of images [B, 3, H, W] (one matmul: einsum is several times slower on CPUs)."""
    weights = torch.as_tensor(_REC601, dtype=images.dtype, device=images.device)
    b, _, h, w = images.shape
    return (weights @ images.reshape(b, 3, h * w)).view(b, h, w)


def normalise_torch(maps: torch.Tensor) -> torch.Tensor:
    """Per-image min-max normalisation of maps [B, H, W] to [0, 1]; a constant map becomes zeros."""
    if not isinstance(maps, torch.Tensor) or maps.ndim != 3 or maps.numel() == 0:
        raise ValueError(f"expected non-empty maps [B, H, W] as a tensor, got {getattr(maps, 'shape', type(maps))}")
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values")
    return _normalise(maps)


def _range(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-item (min, max) [B] of x [B, ...] (amin and amax: several times faster than aminmax(dim) on CPUs)."""
    flat = x.reshape(x.shape[0], -1)
    return flat.amin(1), flat.amax(1)


def _normalise(maps: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Min-max normalised maps [B, H, W] (unchecked); images where ``keep`` [B] is False become zeros."""
    lo, hi = _range(maps)
    span = hi - lo
    ok = span > 0 if keep is None else (span > 0) & keep
    inv = torch.where(ok, 1.0 / torch.where(ok, span, 1.0), 0.0)[:, None, None]
    return torch.addcmul(-lo[:, None, None] * inv, maps, inv)  # one pass; a constant map gives zeros


# ----------------------------------------------------------------------------------------------- resize
@functools.lru_cache(maxsize=32)
def resize_matrix(n_in: int, n_out: int, order: int) -> np.ndarray:
    """(n_out, n_in) matrix of skimage's ``resize`` along one axis (spline ``order``, mode "reflect", Gaussian
    anti-aliasing of SD (n_in / n_out - 1) / 2 when shrinking, clip off): resize is separable and linear, so
    resizing an (h, w) image is ``A_h @ image @ A_w.T``, then clipped to the input's range as skimage does."""
    if min(n_in, n_out) < 1 or order not in (0, 1, 2, 3, 4, 5):
        raise ValueError(f"need sizes >= 1 and a spline order 0-5, got {n_in} -> {n_out}, order {order}")
    return resize(np.eye(n_in), (n_out, n_in), order=order, anti_aliasing=n_out < n_in, clip=False)


def resize_torch(x: torch.Tensor, shape: tuple[int, int], order: int, lo: torch.Tensor | None = None,
                 hi: torch.Tensor | None = None) -> torch.Tensor:
    """skimage ``resize(x[b], shape, order)`` for each b of x [B, ..., h, w], as two matmuls in x's dtype; each
    output is clipped to its input's range (skimage's ``clip=True``; ``lo``, ``hi`` [B]: that range, if known)."""
    h, w = x.shape[-2:]
    ay = torch.as_tensor(resize_matrix(h, shape[0], order), dtype=x.dtype, device=x.device)
    ax = torch.as_tensor(resize_matrix(w, shape[1], order), dtype=x.dtype, device=x.device)
    rows_first = shape[0] * h * w + shape[0] * w * shape[1] <= h * w * shape[1] + shape[0] * h * shape[1]
    out = (ay @ x) @ ax.T if rows_first else ay @ (x @ ax.T)
    if lo is None or hi is None:
        lo, hi = _range(x)
    view = (-1,) + (1,) * (x.ndim - 1)
    return torch.clamp(out, lo.view(view).to(out.dtype), hi.view(view).to(out.dtype))


@functools.lru_cache(maxsize=16)
def _filter_matrix(n: int, kind: str, sigma: float = 0.0) -> np.ndarray:
    """(n, n) matrix of a 1-D filter: "box3" (3-tap mean, edge replicated: ndimage mode "nearest") or "gauss"
    (ndimage's Gaussian of ``sigma`` truncated at 5 px, zero padding: mode "constant")."""
    if kind == "box3":
        taps, radius = np.full(3, 1.0 / 3.0), 1
    else:
        radius = 5
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        taps /= taps.sum()
    out = np.zeros((n, n))
    for i in range(n):
        for t, j in zip(taps, range(i - radius, i + radius + 1)):
            if kind == "box3":
                out[i, min(max(j, 0), n - 1)] += t
            elif 0 <= j < n:
                out[i, j] += t
    return out


def _filter2(x: torch.Tensor, kind: str, sigma: float = 0.0) -> torch.Tensor:
    """Separable 2-D filter of maps [B, h, w] by :func:`_filter_matrix` along both axes."""
    fy, fx = (torch.as_tensor(_filter_matrix(n, kind, sigma), dtype=x.dtype, device=x.device) for n in x.shape[-2:])
    return fy @ x @ fx.T


# --------------------------------------------------------------------------------------------- saliency
def spectral_residual_saliency_torch(images: torch.Tensor, width: int = 64, sigma: float = 2.5) -> torch.Tensor:
    """Spectral-residual saliency [B, H, W] in [0, 1] of images [B, 3, H, W]: :func:`iqaxai.semantic.spectral_residual_saliency`
    batched (same working size, guard, filters and resizes); uniform images give zeros."""
    img = _images(images, "spectral_residual_saliency_torch(images)")
    if width < 8:
        raise ValueError(f"working width must be at least 8 pixels, got {width}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return _saliency(_gray(img), width, sigma)


def _saliency(gray: torch.Tensor, width: int = 64, sigma: float = 2.5) -> torch.Tensor:
    """Saliency [B, H, W] of grey images [B, H, W] (checked by the caller); the 64-px spectrum in float64."""
    _, h, w = gray.shape
    lo, hi = _range(gray)
    small = resize_torch(gray, (max(1, int(np.ceil(h * width / w))), width), order=3, lo=lo, hi=hi).double()
    spectrum = torch.fft.fft2(small)
    amplitude = spectrum.abs()
    log_amp = torch.log(amplitude + 1e-6 * amplitude.amax((1, 2), keepdim=True))
    residual = log_amp - _filter2(log_amp, "box3")
    sal = torch.fft.ifft2(torch.polar(torch.exp(residual), torch.angle(spectrum))).abs() ** 2
    sal = _normalise(_filter2(sal, "gauss", sigma)).to(gray.dtype)
    ones = torch.ones(gray.shape[0], dtype=gray.dtype, device=gray.device)
    up = resize_torch(sal, (h, w), order=1, lo=0 * ones, hi=ones)
    return _normalise(up, keep=hi > lo)  # a uniform image has no salient region: zeros


# ------------------------------------------------------------------------ literal spatial frequency
@functools.lru_cache(maxsize=8)
def _literal_kernels(n: int, pixels_per_degree: float, edges: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row kernel [N, 2h], column kernel [2N, 4h] and bin weights [h * 2h, n_bins] of the separable local DFT (h = N/2 + 1).

    Rows: for kx = 0..N/2, the Hann-weighted cosine and sine sums A_c, A_s (columns interleaved (kx, cos/sin)).
    Columns: from the 2N window values (A_c, A_s) of one kx, Re and Im of X(+ky, kx) and X(-ky, kx) for ky = 0..N/2
    (columns (re/im, +/-, ky)); X(ky, kx) = sum w(m) w(n) x e^{-2 pi i (ky m + kx n) / N} / N^2. Bin weights count a
    coefficient of the half plane kx >= 0 twice when its conjugate lies in the other half (0 < kx < N/2), the
    -ky rows once for ky = 1..N/2-1 (ky = 0, N/2 are in the +ky rows).
    """
    h = n // 2 + 1
    m = np.arange(n)[:, None]
    k = np.arange(h)[None, :]
    win = hann_window(n)[:, None] / n
    kc, ks = win * np.cos(2 * np.pi * m * k / n), win * np.sin(2 * np.pi * m * k / n)  # [N, h]
    rows = np.stack([kc, ks], -1).reshape(n, 2 * h)
    cols = np.zeros((2, n, 2, 2, h))  # (cos/sin input, m) x (re/im, +/-, ky)
    cols[0, :, 0, 0], cols[1, :, 0, 0] = kc, -ks  # Re X(+ky)
    cols[0, :, 0, 1], cols[1, :, 0, 1] = kc, ks  # Re X(-ky)
    cols[0, :, 1, 0], cols[1, :, 1, 0] = ks, kc  # -Im X(+ky) (the sign does not change |X|)
    cols[0, :, 1, 1], cols[1, :, 1, 1] = ks, -kc  # Im X(-ky)
    full = literal_bin_weights(n, pixels_per_degree, np.asarray(edges))  # [N(ky), N(kx), n_bins]
    bins = np.zeros((h, 2, h, len(edges) - 1))  # (kx, +/-, ky)
    kx_weight = np.where((np.arange(h) > 0) & (np.arange(h) < n // 2), 2.0, 1.0)
    for kx in range(h):
        bins[kx, 0] = full[:h, kx] * kx_weight[kx]
        bins[kx, 1, 1:n // 2] = full[n - np.arange(1, n // 2), kx] * kx_weight[kx]
    return rows, cols.reshape(2 * n, 4 * h), bins.reshape(h * 2 * h, -1)


def _reflect_pad(gray: torch.Tensor, n: int, stride: int) -> torch.Tensor:
    """Grey images [B, H, W] reflect-padded for the window lattice (:func:`iqaxai.semantic.padded_indices`)."""
    _, height, width = gray.shape
    top, left = n // 2, n // 2
    bottom = (lattice_size(height, stride) - 1) * stride + n - top - height
    right = (lattice_size(width, stride) - 1) * stride + n - left - width
    if max(top, bottom) < height and max(left, right) < width:  # one reflection: torch's pad is the same
        return F.pad(gray[:, None], (left, right, top, bottom), mode="reflect")[:, 0]
    iy = torch.as_tensor(padded_indices(height, n, stride), device=gray.device)
    ix = torch.as_tensor(padded_indices(width, n, stride), device=gray.device)
    return gray.index_select(1, iy).index_select(2, ix)


def _literal_lattice(gray: torch.Tensor, n: int, stride: int, pixels_per_degree: float, edges: np.ndarray,
                     total: bool = False, budget: int = 1 << 19) -> torch.Tensor:
    """Band magnitudes [B, n_bins, Jy, Jx] (``total``: their sum [B, 1, Jy, Jx]) at the window centres of grey images
    [B, H, W]. Per image: the row transform once, then the column transform on chunks of lattice rows of about
    ``budget`` values (chunks that stay in cache are faster)."""
    b, height, width = gray.shape
    h = n // 2 + 1
    rows_k, cols_k, bins = (torch.as_tensor(a, dtype=gray.dtype, device=gray.device)
                            for a in _literal_kernels(n, float(pixels_per_degree), tuple(float(e) for e in edges)))
    if total:
        bins = bins.sum(1, keepdim=True)
    jy, jx = lattice_size(height, stride), lattice_size(width, stride)
    out = torch.empty(b, jy, jx, bins.shape[1], dtype=gray.dtype, device=gray.device)
    step = max(1, budget // (jx * h * 4 * h))
    # minus a pixel: no change to the measure (the local mean is removed), but a flat image gives exact zeros
    for i, padded in enumerate(_reflect_pad(gray - gray[:, :1, :1], n, stride)):  # [Hp, Wp]
        rows = (padded.unfold(1, n, stride).reshape(-1, n) @ rows_k).view(padded.shape[0], jx, h, 2)  # [Hp, Jx, kx, c/s]
        for r0 in range(0, jy, step):
            r1 = min(jy, r0 + step)
            windows = rows[r0 * stride:(r1 - 1) * stride + n].unfold(0, n, stride)  # [r1 - r0, Jx, kx, c/s, m]
            c = (windows.reshape(-1, 2 * n) @ cols_k).view(r1 - r0, jx, h, 2, 2 * h)  # re/im, (+/-, ky)
            dc = c[:, :, 0, 0, 0].clone()  # X(0, 0): the window-weighted mean times 1/4
            re = c[:, :, :, 0]
            re[:, :, 0, 0] = 0.0  # remove the mean: X -= 4 X(0,0) W(ky) W(kx), W(0) = 1/2, W(+-1) = -1/4
            re[:, :, 0, 1] += dc / 2
            re[:, :, 0, h + 1] += dc / 2
            re[:, :, 1, 0] += dc / 2
            re[:, :, 1, 1] -= dc / 4
            re[:, :, 1, h + 1] -= dc / 4
            magnitude = torch.hypot(c[:, :, :, 0], c[:, :, :, 1]).view(-1, h * 2 * h)  # [rows Jx, (kx, +/-, ky)]
            summed = torch.mv(magnitude, bins[:, 0]).unsqueeze(1) if total else magnitude @ bins
            out[i, r0:r1] = summed.view(r1 - r0, jx, -1)
    return out.permute(0, 3, 1, 2)


def _lattice_upsample(values: torch.Tensor, stride: int, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear interpolation [B, C, H, W] of values [B, C, Jy, Jx] given at the pixels (j * stride, i * stride)."""
    if stride == 1:
        return values[..., :shape[0], :shape[1]]
    size = ((values.shape[-2] - 1) * stride + 1, (values.shape[-1] - 1) * stride + 1)
    return F.interpolate(values, size=size, mode="bilinear", align_corners=True)[..., :shape[0], :shape[1]]


def _literal_setup(images: torch.Tensor, where: str, viewing: ViewingGeometry, n_bins: int, max_cpd: float,
                   window: float, stride: int) -> tuple[torch.Tensor, np.ndarray, int, int]:
    """Checked grey images, bin edges, window side and stride of the literal method."""
    img = _images(images, where)
    edges = frequency_bin_edges(n_bins, max_cpd)
    n = literal_window_pixels(window, viewing)
    return _gray(img), edges, n, check_stride(stride, n)


def literal_band_magnitudes_torch(images: torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(), n_bins: int = 10,
                                  max_cpd: float = 50.0, window: float = LITERAL_WINDOW_DEG,
                                  stride: int = LITERAL_STRIDE) -> torch.Tensor:
    """:func:`iqaxai.semantic.literal_band_magnitudes` of images [B, 3, H, W]: [B, n_bins, H, W] on their device."""
    gray, edges, n, stride = _literal_setup(images, "literal_band_magnitudes_torch(images)", viewing, n_bins, max_cpd,
                                            window, stride)
    lattice = _literal_lattice(gray, n, stride, viewing.pixels_per_degree, edges)
    return _lattice_upsample(lattice, stride, gray.shape[1:])


def literal_spatial_frequency_torch(images: torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(), n_bins: int = 10,
                                    max_cpd: float = 50.0, window: float = LITERAL_WINDOW_DEG,
                                  stride: int = LITERAL_STRIDE) -> torch.Tensor:
    """:func:`iqaxai.semantic.literal_spatial_frequency_map` of images [B, 3, H, W]: [B, H, W] (sum over the bins)."""
    gray, edges, n, stride = _literal_setup(images, "literal_spatial_frequency_torch(images)", viewing, n_bins, max_cpd,
                                            window, stride)
    return _literal_sf(gray, viewing, edges, n, stride)


def _literal_sf(gray: torch.Tensor, viewing: ViewingGeometry, edges: np.ndarray, n: int, stride: int) -> torch.Tensor:
    """Literal measure [B, H, W] of checked grey images."""
    lattice = _literal_lattice(gray, n, stride, viewing.pixels_per_degree, edges, total=True)
    return _lattice_upsample(lattice, stride, gray.shape[1:])[:, 0]


# ------------------------------------------------------------------------------- CSF spatial frequency
@functools.lru_cache(maxsize=16)
def _dct_plan(n: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Index maps and twiddles of the orthonormal DCT-II / DCT-III of length n through one real FFT (Makhoul 1980).

    With v = x reordered (even samples, then the odd ones reversed) and Z[k] = FFT(v)[k] e^{-i pi k / 2n}, the
    unnormalised DCT-II is C[k] = Re Z[k] and C[n - k] = -Im Z[k], k = 0..n//2. ``ihfft`` gives conj(FFT(v)) / n,
    so one complex product yields Re Z in the real and -Im Z in the imaginary parts; the inverse runs the same
    steps backwards with ``hfft`` (the imaginary parts of the DC and Nyquist bins, which irfft ignores, are free).
    """
    half = n // 2 + 1
    perm = np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)[::-1]])  # v = x[perm]
    k = np.arange(half)
    scale = np.where(k == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
    forward = n * scale * np.exp(1j * np.pi * k / (2 * n))  # conj(twiddle) x n (undoes ihfft's 1 / n) x ortho scale
    pick = np.empty(n, dtype=np.int64)  # out[j] from view_as_real(w).flatten(): Re w[j] or Im w[n - j]
    pick[:half] = 2 * k
    pick[half:] = 2 * (n - np.arange(half, n)) + 1
    inverse = np.exp(-1j * np.pi * k / (2 * n)) / scale / n  # C = y / scale; conj(twiddle); hfft's factor n undone
    gather = np.stack([k, np.where(k == 0, 0, n - k)], 1).reshape(-1)  # (C[k], C[n - k]) pairs; C[n] unused for k = 0
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    as_index = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return (as_index(perm), torch.as_tensor(forward, dtype=cdtype, device=device), as_index(pick),
            torch.as_tensor(inverse, dtype=cdtype, device=device), as_index(gather), as_index(np.argsort(perm)))


def _take_last(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[..., index] (``gather`` with an expanded index: much faster than ``index_select`` on the last dim on CPUs)."""
    return torch.gather(x, -1, index.expand(*x.shape[:-1], len(index)))


def _dct_last(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dimension (scipy ``dct(norm="ortho")``)."""
    perm, forward, pick, _, _, _ = _dct_plan(x.shape[-1], x.dtype, x.device)
    w = torch.fft.ihfft(_take_last(x, perm)) * forward  # = conj(Z) x scale: (Re Z, -Im Z)
    return _take_last(torch.view_as_real(w).flatten(-2), pick)


def _idct_last(y: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-III along the last dimension (the inverse of :func:`_dct_last`)."""
    n = y.shape[-1]
    _, _, _, inverse, gather, unperm = _dct_plan(n, y.dtype, y.device)
    pairs = _take_last(y, gather).view(*y.shape[:-1], -1, 2)  # C[k] + i C[n - k] = conj(Z[k])
    return _take_last(torch.fft.hfft(torch.view_as_complex(pairs) * inverse, n=n), unperm)  # irfft(conj) x n


def _dct2_t(x: torch.Tensor) -> torch.Tensor:
    """2-D DCT-II of x [..., H, W], returned transposed [..., W, H] (every FFT along the contiguous last axis)."""
    return _dct_last(_dct_last(x).transpose(-1, -2).contiguous())


def _idct2_t(coeffs_t: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_dct2_t`: images [..., H, W] from transposed coefficients [..., W, H]."""
    return _idct_last(_idct_last(coeffs_t).transpose(-1, -2).contiguous())


def dct2_torch(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two dimensions (scipy ``dctn(type=2, norm="ortho")``)."""
    return _dct2_t(x).transpose(-1, -2)


def idct2_torch(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2_torch` (scipy ``idctn(type=2, norm="ortho")``)."""
    return _idct2_t(x.transpose(-1, -2).contiguous())


def _csf_setup(images: torch.Tensor, where: str, n_bins: int, max_cpd: float, window: float) -> tuple[torch.Tensor, np.ndarray]:
    """Checked grey images and bin edges of the CSF method."""
    img = _images(images, where)
    edges = frequency_bin_edges(n_bins, max_cpd)
    if not window > 0:
        raise ValueError(f"window must be positive (degrees), got {window}")
    return _gray(img), edges


def _band_energies(gray: torch.Tensor, viewing: ViewingGeometry, edges: np.ndarray, window: float):
    """Yield the local energy [B, H, W] of each band (see :func:`iqaxai.semantic.frequency_band_energy`)."""
    _, h, w = gray.shape
    # coefficients, masks and transfer function are kept transposed [W, H] (see _dct2_t)
    coeffs = _dct2_t(gray - gray[:, :1, :1])  # DC is in no band: no change, except that a flat image gives zeros
    masks = _band_masks((h, w), viewing.pixels_per_degree, edges).transpose(0, 2, 1)
    f2 = (np.arange(h)[:, None] / (2 * h)) ** 2 + (np.arange(w)[None, :] / (2 * w)) ** 2
    transfer = torch.as_tensor(np.exp(-2 * np.pi ** 2 * (window * viewing.pixels_per_degree) ** 2 * f2).T,
                               dtype=gray.dtype, device=gray.device)
    for mask in masks:
        band = _idct2_t(coeffs * torch.as_tensor(mask, dtype=gray.dtype, device=gray.device))
        yield _idct2_t(_dct2_t(band.square_()).mul_(transfer)).clamp_min_(0.0)


def frequency_band_energy_torch(images: torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(), n_bins: int = 10,
                                max_cpd: float = 50.0, window: float = CSF_WINDOW_DEG) -> torch.Tensor:
    """:func:`iqaxai.semantic.frequency_band_energy` of images [B, 3, H, W]: [B, n_bins, H, W] on their device."""
    gray, edges = _csf_setup(images, "frequency_band_energy_torch(images)", n_bins, max_cpd, window)
    return torch.stack(list(_band_energies(gray, viewing, edges, window)), 1)


def csf_spatial_frequency_torch(images: torch.Tensor, viewing: ViewingGeometry = ViewingGeometry(), n_bins: int = 10,
                                max_cpd: float = 50.0, window: float = CSF_WINDOW_DEG) -> torch.Tensor:
    """:func:`iqaxai.semantic.spatial_frequency_map` (Mannos-Sakrison weights) of images [B, 3, H, W]: [B, H, W]."""
    gray, edges = _csf_setup(images, "csf_spatial_frequency_torch(images)", n_bins, max_cpd, window)
    return _csf_sf(gray, viewing, edges, window)


def _csf_sf(gray: torch.Tensor, viewing: ViewingGeometry, edges: np.ndarray, window: float) -> torch.Tensor:
    """CSF-weighted measure [B, H, W] of checked grey images (bands one at a time: memory B x H x W x a few)."""
    weights = mannos_sakrison_csf(0.5 * (edges[:-1] + edges[1:]))
    total = torch.zeros_like(gray)
    for weight, energy in zip(weights, _band_energies(gray, viewing, edges, window)):
        total.add_(energy.sqrt_(), alpha=float(weight))
    return total


# ------------------------------------------------------------------------------------------ objectness
def _classical_objectness(images: torch.Tensor, work_size: int = 64, top_fraction: float = 0.1) -> torch.Tensor:
    """:func:`iqaxai.semantic._classical_objectness` of images [B, 3, H, W]: resizes on the device, cues per image."""
    _, _, height, width = images.shape
    # float32 like the rest (float64 would double the cost): the cues are ranks and thresholds, and float32 and float64
    # downsampling gave identical heat maps on 40 of 40 natural-like test images
    small = resize_torch(images, objectness_working_shape(height, width, work_size), order=1).clamp(0.0, 1.0).double()
    flat = (images.amax((2, 3)) == images.amin((2, 3))).all(1).tolist()  # every channel constant: no object
    heats = torch.stack([torch.zeros(small.shape[-2:], dtype=torch.float64) if f else
                         torch.from_numpy(objectness_heat(s.permute(1, 2, 0).cpu().numpy(), top_fraction))
                         for s, f in zip(small, flat)]).to(device=images.device, dtype=images.dtype)
    return _normalise(resize_torch(heats, (height, width), order=1))  # a zero heat stays zero


def _pretrained_objectness(images: torch.Tensor, arch: str = "deeplabv3_resnet50",
                           checkpoint: str | Path | None = None) -> torch.Tensor:
    """1 - P(background) [B, H, W] from one batched pass of a VOC-label segmentation network (on the images' device)."""
    path = pretrained_checkpoint(arch, checkpoint)
    model = _segmentation_model(arch, str(path), str(images.device))
    x = voc_weights(arch).transforms()(images.float())
    with torch.inference_mode():
        logits = F.interpolate(model(x)["out"], size=images.shape[-2:], mode="bilinear", align_corners=False)
        return (1.0 - logits.softmax(1)[:, 0]).to(images.dtype)


def objectness_torch(images: torch.Tensor, method: str = "classical", device: str | torch.device | None = None, *,
                     arch: str = "deeplabv3_resnet50", checkpoint: str | Path | None = None) -> torch.Tensor:
    """:func:`iqaxai.semantic.objectness_map` of images [B, 3, H, W]: [B, H, W] on ``device`` (default: the images')."""
    check_choice(method, OBJECTNESS_METHODS, "objectness method")
    img = _images(images, "objectness_torch(images)", device)
    return _classical_objectness(img) if method == "classical" else _pretrained_objectness(img, arch, checkpoint)


# -------------------------------------------------------------------------------------- all measures
def semantic_measures_torch(images: torch.Tensor, objectness: str = "classical", device: str | torch.device | None = None,
                            viewing: ViewingGeometry = ViewingGeometry(), *, spatial_frequency: str = "literal",
                            sf_window: float | None = None, sf_stride: int = LITERAL_STRIDE,
                            dtype: torch.dtype = torch.float32, **objectness_kwargs) -> SemanticMeasures:
    """The four measures [B, H, W] of images [B, 3, H, W] in [0, 1], batched on ``device`` (default: CUDA if available).

    As :func:`iqaxai.semantic.semantic_measures` (saliency, spatial frequency by ``spatial_frequency``, objectness,
    each min-max normalised per image, and their mean "average"), computed in ``dtype``; the maps stay on the device.
    """
    check_choice(objectness, OBJECTNESS_METHODS, "objectness method")
    check_choice(spatial_frequency, SPATIAL_FREQUENCY_METHODS, "spatial-frequency method")
    img = _images(images, "semantic_measures_torch(images)", resolve_device(device), dtype)
    window = default_sf_window(spatial_frequency) if sf_window is None else sf_window
    gray = _gray(img)
    if spatial_frequency == "literal":
        n = literal_window_pixels(window, viewing)
        sf = _literal_sf(gray, viewing, frequency_bin_edges(), n, check_stride(sf_stride, n))
    else:
        check_stride(sf_stride)
        if not window > 0:
            raise ValueError(f"window must be positive (degrees), got {window}")
        sf = _csf_sf(gray, viewing, frequency_bin_edges(), window)
    if objectness == "classical":
        if objectness_kwargs:
            raise TypeError(f"classical objectness takes no options, got {sorted(objectness_kwargs)}")
        obj = _classical_objectness(img)  # normalised already
    else:
        obj = _normalise(_pretrained_objectness(img, **objectness_kwargs))
    maps = {"saliency": _saliency(gray), "spatial_frequency": _normalise(sf), "objectness": obj}  # all normalised
    maps["average"] = torch.add(maps["saliency"], maps["spatial_frequency"]).add_(obj).div_(3.0)
    return SemanticMeasures({k: maps[k] for k in MEASURES}, objectness, spatial_frequency)


def region_values_torch(maps: torch.Tensor, grid: Grid = (3, 4)) -> torch.Tensor:
    """Block means [B, rows * cols] (row-major) of maps [B, H, W] on their device; :func:`iqaxai.semantic.region_values` batched."""
    if not isinstance(maps, torch.Tensor) or maps.ndim != 3:
        raise ValueError(f"expected per-pixel maps [B, H, W] as a tensor, got {getattr(maps, 'shape', type(maps))}")
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values")
    return torch.stack([maps[:, ys, xs].mean((1, 2)) for ys, xs in cell_slices(maps.shape[1:], grid)], 1)
