"""A SACID-shaped demo set: the demo world's scenes compressed with and without saliency, scored by a rule.

**Synthetic, not human data.** SACID (:mod:`iqaxai.data.sacid`) cannot be downloaded offline, so this module
writes a set in its exact layout from the demo world (:mod:`iqaxai.data.demo`), read unchanged by
``load_sacid(root=...)``. Its subjective scores follow the documented rule below, so it is known what a
saliency-aware metric should find: at equal rate, moving bits towards fixated regions lowers the error that
counts and raises the plain error.

Construction, per reference scene of the demo world (rule version 1):

1. **Sequence** ``demo-I001`` etc. ``reference/<seq>.png`` is the demo reference upsampled bicubic by
   ``upscale`` (2: 96x128 -> 192x256, so that pyiqa's MS-SSIM, five scales of an 11x11 window, which needs a
   side above 160 pixels, fits). ``saliency/<seq>.png`` is the planted fixation density resized (bilinear) to
   the same size, 8-bit grey.
2. **Codec.** A JPEG-style block codec: RGB -> YCbCr (JFIF, no chroma subsampling), 8x8 block DCT (the
   orthonormal DCT-II, which is exactly JPEG's FDCT), quantisation by the standard JPEG luminance and
   chrominance tables scaled by the IJG quality formula, with a quality **per block**
   ``q_b = clip(q0 + strength * z_b, 1, 100)`` (``z_b``: the block's mean saliency standardised over the
   blocks of the image; the formula is applied to real-valued qualities). Presets (:data:`PRESETS`), in
   quality units per standard deviation of block saliency: ``none`` 0 (uniform), ``p132`` 1 (weak), ``p220``
   2 (medium), ``p310`` 3 (strong). They are small because at the base qualities these rates need (means
   7-21 per label) the IJG step size is ``5000 / q`` percent of the table: one quality unit already changes it by 5-14 %.
   Stronger presets spend so many bits on the fixation peaks that the density-weighted error rises again.
3. **Rate.** The zeroth-order entropy of the quantised coefficients, per component and frequency band (the
   64 bands of each of Y, Cb, Cr, each an alphabet of its own, summed over the blocks), in bits per pixel; no
   DC prediction, run-length or side information. For each bitrate label ``targetbbp100=8|12|16`` the target
   is ``label / 100 * RATE_FACTOR`` bpp and ``q0`` is found by bisection until the rate is within
   :data:`RATE_TOLERANCE` (relative) of it, so all four presets of a label have the same rate.
   :data:`RATE_FACTOR` (4: 0.32, 0.48 and 0.64 bpp) is larger than SACID's 0.08-0.16 bpp because the small
   demo scenes carry dense detail; with it the ``none`` images span about 24.5-36 dB PSNR (means 26.7, 29.6
   and 31.8 dB per label over the default world): visible but not destructive artefacts.
4. **Decoding and storage.** Dequantise, inverse DCT, YCbCr -> RGB, clip, round; stored as ``.jpg`` by
   Pillow at quality 95 without chroma subsampling (SACID also ships JPG re-encodes of its decoded frames).
   Everything below is measured on the stored files.
5. **Latent quality.** The visible error is the luma error (0-1 units) low-passed by a Gaussian of
   :data:`CSF_SIGMA` pixels (a crude contrast sensitivity), weighted by the planted density ``D`` (the
   saliency PNG): ``Q = -10 log10(sum(D * e_vis^2) / sum(D))`` in dB.
6. **Scores.** Simulated pairwise comparisons within each sequence: all 66 pairs of its 12 images,
   :data:`VOTES` votes each, ``P(i preferred to j) = 1 / (1 + exp(-(Q_i - Q_j) / TAU))`` (seeded per
   sequence). ``TAU`` is 0.5 dB because the presets of one bitrate differ by only a few tenths of a dB of
   ``Q`` (bitrates by 3-4 dB). Bradley-Terry strengths are fitted by Hunter's MM algorithm with
   :data:`PSEUDO_COUNT` votes added to each ordered pair (so a perfectly separated pair stays finite);
   ``subjective_score = log(strength) - min over the sequence`` (natural log), so each sequence has one
   0.0, its worst image, as in SACID. Should two images share the lowest strength (identical vote records,
   which 20 votes per pair allow), they are compared once more, :data:`VOTES` per pair, until one is lower.

The planted truth, over the default world's 400 sequences: at equal rate each saliency-aware preset has a
higher ``Q`` than ``none`` (by 0.29, 0.37 and 0.32 dB on average) and a lower plain PSNR (by 0.14, 0.42 and
0.85 dB). Within a (sequence, bitrate) group plain PSNR therefore ranks the images against the scores
(Spearman about -0.4) and ``Q`` with them (about 0.8), the direction in which SACID's KRCC† column separates
PSNR (0.009) from EW-PSNR (0.356); over whole sequences ``Q`` and the scores agree (Spearman 0.98).

Written layout under ``root``::

    SACID/moses.csv                                   sequence,test_case,subjective_score (SACID's format)
    SACID/compressed/<seq>/h264v@targetbbp100=<8|12|16>_preset=<none|p132|p220|p310>.jpg
    SACID/reference/<seq>.png, SACID/saliency/<seq>.png          (PNG, zlib level 1)
    SACID/planted_sacid.csv    per image: target and achieved bpp, q0, latent Q, plain PSNR, the scene's
                               demo ``ref_img`` and its demo-world split
    SACID/demo_sacid.json      configuration and rule constants (written last)

The set is written into a temporary folder beside ``root/SACID`` and renamed into place, under a lock, as the
demo world is. :func:`ensure_demo_sacid` keeps one per configuration in the cache.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage
from scipy.fft import dctn, idctn
from scipy.special import expit
from tqdm.auto import tqdm

from iqaxai.data import demo
from iqaxai.data.demo import DemoConfig, ensure_demo_world, load_demo
from iqaxai.paths import cache_dir
from iqaxai.results import config_key, file_lock

#: Version of the construction rule; part of the cache key, bump it whenever the output changes.
RULE_VERSION = 1
FOLDER = "SACID"
SCORES_FILE = "moses.csv"
MANIFEST = "demo_sacid.json"
PLANTED = "planted_sacid.csv"

#: Bitrate labels (SACID's ``targetbbp100``) and preset -> strength (quality units per SD of block saliency).
BITRATES = (8, 12, 16)
PRESETS: dict[str, float] = {"none": 0.0, "p132": 1.0, "p220": 2.0, "p310": 3.0}
#: Target rate = label / 100 * RATE_FACTOR bpp; chosen so the ``none`` images span roughly 24-34 dB PSNR.
RATE_FACTOR = 4.0
#: Relative tolerance of the achieved rate around the target.
RATE_TOLERANCE = 0.01
#: Pillow JPEG quality of the stored re-encode (no chroma subsampling).
STORE_QUALITY = 95
#: SD in pixels of the Gaussian low-pass of the luma error (a crude contrast sensitivity).
CSF_SIGMA = 1.0
#: Comparison noise in dB of latent quality (presets of one bitrate differ by tenths of a dB), votes per
#: pair, and pseudo-votes added to each ordered pair.
TAU = 0.5
VOTES = 20
PSEUDO_COUNT = 0.5
#: Scores closer than this to the minimum count as tied with it.
TIE = 1e-6

BLOCK = 8
#: The standard JPEG quantisation tables (ITU-T T.81, Annex K.1).
LUMA_TABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
], dtype=np.float64)
CHROMA_TABLE = np.array([
    [17, 18, 24, 47, 99, 99, 99, 99],
    [18, 21, 26, 66, 99, 99, 99, 99],
    [24, 26, 56, 99, 99, 99, 99, 99],
    [47, 66, 99, 99, 99, 99, 99, 99],
] + [[99] * 8] * 4, dtype=np.float64)
#: JFIF RGB -> YCbCr (rows Y, Cb, Cr, without the +128 of Cb and Cr that the level shift removes) and back.
_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_RGB = np.array([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]])
_SEED_TAG = zlib.crc32(b"demo-sacid")


# ----------------------------------------------------------------------------------------- codec

@dataclass(frozen=True)
class _RateIndex:
    """The coefficients sorted by the coarsest quantiser that can leave them non-zero (fast rate evaluation).

    A coefficient ``c`` with unscaled table entry ``b`` quantises to 0 at every IJG scale ``s`` with
    ``(|c| + 0.25) / b <= s / 200`` (the scaled entry exceeds ``(b s - 50) / 100``) unless ``|c| >= 127.5``
    (entries are capped at 255), so only a prefix of this order needs quantising; ``|c| <= 0.5`` is always 0.
    """

    position: np.ndarray  # flat index into the coefficient array
    coeff: np.ndarray
    base: np.ndarray
    block: np.ndarray
    group: np.ndarray
    neg_key: np.ndarray


@dataclass(frozen=True)
class Transformed:
    """An RGB image in the codec's transform domain: level-shifted YCbCr block DCT [3, Bh, Bw, 8, 8]."""

    coeffs: np.ndarray
    height: int
    width: int
    index: _RateIndex

    @property
    def blocks(self) -> tuple[int, int]:
        return self.coeffs.shape[1], self.coeffs.shape[2]


