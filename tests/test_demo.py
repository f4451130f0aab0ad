"""The demo world: deterministic, readable by the real loaders, and its planted truth is real."""

from __future__ import annotations

import hashlib
import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV

from iqaxai.data import load_dataset
from iqaxai.data.demo import (
    DISTORTIONS,
    DemoConfig,
    apply_distortion,
    cell_detail,
    demo_root,
    ensure_demo_world,
    fixation_density,
    load_planted,
    make_demo_world,
    planted_layout,
)
from iqaxai.grid import blank_cells, cell_mask, cell_means
from iqaxai.stats import plcc


def _digest(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    cfg = DemoConfig(n_references=3, versions_per_reference=2, height=48, width=64, seed=11)
    a = _digest(make_demo_world(tmp_path / "a", cfg, progress=False))
    b = _digest(make_demo_world(tmp_path / "b", cfg, progress=False))
    c = _digest(make_demo_world(tmp_path / "c", DemoConfig(**{**cfg.__dict__, "seed": 12}), progress=False))
    assert a == b
    assert len(a) > 15
    assert a["koniq10k/koniq10k_scores_and_distributions.csv"] != c["koniq10k/koniq10k_scores_and_distributions.csv"]


def test_read_back_through_the_real_koniq_and_kadid_loaders(small_world):
    root, cfg = small_world
    table = load_dataset("koniq10k", root=root)
    raw = pd.read_csv(root / "koniq10k" / "koniq10k_scores_and_distributions.csv")
    assert len(table) == cfg.n_references * cfg.versions_per_reference == len(raw)
    np.testing.assert_allclose(table["mos"], raw["MOS_zscore"])
    np.testing.assert_allclose(table["sd"], 27.82 * raw["SD"])
    # KonIQ's definition: MOS and SD are the mean and SD of the rating distribution c1..c5
    c = raw[["c1", "c2", "c3", "c4", "c5"]].to_numpy()
    mean = c @ np.arange(1, 6)
    np.testing.assert_allclose(mean, raw["MOS"], atol=1e-12)
    np.testing.assert_allclose(np.sqrt(c @ np.arange(1, 6) ** 2 - mean ** 2), raw["SD"], atol=1e-9)
    assert table["mos"].between(0, 100).all()
    # the official-format split keeps every reference scene in one split
    refs = table["image"].str.extract(r"(I\d+)_")[0]
    assert (table.groupby(refs)["split"].nunique() == 1).all()
    assert set(table["split"]) == {"train", "val", "test"}
    fr = load_dataset("kadid10k", root=root)
    assert len(fr) == len(table)
    assert all(Image.open(p).size == (cfg.width, cfg.height) for p in fr["ref_path"][:5])


def test_decoys_and_trivial_cells_are_untouched_quality_cells_distorted(small_world):
    root, cfg = small_world
    planted = load_planted(root)
    res = f"{cfg.width}x{cfg.height}"
    detail_ratio = []
    for row in planted.head(20).itertuples():
        ref = np.asarray(Image.open(root / "kadid10k" / "images" / row.ref_img), dtype=float)
        dis = np.asarray(Image.open(root / "koniq10k" / res / row.image_name), dtype=float)
        content = cell_mask(ref.shape, row.important_cells, cfg.grid)
        assert np.array_equal(ref[~content], dis[~content])
        decoys = [k for k, c in enumerate(row.decoys) if c == "1"]
        assert len(row.important_cells) == cfg.n_important and len(decoys) == cfg.n_decoys
        assert not set(decoys) & set(row.important_cells)
        detail = cell_detail(ref / 255.0, cfg.grid)
        trivial = [k for k in range(12) if k not in decoys and k not in row.important_cells]
        assert detail[trivial].max() < 0.5 * detail[decoys].min()  # decoys are detailed, trivial cells are not
        detail_ratio.append(detail[decoys].mean() / detail[row.important_cells].mean())
    assert 0.8 < np.mean(detail_ratio) < 1.25  # decoys as detailed as the quality cells
    # visibility is zero exactly outside the planted cells and the MOS follows it
    vis = planted[[f"v{k}" for k in range(12)]].to_numpy()
    imp = np.stack([np.array(list(s), dtype=int) == 1 for s in planted["important"]])
    assert vis[~imp].max() == 0.0 and vis[imp].mean() > 0.02
    table = load_dataset("koniq10k", root=root)
    assert plcc(table["mos"], planted["latent_mos"]) > 0.95


def test_quality_falls_with_distortion_level(small_world):
    root, _ = small_world
    planted = load_planted(root)
    level_means = planted.groupby("level")["latent_mos"].mean().to_numpy()
    assert (np.diff(level_means) < 0).all()
    for kind in DISTORTIONS:
        sub = planted[planted["distortion"] == kind]
        # desaturation is the most content-dependent: invisible on cells that are nearly grey already
        assert spearmanr(sub["level"], sub["latent_mos"])[0] < (-0.3 if kind == "colour" else -0.7), kind


def test_planted_layout_is_connected_and_sized():
    rng = np.random.default_rng(0)
    for _ in range(50):
        cells = set(planted_layout(rng, (3, 4), 6).tolist())
        assert len(cells) == 6
        seen, todo = set(), [min(cells)]
        while todo:
            k = todo.pop()
            seen.add(k)
            r, c = divmod(k, 4)
            todo += [n for n in (k - 4, k + 4, k - 1 if c else -1, k + 1 if c < 3 else -1) if n in cells and n not in seen]
        assert seen == cells


def test_fixations_cover_quality_cells_and_decoys_alike(small_world):
    root, cfg = small_world
    planted = load_planted(root).drop_duplicates("ref_img")
    share, ratio = [], []
    for row in planted.itertuples():
        dens = np.asarray(Image.open(root / "fixations" / "maps" / row.ref_img), dtype=float)
        per_cell = cell_means(dens, cfg.grid)
        decoys = [k for k, c in enumerate(row.decoys) if c == "1"]
        share.append(per_cell[row.important_cells + decoys].sum() / per_cell.sum())
        ratio.append(per_cell[decoys].mean() / per_cell[row.important_cells].mean())
    assert np.mean(share) > 0.75
    assert 0.7 < np.mean(ratio) < 1.4  # per cell, decoys draw as much attention as quality cells
    fix = pd.read_csv(root / "fixations" / "fixations.csv")
    assert len(fix) == cfg.n_references * cfg.n_observers * cfg.fixations_per_observer
    assert fix["x"].between(0, cfg.width - 1).all() and fix["y"].between(0, cfg.height - 1).all()


def test_fixation_density_peaks_at_the_fixation():
    dens = fixation_density((20, 30), np.array([[7, 12]]), sigma=2.0)
    assert np.unravel_index(dens.argmax(), dens.shape) == (12, 7) and dens.max() == 1.0


def test_distortion_arguments_are_checked():
    img = np.full((16, 16, 3), 0.5)
    with pytest.raises(ValueError, match="unknown distortion"):
        apply_distortion(img, "warp", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="level must be 1-5"):
        apply_distortion(img, "blur", 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="too small"):
        DemoConfig(height=16, width=16)


# --- the planted truth is real: a simple NR model depends on the planted cells -------------------------

def _features(img: np.ndarray) -> np.ndarray:
    """Global no-reference features (per-area means, so they do not see where content lies) and ratios."""
    y = img.astype(float).mean(axis=2) / 255.0
    grad = ndimage.gaussian_gradient_magnitude(y, 1.0)
    band = np.abs(ndimage.gaussian_filter(y, 1.0) - ndimage.gaussian_filter(y, 3.0))
    fine = np.abs(y - ndimage.gaussian_filter(y, 0.7))
    impulse = np.abs(y - ndimage.median_filter(y, 3))
    sat = (img.max(axis=2) - img.min(axis=2)).astype(float) / 255.0
    f = np.log(np.array([grad.mean(), band.mean(), fine.mean(), impulse.mean(), sat.mean()]) + 1e-4)
    return np.concatenate([f, f[2:] - f[1]])


def test_blanking_quality_cells_changes_a_simple_model_far_more_than_blanking_trivial_cells(small_world):
    root, cfg = small_world
    table = load_dataset("koniq10k", root=root).assign(image_name=lambda t: t["image"].str.split("/").str[-1])
    table = table.merge(load_planted(root), on="image_name")
    images = [np.asarray(Image.open(p).convert("RGB")) for p in table["path"]]
    X = np.stack([_features(im) for im in images])
    # global features mix the distorted quality cells with the clean decoys, so the fit is modest but real
    model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(X, table["mos"])
    assert plcc(model.predict(X), table["mos"]) > 0.4  # chance level here is about sqrt(8 / 80) = 0.32
    delta_imp, delta_triv = [], []
    for im, cells, decoys in zip(images, table["important_cells"], table["decoys"]):
        others = [k for k in range(12) if k not in cells and decoys[k] == "0"]  # flat or defocused
        fill = im.reshape(-1, 3).mean(axis=0)
        base, imp, triv = model.predict(np.stack([
            _features(im), _features(blank_cells(im, cells, cfg.grid, fill)), _features(blank_cells(im, others, cfg.grid, fill))
        ]))
        delta_imp.append(abs(imp - base))
        delta_triv.append(abs(triv - base))
    assert np.mean(delta_imp) > 3 * np.mean(delta_triv)


# --- concurrent creation ----------------------------------------------------------------------------------------

TINY = DemoConfig(n_references=3, versions_per_reference=2, height=24, width=32, seed=5)


def _create_world(how: str, root: str, barrier) -> None:
    """One of two processes creating the same world at once, directly or through the cache."""
    barrier.wait()
    if how == "make":
        make_demo_world(root, TINY, progress=False)
    else:
        os.environ["IQAXAI_CACHE"] = root
        ensure_demo_world(TINY, progress=False)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
@pytest.mark.parametrize("how", ["make", "ensure"])
def test_two_processes_create_the_same_world_at_once(tmp_path, monkeypatch, how):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    target = tmp_path / "shared"
    procs = [ctx.Process(target=_create_world, args=(how, str(target), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    if how == "ensure":
        monkeypatch.setenv("IQAXAI_CACHE", str(target))
        target = demo_root(TINY)
    assert _digest(target) == _digest(make_demo_world(tmp_path / "alone", TINY, progress=False))
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".")) == []  # no scratch or locks


def test_creation_replaces_incomplete_worlds_and_leftovers(tmp_path):
    root = tmp_path / "world"
    (root / "koniq10k").mkdir(parents=True)  # an interrupted world of an older version: no manifest
    (root / "koniq10k" / "stale.png").write_bytes(b"x")
    leftover = tmp_path / ".tmp-world.0123abcd"  # scratch folder of a killed build
    (leftover / "koniq10k").mkdir(parents=True)
    other = tmp_path / ".tmp-world2.0123abcd"  # another world's: kept
    other.mkdir()
    make_demo_world(root, TINY, progress=False, replace=False)
    assert (root / "demo_world.json").exists() and not (root / "koniq10k" / "stale.png").exists()
    assert not leftover.exists() and other.exists()
    before = (root / "demo_world.json").stat().st_mtime_ns
    make_demo_world(root, TINY, progress=False, replace=False)  # complete: kept as it is
    assert (root / "demo_world.json").stat().st_mtime_ns == before


def test_ground_truth_reader_gives_each_scene_its_density_and_fixations(small_world):
    from iqaxai.data.fixations import ground_truth

    root, cfg = small_world
    planted = load_planted(root).drop_duplicates("ref_img")
    points = pd.read_csv(root / "fixations" / "fixations.csv")
    for ref in planted["ref_img"][:3]:
        row = pd.Series({"ref_img": ref, "fixation_map": str(root / "fixations" / "maps" / ref)})
        dens, fix = ground_truth(row, "demo")
        mine = points[points["ref_img"] == ref]
        assert dens.shape == fix.shape == (cfg.height, cfg.width)
        assert fix.sum() == len(set(zip(mine["x"], mine["y"]))) and fix[mine["y"], mine["x"]].all()
        assert dens[fix].mean() > 2 * dens.mean()
    with pytest.raises(ValueError, match="no fixations of"):
        ground_truth(pd.Series({"ref_img": "I999.png", "fixation_map": str(root / "fixations" / "maps" / ref)}), "demo")
