"""The SACID-shaped demo set: SACID's layout, rate-matched presets, and the planted truth of its score rule."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.fft import dctn
from scipy.optimize import minimize
from scipy.stats import spearmanr

from iqaxai.data.demo import DemoConfig
from iqaxai.data.demo_sacid import (
    BITRATES,
    FOLDER,
    PRESETS,
    PSEUDO_COUNT,
    RATE_FACTOR,
    RATE_TOLERANCE,
    VOTES,
    block_quality,
    block_saliency,
    bradley_terry,
    bt_scores,
    comparison_scores,
    compress,
    demo_sacid_root,
    dequantised,
    ensure_demo_sacid,
    entropy_bits,
    fit_q0,
    load_planted_sacid,
    make_demo_sacid,
    psnr,
    quantise,
    rate_bpp,
    simulate_votes,
    transform,
    visible_quality,
)
from iqaxai.data.sacid import load_sacid

N_SEQ = 3


@pytest.fixture(scope="module")
def demo_set(small_world, tmp_path_factory):
    """A 3-sequence set from the session's small demo world: (root, planted truth merged with the scores)."""
    world, cfg = small_world
    root = make_demo_sacid(tmp_path_factory.mktemp("demo_sacid"), cfg, n_sequences=N_SEQ, world=world)
    scores = pd.read_csv(root / FOLDER / "moses.csv")
    return root, load_planted_sacid(root).merge(scores, on=["sequence", "test_case"], validate="one_to_one")


