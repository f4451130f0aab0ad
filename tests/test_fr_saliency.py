"""Saliency-weighted PSNR and SSIM: uniform maps give the unweighted metrics; references from scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from iqaxai.fr_saliency import ew_psnr, ew_ssim, luma, psnr, ssim, ssim_map


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(3, 3, 40, 56, generator=g)
    dist = (ref + 0.1 * torch.randn(3, 3, 40, 56, generator=g)).clamp(0, 1)
    dist[1, :, :20] = ref[1, :, :20]  # image 1: the top half undistorted
    return dist, ref


def test_psnr_and_ssim_match_scikit_image(pair):
    dist, ref = pair
    for i in range(3):
        d, r = dist[i].numpy().transpose(1, 2, 0), ref[i].numpy().transpose(1, 2, 0)
        assert float(psnr(dist, ref)[i]) == pytest.approx(peak_signal_noise_ratio(r, d, data_range=1.0), rel=1e-6)
        kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 1.0}
        y = luma(torch.stack([dist[i], ref[i]])).numpy()[:, 0]
        assert float(ssim(dist, ref)[i]) == pytest.approx(structural_similarity(y[1], y[0], **kw), abs=1e-6)
        rgb = structural_similarity(r, d, channel_axis=2, **kw)
        assert float(ssim(dist, ref, channel="rgb")[i]) == pytest.approx(rgb, abs=1e-6)
    assert float(ssim(ref, ref)[0]) == pytest.approx(1.0) and ssim_map(dist, ref).shape == (3, 30, 46)


def test_a_uniform_map_gives_the_unweighted_metrics(pair):
    dist, ref = pair
    uniform = torch.full((3, 40, 56), 0.3)
    torch.testing.assert_close(ew_psnr(dist, ref, uniform), psnr(dist, ref))
    torch.testing.assert_close(ew_ssim(dist, ref, uniform), ssim(dist, ref))


def test_the_map_weights_where_the_error_is(pair):
    dist, ref = pair
    top = torch.zeros(3, 40, 56)
    top[:, :20] = 1.0  # image 1 is undistorted there
    weighted = ew_psnr(dist, ref, top)
    assert torch.isinf(weighted[1]) and weighted[1] > 0 and torch.isfinite(weighted[[0, 2]]).all()  # inf, not NaN
    by_hand = 10 * np.log10(1 / float(((dist[0] - ref[0]) ** 2).mean(0)[:20].mean()))
    assert float(weighted[0]) == pytest.approx(by_hand)
    assert float(ew_ssim(dist, ref, top)[1]) > float(ssim(dist, ref)[1])  # the undistorted half counts alone
    inner = torch.zeros(3, 40, 56)
    inner[:, :15] = 1.0  # windows centred above row 15 see undistorted pixels only (radius 5)
    assert float(ew_ssim(dist, ref, inner)[1]) == pytest.approx(1.0)


def test_bad_inputs_are_refused(pair):
    dist, ref = pair
    ones = torch.ones(3, 40, 56)
    with pytest.raises(ValueError, match="zero everywhere"):
        ew_psnr(dist, ref, torch.zeros(3, 40, 56))
    with pytest.raises(ValueError, match="non-negative"):
        ew_psnr(dist, ref, -ones)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psnr(dist * 255, ref)
    with pytest.raises(ValueError, match="same shape"):
        ssim(dist[:, :, :20], ref)
    with pytest.raises(ValueError, match=r"saliency must be \[B, H, W\]"):
        ew_ssim(dist, ref, ones[:, :20])
    with pytest.raises(ValueError, match="within 5 pixels of the border"):
        border = torch.zeros(3, 40, 56)
        border[:, 0] = 1.0
        ew_ssim(dist, ref, border)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(dist[:, :, :8, :8], ref[:, :, :8, :8])


#: pyiqa 0.1.16's ResultsCalibra/calibration_summary.csv, row "psnr(ours)" (RGB PSNR of the five pairs in its wheel).
PYIQA_PSNR = {"I03.bmp": 21.1136, "I04.bmp": 20.9872, "I06.bmp": 27.0139, "I08.bmp": 23.3002, "I19.bmp": 21.6186}


@pytest.fixture(scope="module")
def calibration_pairs():
    """The five reference/distorted pairs that ship in the pyiqa wheel, fetched once from the package registry
    into build/ (the wheel is downloaded, not installed, and nothing of it is committed)."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "build" / "pyiqa-calibration"
    names = [f"ResultsCalibra/{d}/{n}" for d in ("ref_dir", "dist_dir") for n in PYIQA_PSNR]
    if not all((folder / n).exists() for n in names):
        wheels = folder / "wheel"
        done = subprocess.run([sys.executable, "-m", "pip", "download", "pyiqa==0.1.16", "--no-deps", "-q", "-d", str(wheels)],
                              capture_output=True, text=True)
        found = sorted(wheels.glob("pyiqa-0.1.16-*.whl"))
        if done.returncode != 0 or not found:
            pytest.fail(f"could not fetch the pyiqa 0.1.16 wheel from the package registry: {done.stderr[-500:]}")
        with zipfile.ZipFile(found[0]) as wheel:
            for n in names:
                wheel.extract(n, folder)
    return folder / "ResultsCalibra"


def test_uniform_ew_psnr_reproduces_pyiqa_calibration(calibration_pairs):
    from iqaxai.data.images import load_image

    for name, official in PYIQA_PSNR.items():
        ref = torch.from_numpy(load_image(calibration_pairs / "ref_dir" / name)).permute(2, 0, 1)[None]
        dist = torch.from_numpy(load_image(calibration_pairs / "dist_dir" / name)).permute(2, 0, 1)[None]
        uniform = torch.ones(1, *ref.shape[-2:])
        assert float(ew_psnr(dist, ref, uniform)[0]) == pytest.approx(official, abs=1e-4), name  # the CSV rounds to 4 decimals
