"""The feature-map paper's experiment ("What Are We Looking At?", Nguyen & Amirshahi): datasets, protocols, tables.

The per-map deep-feature metric lives in :mod:`iqaxai.feature_maps` (the score matrix Q), the selection in
:mod:`iqaxai.forward_selection`, the pictures in :mod:`iqaxai.feature_vis`. This module holds what notebook 08
shares between them:

- which full-reference sets a run uses: the paper's five (CID:IQ at 100 cm and 50 cm, CSIQ, TID2013, CIDGD)
  from the data root, or the demo world's KADID-10k view (its references and five distortions at five levels;
  it sits beside TID2013, the paper's set most like it, in the tables and the scorecard);
- the three protocols: the paper's (select and report on the same images), k-fold over references (select on
  the training folds, report on the held-out references) and across sets (select on one set, report on
  another; on the demo world, which is one set, across distortion families instead: selected on blur, JPEG
  and noise, reported on colour and contrast changes, so labelled);
- Tables 1-2 beside the paper's numbers, and the protocol table with the selected-minus-all gap.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from iqaxai.forward_selection import Selection, cross_dataset_selection, forward_selection, kfold_selection
from iqaxai.paper_results import FEATURE_MAP_COLUMNS, feature_map_tables

__all__ = ["PAPER_DATASETS", "DEMO", "DEMO_PAPER_DATASET", "DATASET_LABELS", "fr_sets", "reference_subset",
           "paper_dataset", "cross_pairs", "table_12", "protocol_table", "GAP_TABLE_COLUMNS"]

#: The paper's sets (registry keys), in the order of its Tables 1-2.
PAPER_DATASETS = ("cidiq100", "cidiq50", "csiq", "tid2013", "cidgd")
DATASET_LABELS = {"cidiq100": "CID:IQ 100 cm", "cidiq50": "CID:IQ 50 cm", "csiq": "CSIQ", "tid2013": "TID2013",
                  "cidgd": "CIDGD", "kadid10k": "KADID-10k"}
#: The demo world's set, and the paper's set its row sits beside.
DEMO = "demo world"
DEMO_PAPER_DATASET = "tid2013"
#: The demo world's distortion families (KADID-10k ids of :data:`iqaxai.data.demo.DISTORTIONS`) for the
#: across-sets protocol: selected on the structural ones, reported on the colour and contrast changes.
DEMO_CROSS = (("blur, JPEG, noise", (1, 10, 11)), ("colour, contrast", (7, 25)))
GAP_TABLE_COLUMNS = ["backbone", "selected on", "reported on", "protocol", "n selected", "PLCC selected",
                    "PLCC all", "gap"]


def reference_subset(table: pd.DataFrame, n_references: int | None = None,
                     per_reference: int | None = None) -> pd.DataFrame:
    """The rows of the first ``n_references`` references (sorted by name) and of each the first ``per_reference``
    distorted images in table order (``None``: all). The index is reset, so row ``i`` is row ``i`` of the score
    matrix."""
    refs = sorted(table["ref"].astype(str).unique())
    for name, value, most in (("n_references", n_references, len(refs)), ("per_reference", per_reference, None)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1
                                  or (most is not None and value > most)):
            raise ValueError(f"{name} must be None or an integer from 1 to {most or 'the images per reference'}, "
                             f"got {value!r}")
    keep = table["ref"].astype(str).isin(refs[:n_references])
    if per_reference is not None:
        keep &= table.groupby("ref").cumcount() < per_reference
    return table[keep].reset_index(drop=True)


def fr_sets(is_demo: bool, names: list[str], data_root: str | None = None, seed: int = 0,
            n_references: int | None = None, per_reference: int | None = None) -> dict[str, pd.DataFrame]:
    """The run's full-reference sets by label: the demo world's KADID-10k view, or each named dataset."""
    from iqaxai.data import canonical_name, load_dataset

    if is_demo:
        from iqaxai.data.demo import DemoConfig, ensure_demo_world

        root = ensure_demo_world(DemoConfig(seed=seed), progress=False)
        return {DEMO: reference_subset(load_dataset("kadid10k", root=root), n_references, per_reference)}
    if not names:
        raise ValueError("name at least one full-reference dataset (fr_datasets), e.g. the paper's "
                         f"{list(PAPER_DATASETS)}")
    keys = [canonical_name(n) for n in names]
    return {DATASET_LABELS.get(k, k): reference_subset(load_dataset(k, root=data_root, split_seed=seed), n_references,
                                                       per_reference) for k in keys}


def paper_dataset(label: str) -> str:
    """The registry key of the paper's set a run's set sits beside (the demo world: TID2013)."""
    if label == DEMO:
        return DEMO_PAPER_DATASET
    keys = {v: k for k, v in DATASET_LABELS.items()}
    return keys.get(label, label)


#: One side of an across-sets comparison: the set's label, the rows of its score matrix, the label shown.
Side = tuple[str, np.ndarray, str]


def cross_pairs(sets: Mapping[str, pd.DataFrame]) -> list[tuple[Side, Side]]:
    """(selected-on side, reported-on side) per across-sets comparison. Several sets: every ordered pair of
    sets. The demo world alone: its distortion families (:data:`DEMO_CROSS`)."""
    if list(sets) == [DEMO]:
        kinds = sets[DEMO]["distortion"].astype(int)
        (name_a, ids_a), (name_b, ids_b) = DEMO_CROSS
        return [((DEMO, np.flatnonzero(kinds.isin(ids_a)), f"{DEMO}: {name_a}"),
                 (DEMO, np.flatnonzero(kinds.isin(ids_b)), f"{DEMO}: {name_b}"))]
    return [((a, np.arange(len(sets[a])), a), (b, np.arange(len(sets[b])), b)) for a in sets for b in sets if a != b]


def table_12(selections: Mapping[tuple[str, str], Selection], sizes: Mapping[str, int]) -> pd.DataFrame:
    """Tables 1-2: per (backbone, set) of ``selections`` (the paper's in-sample protocol) the number of maps
    kept and the non-linear PLCC with them and with all maps, beside the paper's row for the matching set."""
    published = feature_map_tables()
    rows = []
    for (backbone, label), sel in selections.items():
        key = paper_dataset(label)
        paper = published.loc[(backbone, key)] if (backbone, key) in published.index else None
        rows.append({"backbone": backbone, "dataset": label, "paper dataset": key, "images": sizes[label],
                     "n selected": len(sel.maps), "PLCC selected": sel.plcc_selected, "PLCC all": sel.plcc_all,
                     **{f"paper {c}": (np.nan if paper is None else paper[c]) for c in FEATURE_MAP_COLUMNS}})
    return pd.DataFrame(rows)


def _row(backbone: str, selected_on: str, reported_on: str, protocol: str, n: float, sel: float, all_: float) -> dict:
    return {"backbone": backbone, "selected on": selected_on, "reported on": reported_on, "protocol": protocol,
            "n selected": n, "PLCC selected": sel, "PLCC all": all_, "gap": sel - all_}


def protocol_table(q: Mapping[tuple[str, str], np.ndarray], sets: Mapping[str, pd.DataFrame],
                   selections: Mapping[tuple[str, str], Selection], *, folds: int = 5, seed: int = 0,
                   **selection_kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The selected-versus-all gap under the three protocols per (backbone, set): in-sample (from
    ``selections``), k-fold over references (mean over folds of the held-out PLCC), and across sets
    (:func:`cross_pairs`). Returns the protocol table and the per-fold table."""
    rows, per_fold = [], []
    for (backbone, label), sel in selections.items():
        rows.append(_row(backbone, label, label, "in-sample (paper)", len(sel.maps), sel.plcc_selected, sel.plcc_all))
        mos = sets[label]["mos"].to_numpy(float)
        folds_table = kfold_selection(q[backbone, label], mos, sets[label]["ref"].astype(str).to_numpy(), k=folds,
                                      seed=seed, **selection_kw)
        per_fold.append(folds_table.drop(columns="eval_images").assign(backbone=backbone, dataset=label))
        rows.append(_row(backbone, label, f"{label} (held-out references)", f"{folds}-fold over references",
                         folds_table["n_selected"].mean(), folds_table["plcc_selected"].mean(),
                         folds_table["plcc_all"].mean()))
    for backbone in dict.fromkeys(b for b, _ in selections):
        for (label_a, rows_a, name_a), (label_b, rows_b, name_b) in cross_pairs(sets):
            qa, qb = q[backbone, label_a][rows_a], q[backbone, label_b][rows_b]
            mos_a = sets[label_a]["mos"].to_numpy(float)[rows_a]
            mos_b = sets[label_b]["mos"].to_numpy(float)[rows_b]
            out = cross_dataset_selection(qa, mos_a, qb, mos_b, **selection_kw).iloc[0]
            rows.append(_row(backbone, name_a, name_b, "across sets", out["n_selected"], out["plcc_selected"],
                             out["plcc_all"]))
    return pd.DataFrame(rows, columns=GAP_TABLE_COLUMNS), pd.concat(per_fold, ignore_index=True)


def select_all(q: Mapping[tuple[str, str], np.ndarray], sets: Mapping[str, pd.DataFrame],
               **selection_kw) -> dict[tuple[str, str], Selection]:
    """The paper's in-sample forward selection for every (backbone, set) score matrix."""
    return {(b, label): forward_selection(m, sets[label]["mos"].to_numpy(float), **selection_kw)
            for (b, label), m in q.items()}
