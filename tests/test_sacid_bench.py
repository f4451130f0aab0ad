"""SACID Table III interface: KRCC† grouping, negation, missing references, failures, inf rule, pyiqa absent or present."""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats as sps
from torch import nn

from iqaxai import fr_saliency
from iqaxai.data.images import load_image
from iqaxai.data.sacid import load_sacid
from iqaxai.models.base import IQAModel, ModelInfo
from iqaxai.report import SOURCES, check_figure
from iqaxai.sacid_bench import (
    KRCC_DAGGER,
    Metric,
    build_metrics,
    finite_scores,
    model_metric,
    sacid_correlations,
    score_images,
    top_metrics_figure,
)

PRESETS = ("none", "p132", "p220", "p310")
RATES = (8, 12, 16)
SEQUENCES = ("seq-a", "seq-b", "seq-c")  # seq-c has no reference PNG
H, W = 40, 48


def _noise(rate: int, preset: str) -> float:
    """Error level of one test case: falls with the rate; the saliency presets shift it a little."""
    return 0.16 / rate * 8 * (1.0 + 0.1 * PRESETS.index(preset))


@pytest.fixture(scope="module")
def sacid(tmp_path_factory):
    """A 36-image SACID in the official layout (saliency maps at half size, one reference missing)."""
    folder = tmp_path_factory.mktemp("sacid") / "SACID"
    rng = np.random.default_rng(0)
    lines = ["sequence,test_case,subjective_score"]
    yy, xx = np.mgrid[:H // 2, :W // 2]
    for s, seq in enumerate(SEQUENCES):
        base = rng.random((H // 4, W // 4, 3))
        ref = np.asarray(Image.fromarray((base * 255).astype(np.uint8)).resize((W, H), Image.BILINEAR)) / 255.0
        if seq != "seq-c":
            (folder / "reference").mkdir(parents=True, exist_ok=True)
            Image.fromarray((ref * 255).round().astype(np.uint8)).save(folder / "reference" / f"{seq}.png")
        sal = np.exp(-((yy - H / 4) ** 2 + (xx - W / 4 - s) ** 2) / 30.0)
        (folder / "saliency").mkdir(parents=True, exist_ok=True)
        Image.fromarray((sal * 255).astype(np.uint8), mode="L").save(folder / "saliency" / f"{seq}.png")
        levels = {(r, p): _noise(r, p) for r in RATES for p in PRESETS}
        worst = max(levels.values())
        for (rate, preset), level in levels.items():
            case = f"h264v@targetbbp100={rate}_preset={preset}"
            dist = np.clip(ref + level * rng.standard_normal(ref.shape), 0, 1)
            (folder / "compressed" / seq).mkdir(parents=True, exist_ok=True)
            Image.fromarray((dist * 255).round().astype(np.uint8)).save(folder / "compressed" / seq / f"{case}.jpg",
                                                                        quality=95)
            lines.append(f"{seq},{case},{(worst - level) * 20:.6f}")
    (folder / "moses.csv").write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing reference is reported by a DatasetWarning
        return load_sacid(folder.parent)


class Brightness(IQAModel):
    """NR model: 100 x mean brightness."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("brightness", normalisation="none")
        self.scale = nn.Parameter(torch.tensor(100.0))

    def forward(self, x):
        return self.scale * self.check_input(x).mean((1, 2, 3))


def _meta(name: str, lower_better: bool = False, kind: str = "NR") -> Metric:
    return Metric(name, kind, "NR" if kind == "NR" else "FR", lower_better, False, lambda d, r, s: d.mean((1, 2, 3)))


def _hand_table() -> pd.DataFrame:
    """Two sequences x two rates x four presets, scores and two metrics built by hand."""
    rng = np.random.default_rng(1)
    rows = [(s, b, p) for s in ("a", "b") for b in (0.08, 0.16) for p in PRESETS]
    table = pd.DataFrame(rows, columns=["sequence", "bitrate", "preset"])
    table["mos_original"] = rng.random(len(table)) * 5
    return table


def test_krcc_dagger_is_kendall_within_sequence_and_bitrate_averaged():
    table = _hand_table()
    x = table["mos_original"].to_numpy() + np.random.default_rng(2).normal(0, 1.5, len(table))
    scores = pd.DataFrame({"M": x}, index=table.index)
    corr = sacid_correlations(scores, table, metrics={"M": _meta("M")})
    taus = [sps.kendalltau(g["x"], g["mos_original"])[0]
            for _, g in table.assign(x=x).groupby(["sequence", "bitrate"])]
    per_seq = [sps.kendalltau(g["x"], g["mos_original"])[0] for _, g in table.assign(x=x).groupby("sequence")]
    row = corr.iloc[0]
    assert row[KRCC_DAGGER] == pytest.approx(np.mean(taus)) and row["groups"] == 4
    assert row["KRCC per sequence"] == pytest.approx(np.mean(per_seq))
    assert row["SROCC"] == pytest.approx(sps.spearmanr(x, table["mos_original"])[0])
    assert row["PLCC"] == pytest.approx(sps.pearsonr(x, table["mos_original"])[0])
    assert row["images"] == 16 and row["note"] == ""


def test_lower_better_scores_are_negated():
    table = _hand_table()
    x = -3 * table["mos_original"].to_numpy()
    scores = pd.DataFrame({"up": -x, "down": x}, index=table.index)
    corr = sacid_correlations(scores, table, metrics={"up": _meta("up"), "down": _meta("down", lower_better=True)})
    stats = corr.set_index("Method")[["SROCC", "PLCC", KRCC_DAGGER]]
    np.testing.assert_allclose(stats.loc["down"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(stats.loc["up"], stats.loc["down"])


def test_inf_is_kept_in_scores_and_replaced_by_max_plus_one_for_correlations(sacid):
    dist = torch.rand(1, 3, 24, 24)
    ref = dist.clone()
    ref[..., :8, :] = 0.5
    sal = torch.zeros(1, 24, 24)
    sal[:, 12:] = 1.0  # the map avoids every error
    metrics, _ = build_metrics(["ew_psnr"])
    assert torch.isinf(metrics["EW-PSNR"](dist, ref, sal)).all()

    first = sacid.index[0]
    mean0 = float(load_image(sacid.loc[first, "path"]).mean())

    def fn(d, r, s):  # inf for the first image, its brightness otherwise
        m = d.mean((1, 2, 3))
        return torch.where((m - mean0).abs() < 1e-6, torch.full_like(m, float("inf")), m)

    scores, notes = score_images(sacid, {"M": Metric("M", "NR", "NR", False, False, fn, key="t")})
    assert np.isposinf(scores.loc[first, "M"]) and np.isfinite(scores["M"].drop(first)).all() and notes.empty

    corr = sacid_correlations(scores, sacid).iloc[0]
    x = scores["M"].to_numpy()
    replaced = np.where(np.isinf(x), x[np.isfinite(x)].max() + 1.0, x)
    np.testing.assert_array_equal(finite_scores(x), replaced)
    assert corr["PLCC"] == pytest.approx(sps.pearsonr(replaced, sacid["mos_original"])[0])
    assert corr["SROCC"] == pytest.approx(sps.spearmanr(x, sacid["mos_original"])[0])  # scipy ranks inf last
    assert corr["inf"] == 1 and corr[["SROCC", "PLCC", KRCC_DAGGER]].notna().all()


def test_missing_reference_gives_nan_for_fr_and_scores_for_nr(sacid):
    metrics, skipped = build_metrics(["psnr", "EW-SSIM", "ew_psnr", model_metric("Baseline", Brightness())])
    assert skipped.empty and list(metrics) == ["PSNR", "EW-SSIM", "EW-PSNR", "Baseline"]
    scores, notes = score_images(sacid, metrics)
    no_ref = sacid["ref_path"].isna()
    assert no_ref.sum() == 12 and (sacid.loc[no_ref, "sequence"] == "seq-c").all()
    fr = scores[["PSNR", "EW-SSIM", "EW-PSNR"]]
    assert fr[no_ref].isna().all().all() and np.isfinite(fr[~no_ref]).all().all()
    assert np.isfinite(scores["Baseline"]).all()
    partial = notes.set_index("metric")
    assert set(partial.index) == {"PSNR", "EW-SSIM", "EW-PSNR"} and (partial["status"] == "partial").all()
    assert partial["reason"].str.contains("12 of 36 images have no reference image").all()

    corr = sacid_correlations(scores, sacid).set_index("Method")
    assert corr.loc["PSNR", "images"] == 24 and corr.loc["Baseline", "images"] == 36
    assert corr[["SROCC", "PLCC", KRCC_DAGGER, "KRCC per sequence"]].notna().all().all()
    assert corr.loc["PSNR", "SROCC"] > 0.5 and corr.loc["PSNR", "groups"] == 6  # 2 sequences x 3 rates
    assert list(corr["Type"].unique()) == ["NSS based", "NR"]


def test_a_failing_metric_becomes_a_skipped_row_and_the_others_continue(sacid):
    def fragile(d, r, s):
        if d.mean() > 0.0:
            raise ValueError("image too small for this metric")
        return d.mean((1, 2, 3))

    metrics, _ = build_metrics(["psnr", Metric("Fragile", "NR", "NR", False, False, fragile, key="f")])
    scores, notes = score_images(sacid.iloc[:3], metrics)
    assert list(scores.columns) == ["PSNR"] and np.isfinite(scores["PSNR"]).all()
    row = notes.set_index("metric").loc["Fragile"]
    assert row["status"] == "skipped" and "image too small" in row["reason"]
    assert sacid["image"].iloc[0] in row["reason"]


def test_unknown_names_are_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown metric 'ew-psnrr'.*did you mean 'EW-PSNR'"):
        build_metrics(["ew-psnrr"])
    with pytest.raises(ValueError, match="listed twice"):
        build_metrics(["psnr", "PSNR"])


def test_without_pyiqa_its_metrics_are_skipped_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyiqa", None)  # import pyiqa now fails
    metrics, skipped = build_metrics(["psnr", "ms_ssim", "pyiqa:psnr", "TOPIQ-NR"])
    assert list(metrics) == ["PSNR"]
    assert list(skipped["metric"]) == ["MS-SSIM", "PSNR (pyiqa)", "TOPIQ-NR"]
    assert (skipped["status"] == "skipped").all()
    assert skipped["reason"].str.contains("pyiqa not installed").all()
    assert skipped["reason"].str.contains(r"pip install 'iqaxai\[pyiqa\]'").all()


def test_pyiqa_psnr_through_the_interface_equals_ours(monkeypatch):
    pytest.importorskip("pyiqa", reason="pyiqa is not installed (optional extra iqaxai[pyiqa])")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metrics, skipped = build_metrics(["psnr", "pyiqa:psnr"])
    assert skipped.empty, skipped.to_dict("records")
    theirs = metrics["PSNR (pyiqa)"]
    assert theirs.kind == "FR" and not theirs.lower_better and theirs.key.startswith("pyiqa-")
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(3, 3, 48, 64, generator=g)
    dist = (ref + 0.05 * torch.randn(3, 3, 48, 64, generator=g)).clamp(0, 1)
    ours = fr_saliency.psnr(dist, ref)
    torch.testing.assert_close(theirs(dist, ref), ours, atol=1e-3, rtol=0)
    torch.testing.assert_close(metrics["PSNR"](dist, ref), ours)
    with pytest.raises(ValueError, match="unknown pyiqa metric 'psnrr'"):
        build_metrics(["pyiqa:psnrr"])


def test_a_pyiqa_metric_whose_weights_are_not_cached_is_skipped_at_once(monkeypatch):
    pytest.importorskip("pyiqa", reason="pyiqa is not installed (optional extra iqaxai[pyiqa])")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    metrics, skipped = build_metrics(["brisque"])
    assert time.perf_counter() - start < 30
    if "BRISQUE" not in metrics:  # weights not in pyiqa's cache on this machine
        reason = skipped.set_index("metric").loc["BRISQUE", "reason"]
        assert "not cached" in reason and "HF_HUB_OFFLINE is set" in reason and "\n" not in reason


def test_scores_are_cached_under_the_metric_key(sacid, tmp_path):
    calls = []

    def counted(d, r, s):
        calls.append(1)
        return d.mean((1, 2, 3))

    metric = {"M": Metric("M", "NR", "NR", False, False, counted, key="counted-v1")}
    first, _ = score_images(sacid.iloc[:4], metric, cache=tmp_path)
    again, _ = score_images(sacid.iloc[:4], metric, cache=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    assert len(calls) == 4 and again.attrs["metrics"]["M"]["key"] == "counted-v1"
    with pytest.raises(ValueError, match="no key"):
        score_images(sacid.iloc[:1], {"N": _meta("N")}, cache=tmp_path)


def test_fig3_has_two_labelled_panels_with_the_top_k():
    corr = pd.DataFrame({
        "Method": [f"m{i}" for i in range(8)], "kind": ["FR"] * 3 + ["NR"] * 5,
        "SROCC": np.linspace(0.1, 0.8, 8), "PLCC": 0.5, KRCC_DAGGER: 0.2,
    })
    fig = top_metrics_figure(corr, k=4)
    fr, nr = fig.axes
    assert [t.get_text() for t in nr.get_xticklabels()] == ["m7", "m6", "m5", "m4"]
    assert len(fr.get_xticklabels()) == 3 and len(nr.patches) == 12
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    fig.suptitle(f"Fig. 3 ({SOURCES['real']})")
    check_figure(fig, "fig3")
    import matplotlib.pyplot as plt

    plt.close(fig)
