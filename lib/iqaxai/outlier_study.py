"""The outlier study of the master thesis "Explainable AI for IQA" (Nguyen, NTNU 2023; Sec. 3.2, 4.1-4.2).

Five *pretrained* NR-IQA models (Table 4.1: :data:`THESIS_MODELS`) score four whole datasets (Table 4.2:
:data:`THESIS_DATASETS`); the three detectors of :mod:`iqaxai.outliers` (leave-one-out PLCC, RANSAC, logistic
mapping + 2 sigma) and their combination ("the outliers that are found by all three outlier detection methods",
Sec. 4.2.5) flag the images each model fails on, at 5 % and 30 % (Figs 4.3-4.8). This module holds the study's
bookkeeping:

- :func:`thesis_outlier_model` builds one thesis model for the paper profile, or raises :class:`SkipModel` with a
  one-line reason (pyiqa not installed, weights not cached, checkpoint file absent);
- :func:`outlier_flags` / :func:`outlier_table` run the detectors on every (model, dataset) and count the
  outliers and their directions; :func:`table_4_3` pivots the counts to the layout of the thesis's Table 4.3
  (compare with :func:`iqaxai.paper_results.thesis_table_4_3`);
- :func:`common_outliers` / :func:`common_outliers_by_dataset`: the images every model fails on (Fig. 4.12);
- :func:`gallery`: the under- and overestimated outliers ordered by the size of the miss (Figs 4.10-4.11).

Directions follow :func:`iqaxai.outliers.direction_counts`: an outlier is *underestimated* when its prediction,
mapped to the MOS scale by the 5-parameter logistic, is below the MOS, *overestimated* when above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike
from torch import nn

from iqaxai import outliers, stats
from iqaxai.paths import data_root

__all__ = [
    "THESIS_DATASETS",
    "THESIS_DATASET_NAMES",
    "THESIS_MODELS",
    "TABLE_4_3_MODELS",
    "SkipModel",
    "ThesisModel",
    "common_outliers",
    "common_outliers_by_dataset",
    "gallery",
    "outlier_flags",
    "outlier_table",
    "table_4_3",
    "thesis_model",
    "thesis_outlier_model",
]


@dataclass(frozen=True)
class ThesisModel:
    """One row of the thesis's Table 4.1 and how the paper profile obtains its pretrained weights."""

    key: str  # our name (the registry's where it has the model)
    display: str  # the name in Table 4.1
    table_name: str  # the column name in Table 4.3
    year: int
    trained_on: str
    type: str
    source: str  # "pyiqa" (pyiqa metric with its default checkpoint) or "checkpoint" (registry model + file)
    pyiqa_metric: str | None = None
    registry: str | None = None
    checkpoint: str | None = None  # path under the data root
    checkpoint_format: str = ""
    release: str = ""  # who published the weights, where


_HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights"
#: The authors' KonCept512 weights (subpic/koniq README, Keras/kutils, HDF5).
KONCEPT512_KERAS_FILE = "bsz32_i1[384,512,3]_lMSE_o1[1]_best_weights.h5"

