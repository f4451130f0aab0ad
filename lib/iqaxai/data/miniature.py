"""Paper-shaped miniatures: tiny synthetic copies of the real datasets, in their official layouts and sizes.

**These are synthetic miniatures for a dry run of the paper profile, not data.** Their pictures come from
the demo world generator (:mod:`iqaxai.data.demo`) and their scores from its documented rule, never from
people. They exist so that the path a reviewer takes on a GPU box with the real datasets (official folder
layout, score-file format, the papers' image sizes, the real loaders, mixed orientations) runs end to end
on a machine that has none of them. No number computed on them says anything about the papers.

``write_miniatures(root)`` writes, under ``root``, each named dataset exactly as its official release is
laid out (``data/README.md`` and ``shared/reference/datasets.md``), read unchanged by
``iqaxai.data.load_dataset(name, root=root)``:

==========  ==============================================================  ===========================
dataset     layout and score files                                          images on disk
==========  ==============================================================  ===========================
koniq10k    ``koniq10k/koniq10k_scores_and_distributions.csv`` (counts      1024x768 JPEG
            c1..c5, c_total, MOS, SD, MOS_zscore), the split file
            ``koniq10k/koniq10k_distributions_sets.csv`` (``set``),
            ``koniq10k/1024x768/<flickr id>.jpg``
spaq        ``SPAQ/Annotations/MOS and Image attribute scores.xlsx``,       1600x1200, 1200x1600 (every
            ``SPAQ/TestImage/00001.jpg`` ...                                fourth), one 1600x900 (16:9)
                                                                            and one 900x1600, JPEG
clive       ``ChallengeDB_release/Data/AllImages_release.mat``,             500x500 BMP
            ``AllMOS_release.mat``, ``AllStdDev_release.mat`` (the first
            seven entries are ``t1..t7`` in ``Images/trainingImages/``),
            ``ChallengeDB_release/Images/<n>.bmp``
tid2013     ``tid2013/mos_with_names.txt``, ``mos_std.txt``,                512x384 BMP
            ``distorted_images/iXX_YY_Z.bmp``,
            ``reference_images/I01.BMP`` ... (upper case, as released)
kadid10k    ``kadid10k/dmos.csv`` (``dist_img,ref_img,dmos,var``),          512x384 PNG
            ``kadid10k/images/I01.png`` and ``I01_YY_ZZ.png``
salicon     ``salicon/images/{train,val}/COCO_<subset>2014_<id>.jpg``,      640x480 JPEG
            ``maps/{train,val}/<stem>.png`` (fixation density),
            ``fixations/{train,val}/<stem>.mat`` (``gaze`` struct array:
            ``location``, ``timestamp``, ``fixations``; 1-based [x, y])
cat2000     ``CAT2000/trainSet/Stimuli/<Category>/<nnn>.jpg``,              1920x1080 JPEG
            ``FIXATIONMAPS/<Category>/<nnn>.jpg``,
            ``FIXATIONLOCS/<Category>/<nnn>.mat`` (``fixLocs``)
sacid       ``SACID/moses.csv`` (``sequence,test_case,subjective_score``),   512x384 JPEG (compressed),
            ``SACID/compressed/<sequence>/h264v@targetbbp100=<8|12|16>_    PNG (reference, saliency)
            preset=<none|p132|p220|p310>.jpg``, ``SACID/reference/
            <sequence>.png``, ``SACID/saliency/<sequence>.png``
==========  ==============================================================  ===========================

The two saliency sets (not written by default) carry no scores: their fixations are the demo world's
simulated observers (:func:`~iqaxai.data.demo.simulate_fixations`: on the quality cells and decoys alike, at
the working size, spread over the upscaled pixel) and the maps their Gaussian-smoothed density (sigma of a
24th of the height), the demo rule.

**SACID** (not written by default) always has two sequences named in the release's style, 12 compressed
images each (3 bitrate labels x 4 presets) and a saliency map each, the simulated observers' density as
above. Only the first sequence has its reference PNG: the real repository's index lacks some references too,
and the loader must still read the set for no-reference metrics (with a DatasetWarning). The pictures are the
demo ``jpeg`` distortion (not a real codec) at a level set by the bitrate label (8, 12, 16: levels 4, 3, 2);
the saliency-aware presets ``p132``, ``p220``, ``p310`` render the fixated cells (quality cells and decoys)
1, 1 and 2 levels milder and the others 1, 2 and 2 levels harsher (levels kept within 1-5). Scores follow
the demo SACID rule (:func:`iqaxai.data.demo_sacid.comparison_scores`: simulated pairwise votes fitted by
Bradley-Terry, one 0.0 per sequence) on the demo latent quality (0-100, comparison noise ``TAU`` of 5).

A file ``iqaxai_miniatures.json`` at ``root`` records what was written; no loader reads it. It is also
what allows a later call to replace those dataset folders: a dataset folder that exists without being
listed there (a real dataset, say) is never deleted, and the call stops with an error instead.

**Pictures.** Each scene is :func:`iqaxai.data.demo.compose_reference` (a bundled photograph cropped to the
image's aspect, six connected quality cells and three decoys of the 3x4 grid carrying detail, the other cells flat or
defocused) at a *working size* of a quarter of the paper size (KonIQ-10k: 256x192), a fifth (SPAQ:
320x240) or a half (CLIVE, TID2013, KADID-10k: 250x250, 256x192). The distortion is rendered into the
quality cells only, as in the demo world, and the result is upscaled bicubic to the paper size, so the
five default datasets take about 15 s on two cores.

**Scores** follow the demo rule (:func:`~iqaxai.data.demo.cell_visibility`,
:func:`~iqaxai.data.demo.latent_quality`, :func:`~iqaxai.data.demo.opinion_counts`) on the working-size
image: ``c_total`` simulated raters give ACR scores 1-5 around the latent quality; from their counts,
with ``m`` their mean and ``s`` their standard deviation on 1-5, each dataset gets its own published scale:

* KonIQ-10k: ``c1..c5`` (counts), ``c_total``, ``MOS = m``, ``SD = s``, ``MOS_zscore = 27.82 m - 29.23``.
* SPAQ: ``MOS = 25 (m - 1)`` (0-100). The five attribute scores are image statistics of the working-size
  picture on 0-100 (higher = more of the good quality), not ratings: Brightness ``100 * mean luma``;
  Colorfulness the Hasler-Suesstrunk measure (0-255 units, capped at 100); Contrast ``400 * RMS contrast
  of luma`` (capped); Noisiness ``100 * exp(-sigma / 0.02)`` with ``sigma`` Immerkaer's fast noise
  estimate (higher = less noisy); Sharpness ``100 * min(1, mean Sobel magnitude of luma / 0.6)``.
* CLIVE: ``MOS = 25 (m - 1)``, ``SD = 25 s`` (about 0-100 and 7-28, as released).
* TID2013: ``MOS = 9 (m - 1) / 4`` (0-9); ``mos_std.txt`` holds ``9 s / (4 sqrt(c_total))``, the standard
  error of that mean, which is the size of TID2013's published values (0-0.3).
* KADID-10k: ``dmos = m`` (a MOS on 1-5, as released, 2 decimals), ``var = s`` (an SD despite its name).

**Distortion types.** The no-reference sets (KonIQ-10k, SPAQ, CLIVE) get one of the demo distortions per
image at a random level 1-5. The full-reference sets use their real type ids (level 1 = mildest):

======================  ==============================================  ===========  ===========
distortion              how                                             KADID-10k    TID2013
======================  ==============================================  ===========  ===========
Gaussian blur           demo ``blur``                                   1            8
colour diffusion        colour minus luma blurred, sigma 1-8 px*        4            --
colour shift            green channel shifted by 1-9 px*                5            --
colour quantisation     median-cut palette of 64 ... 8 colours          6            --
colour saturation       demo ``colour`` (desaturation towards luma)     7            18
JPEG                    demo ``jpeg``                                   10           10
white / Gaussian noise  demo ``noise``                                  11           1
contrast change         demo ``contrast`` (local contrast reduced)      25           17
======================  ==============================================  ===========  ===========

Sizes marked * are in pixels at 256 px width, scaled with the working width as the demo's blur is.

KADID-10k cycles through the eight ids, so with 24 images each id has three and the paper profile's
notebook 07 groups ``[1, 11]`` and ``[4, 5, 6, 7]`` have six and twelve; TID2013 cycles through its five.
Each reference has three distorted versions of different types.

**Counts and splits.** ``n_images`` is the number of rated images per dataset, raised where needed so
that the loader's default 70/10/20 split (seeded or stratified) deals at least three images to
validation, the fewest a correlation can be computed on: the no-reference sets get 26 for 24 (the split
deals 2.4 -> 2 validation images of 24), the full-reference sets whole references of three images (24 =
8 references, one of which goes to validation). CLIVE's score files hold seven more entries, the
training images ``t1..t7`` that its loader drops, as released.

Everything is deterministic from ``seed``: two calls write byte-identical files (the .xlsx and .mat
headers carry no time stamps).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from iqaxai.data import canonical_name
from iqaxai.data.demo import (
    DISTORTIONS,
    KONIQ_INTERCEPT,
    KONIQ_SLOPE,
    PHOTOS,
    DemoConfig,
    apply_distortion,
    cell_visibility,
    compose_reference,
    fixation_density,
    latent_quality,
    load_photo,
    opinion_counts,
    simulate_fixations,
    to_uint8,
)
from iqaxai.data.splits import seeded_split
from iqaxai.grid import cell_mask

DATASETS = ("koniq10k", "spaq", "kadid10k", "clive", "tid2013")
MANIFEST = "iqaxai_miniatures.json"
#: The rule version; part of the manifest, bump it whenever the output changes.
RULE_VERSION = 2

#: Paper sizes (width, height) and the working size divisor of each dataset.
KONIQ_SIZE, KONIQ_FACTOR = (1024, 768), 4
SPAQ_LANDSCAPE, SPAQ_PORTRAIT, SPAQ_WIDE, SPAQ_TALL, SPAQ_FACTOR = (1600, 1200), (1200, 1600), (1600, 900), (900, 1600), 5
CLIVE_SIZE, CLIVE_FACTOR, CLIVE_TRAINING = (500, 500), 2, 7
TID_SIZE, KADID_SIZE, FR_FACTOR = (512, 384), (512, 384), 2
VERSIONS_PER_REFERENCE = 3
MIN_VAL = 3
#: Saliency sets (no quality scores): paper sizes and working-size divisors.
SALICON_SIZE, SALICON_FACTOR = (640, 480), 4
CAT2000_SIZE, CAT2000_FACTOR, CAT2000_CATEGORIES = (1920, 1080), 8, ("Action", "Affective", "Art", "Indoor", "OutdoorNatural")
SPLIT_RATIOS = (0.7, 0.1, 0.2)
#: SACID: paper-ish size (width, height), working-size divisor, sequence names in the release's style (the
#: second one's reference is left out on purpose), demo ``jpeg`` level per bitrate label, per preset the
#: levels milder on fixated cells and harsher elsewhere, and the comparison noise on the 0-100 latent quality.
SACID_SIZE, SACID_FACTOR = (512, 384), 2
SACID_SEQUENCES = ("bantersnaps-2IAyiEitv-A-unsplash", "iqaxai-miniature-Qm8r2LzT0aE-unsplash")
SACID_LEVELS = {8: 4, 12: 3, 16: 2}
SACID_PRESETS = {"none": (0, 0), "p132": (1, 1), "p220": (1, 2), "p310": (2, 2)}
SACID_TAU = 5.0

#: Distortion name -> real type id. Names in :data:`iqaxai.data.demo.DISTORTIONS` use the demo's rendering;
#: the three colour types in :data:`COLOUR_LEVELS` are rendered here.
KADID_IDS = {"blur": 1, "noise": 11, "colour_diffusion": 4, "colour_shift": 5, "colour_quantisation": 6,
             "colour": 7, "jpeg": 10, "contrast": 25}
TID_IDS = {"noise": 1, "blur": 8, "jpeg": 10, "contrast": 17, "colour": 18}
NR_KINDS = tuple(DISTORTIONS)
#: Per level 1..5: chroma blur sigma and green shift in pixels at 256 px width; palette size.
COLOUR_LEVELS = {"colour_diffusion": (1.0, 2.0, 3.5, 5.5, 8.0), "colour_shift": (1.0, 2.0, 3.5, 6.0, 9.0),
                 "colour_quantisation": (64, 40, 24, 14, 8)}

_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: iqaxai.data.miniature (synthetic)"
_FIXED_TIME = "2020-01-01T00:00:00Z"


@dataclass(frozen=True)
class _Sources:
    """The bundled photographs the demo scenes are composed from."""

    photos: dict


@dataclass
class _Rated:
    """One rated picture at working size: the uint8 image, the ACR counts and the distortion."""

    image: np.ndarray
    counts: np.ndarray
    kind: str
    level: int

    @property
    def mean(self) -> float:
        return float(np.dot(self.counts, np.arange(1, 6)) / self.counts.sum())

    @property
    def sd(self) -> float:
        p = self.counts / self.counts.sum()
        return float(np.sqrt(np.dot(p, (np.arange(1, 6) - self.mean) ** 2)))


# ----------------------------------------------------------------------------------------- sources

def _load_sources() -> _Sources:
    """The photographs of :data:`iqaxai.data.demo.PHOTOS` as floats in [0, 1]."""
    return _Sources({name: load_photo(name) for name in PHOTOS})


def _rng(seed: int, dataset: str, *index: int) -> np.random.Generator:
    """An independent generator per (seed, dataset, item), so items do not depend on generation order."""
    return np.random.default_rng(np.random.SeedSequence([seed, RULE_VERSION, zlib.crc32(dataset.encode()), *index]))


# ----------------------------------------------------------------------------------------- pictures

def _reference(rng: np.random.Generator, size: tuple[int, int], sources: _Sources) -> tuple[np.ndarray, np.ndarray, DemoConfig]:
    """A demo reference scene at working size ``(width, height)``: uint8 image, quality cells, its config."""
    config = DemoConfig(height=size[1], width=size[0])
    photo = sources.photos[PHOTOS[int(rng.integers(len(PHOTOS)))]]
    reference, important, _ = compose_reference(photo, config, rng)
    return to_uint8(reference), important, config


def _colour_distortion(img: np.ndarray, kind: str, level: int) -> np.ndarray:
    """KADID-10k's colour diffusion, colour shift or colour quantisation of a float RGB image in [0, 1]."""
    p = COLOUR_LEVELS[kind][level - 1]
    if kind == "colour_quantisation":
        quantised = Image.fromarray(to_uint8(img)).quantize(colors=int(p), method=Image.Quantize.MEDIANCUT)
        return np.asarray(quantised.convert("RGB"), dtype=np.float64) / 255.0
    s = p * img.shape[1] / 256
    if kind == "colour_diffusion":
        luma = (img @ np.array([0.299, 0.587, 0.114]))[..., None]
        return np.clip(luma + ndimage.gaussian_filter(img - luma, sigma=(s, s, 0)), 0.0, 1.0)
    out = img.copy()
    out[..., 1] = ndimage.shift(img[..., 1], (0.0, s), order=1, mode="nearest")
    return out


