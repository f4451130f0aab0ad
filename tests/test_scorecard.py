"""The reproduction scorecard reads a run's own tables and sets them beside the published numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from iqaxai.paper_results import AVERAGED_MEASURE_ZEROING, TABLE_II, saliency_table_i, table_i
from iqaxai.scorecard import scorecard


def _write(folder, name, frame):
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "tables" / f"{name}.csv", index=False)


def test_scorecard_pairs_each_published_number_with_the_run_value(tmp_path):
    koniq, pooled = tmp_path / "koniq10k", tmp_path / "pooled"
    _write(koniq, "03_table1_zeroing", pd.DataFrame({"model": ["TRIQ", "DBCNN"], "test PLCC": [0.5, 0.6],
                                                     "important: predicted": [0.1, 0.2], "important: MOS": [0.3, 0.3],
                                                     "trivial: predicted": [0.9, 0.8], "trivial: MOS": [0.4, 0.4]}))
    _write(koniq, "02_half_masking", pd.DataFrame({"rule": ["dataset_plcc"], "PLCC, trivial masked": [0.99],
                                                   "PLCC, important masked": [0.5]}))
    _write(pooled, "04_table2_matching", pd.DataFrame({"measure": ["saliency"], **{f"T={t}": [10.0 * t] for t in range(1, 6)}}))
    card = scorecard({"KonIQ-10k": (koniq, "koniq10k")}, ("KonIQ-10k", pooled)).set_index("item")
    triq = card.loc["Table I, TRIQ: test PLCC"]
    assert triq["paper value"] == table_i("koniq10k").loc["triq", "test_plcc"] and triq["reproduced"] == 0.5
    assert np.isclose(triq["difference"], 0.5 - triq["paper value"])
    assert card.loc["Table I, DBCNN: trivial: predicted", "reproduced"] == 0.8
    assert np.isnan(card.loc["Table I, Swin-IQA: test PLCC", "reproduced"])  # not in the run: not reproduced
    assert np.isnan(card.loc["Table I, Swin-IQA: test PLCC", "difference"])
    masked = card.loc["Sec. 2, TRIQ PLCC with the trivial half masked (rule dataset_plcc)"]
    assert (masked["paper value"], masked["reproduced"]) == (0.97, 0.99)
    t3 = card.loc["Table II, saliency: T=3 (%)"]
    assert (t3["paper value"], t3["reproduced"]) == (TABLE_II["saliency"][2], 30.0)
    assert np.isnan(card.loc["Table II, objectness: T=1 (%)", "reproduced"])
    zeroed = card.loc["Sec. 4.2, mean PLCC with the important half (averaged measure) zeroed"]
    assert zeroed["paper value"] == AVERAGED_MEASURE_ZEROING["important zeroed"] and np.isnan(zeroed["reproduced"])
    # + the saliency paper's Table I (8 methods x 4 metrics), Table II (its 60 numbers) and Table III (25 x 3),
    # the feature-map paper's Tables 1-2 (2 backbones x 5 datasets x 3 numbers) and the thesis' Table 4.3 (4 x 5 x 2)
    assert len(card) == 5 * 5 + 4 + 4 * 5 + 2 + 8 * 4 + 60 + 25 * 3 + 30 + 40


def test_saliency_table_i_prefers_salicon_and_reads_the_raw_maps(tmp_path):
    koniq, pooled = tmp_path / "koniq10k", tmp_path / "pooled"
    rows = pd.DataFrame({"saliency set": ["cat2000", "salicon", "salicon", "salicon"],
                         "method": ["Baseline", "Baseline", "Baseline", "CenterPrior (fitted)"],
                         "transform": ["none", "none", "fitted", "none"], "NSS": [9.0, 0.7, 0.9, 0.5],
                         "SIM": [0.1, 0.2, 0.3, 0.4], "CC": [0.5, 0.6, 0.8, 0.5], "KLD": [1.0, 0.9, 0.5, 0.8]})
    _write(koniq, "09_table1_saliency", rows)
    card = scorecard({"KonIQ-10k": (koniq, "koniq10k")}, ("KonIQ-10k", pooled)).set_index("item")
    cc = card.loc["Table I, Baseline-EfficientNet: CC"]
    assert (cc["paper"], cc["dataset"], cc["reproduced"]) == ("Saliency/IQA", "SALICON val", 0.6)  # raw, not fitted
    assert cc["paper value"] == saliency_table_i().loc["Baseline-EfficientNet", "CC"]
    assert card.loc["Table I, CenterPrior: NSS", "reproduced"] == 0.5
    assert np.isnan(card.loc["Table I, MSINet: CC", "reproduced"])  # no maps supplied: not reproduced
    _write(koniq, "09_table1_saliency", rows.assign(**{"saliency set": "demo"}).iloc[:1])
    demo = scorecard({"KonIQ-10k": (koniq, "koniq10k")}, ("KonIQ-10k", pooled)).set_index("item")
    assert demo.loc["Table I, Baseline-EfficientNet: NSS", ["dataset", "reproduced"]].tolist() == ["demo", 9.0]


def test_dual_task_and_sacid_tables_are_read_by_method_dataset_and_metric(tmp_path):
    koniq, pooled = tmp_path / "koniq10k", tmp_path / "pooled"
    summary = pd.DataFrame({"method": ["Baseline", "Baseline-Sal-Loss", "Baseline-Sal-Loss"],
                            "task": ["IQA", "saliency", "IQA"], "dataset": ["demo world test", "demo", "CLIVE"],
                            "metric": ["SROCC", "CC", "PLCC"], "mean": [0.7, 0.4, 0.6], "std": [0.01, 0.02, 0.0]})
    _write(koniq, "11_table2_dual_task", summary)
    _write(koniq, "12_table3_sacid", pd.DataFrame({"dataset": ["demo world SACID-style set"] * 2, "Method": ["EW-PSNR", "PSNR"],
                                                   "SROCC": [0.9, 0.8], "PLCC": [0.9, 0.8], "KRCC†": [0.5, 0.1]}))
    card = scorecard({"KonIQ-10k": (koniq, "koniq10k")}, ("KonIQ-10k", pooled)).set_index("item")
    srocc = card.loc["Table II, Baseline: KonIQ-10k SROCC"]
    assert (srocc["dataset"], srocc["reproduced"], srocc["paper value"]) == ("demo world test", 0.7, 0.913)
    assert card.loc["Table II, Baseline-Sal-Loss: SALICON CC", ["dataset", "reproduced"]].tolist() == ["demo", 0.4]
    assert card.loc["Table II, Baseline-Sal-Loss: CLIVE PLCC", "reproduced"] == 0.6
    assert np.isnan(card.loc["Table II, Baseline-Sal-Loss: CAT2000 CC", "reproduced"])  # no such set in the run
    krcc = card.loc["Table III, EW-PSNR: KRCC†"]
    assert (krcc["dataset"], krcc["reproduced"], krcc["paper value"]) == ("demo world SACID-style set", 0.5, 0.356)
    assert np.isnan(card.loc["Table III, DBCNN: SROCC", "reproduced"])


def test_feature_map_tables_are_read_by_backbone_and_paper_dataset(tmp_path):
    koniq, pooled = tmp_path / "koniq10k", tmp_path / "pooled"
    _write(koniq, "08_table12_feature_maps", pd.DataFrame({
        "backbone": ["alexnet", "vgg16"], "dataset": ["demo world", "demo world"], "paper dataset": ["tid2013", "tid2013"],
        "n selected": [7, 11], "PLCC selected": [0.8, 0.85], "PLCC all": [0.6, 0.65]}))
    card = scorecard({"KonIQ-10k": (koniq, "koniq10k")}, ("KonIQ-10k", pooled)).set_index("item")
    sel = card[(card["paper"] == "Feature maps") & (card.index == "Table 2, vgg16: PLCC selected")]
    assert len(sel) == 5  # one published row per dataset; only TID2013 has a counterpart in this run
    tid = sel[sel["dataset"] == "demo world"]
    assert (tid["paper value"].item(), tid["reproduced"].item()) == (0.90, 0.85)
    assert card.loc["Table 1, alexnet: n selected"].set_index("dataset").loc["demo world", "reproduced"] == 7
    assert sel[sel["dataset"] == "csiq"]["reproduced"].isna().all()  # not in the run: not reproduced


def test_thesis_table_4_3_is_read_from_the_outlier_counts(tmp_path):
    koniq, pooled = tmp_path / "koniq10k", tmp_path / "pooled"
    rows = [{"model": m, "dataset": d, "top_percent": p, "method": "combined", "n_images": 1162, "n_methods": 3,
             "outliers": u + o, "under": u, "over": o}
            for m, d, p, u, o in [("dbcnn", "CLIVE", 5.0, 3, 17), ("dbcnn", "CLIVE", 30.0, 40, 90), ("musiq", "CLIVE", 5.0, 9, 8),
                                  ("dbcnn", "demo world", 5.0, 1, 2)]]
    _write(koniq, "06_outlier_counts", pd.DataFrame(rows))
    card = scorecard({"KonIQ-10k": (koniq, "koniq10k")}, ("KonIQ-10k", pooled))
    thesis = card[card["paper"] == "XAI thesis"].set_index(["dataset", "item"])
    assert len(thesis) == 40  # 4 datasets x 5 models x under/over
    under = thesis.loc[("CLIVE", "Table 4.3, DBCNN: underestimated outliers (5 %, combined)")]
    assert (under["paper value"], under["reproduced"]) == (4, 3)  # the 5 % row, not the 30 % one
    assert thesis.loc[("CLIVE", "Table 4.3, MUSIQ: overestimated outliers (5 %, combined)"), "reproduced"] == 8
    assert thesis.loc[("CLIVE", "Table 4.3, CNNIQA: overestimated outliers (5 %, combined)"), "reproduced"] != 0
    assert np.isnan(thesis.loc[("CLIVE", "Table 4.3, CNNIQA: overestimated outliers (5 %, combined)"), "reproduced"])
    assert thesis.loc["KonIQ-10k"]["reproduced"].isna().all()  # not in this run
