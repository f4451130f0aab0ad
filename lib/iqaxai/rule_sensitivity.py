"""How much the unstated halves rule matters: ICIP 2023 Tables I and II under every importance rule.

The paper turns the masked TRIQ's 4094 predictions per image into an important and a trivial half without
saying how for a single image (its rule, a PLCC over the dataset, gives one half for all images). The project
picks a per-image rule (:mod:`iqaxai.importance`, ``distribution_plcc`` by default), and that choice drives
Table I (zeroing), Table II (matching degree) and Figs 2-3. Here both tables are computed under every rule of
:data:`iqaxai.importance.RULES`, one long table each, so that a reader sees the spread the choice causes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from iqaxai.semantic import matching_degree
from iqaxai.zeroing import run_zeroing, zeroing_row

TABLE_I_VALUES = ["test PLCC", "important: predicted", "important: MOS", "trivial: predicted", "trivial: MOS"]
"""The value columns of one Table I row (:func:`iqaxai.zeroing.zeroing_row`)."""


def _check_halves(halves_by_rule: Mapping[str, np.ndarray], n_images: int, where: str) -> None:
    """Every rule's halves are bool [n_images, B]."""
    if not halves_by_rule:
        raise ValueError(f"{where}: no rule given")
    for rule, halves in halves_by_rule.items():
        h = np.asarray(halves)
        if h.dtype != bool or h.ndim != 2 or h.shape[0] != n_images:
            raise ValueError(f"{where}: the halves of rule {rule!r} must be bool [{n_images}, B], got {h.dtype} {h.shape}")


def table_i_rows(trained: Mapping[str, Any], test: pd.DataFrame, important: np.ndarray, rule: str,
                 device: str | torch.device = "cpu", progress: bool = True) -> pd.DataFrame:
    """Table I under one rule: per model (a :class:`~iqaxai.experiment.TrainedModel`), the PLCCs after zeroing
    each test image's important or trivial half (cached per model, weights and rule)."""
    mos = test["mos"].to_numpy()
    rows = []
    for name, run in trained.items():
        out = run_zeroing(run.model, name, test, important, run.fingerprint, rule,
                          image_size=run.input_size, device=device, progress=progress)
        rows.append({"model": run.display, **zeroing_row(out["original"], out["important zeroed"], out["trivial zeroed"], mos)})
    return pd.DataFrame(rows)


def table_i_by_rule(trained: Mapping[str, Any], test: pd.DataFrame, halves_by_rule: Mapping[str, np.ndarray],
                    device: str | torch.device = "cpu", progress: bool = True) -> pd.DataFrame:
    """Table I under every rule, one row per (rule, model) plus a "mean" row per rule; columns ``rule``,
    ``model``, :data:`TABLE_I_VALUES` and ``gap`` (trivial minus important, predicted): the larger, the more
    the important half carries the prediction."""
    _check_halves(halves_by_rule, len(test), "table_i_by_rule")
    parts = []
    for rule, important in halves_by_rule.items():
        part = table_i_rows(trained, test, important, rule, device, progress)
        mean = {"model": "mean", **part[TABLE_I_VALUES].mean().to_dict()}
        parts.append(pd.concat([part, pd.DataFrame([mean])], ignore_index=True).assign(rule=rule))
    table = pd.concat(parts, ignore_index=True)
    table["gap"] = table["trivial: predicted"] - table["important: predicted"]
    return table[["rule", "model", *TABLE_I_VALUES, "gap"]]


def table_ii_by_rule(halves_by_rule: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray],
                     thresholds: Iterable[int] = range(1, 6)) -> pd.DataFrame:
    """Table II under every rule: one row per (rule, measure) with the matching degree (%) at each threshold,
    from the halves [N, B] of each rule and each measure's region values [N, B]."""
    thresholds = list(thresholds)
    n = {np.asarray(v).shape[0] for v in values.values()}
    if len(n) != 1:
        raise ValueError(f"table_ii_by_rule: the measures' region values cover different numbers of images: {sorted(n)}")
    _check_halves(halves_by_rule, n.pop(), "table_ii_by_rule")
    rows = [{"rule": rule, "measure": measure,
             **{f"T={t}": v for t, v in matching_degree(halves, values[measure], thresholds).items()}}
            for rule, halves in halves_by_rule.items() for measure in values]
    return pd.DataFrame(rows)


def spread(table: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Per ``key`` (model or measure): the smallest and largest value of each column over the rules, and the range."""
    missing = [c for c in ["rule", key, *columns] if c not in table]
    if missing:
        raise ValueError(f"spread: the table lacks the column(s) {missing}")
    grouped = table.groupby(key, sort=False)[columns]
    low, high = grouped.min(), grouped.max()
    out = pd.concat({"min": low, "max": high, "range": high - low}, axis=1)
    return out.swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)