def _rate(reference: np.ndarray, important: np.ndarray, config: DemoConfig, kind: str, level: int,
          rng: np.random.Generator) -> _Rated:
    """Distort the quality cells of ``reference`` and rate the result by the demo rule."""
    img = reference / 255.0
    dist = apply_distortion(img, kind, level, rng) if kind in DISTORTIONS else _colour_distortion(img, kind, level)
    content = cell_mask(reference.shape, important, config.grid)[..., None]
    image = np.where(content, to_uint8(dist), reference)
    quality = latent_quality(cell_visibility(reference, image, config.grid), important)
    return _Rated(image, opinion_counts(quality, rng), kind, level)


def _nr_picture(seed: int, dataset: str, i: int, size: tuple[int, int], sources: _Sources) -> _Rated:
    """No-reference picture ``i``: its own scene with one demo distortion at a random level."""
    rng = _rng(seed, dataset, i)
    reference, important, config = _reference(rng, size, sources)
    kind = NR_KINDS[int(rng.integers(len(NR_KINDS)))]
    return _rate(reference, important, config, kind, int(rng.integers(1, 6)), rng)


def _upscaled(image: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A uint8 RGB array as a PIL image of ``size = (width, height)``, bicubic."""
    pil = Image.fromarray(image)
    return pil if pil.size == tuple(size) else pil.resize(tuple(size), Image.BICUBIC)


def _working(size: tuple[int, int], factor: int) -> tuple[int, int]:
    return size[0] // factor, size[1] // factor


# ----------------------------------------------------------------------------------------- counts

def _val_count(units: int) -> int:
    """Units the loaders' default 70/10/20 split deals to validation (the count depends only on ``units``)."""
    return int((seeded_split(units, SPLIT_RATIOS, 0) == "val").sum())


def nr_count(n_images: int) -> int:
    """Images written for a no-reference dataset: ``n_images`` raised until validation gets three."""
    n = max(int(n_images), 1)
    while _val_count(n) < MIN_VAL:
        n += 1
    return n


def fr_references(n_images: int) -> int:
    """References written for a full-reference dataset (three distorted images each), at least one in validation."""
    refs = max(math.ceil(int(n_images) / VERSIONS_PER_REFERENCE), 1)
    while _val_count(refs) * VERSIONS_PER_REFERENCE < MIN_VAL:
        refs += 1
    return refs


# ----------------------------------------------------------------------------------------- deterministic files

def _write_deterministic_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as an .xlsx (sheet ``Sheet1``) with fixed time stamps, so equal frames give equal bytes."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([v.item() if isinstance(v, np.generic) else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>" + _FIXED_TIME.encode() + rb"\3", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def _write_mat(path: Path, name: str | dict, value: np.ndarray | None = None, compress: bool = False) -> None:
    """Write one variable (or a dict of them) to a MATLAB v5 .mat file whose 116-byte text header carries no
    time stamp."""
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, name if isinstance(name, dict) else {name: value}, do_compression=compress)
    with open(path, "r+b") as fh:
        fh.write(_MAT_HEADER.ljust(116, b" ")[:116])


