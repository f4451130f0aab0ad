"""The reproduction scorecard: every published number of :mod:`iqaxai.paper_results` beside the value a run
reproduced, the difference, and the table it was read from.

It reads the tables the notebooks wrote (``tables/*.csv`` in each study's output folder), so it says what a
run actually produced; a number whose table is missing is listed as not reproduced. On the demo world and in
the dry run the reproduced column is not a reproduction at all, and the provenance line says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iqaxai.models import TABLE_I_MODELS, display_name
from iqaxai.paper_results import (AVERAGED_MEASURE_ZEROING, FEATURE_MAP_COLUMNS, HALF_MASKING, SALIENCY_PAPER_NAMES,
                                  TABLE_I_COLUMNS, TABLE_II, feature_map_tables, sacid_table_iii, saliency_table_i,
                                  saliency_table_ii, table_i, thesis_table_4_3)
from iqaxai.report import output_base

ICIP = "ICIP 2023"
SALIENCY = "Saliency/IQA"
FEATURE_MAPS = "Feature maps"
THESIS = "XAI thesis"
#: Table I columns of paper_results -> the columns notebook 03 writes.
TABLE_I_READ = {"test_plcc": "test PLCC", "important_vs_pred": "important: predicted", "important_vs_mos": "important: MOS",
                "trivial_vs_pred": "trivial: predicted", "trivial_vs_mos": "trivial: MOS"}
COLUMNS = ["paper", "item", "dataset", "paper value", "reproduced", "difference", "read from"]


def _read(folder: Path, name: str) -> tuple[pd.DataFrame | None, str]:
    """A run's table (None when the run did not write it) and its path relative to the output base."""
    path = folder / "tables" / f"{name}.csv"
    where = path.relative_to(output_base()) if path.is_relative_to(output_base()) else path
    return (pd.read_csv(path) if path.exists() else None), str(where)


def _row(item: str, dataset: str, paper: float, reproduced: float, where: str, source: str = ICIP) -> dict:
    return {"paper": source, "item": item, "dataset": dataset, "paper value": float(paper), "reproduced": float(reproduced),
            "difference": float(reproduced) - float(paper), "read from": where}


def _lookup(table: pd.DataFrame | None, key_column: str, key: str, column: str) -> float:
    if table is None or column not in table or key not in set(table[key_column]):
        return float("nan")
    return float(table.loc[table[key_column] == key, column].iloc[0])


def dataset_rows(dataset: str, folder: Path, paper_dataset: str, halves_rule: str = "distribution_plcc") -> list[dict]:
    """Table I and the half-masking comparison of one dataset's run."""
    rows = []
    zeroing, where = _read(folder, "03_table1_zeroing")
    published = table_i(paper_dataset)
    for name in TABLE_I_MODELS:
        for key in TABLE_I_COLUMNS:
            rows.append(_row(f"Table I, {display_name(name)}: {TABLE_I_READ[key]}", dataset, published.loc[name, key],
                             _lookup(zeroing, "model", display_name(name), TABLE_I_READ[key]), where))
    masking, where = _read(folder, "02_half_masking")
    for rule in ("dataset_plcc", halves_rule):
        for half, column in (("trivial masked", "PLCC, trivial masked"), ("important masked", "PLCC, important masked")):
            rows.append(_row(f"Sec. 2, TRIQ PLCC with the {half.split()[0]} half masked (rule {rule})", dataset,
                             HALF_MASKING[paper_dataset][half], _lookup(masking, "rule", rule, column), where))
    return rows


def pooled_rows(label: str, folder: Path) -> list[dict]:
    """Table II (matching degree) and the averaged-measure zeroing, pooled over the run's datasets."""
    rows = []
    matching, where = _read(folder, "04_table2_matching")
    for measure, values in TABLE_II.items():
        for t, value in enumerate(values, 1):
            rows.append(_row(f"Table II, {measure}: T={t} (%)", label, value, _lookup(matching, "measure", measure, f"T={t}"), where))
    zeroing, where = _read(folder, "04_averaged_measure_zeroing")
    for half, column in (("important zeroed", "important: predicted"), ("trivial zeroed", "trivial: predicted")):
        rows.append(_row(f"Sec. 4.2, mean PLCC with the {half.split()[0]} half (averaged measure) zeroed", label,
                         AVERAGED_MEASURE_ZEROING[half], _lookup(zeroing, "model", "mean", column), where))
    return rows


def saliency_rows(folder: Path) -> list[dict]:
    """Table I of the saliency paper (SALICON val, raw maps) beside notebook 09's table: its SALICON rows where the
    run has them, else the rows of its first saliency set (the demo world in the smoke profile), so labelled."""
    table, where = _read(folder, "09_table1_saliency")
    published = saliency_table_i()
    ours = {v: k for k, v in SALIENCY_PAPER_NAMES.items()}
    label = "SALICON val"
    if table is not None:
        sets = list(dict.fromkeys(table["saliency set"]))
        chosen = "salicon" if "salicon" in sets else sets[0]
        label = "SALICON val" if chosen == "salicon" else chosen
        table = table[(table["saliency set"] == chosen) & (table["transform"] == "none")]
    rows = []
    for method in published.index:
        for metric in ("NSS", "SIM", "CC", "KLD"):
            rows.append(_row(f"Table I, {method}: {metric}", label, published.loc[method, metric],
                             _lookup(table, "method", ours.get(method, method), metric), where, SALIENCY))
    return rows