#: Table 4.1, in its order. pyiqa's default checkpoints (``pyiqa.DEFAULT_CONFIGS``): ``cnniqa`` ->
#: ``pretrained='koniq10k'`` (CNNIQA_koniq10k-e6f14c91.pth), ``dbcnn`` -> ``pretrained='koniq'``
#: (DBCNN_KonIQ10k-254e8241.pth), ``musiq`` (= ``musiq-koniq``) -> ``pretrained='koniq10k'``
#: (musiq_koniq_ckpt-e95806b9.pth, Google's KonIQ-10k checkpoint converted). pyiqa has neither KonCept512 nor the
#: SPAQ baseline: those are our registry models with the authors' released weights.
THESIS_MODELS: dict[str, ThesisModel] = {
    m.key: m
    for m in (
        ThesisModel("cnniqa", "CNNIQA", "CNNIQA", 2014, "KonIQ-10k", "CNN", "pyiqa", pyiqa_metric="cnniqa",
                    release=f"pyiqa's CNNIQA trained on KonIQ-10k: {_HF} CNNIQA_koniq10k-e6f14c91.pth"),
        ThesisModel("dbcnn", "DBCNN", "DBCNN", 2020, "KonIQ-10k", "Bilinear CNN", "pyiqa", pyiqa_metric="dbcnn",
                    release=f"pyiqa's DBCNN trained on KonIQ-10k: {_HF} DBCNN_KonIQ10k-254e8241.pth"),
        ThesisModel("koncept512", "Koncept512", "KonIQ", 2020, "KonIQ-10k", "InceptionResNetv2", "checkpoint",
                    registry="koncept512", checkpoint="weights/koncept512/koncept512.pt",
                    checkpoint_format="PyTorch state dict of iqaxai's KonCept512 (timm inception_resnet_v2, head "
                                      "2048-1024-256-1; ScoreHead on 0-100), optionally under a 'state_dict' key",
                    release=f"the authors (subpic/koniq) release Keras/kutils HDF5 weights "
                            f"({KONCEPT512_KERAS_FILE}, Dropbox); they must be converted to the PyTorch format "
                            "first (no converter here)"),
        ThesisModel("spaq_baseline", "SPAQ", "SPAQ", 2020, "SPAQ", "ResNet-50", "checkpoint",
                    registry="spaq_baseline", checkpoint="weights/spaq/BL_release.pt",
                    checkpoint_format="h4nwei/SPAQ BL_release.pt: {'state_dict': torchvision ResNet50 keys under "
                                      "'backbone.', fc = Linear(2048, 1)} (iqaxai.models.baselines.load_spaq_release)",
                    release="h4nwei/SPAQ README: BL_release.pt on Google Drive "
                            "(https://drive.google.com/file/d/1pXjXAIItViTFs7qUBY-b11WY50mzoVM2/view)"),
        ThesisModel("musiq", "MUSIQ", "MUSIQ", 2021, "KonIQ-10k", "Transformer", "pyiqa", pyiqa_metric="musiq",
                    release=f"Google's MUSIQ KonIQ-10k checkpoint, converted by pyiqa: {_HF} "
                            "musiq_koniq_ckpt-e95806b9.pth"),
    )
}

#: Table 4.2: the datasets of the outlier study (our dataset keys, thesis order) and their printed names.
THESIS_DATASETS = ("koniq10k", "clive", "spaq", "tid2013")
THESIS_DATASET_NAMES = {"koniq10k": "KonIQ-10k", "clive": "CLIVE", "spaq": "SPAQ", "tid2013": "TID2013"}
#: The column order of Table 4.3 (its model names).
TABLE_4_3_MODELS = ("DBCNN", "CNNIQA", "SPAQ", "KonIQ", "MUSIQ")

Key = tuple[str, str]


class SkipModel(RuntimeError):
    """A thesis model that cannot be built here; ``str()`` is one line such as "MUSIQ skipped: <reason>"."""

    def __init__(self, model: str, reason: str):
        super().__init__(f"{model} skipped: {reason}")
        self.model, self.reason = model, reason


