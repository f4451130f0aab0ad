"""The embedded demo world: a deterministic, synthetic IQA dataset whose important regions are known.

No real IQA dataset can be downloaded offline, so the smoke profile runs on this world. It is **not human
data**: its opinion scores follow the documented rule below, so every explanation method can be checked
for whether it recovers the planted truth.

Construction, per reference scene (seeded, independent of generation order; rule version 3):

1. A colour photograph that ships with scikit-image or matplotlib is cropped at random to the aspect of
   the output and resized to ``height x width``.
2. On the 3x4 region grid, ``n_important`` (6) cells forming a connected region are the **quality cells** and
   ``n_decoys`` (3) other cells, chosen at random, are **decoys**. Both carry the same kind of detail: the
   photograph's low-pass colours (a Gaussian blur of a fifth of a cell's height) plus a plaid, two
   mid-frequency gratings (3-7 cycles per cell, random orientations) with a fixed amplitude and a random
   chroma. The other cells are **trivial**: flat (the local mean colour with a gentle gradient) or defocused.
   The detail is standardised so that a no-reference model can tell how much of it a distortion removed
   (with the photograph's own detail, a blurred sharp scene and a sharp smooth one look alike, and the
   models of rule 2 reached a test PLCC of only about 0.5).
3. Each reference gets ``versions_per_reference`` distorted versions, one per distortion type (blur, JPEG,
   white noise, colour saturation, local contrast; KADID-10k's distortion ids 1, 10, 11, 7, 25) at a random
   level 1-5. The distortion is rendered into the quality cells only; decoys and trivial cells stay as they
   are, so the decoys carry content and attention but no quality information, and the planted important
   cells are exactly the quality cells.
4. **MOS rule.** The visibility of the distortion in cell c is ``v_c = 1 - SSIM(reference_c, distorted_c)``
   (RGB, data range 1): blur, JPEG and contrast loss are more visible on detailed content, noise is partly
   masked by it. The image distortion is ``D = mean of v_c over the quality cells`` and the latent quality
   is ``Q = 100 / (1 + (D / D50) ** BETA)`` on 0-100.
5. **Ratings.** ``c_total`` raters (93-157, as in KonIQ-10k) each give an ACR score 1-5 drawn from a normal
   distribution rounded to the nearest category, centred on ``1.2 + 3.3 q`` (q = Q / 100) with an SD of
   ``0.3 + 0.8 * 4q(1 - q)`` (raters disagree most on middling images, spanning KonIQ's observed 0.3-1.1).
   ``c1..c5``, ``MOS`` and ``SD`` are computed from those counts and ``MOS_zscore = 27.82 * MOS - 29.23``
   (KonIQ-10k's least-squares relation between its 0-100 and 1-5 scales, which keeps it within 0-100),
   exactly the columns of KonIQ-10k's score file.
6. **Fixations.** 15 simulated observers make 6 fixations each: 85 % land in quality cells and decoys alike
   (weighted by their detail), 15 % anywhere; inside a cell the point follows the gradient magnitude. The density map
   is the fixation histogram smoothed with a Gaussian of ``height / 24`` pixels.

Written layout under the world's root (each view readable by the real loader of that dataset):

    koniq10k/koniq10k_scores_and_distributions.csv   NR view, KonIQ-10k's official score format
    koniq10k/koniq10k_distributions_sets.csv         its split (stratified by MOS, grouped by reference)
    koniq10k/<W>x<H>/I001_01_03.png ...              distorted images
    kadid10k/dmos.csv, kadid10k/images/              FR view in KADID-10k's format (references + images)
    fixations/fixations.csv, fixations/maps/I001.png per-scene fixations and fixation-density maps
    planted_cells.csv, planted_cells.json            quality cells (``important``), decoys, per-cell visibility
    demo_world.json                                  configuration and rule constants (written last)

The world is written into a temporary folder beside ``root`` and renamed into place when complete, under a
lock on ``.<root name>.lock`` in the same parent: a reader never sees half a world, and two processes
creating the same world at once both succeed (the second waits, then replaces it, or with
:func:`ensure_demo_world` reuses it).
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage
from scipy.stats import norm
from skimage.metrics import structural_similarity
from skimage.transform import resize
from tqdm.auto import tqdm

from iqaxai.grid import Grid, cell_mask, cell_slices
from iqaxai.paths import cache_dir
from iqaxai.results import file_lock

#: Version of the generation rule; part of the cache key, bump it whenever the output changes.
RULE_VERSION = 3

#: name -> (KADID-10k distortion id, parameter per level 1..5). Blur sigma is in pixels at 256 px width.
DISTORTIONS: dict[str, tuple[int, tuple[float, ...]]] = {
    "blur": (1, (0.5, 0.9, 1.4, 2.1, 3.2)),
    "colour": (7, (0.5, 0.3, 0.15, 0.05, 0.0)),
    "jpeg": (10, (60, 40, 25, 15, 8)),
    "noise": (11, (0.008, 0.016, 0.028, 0.045, 0.07)),
    "contrast": (25, (0.85, 0.7, 0.55, 0.4, 0.25)),
}

#: Latent quality ``Q = 100 / (1 + (D / D50) ** BETA)`` with D the mean SSIM loss over the quality cells.
D50 = 0.15
BETA = 1.5
#: KonIQ-10k: MOS_zscore ~= 27.82 * MOS(1-5) - 29.23 (least squares over its 10,073 images).
KONIQ_SLOPE, KONIQ_INTERCEPT = 27.82, -29.23

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field",
          "immunohistochemistry", "retina", "cat", "grace_hopper")
#: SD of the plaid added to quality and decoy cells, and the share of it that varies between colour channels.
TEXTURE_AMPLITUDE = 0.12
CHROMA = 0.8
#: Written last: a world folder holding it is complete.
MANIFEST = "demo_world.json"


@dataclass(frozen=True)
class DemoConfig:
    """Size and seed of the demo world."""

    n_references: int = 400
    versions_per_reference: int = 5
    height: int = 96
    width: int = 128
    grid: Grid = (3, 4)
    n_important: int = 6
    n_decoys: int = 3
    seed: int = 0
    n_observers: int = 15
    fixations_per_observer: int = 6
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train/validation/test, stratified by MOS, by reference

    def __post_init__(self) -> None:
        rows, cols = self.grid
        if not 0 < self.n_important < rows * cols:
            raise ValueError(f"n_important must be in 1..{rows * cols - 1}, got {self.n_important}")
        if not 0 <= self.n_decoys <= rows * cols - self.n_important:
            raise ValueError(f"n_decoys must be in 0..{rows * cols - self.n_important} (the cells left after "
                             f"{self.n_important} quality cells), got {self.n_decoys}")
        if self.height < 8 * rows or self.width < 8 * cols:
            raise ValueError(f"demo images of {self.height}x{self.width} are too small for a {rows}x{cols} grid "
                             f"(need at least 8 pixels per cell)")
        if not 1 <= self.versions_per_reference <= len(DISTORTIONS):
            raise ValueError(f"versions_per_reference must be 1..{len(DISTORTIONS)}")


# ----------------------------------------------------------------------------------------- sources

def load_photo(name: str) -> np.ndarray:
    """One bundled colour photograph as float RGB in [0, 1]."""
    if name == "grace_hopper":
        import matplotlib.cbook as cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            img = np.asarray(Image.open(f).convert("RGB"))
    else:
        import skimage.data

        img = getattr(skimage.data, name)()
        img = (img[0] if isinstance(img, tuple) else img)[..., :3]  # stereo_motorcycle is a (left, right, disparity) tuple
    return img.astype(np.float64) / 255.0


def _random_crop(img: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop with the output aspect (45-100 % of the largest such crop), resized to height x width."""
    h, w = img.shape[:2]
    aspect = width / height
    ch_max = min(h, int(w / aspect))
    ch = max(8, int(ch_max * rng.uniform(0.45, 1.0)))
    cw = int(round(ch * aspect))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return resize(img[y0:y0 + ch, x0:x0 + cw], (height, width), anti_aliasing=True, order=1)