def _image(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_reads_back_through_load_sacid(demo_set):
    root, _ = demo_set
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every reference is there: no DatasetWarning
        table = load_sacid(root=root)
    assert len(table) == 12 * N_SEQ
    assert sorted(table["sequence"].unique()) == [f"demo-I{r:03d}" for r in range(1, N_SEQ + 1)]
    for _, group in table.groupby("sequence"):
        assert len(group) == 12
        assert set(group["preset"]) == set(PRESETS) and set(group["bitrate"]) == {b / 100 for b in BITRATES}
        assert (group["mos_original"] == 0.0).sum() == 1 and (group["mos_original"] >= 0).all()
    ref = _image(table["ref_path"].iloc[0])
    sal = _image(table["saliency_path"].iloc[0])
    assert ref.shape == (192, 256, 3) and sal.shape == (192, 256) and sal.dtype == np.uint8
    with Image.open(table["path"].iloc[0]) as im:
        assert im.format == "JPEG" and im.size == (256, 192)


def test_rates_hit_the_targets_across_presets(demo_set):
    _, planted = demo_set
    assert np.allclose(planted["target_bpp"], planted["bitrate_label"] / 100 * RATE_FACTOR)
    assert (np.abs(planted["achieved_bpp"] / planted["target_bpp"] - 1) <= RATE_TOLERANCE).all()
    spread = planted.groupby(["sequence", "bitrate_label"])["achieved_bpp"].agg(lambda r: r.max() / r.min() - 1)
    assert (spread <= 2 * RATE_TOLERANCE).all()


def test_planted_truth_saliency_aware_presets_trade_plain_for_weighted_error(demo_set):
    _, planted = demo_set
    wide = planted.pivot_table(index=["sequence", "bitrate_label"], columns="preset", values=["latent_q", "psnr"])
    for preset in ("p132", "p220", "p310"):
        # at equal rate: lower density-weighted error (higher Q) and higher plain error (lower PSNR) than none
        assert (wide["latent_q"][preset] - wide["latent_q"]["none"]).mean() > 0, preset
        assert (wide["psnr"][preset] - wide["psnr"]["none"]).mean() < 0, preset
    # the planted values are measured on the stored files
    row = planted.iloc[5]
    root = demo_set[0] / FOLDER
    ref, dist = _image(root / "reference" / f"{row.sequence}.png"), _image(root / "compressed" / row.sequence / f"{row.test_case}.jpg")
    density = _image(root / "saliency" / f"{row.sequence}.png")
    assert visible_quality(ref, dist, density) == pytest.approx(row.latent_q, abs=1e-9)
    assert psnr(ref, dist) == pytest.approx(row.psnr, abs=1e-9)


def test_scores_follow_the_latent_quality(demo_set):
    _, planted = demo_set
    rho = planted.groupby("sequence").apply(lambda g: spearmanr(g["latent_q"], g["subjective_score"])[0])
    assert rho.mean() > 0.8 and (rho > 0.6).all()


def test_codec_near_lossless_at_100_and_rate_monotone(demo_set):
    root, planted = demo_set
    ref = _image(root / FOLDER / "reference" / f"{planted['sequence'].iloc[0]}.png")
    decoded, _ = compress(ref, 100)
    assert psnr(ref, decoded) > 40
    rates = [compress(ref, q)[1] for q in (5, 15, 30, 50, 70, 90)]
    assert np.all(np.diff(rates) > 0)
    psnrs = [psnr(ref, compress(ref, q)[0]) for q in (5, 30, 90)]
    assert np.all(np.diff(psnrs) > 0)


def test_fast_rate_and_decoder_equal_the_full_quantiser(demo_set):
    root, planted = demo_set
    seq = planted["sequence"].iloc[0]
    ref = _image(root / FOLDER / "reference" / f"{seq}.png")
    t, z = transform(ref), block_saliency(_image(root / FOLDER / "saliency" / f"{seq}.png"))
    pixels = ref.shape[0] * ref.shape[1]
    for quality in (1, 7.3, 40, 100, block_quality(6.0, 3.0, z), block_quality(-20.0, 25.0, z)):
        symbols, tables = quantise(t, quality)
        assert rate_bpp(t, quality) == pytest.approx(entropy_bits(symbols) / pixels, abs=1e-12)
        assert np.array_equal(dequantised(t, quality), (symbols * tables).astype(np.float32))
    # the block transform is JPEG's FDCT: F(u,v) = C(u)C(v)/4 sum f(x,y) cos((2x+1)u pi/16) cos((2y+1)v pi/16)
    block = np.random.default_rng(0).uniform(-128, 127, (8, 8))
    c = np.where(np.arange(8) == 0, 1 / np.sqrt(2), 1.0)
    basis = np.cos((2 * np.arange(8)[None, :] + 1) * np.arange(8)[:, None] * np.pi / 16)
    assert np.allclose(dctn(block, norm="ortho"), c[:, None] * c[None, :] / 4 * (basis @ block @ basis.T))


def test_fit_q0_hits_the_target_and_refuses_the_impossible(demo_set):
    root, planted = demo_set
    seq = planted["sequence"].iloc[0]
    ref = _image(root / FOLDER / "reference" / f"{seq}.png")
    t, z = transform(ref), block_saliency(_image(root / FOLDER / "saliency" / f"{seq}.png"))
    q0, achieved = fit_q0(t, z, PRESETS["p220"], 0.5)
    assert abs(achieved / 0.5 - 1) <= RATE_TOLERANCE
    assert rate_bpp(t, block_quality(q0, PRESETS["p220"], z)) == achieved
    with pytest.raises(ValueError, match="outside the codec's range"):
        fit_q0(t, z, 0.0, 100.0)
    with pytest.raises(ValueError, match="block grid"):
        fit_q0(t, z[:-1], 0.0, 0.5)


def _reference_bt(wins: np.ndarray, pseudo_count: float) -> np.ndarray:
    """Bradley-Terry scores by direct minimisation of the negative log-likelihood (with the pseudo-count)."""
    w = wins + pseudo_count * (1 - np.eye(len(wins)))
    games = w + w.T

    def nll(theta):
        diff = theta[:, None] - theta[None, :]
        value = -np.sum(w * (diff - np.logaddexp(0, diff)))
        prob = 1 / (1 + np.exp(-diff))
        grad = -(w.sum(axis=1) - np.sum(games * prob, axis=1))
        return value, grad

    theta = minimize(nll, np.zeros(len(w)), jac=True, method="BFGS", options={"gtol": 1e-11, "maxiter": 10_000}).x
    return theta - theta.min()


def test_bradley_terry_recovers_order_and_matches_the_likelihood_optimum():
    rng = np.random.default_rng(4)
    truth = rng.permutation(np.linspace(0, 4, 12))
    many = simulate_votes(truth, 2000, 1.0, rng)  # nearly noiseless
    fitted = bradley_terry(many)
    assert spearmanr(fitted, truth)[0] == pytest.approx(1.0)
    assert abs(fitted.mean()) < 1e-9
    np.testing.assert_allclose(fitted - fitted.min(), truth - truth.min(), atol=0.15)  # log-odds scale, tau = 1
    for votes, spread in ((VOTES, 5.0), (VOTES, 40.0), (3, 2.0)):  # including perfectly separated pairs
        wins = simulate_votes(np.linspace(0, spread, 12), votes, 1.0, rng)
        np.testing.assert_allclose(bt_scores(wins), _reference_bt(wins, PSEUDO_COUNT), atol=1e-4)
    with pytest.raises(ValueError, match="zero diagonal"):
        bradley_terry(np.ones((3, 3)))


def test_comparison_scores_break_ties_for_the_worst_image():
    quality = np.array([0.0, 0.0] + [20.0] * 10)  # two equally bad images that lose every other vote
    extra_rounds = 0
    for seed in range(40):
        scores, wins = comparison_scores(quality, np.random.default_rng(seed), tau=0.5)
        assert (scores == 0).sum() == 1 and np.argmin(scores) in (0, 1)
        extra_rounds += wins[0, 1] + wins[1, 0] > VOTES
    assert extra_rounds > 0  # a 10-10 split happened and was compared again


def test_same_settings_same_bytes_and_errors(small_world, tmp_path):
    world, cfg = small_world
    a = make_demo_sacid(tmp_path / "a", cfg, n_sequences=1, world=world)
    b = make_demo_sacid(tmp_path / "b", cfg, n_sequences=1, world=world)
    for rel in ("moses.csv", "planted_sacid.csv", "compressed/demo-I001/h264v@targetbbp100=8_preset=p310.jpg"):
        assert (a / FOLDER / rel).read_bytes() == (b / FOLDER / rel).read_bytes(), rel
    with pytest.raises(ValueError, match="n_sequences must be in 1..16"):
        make_demo_sacid(tmp_path / "c", cfg, n_sequences=17, world=world)
    with pytest.raises(ValueError, match="upscale must be a positive integer"):
        make_demo_sacid(tmp_path / "c", cfg, upscale=0, world=world)
    assert not (tmp_path / "c" / FOLDER).exists()
    (tmp_path / "real" / FOLDER).mkdir(parents=True)  # a SACID this module did not write is never replaced
    with pytest.raises(FileExistsError, match="not written by make_demo_sacid"):
        make_demo_sacid(tmp_path / "real", cfg, n_sequences=1, world=world)
    assert make_demo_sacid(a, cfg, n_sequences=1, world=world) == a  # its own set it may rewrite


def test_ensure_demo_sacid_caches_per_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path / "cache"))
    tiny = DemoConfig(n_references=2, versions_per_reference=1, height=48, width=64, seed=5)
    root = ensure_demo_sacid(tiny)
    assert root == demo_sacid_root(tiny) and root.parent == tmp_path / "cache" / "demo"
    manifest = root / FOLDER / "demo_sacid.json"
    stamp = manifest.stat().st_mtime_ns
    assert ensure_demo_sacid(tiny) == root and manifest.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert demo_sacid_root(tiny, n_sequences=1) != root and demo_sacid_root(tiny, upscale=3) != root
    table = load_sacid(root=root)
    assert len(table) == 24 and _image(table["ref_path"].iloc[0]).shape == (96, 128, 3)
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
