"""The reproduction scorecard reads a run's own tables and sets them beside the published numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from iqaxai.paper_results import AVERAGED_MEASURE_ZEROING, TABLE_II, table_i
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
    assert len(card) == 5 * 5 + 4 + 4 * 5 + 2