def _clip(x: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
    """``np.clip`` without its per-call overhead (the rate is evaluated thousands of times)."""
    return np.minimum(np.maximum(x, lo), hi)


def _as_rgb255(image: np.ndarray) -> np.ndarray:
    """A uint8 [H, W, 3] image as float on 0-255 (an error for other shapes)."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {arr.shape}")
    return arr.astype(np.float64)


def _rate_index(coeffs: np.ndarray) -> _RateIndex:
    """Sort the coefficients [3, Bh, Bw, 8, 8] that some quantiser leaves non-zero (see :class:`_RateIndex`)."""
    n_blocks, band_size = coeffs.shape[1] * coeffs.shape[2], BLOCK * BLOCK
    flat = coeffs.ravel()
    live = np.flatnonzero(np.abs(flat) > 0.5)  # the finest step is 1, and rint(0.5) is 0
    group = live // (n_blocks * band_size) * band_size + live % band_size
    base = np.stack([LUMA_TABLE, CHROMA_TABLE, CHROMA_TABLE]).ravel()[group]
    magnitude = np.abs(flat[live])
    # the scaled entry is capped at 255, so a coefficient of at least 127.5 may stay non-zero at any scale
    neg_key = np.where(magnitude >= 127.5, -np.inf, -(magnitude + 0.25) / base)
    order = np.argsort(neg_key)
    live, group = live[order], group[order]
    return _RateIndex(live, flat[live], base[order], live // band_size % n_blocks, group, neg_key[order])


def transform(image: np.ndarray) -> Transformed:
    """Forward transform of a uint8 RGB image: JFIF YCbCr minus 128, edge-padded to whole blocks, 8x8 DCT."""
    rgb = _as_rgb255(image)
    h, w = rgb.shape[:2]
    planes = np.tensordot(_YCBCR, rgb, axes=([1], [2])) - np.array([128.0, 0.0, 0.0])[:, None, None]
    planes = np.pad(planes, ((0, 0), (0, -h % BLOCK), (0, -w % BLOCK)), mode="edge")
    bh, bw = planes.shape[1] // BLOCK, planes.shape[2] // BLOCK
    blocks = planes.reshape(3, bh, BLOCK, bw, BLOCK).transpose(0, 1, 3, 2, 4)
    coeffs = np.ascontiguousarray(dctn(blocks, axes=(-2, -1), norm="ortho"))
    return Transformed(coeffs, h, w, _rate_index(coeffs))


def _ijg_scale(quality: np.ndarray) -> np.ndarray:
    """IJG percentage scale of the base tables for real-valued qualities (clipped to [1, 100])."""
    q = _clip(np.asarray(quality, dtype=np.float64), 1.0, 100.0)
    return np.where(q < 50.0, 5000.0 / q, 200.0 - 2.0 * q)


def ijg_tables(quality: np.ndarray) -> np.ndarray:
    """Quantisation tables [3, *quality.shape, 8, 8] (Y, Cb, Cr) for real-valued IJG qualities in [1, 100]."""
    scale = _ijg_scale(quality)[..., None, None]
    luma = _clip(np.floor((LUMA_TABLE * scale + 50.0) / 100.0), 1.0, 255.0)
    chroma = _clip(np.floor((CHROMA_TABLE * scale + 50.0) / 100.0), 1.0, 255.0)
    return np.stack([luma, chroma, chroma])


def _block_quality(t: Transformed, quality: float | np.ndarray) -> np.ndarray:
    """A scalar or per-block quality as an array [Bh, Bw] (an error if the block grid does not match)."""
    q = np.asarray(quality, dtype=np.float64)
    if q.ndim == 0:
        return np.full(t.blocks, float(q))
    if q.shape != t.blocks:
        raise ValueError(f"per-block quality must have the block grid's shape {t.blocks}, got {q.shape}")
    return q


def quantise(t: Transformed, quality: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantised coefficients (int32) and the tables used, for a scalar or per-block [Bh, Bw] quality."""
    tables = ijg_tables(_block_quality(t, quality))
    return np.rint(t.coeffs / tables).astype(np.int32), tables


def _band_bits(groups: np.ndarray, values: np.ndarray, n_groups: int, n: int) -> float:
    """Zeroth-order entropy in bits of ``n_groups`` alphabets of ``n`` symbols each, given the group and value
    of their non-zero symbols (the rest are 0): ``sum over groups of n log2 n - sum of c log2 c``."""
    nonzero = np.bincount(groups, minlength=n_groups)
    counts = [n - nonzero]
    if len(values):
        offset = int(np.abs(values).max())
        counts.append(np.bincount(groups * (2 * offset + 1) + (values + offset).astype(np.int64)))
    c = np.concatenate(counts).astype(np.float64)
    c = c[c > 0]
    return float(n_groups * n * np.log2(n) - np.sum(c * np.log2(c)))


def entropy_bits(symbols: np.ndarray) -> float:
    """Zeroth-order entropy in bits of quantised coefficients [3, Bh, Bw, 8, 8]: one alphabet per component
    and frequency band, summed over its blocks."""
    n_comp = symbols.shape[0]
    per_band = np.moveaxis(symbols.reshape(n_comp, -1, BLOCK * BLOCK), 1, -1)  # [comp, band, block]
    where = np.nonzero(per_band)
    groups = where[0] * BLOCK * BLOCK + where[1]
    return _band_bits(groups, per_band[where].astype(np.int64), n_comp * BLOCK * BLOCK, per_band.shape[-1])


def _nonzero_symbols(t: Transformed, quality: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero quantised coefficients at ``quality``: their indices into :class:`_RateIndex`, symbols and
    table entries. Quantises only the coefficients that the finest quantiser in use can leave non-zero, with
    the same arithmetic as :func:`quantise`."""
    scale = _ijg_scale(_block_quality(t, quality)).ravel()
    idx = t.index
    m = int(np.searchsorted(idx.neg_key, -scale.min() / 200.0, side="right"))
    tables = _clip(np.floor((idx.base[:m] * scale[idx.block[:m]] + 50.0) / 100.0), 1.0, 255.0)
    values = np.rint(idx.coeff[:m] / tables)
    nz = np.flatnonzero(values)
    return nz, values[nz], tables[nz]


def rate_bpp(t: Transformed, quality: float | np.ndarray) -> float:
    """Rate of the image at ``quality`` (scalar or per block) in bits per pixel of the original size:
    ``entropy_bits(quantise(t, quality)[0])`` per pixel, computed from the non-zero symbols only."""
    which, values, _ = _nonzero_symbols(t, quality)
    n_groups = t.coeffs.shape[0] * BLOCK * BLOCK
    bits = _band_bits(t.index.group[which], values, n_groups, t.blocks[0] * t.blocks[1])
    return bits / (t.height * t.width)


def dequantised(t: Transformed, quality: float | np.ndarray) -> np.ndarray:
    """Dequantised coefficients [3, Bh, Bw, 8, 8] (float32; integers, so exact): ``symbols * tables``."""
    which, values, tables = _nonzero_symbols(t, quality)
    out = np.zeros(t.coeffs.size, dtype=np.float32)
    out[t.index.position[which]] = values * tables
    return out.reshape(t.coeffs.shape)


def reconstruct(t: Transformed, quality: float | np.ndarray) -> np.ndarray:
    """Decoded uint8 RGB image: dequantise, inverse DCT, YCbCr -> RGB, clip and round."""
    blocks = idctn(dequantised(t, quality), axes=(-2, -1), norm="ortho")
    _, bh, bw = blocks.shape[:3]
    y, cb, cr = blocks.transpose(0, 1, 3, 2, 4).reshape(3, bh * BLOCK, bw * BLOCK)[:, : t.height, : t.width]
    y = y + np.float32(128.0)
    m = _RGB.astype(np.float32)
    rgb = np.stack([y + m[0, 2] * cr, y + m[1, 1] * cb + m[1, 2] * cr, y + m[2, 1] * cb], axis=-1)
    return _clip(np.rint(rgb), 0.0, 255.0).astype(np.uint8)


def compress(image: np.ndarray, quality: float | np.ndarray) -> tuple[np.ndarray, float]:
    """Code a uint8 RGB image at a scalar or per-block quality: the decoded image and its rate in bpp."""
    t = transform(image)
    return reconstruct(t, quality), rate_bpp(t, quality)


def block_saliency(saliency: np.ndarray) -> np.ndarray:
    """Mean saliency per 8x8 block (edge-padded), standardised over the blocks (zeros for a flat map)."""
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"expected a 2-D saliency map, got shape {s.shape}")
    s = np.pad(s, ((0, -s.shape[0] % BLOCK), (0, -s.shape[1] % BLOCK)), mode="edge")
    means = s.reshape(s.shape[0] // BLOCK, BLOCK, s.shape[1] // BLOCK, BLOCK).mean(axis=(1, 3))
    sd = means.std()
    return (means - means.mean()) / sd if sd > 0 else np.zeros_like(means)


def block_quality(q0: float, strength: float, z: np.ndarray) -> np.ndarray:
    """Per-block quality ``clip(q0 + strength * z, 1, 100)``."""
    return _clip(q0 + strength * np.asarray(z, dtype=np.float64), 1.0, 100.0)


def fit_q0(t: Transformed, z: np.ndarray, strength: float, target_bpp: float,
           tolerance: float = RATE_TOLERANCE) -> tuple[float, float]:
    """Bisection for the base quality ``q0`` whose rate is within ``tolerance`` (relative) of ``target_bpp``.

    The bracket runs from the ``q0`` that puts every block at quality 1 to the one that puts every block at
    100. Returns ``(q0, achieved bpp)``; an error if no ``q0`` hits the target (outside the codec's range
    for this image, or the rate, a step function of ``q0``, jumps across it).
    """
    if t.blocks != np.shape(z):
        raise ValueError(f"block saliency has shape {np.shape(z)}, expected the block grid {t.blocks}")
    if target_bpp <= 0:
        raise ValueError(f"target rate must be positive, got {target_bpp}")
    lo, hi = 1.0 - strength * float(np.max(z)), 100.0 - strength * float(np.min(z))
    for _ in range(60):
        q0 = 0.5 * (lo + hi)
        rate = rate_bpp(t, block_quality(q0, strength, z))
        if abs(rate / target_bpp - 1.0) <= tolerance:
            return q0, rate
        lo, hi = (q0, hi) if rate < target_bpp else (lo, q0)
    raise ValueError(f"no base quality reaches {target_bpp:.4g} bpp within {tolerance:.1%} (strength {strength}; "
                     f"stopped at q0 = {q0:.4g} with {rate:.4g} bpp): the target is outside the codec's range "
                     "for this image or the rate jumps across it")


def jpeg_roundtrip(image: np.ndarray, quality: int = STORE_QUALITY) -> tuple[bytes, np.ndarray]:
    """The bytes of ``image`` stored as JPEG by Pillow (no chroma subsampling) and the image they decode to."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality, subsampling=0)
    data = buf.getvalue()
    return data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# ----------------------------------------------------------------------------------------- scores

def _difference(reference: np.ndarray, distorted: np.ndarray) -> np.ndarray:
    """``reference - distorted`` of two RGB images of one shape, as int32 (uint8) or float."""
    ref, dis = np.asarray(reference), np.asarray(distorted)
    if ref.ndim != 3 or ref.shape[2] != 3 or ref.shape != dis.shape:
        raise ValueError(f"expected two RGB images [H, W, 3] of one shape, got {ref.shape} and {dis.shape}")
    if ref.dtype == np.uint8 and dis.dtype == np.uint8:
        return ref.astype(np.int32) - dis
    return ref.astype(np.float64) - dis


def luma_error(reference: np.ndarray, distorted: np.ndarray) -> np.ndarray:
    """JFIF luma of ``reference - distorted`` (uint8 RGB images), on 0-1."""
    diff = _difference(reference, distorted)
    w = _YCBCR[0] / 255.0
    return w[0] * diff[..., 0] + w[1] * diff[..., 1] + w[2] * diff[..., 2]


def visible_quality(reference: np.ndarray, distorted: np.ndarray, density: np.ndarray) -> float:
    """Latent quality in dB: ``-10 log10(sum(D e_vis^2) / sum(D))``, ``e_vis`` the low-passed luma error."""
    d = np.asarray(density, dtype=np.float64)
    if d.shape != np.shape(reference)[:2]:
        raise ValueError(f"density map {d.shape} and image {np.shape(reference)} differ in size")
    if d.sum() <= 0:
        raise ValueError("the density map is all zero")
    e_vis = ndimage.gaussian_filter(luma_error(reference, distorted), CSF_SIGMA)
    return float(-10.0 * np.log10(max(np.sum(d * e_vis ** 2) / d.sum(), 1e-12)))


def psnr(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Plain PSNR in dB of two uint8 RGB images (peak 255)."""
    diff = _difference(reference, distorted)
    mse = float(np.mean(diff * diff))
    return float(10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def simulate_votes(quality: np.ndarray, votes: int, tau: float, rng: np.random.Generator) -> np.ndarray:
    """Pairwise votes ``wins[i, j]`` (times i was preferred to j) over all pairs, ``votes`` each,
    ``P(i over j) = 1 / (1 + exp(-(Q_i - Q_j) / tau))``."""
    q = np.asarray(quality, dtype=np.float64)
    i, j = np.triu_indices(len(q), 1)
    k = rng.binomial(votes, expit((q[i] - q[j]) / tau))
    wins = np.zeros((len(q), len(q)))
    wins[i, j], wins[j, i] = k, votes - k
    return wins


def _check_wins(wins: np.ndarray) -> np.ndarray:
    """A win matrix as float, or an error saying what is wrong with it."""
    w = np.asarray(wins, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        raise ValueError(f"expected a square win matrix of at least 2 items, got shape {w.shape}")
    if (w < 0).any() or np.diag(w).any():
        raise ValueError("win counts must be non-negative with a zero diagonal")
    return w


def bradley_terry(wins: np.ndarray, pseudo_count: float = PSEUDO_COUNT, tol: float = 1e-10,
                  max_iter: int = 100_000) -> np.ndarray:
    """Bradley-Terry log-strengths (natural log, mean 0) by Hunter's MM algorithm.

    ``wins[i, j]``: times i was preferred to j. ``pseudo_count`` votes are added to every ordered pair, so
    the fit stays finite under perfect separation (and needs a connected comparison graph without it).
    """
    w = _check_wins(wins) + pseudo_count * (1.0 - np.eye(len(wins)))
    won, games = w.sum(axis=1), w + w.T
    if (won <= 0).any():
        raise ValueError("an item without any win has strength 0: use a positive pseudo_count")
    log_p = np.zeros(len(w))
    for _ in range(max_iter):
        p = np.exp(log_p)
        new = np.log(won / (games / (p[:, None] + p[None, :])).sum(axis=1))
        new -= new.mean()
        if np.max(np.abs(new - log_p)) < tol:
            return new
        log_p = new
    raise RuntimeError(f"Bradley-Terry MM did not converge to {tol} in {max_iter} iterations")


def bt_scores(wins: np.ndarray, pseudo_count: float = PSEUDO_COUNT) -> np.ndarray:
    """SACID-style scores: Bradley-Terry log-strengths minus their minimum (the worst item gets 0)."""
    log_p = bradley_terry(wins, pseudo_count)
    return log_p - log_p.min()


def comparison_scores(quality: np.ndarray, rng: np.random.Generator, votes: int = VOTES, tau: float = TAU,
                      pseudo_count: float = PSEUDO_COUNT, max_rounds: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Scores of one sequence from simulated comparisons of its images, and the votes (``quality``: the latent
    quality, in the units of ``tau``).

    All pairs get ``votes`` votes; while the lowest score is shared (items with identical vote records), the
    tied items are compared once more, ``votes`` per pair, so the worst image is unique as in SACID.
    """
    q = np.asarray(quality, dtype=np.float64)
    wins = simulate_votes(q, votes, tau, rng)
    for _ in range(max_rounds):
        scores = bt_scores(wins, pseudo_count)
        tied = np.flatnonzero(scores < TIE)
        if len(tied) == 1:
            return scores, wins
        wins[np.ix_(tied, tied)] += simulate_votes(q[tied], votes, tau, rng)
    raise RuntimeError(f"the lowest score stayed shared by {len(tied)} items after {max_rounds} extra rounds")


# ----------------------------------------------------------------------------------------- building

def case_names() -> list[tuple[str, int, str]]:
    """``(test_case, label, preset)`` of the 12 images of a sequence, in the order written."""
    return [(f"h264v@targetbbp100={label}_preset={preset}", label, preset) for label in BITRATES for preset in PRESETS]


def _save_png(img: np.ndarray, path: Path) -> None:
    """Write a uint8 image as PNG with fixed settings (byte-identical across runs; fast zlib level 1)."""
    Image.fromarray(img).save(path, format="PNG", optimize=False, compress_level=1)


def _resized(path: str | os.PathLike, upscale: int, resample: int) -> np.ndarray:
    """An image file resized by ``upscale`` (uint8 array)."""
    with Image.open(path) as im:
        return np.asarray(im.resize((im.width * upscale, im.height * upscale), resample) if upscale != 1 else im.copy())


def _sequence(scene: pd.Series, folder: Path, seed: list[int], upscale: int) -> list[dict]:
    """Write one sequence's reference, saliency map and 12 compressed images; its per-image rows."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    seq = f"demo-{Path(scene['ref_img']).stem}"
    reference = _resized(scene["ref_path"], upscale, Image.BICUBIC)[..., :3]
    saliency = _resized(scene["fixation_map"], upscale, Image.BILINEAR)
    if saliency.ndim != 2:
        raise ValueError(f"expected an 8-bit grey fixation map, got shape {saliency.shape} in {scene['fixation_map']}")
    _save_png(reference, folder / "reference" / f"{seq}.png")
    _save_png(saliency, folder / "saliency" / f"{seq}.png")
    out_dir = folder / "compressed" / seq
    out_dir.mkdir(parents=True)
    t, z = transform(reference), block_saliency(saliency)
    rows = []
    for case, label, preset in case_names():
        target = label / 100.0 * RATE_FACTOR
        q0, achieved = fit_q0(t, z, PRESETS[preset], target)
        data, stored = jpeg_roundtrip(reconstruct(t, block_quality(q0, PRESETS[preset], z)))
        (out_dir / f"{case}.jpg").write_bytes(data)
        rows.append(dict(sequence=seq, test_case=case, preset=preset, bitrate_label=label, target_bpp=target,
                         achieved_bpp=achieved, q0=q0, latent_q=visible_quality(reference, stored, saliency),
                         psnr=psnr(reference, stored), ref_img=scene["ref_img"], world_split=scene["split"]))
    scores, _ = comparison_scores(np.array([r["latent_q"] for r in rows]), rng)
    for row, score in zip(rows, scores):
        row["subjective_score"] = float(score)
    return rows


def _scenes(config: DemoConfig, world: str | os.PathLike | None, n_sequences: int | None,
            progress: bool) -> pd.DataFrame:
    """One row per reference scene of the demo world (``ref_img``, ``ref_path``, ``fixation_map``, ``split``)."""
    root = Path(world) if world is not None else ensure_demo_world(config, progress=progress)
    table = load_demo(config, root=root)
    scenes = table.drop_duplicates("ref_img").sort_values("ref_img").reset_index(drop=True)
    if n_sequences is None:
        return scenes
    if not 1 <= n_sequences <= len(scenes):
        raise ValueError(f"n_sequences must be in 1..{len(scenes)} (the demo world's reference scenes), got {n_sequences}")
    return scenes.iloc[:n_sequences]


def _manifest(config: DemoConfig, upscale: int, n_sequences: int | None, shape: tuple[int, int], count: int) -> dict:
    """The contents of :data:`MANIFEST`: the settings and every rule constant."""
    return {"name": "iqaxai demo SACID", "synthetic": "not human data: scores follow a documented rule",
            "rule_version": RULE_VERSION, "demo_rule_version": demo.RULE_VERSION, "config": asdict(config),
            "upscale": upscale, "n_sequences": n_sequences, "sequences": count, "images": count * len(case_names()),
            "size": {"height": shape[0], "width": shape[1]}, "bitrate_labels": list(BITRATES),
            "rate_factor": RATE_FACTOR, "target_bpp": {str(b): b / 100.0 * RATE_FACTOR for b in BITRATES},
            "rate_tolerance": RATE_TOLERANCE, "rate": "zeroth-order entropy per component and DCT band",
            "strengths": PRESETS, "csf_sigma": CSF_SIGMA, "tau": TAU, "votes": VOTES,
            "pseudo_count": PSEUDO_COUNT, "store_quality": STORE_QUALITY}


def _write_set(folder: Path, config: DemoConfig, upscale: int, n_sequences: int | None,
               world: str | os.PathLike | None, progress: bool) -> None:
    """Write every file of the set into the empty folder ``folder``."""
    for sub in ("reference", "saliency", "compressed"):
        (folder / sub).mkdir(parents=True)
    scenes = _scenes(config, world, n_sequences, progress)
    results = [_sequence(scene, folder, [config.seed, RULE_VERSION, _SEED_TAG, r], upscale)
               for r, scene in tqdm(scenes.iterrows(), total=len(scenes), desc="demo SACID", disable=not progress)]
    table = pd.DataFrame([row for rows in results for row in rows])
    table[["sequence", "test_case", "subjective_score"]].to_csv(folder / SCORES_FILE, index=False)
    table.drop(columns=["subjective_score"]).to_csv(folder / PLANTED, index=False)
    shape = (config.height * upscale, config.width * upscale)
    manifest = _manifest(config, upscale, n_sequences, shape, len(scenes))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def make_demo_sacid(root: str | os.PathLike, config: DemoConfig = DemoConfig(), upscale: int = 2,
                    n_sequences: int | None = None, progress: bool = False, *,
                    world: str | os.PathLike | None = None, replace: bool = True) -> Path:
    """Write the SACID-shaped demo set from the demo world of ``config`` under ``root/SACID``; return ``root``.

    ``n_sequences`` keeps the first N reference scenes (default all); ``world``: a demo world written with
    ``config`` (default: the cached one, generated if needed). An existing ``root/SACID`` is replaced, or
    with ``replace=False`` kept when complete; a ``root/SACID`` without :data:`MANIFEST` (the real dataset,
    say) is never replaced. Written to a temporary folder and renamed into place, under a lock.
    """
    if not isinstance(upscale, int) or upscale < 1:
        raise ValueError(f"upscale must be a positive integer, got {upscale!r}")
    root = Path(root)
    target = root / FOLDER
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".{FOLDER}.lock"):
        if not replace and (target / MANIFEST).exists():
            return root
        if target.exists() and not (target / MANIFEST).exists():
            raise FileExistsError(f"{target} exists and was not written by make_demo_sacid (no {MANIFEST}); "
                                  "not replacing it: choose another root")
        demo._remove_scratch(target)
        built = demo._scratch_dir(target, "tmp")
        try:
            _write_set(built, config, upscale, n_sequences, world, progress)
            demo._install(built, target)
        finally:
            shutil.rmtree(built, ignore_errors=True)
    return root


def demo_sacid_root(config: DemoConfig = DemoConfig(), upscale: int = 2, n_sequences: int | None = None) -> Path:
    """Where the set of these settings lives in the cache (beside the demo worlds)."""
    key = config_key({**asdict(config), "demo_rule_version": demo.RULE_VERSION, "rule_version": RULE_VERSION,
                      "upscale": upscale, "n_sequences": n_sequences})
    return cache_dir() / "demo" / f"sacid-{key}"


def ensure_demo_sacid(config: DemoConfig = DemoConfig(), upscale: int = 2, n_sequences: int | None = None,
                      progress: bool = False) -> Path:
    """The cached SACID-shaped demo set of these settings, built first if missing; the root for ``load_sacid``."""
    root = demo_sacid_root(config, upscale, n_sequences)
    if not (root / FOLDER / MANIFEST).exists():
        world = ensure_demo_world(config, progress=progress)
        make_demo_sacid(root, config, upscale, n_sequences, progress, world=world, replace=False)
    return root


def load_planted_sacid(root: str | os.PathLike) -> pd.DataFrame:
    """The planted truth of a demo set under ``root``: per image its rates, ``q0``, latent Q and plain PSNR."""
    path = Path(root) / FOLDER / PLANTED
    if not path.exists():
        raise FileNotFoundError(f"no {FOLDER}/{PLANTED} under {root}: write the set with make_demo_sacid")
    return pd.read_csv(path)