def thesis_model(name: str) -> ThesisModel:
    """The :class:`ThesisModel` of a key (``musiq``) or Table 4.1/4.3 name (``MUSIQ``, ``KonIQ``)."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    want = name.strip().lower().replace("-", "_")
    for m in THESIS_MODELS.values():
        if want in (m.key, m.display.lower(), m.table_name.lower()):
            return m
    raise ValueError(f"unknown thesis model {name!r}; known: {', '.join(THESIS_MODELS)}")


# ----------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a state dict (or a dict with a 'state_dict' entry)")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _koncept512(path: Path) -> nn.Module:
    from iqaxai.models import create_model

    try:
        model = create_model("koncept512", backbone="inception_resnet_v2", pretrained=False)
    except ImportError as err:
        raise SkipModel("Koncept512", f"timm is not installed ({err})") from err
    try:
        model.load_state_dict(_state_dict(path), strict=True)
    except RuntimeError as err:
        fmt = THESIS_MODELS["koncept512"].checkpoint_format
        raise ValueError(f"{path} does not fit: expected a {fmt}; {err}") from err
    return model


def _spaq_baseline(path: Path) -> nn.Module:
    from iqaxai.models.baselines import SPAQBaseline, load_spaq_release

    # the authors' test protocol: mean over 224x224 patches at stride 112 (after the shorter side -> 512)
    return load_spaq_release(SPAQBaseline("resnet50", pretrained=False, patch_eval=True), path)


def _missing_weights_reason(m: ThesisModel, path: Path) -> str:
    reason = f"weights file {path.name} not found at {path}"
    keras = path.parent / KONCEPT512_KERAS_FILE
    if m.key == "koncept512" and keras.is_file():
        return (f"{reason}; found the authors' Keras weights {keras}, which must first be converted to a "
                f"{m.checkpoint_format}")
    return f"{reason} (expected format: {m.checkpoint_format}; source: {m.release})"


def thesis_outlier_model(name: str, *, root: str | Path | None = None, checkpoint: str | Path | None = None,
                         device: str | torch.device | None = None) -> nn.Module:
    """One pretrained thesis model (paper profile) in eval mode, or :class:`SkipModel` with a one-line reason.

    pyiqa-backed models (CNNIQA, DBCNN, MUSIQ) are :class:`~iqaxai.models.pyiqa_adapter.PyiqaModel` with pyiqa's
    default (KonIQ-10k) checkpoint; they are skipped when pyiqa is not installed or the weights are neither cached
    nor downloadable. KonCept512 and the SPAQ baseline are registry models loaded from ``checkpoint`` (default:
    their :attr:`ThesisModel.checkpoint` under the data root ``root`` / ``$IQAXAI_DATA`` / ``data/``); they are
    skipped when the file is absent. A file that exists but does not fit raises a ValueError. Scores are each
    model's own scale (the detectors fit a logistic mapping to the MOS, so scales do not matter).
    """
    m = thesis_model(name)
    if m.source == "pyiqa":
        from iqaxai.models import pyiqa_adapter

        try:
            model: nn.Module = pyiqa_adapter.PyiqaModel(m.pyiqa_metric, device=device)
        except ImportError as err:
            raise SkipModel(m.display, str(err) or "pyiqa is not installed") from err
        except RuntimeError as err:  # weights not cached and no network, missing dependency
            raise SkipModel(m.display, " ".join(str(err).split())) from err
        return model.eval()
    path = Path(checkpoint) if checkpoint is not None else data_root(root) / m.checkpoint
    if not path.is_file():
        raise SkipModel(m.display, _missing_weights_reason(m, path))
    model = _koncept512(path) if m.key == "koncept512" else _spaq_baseline(path)
    if device is not None:
        model = model.to(device)
    return model.eval()


# ----------------------------------------------------------------------------------------------------
# Detection and counts
# ----------------------------------------------------------------------------------------------------


def _check_key(key) -> Key:
    if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise ValueError(f"keys of preds must be (model, dataset) string pairs, got {key!r}")
    return key


def _vector(a: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    return arr


def _check_entry(key, entry) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated (pred, mos, sd or None) of one (model, dataset)."""
    model, dataset = _check_key(key)
    where = f"preds[({model!r}, {dataset!r})]"
    if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
        raise ValueError(f"{where} must be (pred, mos) or (pred, mos, sd), got {type(entry).__name__}")
    pred, mos = _vector(entry[0], f"{where} pred"), _vector(entry[1], f"{where} mos")
    if pred.size != mos.size:
        raise ValueError(f"{where}: pred and mos differ in length ({pred.size} vs {mos.size})")
    for arr, what in ((pred, "pred"), (mos, "mos")):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{where}: {what} has {bad.size} NaN/inf value(s), first at position {bad[0]}")
    sd = entry[2] if len(entry) == 3 else None
    if sd is not None:
        sd = _vector(sd, f"{where} sd")
        if sd.size != mos.size:
            raise ValueError(f"{where}: sd and mos differ in length ({sd.size} vs {mos.size})")
        if np.all(np.isnan(sd)):  # a dataset without per-image SD (SPAQ)
            sd = None
    return pred, mos, sd