def dual_task_rows(folder: Path) -> list[dict]:
    """Table II of the saliency paper (mean over seeds) beside notebook 11's summary: each paper column is read
    from the run's dataset of that name; where the run has none (the smoke profile), KonIQ-10k's columns from its
    IQA test split and SALICON's from its first saliency set, so labelled."""
    from iqaxai.dual_task import PAPER_DATASETS

    table, where = _read(folder, "11_table2_dual_task")
    published = saliency_table_ii()
    ours: dict[str, str] = {}
    if table is not None:
        labels = {p: o for o, p in PAPER_DATASETS.items() if o in set(table["dataset"])}
        first = {task: next(iter(table.loc[table["task"] == task, "dataset"]), None) for task in ("IQA", "saliency")}
        ours = {**{"KonIQ-10k": first["IQA"], "SALICON": first["saliency"]}, **labels}
    rows = []
    for method in published.index:
        for dataset, metric in published.columns:
            value = published.loc[method, (dataset, metric)]
            if np.isnan(value):
                continue
            label = ours.get(dataset)
            found = float("nan") if table is None or label is None else _lookup(
                table[(table["dataset"] == label) & (table["metric"] == metric)], "method", method, "mean")
            rows.append(_row(f"Table II, {method}: {dataset} {metric}", label if label and label not in PAPER_DATASETS
                             else dataset, value, found, where, SALIENCY))
    return rows


def sacid_rows(folder: Path) -> list[dict]:
    """Table III of the saliency paper (SACID) beside notebook 12's table, metric by metric (the demo world's
    SACID-style set in the smoke profile, so labelled)."""
    table, where = _read(folder, "12_table3_sacid")
    label = str(table["dataset"].iloc[0]) if table is not None and "dataset" in table and len(table) else "SACID"
    published = sacid_table_iii()
    rows = []
    for method in published.index:
        for stat in ("SROCC", "PLCC", "KRCC†"):
            rows.append(_row(f"Table III, {method}: {stat}", label, published.loc[method, stat],
                             _lookup(table, "Method", method, stat), where, SALIENCY))
    return rows


def feature_map_rows(folder: Path) -> list[dict]:
    """Tables 1-2 of the feature-map paper beside notebook 08's in-sample table, per backbone and dataset: each
    published row is matched by the run's ``paper dataset`` column (the smoke profile's demo world sits beside
    TID2013, so labelled); a dataset the run did not cover stays unreproduced."""
    table, where = _read(folder, "08_table12_feature_maps")
    rows = []
    for (backbone, dataset), published in feature_map_tables().iterrows():
        match = None if table is None else table[(table["backbone"] == backbone) & (table["paper dataset"] == dataset)]
        found = match is not None and len(match) > 0
        label = str(match["dataset"].iloc[0]) if found else dataset
        for column in FEATURE_MAP_COLUMNS:
            value = float(match[column].iloc[0]) if found else float("nan")
            rows.append(_row(f"Table {1 if backbone == 'alexnet' else 2}, {backbone}: {column}", label,
                             published[column], value, where, FEATURE_MAPS))
    return rows


def thesis_rows(folder: Path, top_percent: float = 5.0) -> list[dict]:
    """Table 4.3 of the thesis (under- and overestimated outliers, combined rule at ``top_percent``) beside notebook
    06's counts, per thesis dataset and model; a dataset or model the run did not cover (e.g. the smoke profile's
    demo world, or a released model without weights) stays unreproduced."""
    from iqaxai.outlier_study import table_4_3

    counts, where = _read(folder, "06_outlier_counts")
    ours = None
    if counts is not None and (counts["top_percent"] == top_percent).any():
        ours = table_4_3(counts, top_percent, "combined")
    published = thesis_table_4_3()
    rows = []
    for dataset in published.index:
        for model, direction in published.columns:
            value = float("nan")
            if ours is not None and dataset in ours.index and (model, direction) in ours.columns:
                found = ours.loc[dataset, (model, direction)]
                value = float("nan") if pd.isna(found) else float(found)
            rows.append(_row(f"Table 4.3, {model}: {direction.lower()}estimated outliers ({top_percent:g} %, combined)",
                             dataset, published.loc[dataset, (model, direction)], value, where, THESIS))
    return rows


def scorecard(per_dataset: dict[str, tuple[Path, str]], pooled: tuple[str, Path]) -> pd.DataFrame:
    """All published numbers beside the reproduced ones: ``per_dataset`` maps a dataset to (its output folder,
    the dataset whose published numbers apply); ``pooled`` is (label, folder) of the pooled results."""
    rows = [r for d, (folder, paper) in per_dataset.items() for r in dataset_rows(d, folder, paper)]
    rows += pooled_rows(*pooled)
    # the saliency notebooks run on the first dataset of a run (the paper trains its Baselines on KonIQ-10k)
    first = next(iter(per_dataset.values()))[0]
    rows += saliency_rows(first) + dual_task_rows(first) + sacid_rows(first) + feature_map_rows(first) + thesis_rows(first)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["difference"] = table["difference"].where(np.isfinite(table["reproduced"]))
    return table
