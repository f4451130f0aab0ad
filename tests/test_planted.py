"""Scoring against the planted truth: hit rates and mass shares on quality cells and decoys, with chance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iqaxai.grid import cell_mask
from iqaxai.planted import chance_hit_rate, hit_rate, planted_scores, planted_summary, planted_table, region_values

QUALITY = np.array([[1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]], dtype=bool)
DECOYS = np.array([[0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]], dtype=bool)


def test_hit_rate_counts_shares_per_image():
    selected = np.array([[1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0], [1] * 6 + [0] * 6], dtype=bool)
    quality = np.repeat(QUALITY, 2, axis=0)
    decoys = np.repeat(DECOYS, 2, axis=0)
    assert hit_rate(selected, quality) == pytest.approx((3 / 6 + 6 / 6) / 2)
    assert hit_rate(selected, decoys) == pytest.approx((3 / 3 + 0 / 3) / 2)
    assert chance_hit_rate(selected) == pytest.approx(0.5)


def test_content_map_hits_both_quality_map_hits_only_quality():
    h, w = 48, 64
    detail = cell_mask((h, w), np.flatnonzero(QUALITY[0] | DECOYS[0])).astype(float)  # follows content: 9 cells
    quality = cell_mask((h, w), np.flatnonzero(QUALITY[0])).astype(float) + 0.01
    q = planted_scores(quality[None], QUALITY, DECOYS)
    assert q["quality hit rate"] == 1.0 and q["decoy hit rate"] == 0.0 and q["chance hit rate"] == 0.5
    assert q["quality mass share"] == pytest.approx(6 / 6.06, abs=1e-3)  # 1 + 0.01 per pixel inside, 0.01 outside
    assert q["chance quality share"] == 0.5 and q["chance decoy share"] == 0.25
    c = planted_scores(detail[None], QUALITY, DECOYS)
    # ties among the nine detailed cells go to the lower index: cells 0-5 (the quality cells here)
    assert c["quality mass share"] == pytest.approx(6 / 9) and c["decoy mass share"] == pytest.approx(3 / 9)


def test_region_scores_pass_through_and_table_has_one_row_per_method():
    scores = np.arange(12, dtype=float)[None]  # cells 6-11 highest: all three decoys, no quality cell
    assert region_values(scores).shape == (1, 12)
    table = planted_table({"rising": scores, "falling": -scores}, QUALITY, DECOYS)
    assert table["quality hit rate"].tolist() == [0.0, 1.0] and table["decoy hit rate"].tolist() == [1.0, 0.0]
    assert "quality mass share" not in table  # region scores carry no area


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        planted_scores(np.full((1, 12), np.nan), QUALITY, DECOYS)
    with pytest.raises(ValueError, match=r"\[N, B\]"):
        hit_rate(np.ones((2, 12), bool), QUALITY)
    with pytest.raises(ValueError, match="no planted cells"):
        hit_rate(np.ones((1, 12), bool), np.zeros((1, 12), bool))


def test_summary_collects_every_planted_table(tmp_path):
    planted_table({"rising": np.arange(12.0)[None]}, QUALITY, DECOYS).rename(columns={"method": "measure"}).to_csv(
        tmp_path / "04_measures_vs_planted.csv", index=False)
    occlusion = planted_table({"blur": -np.arange(12.0)[None]}, QUALITY, DECOYS).rename(columns={"method": "fill"})
    occlusion.assign(model="dbcnn").to_csv(tmp_path / "07_occlusion_vs_planted.csv", index=False)
    table = planted_summary(tmp_path)
    assert table["method"].tolist() == ["rising", "dbcnn / blur"]
    assert table["quality hit rate"].tolist() == [0.0, 1.0] and table["decoy hit rate"].tolist() == [1.0, 0.0]
    pd.DataFrame({"measure": ["old"], "T=4": [50.0]}).to_csv(tmp_path / "04_measures_vs_planted.csv", index=False)
    with pytest.raises(ValueError, match="rerun its notebook"):
        planted_summary(tmp_path)
    with pytest.raises(FileNotFoundError, match="run notebooks"):
        planted_summary(tmp_path / "empty")