def _check_preds(preds: Mapping) -> dict[Key, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    if not isinstance(preds, Mapping) or not preds:
        raise ValueError("preds must be a non-empty mapping (model, dataset) -> (pred, mos, sd or None)")
    return {key: _check_entry(key, entry) for key, entry in preds.items()}


def outlier_flags(preds: Mapping, top_percent: float = 5.0, **detect_kw) -> dict[Key, pd.DataFrame]:
    """:func:`iqaxai.outliers.detect_all` for every (model, dataset) of ``preds`` at ``top_percent``.

    ``preds`` maps (model, dataset) to (pred, mos, sd or None), one value per image (sd on the MOS scale;
    None or all-NaN: the logistic 2-sigma method is left out, and "combined" needs the remaining two).
    """
    checked = _check_preds(preds)
    return {key: outliers.detect_all(p, m, s, top_percent=top_percent, **detect_kw)
            for key, (p, m, s) in checked.items()}


#: Columns of :func:`outlier_table`.
OUTLIER_TABLE_COLUMNS = ["model", "dataset", "top_percent", "method", "n_images", "n_methods", "outliers",
                         "under", "over"]


def outlier_table(preds: Mapping, top_percents: Sequence[float] = (5, 30), **detect_kw) -> pd.DataFrame:
    """Number of outliers, under- and overestimated, per (model, dataset, top %, method), one row each.

    ``method`` is each of detect_all's methods (``loo_plcc``, ``ransac``, ``logistic_2sigma`` where the dataset
    has an SD) and ``combined`` (flagged by all of them; ``n_methods`` says how many that is). ``attrs["skipped"]``
    maps (model, dataset) to the methods left out and why.
    """
    if isinstance(top_percents, (int, float)):
        top_percents = (top_percents,)
    if not top_percents:
        raise ValueError("top_percents is empty")
    checked = _check_preds(preds)
    rows, skipped = [], {}
    for (model, dataset), (pred, mos, sd) in checked.items():
        mapped = stats.map_logistic(pred, mos)
        for p in top_percents:
            flags = outliers.detect_all(pred, mos, sd, top_percent=p, **detect_kw)
            if flags.attrs["skipped"]:
                skipped[(model, dataset)] = dict(flags.attrs["skipped"])
            methods = list(flags.attrs["methods"])
            for method in methods + ["combined"]:
                counts = outliers.direction_counts(pred, mos, flags[method].to_numpy(), mapped=mapped)
                rows.append({"model": model, "dataset": dataset, "top_percent": float(p), "method": method,
                             "n_images": int(pred.size), "n_methods": len(methods), "outliers": counts["total"],
                             "under": counts["under"], "over": counts["over"]})
    table = pd.DataFrame(rows, columns=OUTLIER_TABLE_COLUMNS)
    table.attrs["skipped"] = skipped
    return table


def _label(name: str, kind: str) -> str:
    """Table 4.3 label of a model (``table_name``) or dataset (printed name); other names unchanged."""
    if kind == "model":
        try:
            return thesis_model(name).table_name
        except ValueError:
            return name
    return THESIS_DATASET_NAMES.get(name, name)


def _ordered(labels: Iterable[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(labels))
    return [x for x in preferred if x in seen] + [x for x in seen if x not in preferred]


def table_4_3(long: pd.DataFrame, top_percent: float = 5, method: str = "combined") -> pd.DataFrame:
    """The thesis's Table 4.3 layout from :func:`outlier_table`: rows datasets, columns (model, Under/Over).

    Rows and columns use the thesis's names and order (KonIQ-10k, CLIVE, SPAQ, TID2013; DBCNN, CNNIQA, SPAQ,
    KonIQ, MUSIQ), others follow; a missing (model, dataset) is <NA>. Same layout as
    :func:`iqaxai.paper_results.thesis_table_4_3`.
    """
    missing = [c for c in OUTLIER_TABLE_COLUMNS if c not in getattr(long, "columns", [])]
    if missing:
        raise ValueError(f"long must be an outlier_table() result; missing columns: {', '.join(missing)}")
    sel = long[(long["top_percent"] == float(top_percent)) & (long["method"] == method)]
    if sel.empty:
        raise ValueError(f"no rows for top_percent={top_percent} and method={method!r}; the table has top % "
                         f"{sorted(long['top_percent'].unique())} and methods {sorted(long['method'].unique())}")
    sel = sel.assign(model=[_label(x, "model") for x in sel["model"]],
                     dataset=[_label(x, "dataset") for x in sel["dataset"]])
    dup = sel.duplicated(["model", "dataset"])
    if dup.any():
        first = sel[dup].iloc[0]
        raise ValueError(f"more than one row for model {first['model']!r} on {first['dataset']!r}")
    models = _ordered(sel["model"], TABLE_4_3_MODELS)
    datasets = _ordered(sel["dataset"], [THESIS_DATASET_NAMES[d] for d in THESIS_DATASETS])
    columns = pd.MultiIndex.from_product([models, ["Under", "Over"]], names=["model", "direction"])
    out = pd.DataFrame(pd.NA, index=pd.Index(datasets, name="dataset"), columns=columns, dtype="Int64")
    for row in sel.itertuples():
        out.loc[row.dataset, (row.model, "Under")] = row.under
        out.loc[row.dataset, (row.model, "Over")] = row.over
    return out.astype("int64") if not out.isna().any().any() else out


# ----------------------------------------------------------------------------------------------------
# Common outliers and galleries
# ----------------------------------------------------------------------------------------------------


def _flag_vector(flags, what: str, column: str) -> np.ndarray:
    if isinstance(flags, pd.DataFrame):
        if column not in flags.columns:
            raise ValueError(f"{what}: a flags table without a {column!r} column")
        flags = flags[column]
    a = np.asarray(flags)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    if a.dtype != bool:
        if a.dtype.kind not in "iuf" or not np.all(np.isin(a, (0, 1))):
            raise ValueError(f"{what} must be boolean (or 0/1)")
        a = a.astype(bool)
    return a


def common_outliers(flags_by_model: Mapping[str, ArrayLike], column: str = "combined") -> np.ndarray:
    """Positions (ascending) of the images flagged by every model (the thesis's Fig. 4.12).

    Values are bool arrays over the same images in the same order, or :func:`outlier_flags` tables (their
    ``column``). Lengths must agree; pandas objects must also carry the same index.
    """
    if not isinstance(flags_by_model, Mapping) or not flags_by_model:
        raise ValueError("flags_by_model must be a non-empty mapping model -> flags")
    vectors = {m: _flag_vector(f, f"flags of {m!r}", column) for m, f in flags_by_model.items()}
    sizes = {m: v.size for m, v in vectors.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"flags do not align: lengths differ {sizes}")
    indexes = {m: f.index for m, f in flags_by_model.items() if isinstance(f, (pd.Series, pd.DataFrame))}
    if indexes:
        first_model, first = next(iter(indexes.items()))
        for m, idx in indexes.items():
            if not idx.equals(first):
                raise ValueError(f"flags do not align: the index of {m!r} differs from that of {first_model!r}")
    return np.flatnonzero(np.logical_and.reduce(list(vectors.values())))


def common_outliers_by_dataset(flags: Mapping[Key, ArrayLike], models: Sequence[str] | None = None,
                               column: str = "combined") -> dict[str, np.ndarray]:
    """:func:`common_outliers` per dataset of ``{(model, dataset): flags}``.

    ``models`` (default: every model in ``flags``) must all be present on every dataset.
    """
    if not isinstance(flags, Mapping) or not flags:
        raise ValueError("flags must be a non-empty mapping (model, dataset) -> flags")
    keys = [_check_key(k) for k in flags]
    wanted = list(models) if models is not None else list(dict.fromkeys(m for m, _ in keys))
    out = {}
    for dataset in dict.fromkeys(d for _, d in keys):
        absent = [m for m in wanted if (m, dataset) not in flags]
        if absent:
            raise ValueError(f"dataset {dataset!r} has no flags for model(s) {', '.join(absent)}")
        out[dataset] = common_outliers({m: flags[(m, dataset)] for m in wanted}, column=column)
    return out


def gallery(pred: ArrayLike, mos: ArrayLike, flags: ArrayLike, n: int,
            mapped: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` underestimated and ``n`` overestimated outliers, largest miss first (Figs 4.10-4.11).

    The miss is ``MOS - Prediction'`` with Prediction' the logistic-mapped prediction (or ``mapped``). Under =
    Prediction' below the MOS (the model rates the image worse than people do), as in
    :func:`iqaxai.outliers.direction_counts` and Table 4.3. The thesis's captions put the underestimated images in
    the top row and the overestimated in the bottom row, but its text says the top row shows "underestimated
    predictions, in which the objective scores are higher than the subjective score", which would be
    overestimation; we follow the word "underestimated" (and Sec. 4.2.2: overestimated points lie bottom-right,
    high prediction and low MOS). Returns (under_indices, over_indices).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    x, y = stats._validate(pred, mos, names=("pred", "mos"), min_items=5)
    f = _flag_vector(flags, "flags", "combined")
    if f.size != x.size:
        raise ValueError(f"flags and mos differ in length ({f.size} vs {x.size})")
    if mapped is None:
        m = stats.map_logistic(x, y)
    else:
        m = _vector(mapped, "mapped")
        if m.size != x.size or not np.all(np.isfinite(m)):
            raise ValueError(f"mapped must be {x.size} finite values")
    miss = y - m
    under = np.flatnonzero(f & (miss > 0))
    over = np.flatnonzero(f & (miss < 0))
    under = under[np.argsort(-miss[under], kind="stable")][:n]
    over = over[np.argsort(miss[over], kind="stable")][:n]
    return under, over


# ----------------------------------------------------------------------------------------------------
# The models a notebook runs, their predictions, and the outliers handed on to the explanations
# ----------------------------------------------------------------------------------------------------


@dataclass
class Scorer:
    """One model as the outlier and perturbation notebooks use it: trained here or as its authors released it."""

    name: str
    display: str
    model: nn.Module
    input_size: tuple[int, int] | None  # (H, W) the images are resized to (aspect kept); None: stored size
    fingerprint: str  # identifies the weights in cache keys
    released: bool

    def images(self, rows: pd.DataFrame, column: str = "path", device: str | torch.device = "cpu") -> torch.Tensor:
        """The images of ``rows`` at this model's input size, on ``device``."""
        from iqaxai.data.images import load_batch

        return load_batch(list(rows[column]), self.input_size).to(device)


def trained_models(study, models: Sequence[str], spaq_dataset: str | None = None) -> dict[str, object]:
    """``study.models(models)``, with the SPAQ baseline trained on ``spaq_dataset`` (the thesis' model was trained on
    SPAQ) when given and different from the study's own dataset."""
    from iqaxai.experiment import Study

    own = [m for m in models if m != "spaq_baseline" or spaq_dataset in (None, study.dataset)]
    trained = dict(study.models(own)) if own else {}
    if len(own) < len(models):
        spaq = Study(study.profile, spaq_dataset, study.data_root, study.device, study.seed, study.weights, study.epochs)
        trained["spaq_baseline"] = spaq.model("spaq_baseline")
    return {m: trained[m] for m in models}


def thesis_scorers(trained: Mapping[str, object], released: Sequence[str], *, root: str | Path | None = None,
                   device: str | torch.device | None = None, released_size: tuple[int, int] | None = None,
                   report=print) -> dict[str, Scorer]:
    """The models of a thesis notebook: ``trained`` (name -> :class:`~iqaxai.experiment.TrainedModel`), then each
    name in ``released`` as its authors released it (:func:`thesis_outlier_model`), which replaces a trained model
    of the same name; a released model that cannot be built is left out with ``report``'s one line."""
    from iqaxai.experiment import model_fingerprint

    scorers = {name: Scorer(name, run.display, run.model, run.input_size, run.fingerprint, False)
               for name, run in trained.items()}
    for name in released:
        m = thesis_model(name)
        try:
            model = thesis_outlier_model(m.key, root=root, device=device)
        except SkipModel as skip:
            report(str(skip))
            continue
        size = tuple(released_size) if released_size is not None else None
        scorers[m.key] = Scorer(m.key, m.display, model, size, model_fingerprint(model), True)
    if not scorers:
        raise ValueError("no model to run: every released model was skipped and none was trained")
    return scorers


def predictions(scorers: Mapping[str, Scorer], tables: Mapping[str, pd.DataFrame], device: str | torch.device = "cpu",
                batch_size: int = 32, progress: bool = True) -> dict[Key, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(pred, mos, sd or None) of every scorer on every dataset table, for :func:`outlier_table`; cached per
    (weights, images, input size). A model at the images' stored size runs one image at a time (sizes differ)."""
    from iqaxai.results import ResultsCache, config_key
    from iqaxai.training import predict

    out = {}
    for dataset, table in tables.items():
        if table.empty:
            raise ValueError(f"the {dataset} table has no images")
        mos = _vector(table["mos"], f"MOS of {dataset}")
        sd = table["sd"].to_numpy(dtype=float) if "sd" in table and table["sd"].notna().any() else None
        for name, s in scorers.items():
            cache = ResultsCache("thesis_predictions", {"model": name, "weights": s.fingerprint, "size": s.input_size,
                                                        "images": config_key({"paths": table["path"].astype(str).tolist()})})
            batch = batch_size if s.input_size is not None else 1
            done = cache.map(lambda _: {"pred": predict(s.model, table, batch_size=batch, device=device,
                                                        image_size=s.input_size)},
                             [("all", None)], desc=f"{s.display} on {dataset}", progress=progress)
            out[(name, dataset)] = (done["all"]["pred"], mos, sd)
    return out


CONSENSUS_COLUMNS = ["dataset", "image", "mos", "n_models", "of_models", "models", "direction"]


def outlier_consensus(flags: Mapping[Key, pd.DataFrame], preds: Mapping[Key, tuple], tables: Mapping[str, pd.DataFrame],
                      column: str = "combined") -> pd.DataFrame:
    """Every image that at least one model flags (``column``), with how many models flag it, which, and the
    direction (over / under / mixed) of their misses, most-flagged first (then by MOS). ``n_models == of_models``
    are the outliers common to all models (Fig. 4.12); the table hands them to the explanations of notebook 07
    (:func:`outliers_to_explain`). Images are named as in their dataset's table, not by a path on this machine."""
    rows = []
    for dataset, table in tables.items():
        keys = [k for k in flags if k[1] == dataset]
        if not keys:
            continue
        common_outliers({m: flags[(m, d)] for m, d in keys}, column=column)  # refuses flags that do not align
        hits = np.vstack([_flag_vector(flags[k], f"flags of {k}", column) for k in keys])
        over = np.vstack([stats.map_logistic(preds[k][0], preds[k][1]) > preds[k][1] for k in keys])
        for i in np.flatnonzero(hits.any(0)):
            who = [k[0] for k, hit in zip(keys, hits[:, i]) if hit]
            ways = {"over" if over[j, i] else "under" for j in np.flatnonzero(hits[:, i])}
            rows.append({"dataset": dataset, "image": str(table["image"].iloc[i]), "mos": float(table["mos"].iloc[i]),
                         "n_models": len(who), "of_models": len(keys), "models": " ".join(who),
                         "direction": ways.pop() if len(ways) == 1 else "mixed"})
    table = pd.DataFrame(rows, columns=CONSENSUS_COLUMNS)
    return table.sort_values(["n_models", "mos"], ascending=[False, True], kind="stable").reset_index(drop=True)


def outliers_to_explain(consensus: pd.DataFrame | str | Path, n: int, tables: Mapping[str, pd.DataFrame] | None = None,
                        root: str | Path | None = None) -> pd.DataFrame:
    """The ``n`` most-flagged images of an :func:`outlier_consensus` table (or its CSV), for the explanations, with
    each image's ``path`` on this machine: from ``tables`` (dataset name as in the consensus -> its table with
    ``image`` and ``path``), else from the thesis dataset of that name (:data:`THESIS_DATASET_NAMES`) under
    ``root``."""
    table = pd.read_csv(consensus) if isinstance(consensus, (str, Path)) else consensus
    missing = [c for c in CONSENSUS_COLUMNS if c not in table]
    if missing:
        raise ValueError(f"not an outlier consensus table (notebook 06's 06_outlier_consensus): missing {missing}")
    if table.empty:
        raise ValueError("the outlier consensus table is empty: no model flagged any image")
    picked = table.head(n).reset_index(drop=True).astype({"image": str})
    keys = {name: key for key, name in THESIS_DATASET_NAMES.items()}
    paths = []
    for dataset, part in picked.groupby("dataset", sort=False):
        if tables is not None and dataset in tables:
            source = tables[dataset]
        elif dataset in keys:
            from iqaxai.data import load_dataset

            source = load_dataset(keys[dataset], root=root)
        else:
            raise ValueError(f"the consensus names the dataset {dataset!r}: give its table (tables has "
                             f"{sorted(tables or {})}) or use one of {sorted(keys)}")
        where = pd.Series(source["path"].astype(str).to_numpy(), index=source["image"].astype(str))
        if where.index.has_duplicates:
            raise ValueError(f"the {dataset} table names an image twice: its images cannot be told apart by name")
        absent = sorted(set(part["image"]) - set(where.index))
        if absent:
            raise ValueError(f"{len(absent)} image(s) of the consensus are not in the {dataset} table, e.g. {absent[0]!r}: "
                             "was notebook 06 run on other data?")
        paths.append(pd.Series(where[part["image"]].to_numpy(), index=part.index))
    return picked.assign(path=pd.concat(paths).sort_index())