def planted_layout(rng: np.random.Generator, grid: Grid = (3, 4), n_important: int = 6) -> np.ndarray:
    """Indices of ``n_important`` grid cells forming a 4-connected region grown from a random seed cell."""
    rows, cols = grid
    chosen = [int(rng.integers(rows * cols))]
    while len(chosen) < n_important:
        frontier = sorted({
            nr * cols + nc
            for k in chosen
            for nr, nc in ((k // cols + 1, k % cols), (k // cols - 1, k % cols), (k // cols, k % cols + 1), (k // cols, k % cols - 1))
            if 0 <= nr < rows and 0 <= nc < cols and nr * cols + nc not in chosen
        })
        chosen.append(int(rng.choice(frontier)))
    return np.array(sorted(chosen))


def _detail(grey: np.ndarray) -> np.ndarray:
    """Band-pass (difference of Gaussians) magnitude: mid-frequency detail per pixel."""
    return np.abs(ndimage.gaussian_filter(grey, 1.0) - ndimage.gaussian_filter(grey, 3.0))


def _luma(img: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB image."""
    return img @ np.array([0.299, 0.587, 0.114])


def _plaid(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A zero-mean, unit-SD sum of two mid-frequency gratings (3-7 cycles per cell, random orientations)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.zeros(shape)
    for _ in range(2):
        cycles, theta, phase = rng.uniform(3, 7), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.sin(2 * np.pi * cycles * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    out -= out.mean()
    return out / (out.std() + 1e-6)


def compose_reference(photo: np.ndarray, config: DemoConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A reference scene: quality and decoy cells detailed (low-pass photograph plus a plaid), the others flat or defocused.

    Returns the float RGB image, the indices of the quality (planted important) cells and each cell's kind
    (``quality``, ``decoy``, ``flat`` or ``defocus``).
    """
    h, w = config.height, config.width
    base = _random_crop(photo, h, w, rng)
    slices = cell_slices(base.shape, config.grid)
    cell_h = h / config.grid[0]
    defocused = ndimage.gaussian_filter(base, sigma=(cell_h / 5, cell_h / 5, 0))
    important = planted_layout(rng, config.grid, config.n_important)
    others = np.array([k for k in range(len(slices)) if k not in important])
    decoys = np.sort(rng.choice(others, size=config.n_decoys, replace=False)) if config.n_decoys else np.array([], int)
    out = base.copy()
    kinds = []
    for k, (sy, sx) in enumerate(slices):
        if k in important or k in decoys:
            kinds.append("quality" if k in important else "decoy")
            tex = _plaid(out[sy, sx].shape[:2], rng)
            chroma = rng.normal(size=3)
            chroma = (chroma - chroma.mean()) / (np.linalg.norm(chroma - chroma.mean()) + 1e-6)
            out[sy, sx] = defocused[sy, sx] + TEXTURE_AMPLITUDE * tex[..., None] * (1.0 + CHROMA * chroma)
        elif rng.random() < 0.5:
            kinds.append("flat")
            cell = defocused[sy, sx]
            ramp = np.linspace(-1, 1, cell.shape[0])[:, None, None] * rng.uniform(-0.04, 0.04)
            out[sy, sx] = cell.mean(axis=(0, 1)) + ramp
        else:
            kinds.append("defocus")
            out[sy, sx] = defocused[sy, sx]
    return np.clip(out, 0.0, 1.0), important, kinds


# ----------------------------------------------------------------------------------------- distortions

def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float [0, 1] image to uint8 (rounded)."""
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def apply_distortion(img: np.ndarray, kind: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """Distort a float RGB image in [0, 1] with one of :data:`DISTORTIONS` at level 1-5."""
    if kind not in DISTORTIONS:
        raise ValueError(f"unknown distortion {kind!r}; expected one of {sorted(DISTORTIONS)}")
    if not 1 <= level <= 5:
        raise ValueError(f"distortion level must be 1-5, got {level}")
    p = DISTORTIONS[kind][1][level - 1]
    if kind == "blur":
        s = p * img.shape[1] / 256
        return ndimage.gaussian_filter(img, sigma=(s, s, 0))
    if kind == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(to_uint8(img)).save(buf, format="JPEG", quality=int(p))
        return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float64) / 255.0
    if kind == "noise":
        return np.clip(img + rng.normal(0.0, p, img.shape), 0.0, 1.0)
    if kind == "colour":
        grey = _luma(img)[..., None]
        return np.clip(grey + p * (img - grey), 0.0, 1.0)
    # contrast: shrink the deviations from the local mean, so flat areas are unaffected
    s = img.shape[0] / 12
    local = ndimage.gaussian_filter(img, sigma=(s, s, 0))
    return np.clip(local + p * (img - local), 0.0, 1.0)


def cell_visibility(reference: np.ndarray, distorted: np.ndarray, grid: Grid = (3, 4)) -> np.ndarray:
    """Per-cell distortion visibility ``1 - SSIM`` (RGB, uint8 or float inputs)."""
    ref = reference.astype(np.float64) / (255.0 if reference.dtype == np.uint8 else 1.0)
    dis = distorted.astype(np.float64) / (255.0 if distorted.dtype == np.uint8 else 1.0)
    vis = []
    for sy, sx in cell_slices(ref.shape, grid):
        win = min(7, (min(ref[sy, sx].shape[:2]) // 2) * 2 - 1)
        vis.append(1.0 - structural_similarity(ref[sy, sx], dis[sy, sx], channel_axis=2, data_range=1.0, win_size=win))
    return np.maximum(np.array(vis), 0.0)


def latent_quality(visibility: np.ndarray, important: np.ndarray) -> float:
    """The MOS rule: ``100 / (1 + (D / D50) ** BETA)`` with D the mean visibility over the quality cells."""
    d = float(np.mean(visibility[important]))
    return 100.0 / (1.0 + (d / D50) ** BETA)


def opinion_counts(quality: float, rng: np.random.Generator) -> np.ndarray:
    """Counts of ACR ratings 1..5 from simulated raters for a latent quality on 0-100."""
    q = quality / 100.0
    mu = 1.2 + 3.3 * q
    sd = 0.3 + 0.8 * 4.0 * q * (1.0 - q)
    edges = norm.cdf(np.array([1.5, 2.5, 3.5, 4.5]), loc=mu, scale=sd)
    probs = np.diff(np.concatenate([[0.0], edges, [1.0]]))
    return rng.multinomial(int(rng.integers(93, 158)), probs)


# ----------------------------------------------------------------------------------------- fixations

def simulate_fixations(
    reference: np.ndarray, attended: np.ndarray, config: DemoConfig, rng: np.random.Generator
) -> np.ndarray:
    """Fixations (x, y), 0-based pixels, of simulated observers: mostly on the detailed (``attended``) cells."""
    slices = cell_slices(reference.shape, config.grid)
    grad = ndimage.gaussian_gradient_magnitude(_luma(reference), 1.0) + 1e-3
    weights = np.array([grad[s].mean() if k in attended else 0.0 for k, s in enumerate(slices)])
    weights /= weights.sum()
    points = []
    for _ in range(config.n_observers * config.fixations_per_observer):
        k = int(rng.choice(len(slices), p=weights)) if rng.random() < 0.85 else int(rng.integers(len(slices)))
        sy, sx = slices[k]
        g = grad[sy, sx].ravel()
        idx = int(rng.choice(g.size, p=g / g.sum()))
        y, x = np.unravel_index(idx, grad[sy, sx].shape)
        points.append((sx.start + x, sy.start + y))
    return np.array(points, dtype=int)


def fixation_density(shape: tuple[int, int], fixations: np.ndarray, sigma: float) -> np.ndarray:
    """Fixation-density map: the fixation histogram smoothed by a Gaussian, scaled to max 1."""
    hist = np.zeros(shape, dtype=np.float64)
    np.add.at(hist, (fixations[:, 1], fixations[:, 0]), 1.0)
    dens = ndimage.gaussian_filter(hist, sigma)
    return dens / dens.max()


# ----------------------------------------------------------------------------------------- writing

def _save_png(img: np.ndarray, path: Path) -> None:
    """Write a uint8 image as PNG with fixed settings (byte-identical across runs)."""
    Image.fromarray(img).save(path, format="PNG", optimize=False, compress_level=6)


def _scene(r: int, config: DemoConfig, photos: dict) -> dict:
    """Everything about reference scene ``r``: reference, distorted versions, planted truth, fixations."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, RULE_VERSION, r]))
    photo_name = PHOTOS[int(rng.integers(len(PHOTOS)))]
    reference, important, kinds = compose_reference(photos[photo_name], config, rng)
    ref8 = to_uint8(reference)
    content = cell_mask(ref8.shape, important, config.grid)[..., None]
    kinds_order = [k for k in DISTORTIONS]
    rng.shuffle(kinds_order)
    versions = []
    for kind in kinds_order[: config.versions_per_reference]:
        level = int(rng.integers(1, 6))
        dist = apply_distortion(ref8 / 255.0, kind, level, rng)
        dist8 = np.where(content, to_uint8(dist), ref8)
        vis = cell_visibility(ref8, dist8, config.grid)
        quality = latent_quality(vis, important)
        versions.append(dict(kind=kind, level=level, image=dist8, visibility=vis, quality=quality,
                             counts=opinion_counts(quality, rng)))
    attended = np.array([k for k, kind in enumerate(kinds) if kind in ("quality", "decoy")])
    fix = simulate_fixations(reference, attended, config, rng)
    return dict(photo=photo_name, reference=ref8, important=important, kinds=kinds, versions=versions, fixations=fix)


def _write_world(root: Path, config: DemoConfig, progress: bool) -> None:
    """Write every file of the world of ``config`` into the empty folder ``root``."""
    from iqaxai.data.splits import stratified_split

    h, w = config.height, config.width
    koniq_img = root / "koniq10k" / f"{w}x{h}"
    kadid_img = root / "kadid10k" / "images"
    fix_dir = root / "fixations" / "maps"
    for d in (koniq_img, kadid_img, fix_dir):
        d.mkdir(parents=True)
    photos = {name: load_photo(name) for name in PHOTOS}

    scores, planted, fixation_rows = [], [], []
    for r in tqdm(range(1, config.n_references + 1), desc="demo world", disable=not progress):
        scene = _scene(r, config, photos)
        ref_name = f"I{r:03d}.png"
        _save_png(scene["reference"], kadid_img / ref_name)
        density = fixation_density((h, w), scene["fixations"], sigma=h / 24)
        _save_png(to_uint8(density), fix_dir / ref_name)
        fixation_rows += [(ref_name, i // config.fixations_per_observer + 1, int(x), int(y))
                          for i, (x, y) in enumerate(scene["fixations"])]
        for v in scene["versions"]:
            did = DISTORTIONS[v["kind"]][0]
            name = f"I{r:03d}_{did:02d}_{v['level']:02d}.png"
            _save_png(v["image"], koniq_img / name)
            os.link(koniq_img / name, kadid_img / name)
            counts = v["counts"]
            total = int(counts.sum())
            frac = counts / total
            mos = float(np.dot(frac, np.arange(1, 6)))
            sd = float(np.sqrt(np.dot(frac, (np.arange(1, 6) - mos) ** 2)))
            scores.append(dict(image_name=name, **{f"c{i + 1}": float(frac[i]) for i in range(5)}, c_total=total,
                               MOS=mos, SD=sd, MOS_zscore=KONIQ_SLOPE * mos + KONIQ_INTERCEPT, ref_img=ref_name))
            planted.append(dict(image_name=name, ref_img=ref_name, photo=scene["photo"], distortion=v["kind"],
                                distortion_id=did, level=v["level"], latent_mos=v["quality"],
                                important="".join("1" if k in scene["important"] else "0" for k in range(len(scene["kinds"]))),
                                decoys="".join("1" if kind == "decoy" else "0" for kind in scene["kinds"]),
                                cell_kinds=" ".join(scene["kinds"]),
                                **{f"v{k}": float(x) for k, x in enumerate(v["visibility"])}))

    table = pd.DataFrame(scores)
    cols = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
    table[cols].to_csv(root / "koniq10k" / "koniq10k_scores_and_distributions.csv", index=False)
    split = stratified_split(table["MOS_zscore"], ratios=tuple(config.split), seed=config.seed, groups=table["ref_img"])
    sets = table[cols[:-1]].copy()
    sets["MOS"] = table["MOS_zscore"]  # the official split file mixes a 0-100 MOS with a 1-5 SD
    sets["set"] = pd.Series(split).map({"train": "training", "val": "validation", "test": "test"})
    sets.to_csv(root / "koniq10k" / "koniq10k_distributions_sets.csv", index=False)
    pd.DataFrame({"dist_img": table["image_name"], "ref_img": table["ref_img"],
                  "dmos": table["MOS"].round(2), "var": table["SD"].round(3)}).to_csv(root / "kadid10k" / "dmos.csv", index=False)
    pd.DataFrame(fixation_rows, columns=["ref_img", "observer", "x", "y"]).to_csv(root / "fixations" / "fixations.csv", index=False)
    planted_df = pd.DataFrame(planted)
    planted_df.to_csv(root / "planted_cells.csv", index=False)
    (root / "planted_cells.json").write_text(json.dumps({
        row.image_name: {"ref_img": row.ref_img, "grid": list(config.grid),
                         "important": [k for k, c in enumerate(row.important) if c == "1"],
                         "decoys": [k for k, c in enumerate(row.decoys) if c == "1"]}
        for row in planted_df.itertuples()
    }, indent=1))
    manifest = {"name": "iqaxai demo world", "synthetic": "not human data: scores follow a documented rule",
                "rule_version": RULE_VERSION, "config": asdict(config), "D50": D50, "BETA": BETA,
                "distortions": {k: {"kadid_id": v[0], "levels": list(v[1])} for k, v in DISTORTIONS.items()},
                "n_images": len(table), "n_references": config.n_references}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _scratch_dir(root: Path, kind: str) -> Path:
    """A new, uniquely named folder beside ``root`` for building (``tmp``) or discarding (``old``) a world."""
    path = root.with_name(f".{kind}-{root.name}.{secrets.token_hex(4)}")
    path.mkdir()
    return path


def _scratch_pattern(root: Path) -> re.Pattern[str]:
    """Names of the folders that :func:`_scratch_dir` makes for ``root``."""
    return re.compile(rf"^\.(tmp|old)-{re.escape(root.name)}\.[0-9a-f]{{8}}$")


def _remove_scratch(root: Path) -> None:
    """Delete the temporary folders of an earlier, interrupted build of ``root`` (call under its lock)."""
    pattern = _scratch_pattern(root)
    for p in root.parent.iterdir():
        if pattern.match(p.name) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def _install(built: Path, root: Path) -> None:
    """Rename the finished world ``built`` to ``root``, moving an existing ``root`` aside and deleting it."""
    while True:
        try:
            os.rename(built, root)  # atomic; fails when root is a folder with files in it
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        old = _scratch_dir(root, "old")
        try:
            os.rename(root, old)
        except FileNotFoundError:
            pass
        shutil.rmtree(old, ignore_errors=True)


def make_demo_world(root: str | os.PathLike, config: DemoConfig = DemoConfig(), progress: bool = True,
                    replace: bool = True) -> Path:
    """Generate the demo world under ``root`` (see the module docstring for the layout) and return it.

    An existing world at ``root`` is replaced, or with ``replace=False`` kept when complete. The files are
    written to a temporary folder and renamed into place, under a lock, so concurrent calls are safe.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(root.parent / f".{root.name}.lock"):
        if not replace and (root / MANIFEST).exists():
            return root
        _remove_scratch(root)
        built = _scratch_dir(root, "tmp")
        try:
            _write_world(built, config, progress)
            _install(built, root)
        finally:
            shutil.rmtree(built, ignore_errors=True)
    return root


def demo_root(config: DemoConfig = DemoConfig()) -> Path:
    """Where the world of ``config`` lives in the cache."""
    from iqaxai.results import config_key

    return cache_dir() / "demo" / config_key({**asdict(config), "rule_version": RULE_VERSION})


def ensure_demo_world(config: DemoConfig = DemoConfig(), progress: bool = True) -> Path:
    """The demo world of ``config`` from the cache, generated first if it is missing or incomplete."""
    root = demo_root(config)
    if not (root / MANIFEST).exists():
        make_demo_world(root, config, progress=progress, replace=False)
    return root


def load_planted(root: str | os.PathLike) -> pd.DataFrame:
    """The planted truth table: per image, its reference, distortion, latent MOS and important cells."""
    path = Path(root) / "planted_cells.csv"
    if not path.exists():
        raise FileNotFoundError(f"no planted_cells.csv under {root}: generate the world with make_demo_world")
    table = pd.read_csv(path, dtype={"important": str, "decoys": str})
    table["important_cells"] = table["important"].map(lambda s: [k for k, c in enumerate(s) if c == "1"])
    return table


def load_demo(config: DemoConfig = DemoConfig(), split: str | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """The demo world's image table, read through the real KonIQ-10k loader, joined with its planted truth
    (``root``: a world written by :func:`make_demo_world` with ``config``; default: the cached one)."""
    from iqaxai.data import load_dataset

    root = Path(root) if root is not None else ensure_demo_world(config)
    table = load_dataset("koniq10k", root=root, resolution=f"{config.width}x{config.height}")
    table["image_name"] = [Path(p).name for p in table["image"]]
    table = table.merge(load_planted(root), on="image_name", how="left", validate="one_to_one")
    table["ref_path"] = [str(root / "kadid10k" / "images" / r) for r in table["ref_img"]]
    table["fixation_map"] = [str(root / "fixations" / "maps" / r) for r in table["ref_img"]]
    return table if split is None else table[table["split"] == split].reset_index(drop=True)


def _cell_flags(table: pd.DataFrame, column: str) -> np.ndarray:
    """A demo table's per-cell 0/1 string column as bool [N, rows*cols]."""
    if column not in table:
        raise KeyError(f"the table has no {column!r} column: planted cells exist only in the demo world (load_demo)")
    return np.array([[c == "1" for c in s] for s in table[column].astype(str)], dtype=bool)


def cell_detail(image: np.ndarray, grid: Grid = (3, 4)) -> np.ndarray:
    """Mean mid-frequency detail (band-pass magnitude of the luma) of each cell of an RGB image in [0, 1] -> [B]."""
    detail = _detail(_luma(np.asarray(image, dtype=np.float64)))
    return np.array([float(detail[s].mean()) for s in cell_slices(detail.shape, grid)])


def noise_ceiling(table: pd.DataFrame) -> float:
    """PLCC of the simulated MOS with the latent quality it was rated from: the best a perfect model can reach."""
    from iqaxai.stats import plcc

    return plcc(table["mos"].to_numpy(dtype=float), table["latent_mos"].to_numpy(dtype=float))


def planted_blocks(table: pd.DataFrame) -> np.ndarray:
    """The planted quality (important) cells of each image of a demo table as bool [N, rows*cols]."""
    return _cell_flags(table, "important")


def decoy_blocks(table: pd.DataFrame) -> np.ndarray:
    """The decoy cells (detailed and fixated, never distorted) of each image of a demo table as bool [N, rows*cols]."""
    return _cell_flags(table, "decoys")