def _save(image: Image.Image, path: Path) -> None:
    """Write an image in the format of its extension, with fixed settings (byte-identical across runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        image.save(path, format="JPEG", quality=90)
    elif ext == ".png":
        image.save(path, format="PNG", optimize=False, compress_level=6)
    else:
        image.save(path, format="BMP")


# ----------------------------------------------------------------------------------------- writers

def _flickr_ids(rng: np.random.Generator, n: int) -> list[int]:
    """``n`` distinct sorted 10-11 digit numbers, shaped like KonIQ-10k's Flickr image ids."""
    ids: set[int] = set()
    while len(ids) < n:
        ids.update(int(x) for x in rng.integers(10**9, 11 * 10**9, n - len(ids)))
    return sorted(ids)


def _write_koniq(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    from iqaxai.data.splits import stratified_split

    n = nr_count(n_images)
    names = [f"{i}.jpg" for i in _flickr_ids(_rng(seed, "koniq10k-names"), n)]
    (folder / "1024x768").mkdir(parents=True)
    rows = []
    for i, name in enumerate(names):
        pic = _nr_picture(seed, "koniq10k", i, _working(KONIQ_SIZE, KONIQ_FACTOR), sources)
        _save(_upscaled(pic.image, KONIQ_SIZE), folder / "1024x768" / name)
        c = [int(x) for x in pic.counts]
        rows.append(dict(image_name=name, c1=c[0], c2=c[1], c3=c[2], c4=c[3], c5=c[4], c_total=sum(c),
                         MOS=pic.mean, SD=pic.sd, MOS_zscore=KONIQ_SLOPE * pic.mean + KONIQ_INTERCEPT))
        tick()
    table = pd.DataFrame(rows)
    table.to_csv(folder / "koniq10k_scores_and_distributions.csv", index=False)
    sets = table.drop(columns=["MOS_zscore"])
    sets["MOS"] = table["MOS_zscore"]  # the official split file mixes the 0-100 MOS with the 1-5 SD
    split = stratified_split(table["MOS_zscore"], ratios=SPLIT_RATIOS, seed=seed)
    sets["set"] = pd.Series(split).map({"train": "training", "val": "validation", "test": "test"})
    sets.to_csv(folder / "koniq10k_distributions_sets.csv", index=False)
    return {"folder": folder.name, "images": n, "sizes": {"1024x768": n}}


def _spaq_size(i: int) -> tuple[int, int]:
    """Paper size of SPAQ image ``i``: one 16:9 and one 9:16, every fourth portrait, the rest 4:3 landscape."""
    if i == 2:
        return SPAQ_WIDE
    if i == 7:
        return SPAQ_TALL
    return SPAQ_PORTRAIT if i % 4 == 1 else SPAQ_LANDSCAPE


def _spaq_attributes(image: np.ndarray) -> dict:
    """SPAQ's five attribute scores as image statistics on 0-100 (see the module docstring)."""
    rgb = image.astype(np.float64) / 255.0
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    rg = 255 * (rgb[..., 0] - rgb[..., 1])
    yb = 255 * (0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2])
    colourful = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    h, w = luma.shape
    sigma = np.sqrt(np.pi / 2) / (6 * (w - 2) * (h - 2)) * np.abs(ndimage.convolve(luma, kernel)[1:-1, 1:-1]).sum()
    grad = np.hypot(ndimage.sobel(luma, axis=0), ndimage.sobel(luma, axis=1)).mean()
    values = {"Brightness": 100 * luma.mean(), "Colorfulness": colourful, "Contrast": 400 * luma.std(),
              "Noisiness": 100 * np.exp(-sigma / 0.02), "Sharpness": 100 * grad / 0.6}
    return {k: round(float(np.clip(v, 0.0, 100.0)), 2) for k, v in values.items()}


def _write_spaq(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    n = nr_count(n_images)
    (folder / "TestImage").mkdir(parents=True)
    (folder / "Annotations").mkdir(parents=True)
    rows, sizes = [], {}
    for i in range(n):
        size = _spaq_size(i)
        pic = _nr_picture(seed, "spaq", i, _working(size, SPAQ_FACTOR), sources)
        name = f"{i + 1:05d}.jpg"
        _save(_upscaled(pic.image, size), folder / "TestImage" / name)
        rows.append({"Image name": name, "MOS": round(25.0 * (pic.mean - 1.0), 2), **_spaq_attributes(pic.image)})
        sizes[f"{size[0]}x{size[1]}"] = sizes.get(f"{size[0]}x{size[1]}", 0) + 1
        tick()
    _write_deterministic_xlsx(pd.DataFrame(rows), folder / "Annotations" / "MOS and Image attribute scores.xlsx")
    return {"folder": folder.name, "images": n, "sizes": sizes}


def _write_clive(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    n = nr_count(n_images)
    numbers = np.sort(_rng(seed, "clive-names").choice(np.arange(3, 1170), n, replace=False))
    names = [f"t{k}.bmp" for k in range(1, CLIVE_TRAINING + 1)] + [f"{k}.bmp" for k in numbers]
    (folder / "Images" / "trainingImages").mkdir(parents=True)
    (folder / "Data").mkdir(parents=True)
    mos, sd = [], []
    for i, name in enumerate(names):
        pic = _nr_picture(seed, "clive", i, _working(CLIVE_SIZE, CLIVE_FACTOR), sources)
        sub = "Images/trainingImages" if i < CLIVE_TRAINING else "Images"
        _save(_upscaled(pic.image, CLIVE_SIZE), folder / sub / name)
        mos.append(25.0 * (pic.mean - 1.0))
        sd.append(25.0 * pic.sd)
        tick()
    cell = np.empty((len(names), 1), dtype=object)
    for i, name in enumerate(names):
        cell[i, 0] = np.array([name])
    _write_mat(folder / "Data" / "AllImages_release.mat", "AllImages_release", cell)
    _write_mat(folder / "Data" / "AllMOS_release.mat", "AllMOS_release", np.array([mos]))
    _write_mat(folder / "Data" / "AllStdDev_release.mat", "AllStdDev_release", np.array([sd]))
    return {"folder": folder.name, "images": n, "training_images": CLIVE_TRAINING, "sizes": {"500x500": n + CLIVE_TRAINING}}


def _fr_pictures(seed: int, dataset: str, n_refs: int, kinds: Sequence[str], size: tuple[int, int],
                 sources: _Sources, tick: Callable) -> Iterable[tuple[int, np.ndarray, list[_Rated]]]:
    """Per reference (1-based): the reference and its three distorted versions, types cycling through ``kinds``."""
    for r in range(n_refs):
        rng = _rng(seed, dataset, r)
        reference, important, config = _reference(rng, size, sources)
        versions = []
        for v in range(VERSIONS_PER_REFERENCE):
            kind = kinds[(r * VERSIONS_PER_REFERENCE + v) % len(kinds)]
            versions.append(_rate(reference, important, config, kind, int(rng.integers(1, 6)), rng))
            tick()
        yield r + 1, reference, versions


def _write_kadid(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    images = folder / "images"
    images.mkdir(parents=True)
    rows = []
    n_refs = fr_references(n_images)
    for r, reference, versions in _fr_pictures(seed, "kadid10k", n_refs, list(KADID_IDS), _working(KADID_SIZE, FR_FACTOR), sources, tick):
        ref_name = f"I{r:02d}.png"
        _save(_upscaled(reference, KADID_SIZE), images / ref_name)
        for pic in versions:
            name = f"I{r:02d}_{KADID_IDS[pic.kind]:02d}_{pic.level:02d}.png"
            _save(_upscaled(pic.image, KADID_SIZE), images / name)
            rows.append(dict(dist_img=name, ref_img=ref_name, dmos=round(pic.mean, 2), var=round(pic.sd, 3)))
    pd.DataFrame(rows).to_csv(folder / "dmos.csv", index=False)
    ids = sorted({int(r["dist_img"][4:6]) for r in rows})
    return {"folder": folder.name, "images": len(rows), "references": n_refs, "distortion_ids": ids,
            "sizes": {"512x384": len(rows) + n_refs}}


def _write_tid2013(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    (folder / "distorted_images").mkdir(parents=True)
    (folder / "reference_images").mkdir(parents=True)
    lines, stds = [], []
    n_refs = fr_references(n_images)
    for r, reference, versions in _fr_pictures(seed, "tid2013", n_refs, list(TID_IDS), _working(TID_SIZE, FR_FACTOR), sources, tick):
        _save(_upscaled(reference, TID_SIZE), folder / "reference_images" / f"I{r:02d}.BMP")
        for pic in versions:
            name = f"i{r:02d}_{TID_IDS[pic.kind]:02d}_{pic.level}.bmp"
            _save(_upscaled(pic.image, TID_SIZE), folder / "distorted_images" / name)
            lines.append(f"{9.0 * (pic.mean - 1.0) / 4.0:.5f} {name}")
            stds.append(f"{9.0 * pic.sd / (4.0 * math.sqrt(pic.counts.sum())):.5f}")
    (folder / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
    (folder / "mos_std.txt").write_text("\n".join(stds) + "\n")
    return {"folder": folder.name, "images": len(lines), "references": n_refs,
            "distortion_ids": sorted(set(TID_IDS.values())), "sizes": {"512x384": len(lines) + n_refs}}


def _viewed_scene(seed: int, dataset: str, i: int, size: tuple[int, int], factor: int,
                  sources: _Sources) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """A demo reference scene at paper ``size`` with simulated observers' fixations (the demo rule: on quality
    cells and decoys alike): the image, the fixations as (observer, x, y) at paper size, the density map in [0, 1]."""
    rng = _rng(seed, dataset, i)
    working = _working(size, factor)
    config = DemoConfig(height=working[1], width=working[0])
    photo = sources.photos[PHOTOS[int(rng.integers(len(PHOTOS)))]]
    reference, _, kinds = compose_reference(photo, config, rng)
    attended = np.array([k for k, kind in enumerate(kinds) if kind in ("quality", "decoy")])
    points = simulate_fixations(reference, attended, config, rng)
    xy = np.clip(np.floor((points + rng.random(points.shape)) * factor), 0, np.array(size) - 1).astype(int)
    observer = np.repeat(np.arange(config.n_observers), config.fixations_per_observer)
    density = fixation_density((size[1], size[0]), xy, sigma=size[1] / 24)
    return _upscaled(to_uint8(reference), size), np.column_stack([observer, xy]), density


def _density_image(density: np.ndarray) -> Image.Image:
    return Image.fromarray(to_uint8(density), mode="L")


def _write_salicon(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    """SALICON (LSUN 2017 layout): ``images|maps|fixations/{train,val}/COCO_<subset>2014_<12 digits>``; each
    .mat holds ``gaze``, a struct array with one element per observer and fields ``location`` (mouse samples),
    ``timestamp`` and ``fixations``, points as 1-based [x, y], plus ``image`` and ``resolution`` [480 640].
    ``n_images`` per subset (no scores, so no validation minimum)."""
    n = max(int(n_images), 1)
    counts = {"train": n, "val": n}
    for subset, count in counts.items():
        for i in range(count):
            stem = f"COCO_{subset}2014_{(i + 1) * 1511 + (7 if subset == 'val' else 0):012d}"  # distinct COCO-like ids
            image, fixations, density = _viewed_scene(seed, f"salicon-{subset}", i, SALICON_SIZE, SALICON_FACTOR, sources)
            _save(image, folder / "images" / subset / f"{stem}.jpg")
            _save(_density_image(density), folder / "maps" / subset / f"{stem}.png")
            gaze = np.zeros((int(fixations[:, 0].max()) + 1, 1),
                            dtype=[("location", object), ("timestamp", object), ("fixations", object)])
            for k in range(len(gaze)):
                pts = fixations[fixations[:, 0] == k, 1:].astype(float) + 1.0  # 1-based, as MATLAB
                gaze[k, 0]["location"] = np.repeat(pts, 3, axis=0)  # the mouse rests on each fixation
                gaze[k, 0]["timestamp"] = (np.arange(3 * len(pts), dtype=float) * 40.0).reshape(-1, 1)
                gaze[k, 0]["fixations"] = pts
            _write_mat(folder / "fixations" / subset / f"{stem}.mat",
                       {"image": stem, "resolution": np.array([[SALICON_SIZE[1], SALICON_SIZE[0]]]), "gaze": gaze})
            tick()
    return {"folder": folder.name, "images": sum(counts.values()), "subsets": counts,
            "sizes": {"640x480": sum(counts.values())}}


def _write_cat2000(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    """CAT2000 training set: ``trainSet/Stimuli|FIXATIONMAPS/<Category>/<nnn>.jpg`` and
    ``trainSet/FIXATIONLOCS/<Category>/<nnn>.mat`` with ``fixLocs``, the binary fixation map (1080x1920)."""
    n = max(int(n_images), 1)
    base = folder / "trainSet"
    for i in range(n):
        category, number = CAT2000_CATEGORIES[i % len(CAT2000_CATEGORIES)], f"{i // len(CAT2000_CATEGORIES) + 1:03d}"
        image, fixations, density = _viewed_scene(seed, "cat2000", i, CAT2000_SIZE, CAT2000_FACTOR, sources)
        _save(image, base / "Stimuli" / category / f"{number}.jpg")
        _save(_density_image(density), base / "FIXATIONMAPS" / category / f"{number}.jpg")
        locs = np.zeros((CAT2000_SIZE[1], CAT2000_SIZE[0]), dtype=np.uint8)
        locs[fixations[:, 2], fixations[:, 1]] = 1
        _write_mat(base / "FIXATIONLOCS" / category / f"{number}.mat", "fixLocs", locs, compress=True)
        tick()
    return {"folder": folder.name, "images": n, "sizes": {"1920x1080": n}}


def _write_sacid(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    """SACID (github Alexkkir/SACID): ``moses.csv``, ``compressed/<sequence>/<test case>.jpg``,
    ``saliency/<sequence>.png`` and ``reference/<sequence>.png``, the last for the first sequence only (on
    purpose, as in the repository's index). Always two sequences of 12 images; ``n_images`` does not apply."""
    from iqaxai.data.demo_sacid import case_names, comparison_scores

    working = _working(SACID_SIZE, SACID_FACTOR)
    config = DemoConfig(height=working[1], width=working[0])
    rows = []
    for i, sequence in enumerate(SACID_SEQUENCES):
        rng = _rng(seed, "sacid", i)
        photo = sources.photos[PHOTOS[int(rng.integers(len(PHOTOS)))]]
        reference, important, kinds = compose_reference(photo, config, rng)
        ref8 = to_uint8(reference)
        attended = np.array([k for k, kind in enumerate(kinds) if kind in ("quality", "decoy")])
        points = simulate_fixations(reference, attended, config, rng)
        xy = np.clip(np.floor((points + rng.random(points.shape)) * SACID_FACTOR), 0, np.array(SACID_SIZE) - 1).astype(int)
        density = fixation_density((SACID_SIZE[1], SACID_SIZE[0]), xy, sigma=SACID_SIZE[1] / 24)
        _save(_density_image(density), folder / "saliency" / f"{sequence}.png")
        if i == 0:  # later sequences have no reference: no-reference metrics must run without one
            _save(_upscaled(ref8, SACID_SIZE), folder / "reference" / f"{sequence}.png")
        fixated = cell_mask(ref8.shape, attended, config.grid)[..., None]
        rendered = {level: to_uint8(apply_distortion(ref8 / 255.0, "jpeg", level, rng)) for level in range(1, 6)}
        quality = []
        for case, label, preset in case_names():
            milder, harsher = SACID_PRESETS[preset]
            level = SACID_LEVELS[label]
            image = np.where(fixated, rendered[max(level - milder, 1)], rendered[min(level + harsher, 5)])
            _save(_upscaled(image, SACID_SIZE), folder / "compressed" / sequence / f"{case}.jpg")
            quality.append(latent_quality(cell_visibility(ref8, image, config.grid), important))
            tick()
        scores, _ = comparison_scores(np.array(quality), rng, tau=SACID_TAU)
        rows += [dict(sequence=sequence, test_case=case, subjective_score=float(score))
                 for (case, _, _), score in zip(case_names(), scores)]
    pd.DataFrame(rows).to_csv(folder / "moses.csv", index=False)
    size = f"{SACID_SIZE[0]}x{SACID_SIZE[1]}"
    return {"folder": folder.name, "images": len(rows), "sequences": len(SACID_SEQUENCES), "references": 1,
            "missing_references": list(SACID_SEQUENCES[1:]), "sizes": {size: len(rows) + 1}}


_WRITERS: dict[str, tuple[str, Callable]] = {
    "koniq10k": ("koniq10k", _write_koniq),
    "spaq": ("SPAQ", _write_spaq),
    "clive": ("ChallengeDB_release", _write_clive),
    "tid2013": ("tid2013", _write_tid2013),
    "kadid10k": ("kadid10k", _write_kadid),
    "salicon": ("salicon", _write_salicon),
    "cat2000": ("CAT2000", _write_cat2000),
    "sacid": ("SACID", _write_sacid),
}


def _planned(name: str, n_images: int) -> int:
    """Pictures rated for ``name`` (progress total)."""
    if name in ("tid2013", "kadid10k"):
        return fr_references(n_images) * VERSIONS_PER_REFERENCE
    if name in ("salicon", "cat2000"):
        return (2 if name == "salicon" else 1) * max(int(n_images), 1)
    if name == "sacid":
        return len(SACID_SEQUENCES) * len(SACID_LEVELS) * len(SACID_PRESETS)
    return nr_count(n_images) + (CLIVE_TRAINING if name == "clive" else 0)


def write_miniatures(
    root: str | os.PathLike,
    datasets: Sequence[str] = DATASETS,
    n_images: int = 24,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Write synthetic paper-shaped miniatures of ``datasets`` under ``root`` (official layouts); return ``root``."""
    from tqdm.auto import tqdm

    names = list(dict.fromkeys(canonical_name(d) for d in datasets))
    unknown = [d for d in names if d not in _WRITERS]
    if unknown:
        raise ValueError(f"no miniature writer for {unknown}; available: {sorted(_WRITERS)}")
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    ours = {v["folder"] for v in manifest.get("datasets", {}).values()}
    for name in names:
        folder = root / _WRITERS[name][0]
        if folder.exists() and folder.name not in ours:
            raise FileExistsError(f"{folder} exists and was not written by write_miniatures (no entry in {manifest_path}); "
                                  f"not replacing it: choose another root")
    sources = _load_sources()
    written = dict(manifest.get("datasets", {}))

    def save_manifest() -> None:
        manifest_path.write_text(json.dumps({**_manifest_head(), "datasets": dict(sorted(written.items()))}, indent=1))

    with tqdm(total=sum(_planned(n, n_images) for n in names), desc="miniatures", disable=not progress) as bar:
        for name in names:
            folder_name, writer = _WRITERS[name]
            folder = root / folder_name
            written[name] = {"folder": folder_name, "complete": False}  # claimed before it is written
            save_manifest()
            if folder.exists():
                shutil.rmtree(folder)
            entry = writer(folder, n_images, seed, sources, lambda: bar.update(1))
            written[name] = {**entry, "seed": seed, "n_images_requested": n_images}
            save_manifest()
    return root


def _manifest_head() -> dict:
    return {"what": "iqaxai paper-shaped miniatures: synthetic pictures and scores from the demo world rule, "
                    "for a dry run of the paper profile; not data, not human ratings",
            "rule_version": RULE_VERSION,
            "distortion_ids": {"kadid10k": KADID_IDS, "tid2013": TID_IDS}}


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m iqaxai.data.miniature --root DIR [--datasets a,b] [--n-images N] [--seed S]``."""
    parser = argparse.ArgumentParser(
        prog="python -m iqaxai.data.miniature",
        description="Write synthetic paper-shaped miniatures of the IQA datasets (official layouts and image sizes, "
                    "demo-world pictures and scores) for a dry run of the paper profile. Not data.")
    parser.add_argument("--root", required=True, help="data root to write under (use it as IQAXAI_DATA)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated (default {','.join(DATASETS)}; also salicon, cat2000, sacid)")
    parser.add_argument("--n-images", type=int, default=24, help="rated images per dataset (default 24; see the docs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    root = write_miniatures(args.root, datasets, n_images=args.n_images, seed=args.seed, progress=not args.quiet)
    manifest = json.loads((root / MANIFEST).read_text())
    print(f"synthetic miniatures (not data) under {root}:")
    for name in datasets:
        entry = manifest["datasets"][canonical_name(name)]
        print(f"  {name}: {entry['images']} images in {root / entry['folder']}, sizes {entry['sizes']}")


if __name__ == "__main__":
    main()
