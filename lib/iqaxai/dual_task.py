"""Table II of *Bridging the Gap Between Saliency Prediction and IQA* (Section III-C): the Baseline trained for
IQA alone beside the two dual-task Baselines (:mod:`iqaxai.models.dual_task`), over repeated random splits.

Protocol (the paper): a random 80 % of the IQA set trains, the other 20 % tests, repeated over seeds (10 in the
paper) and reported as mean and standard deviation. The validation part that picks the best epoch is taken from
the 80 % (:func:`seed_split`; a tenth of the set by default), never from the test part. The saliency target of an
IQA image is a map in a table column (:data:`SALIENCY_COLUMN`): the demo world's planted fixation density, or a
folder of proxy maps a reviewer provides (the paper used MSINet output on KonIQ-10k; :func:`with_saliency_maps`).

Per seed and method (:func:`evaluate_seed`): IQA SROCC/PLCC on the test part and on every cross-dataset table
(the paper: CLIVE), and the saliency metrics of the method's saliency output on every saliency set: the Baseline's
HiResCAM (Section III-A's extraction), the dual-task models' own saliency output (the decoder's map, or the
model's Grad-CAM). The demo world's saliency set is the seed's own test scenes (:func:`saliency_parts` of the
seed's table), so a dual-task model is never scored on fixations it was trained on.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from iqaxai.data.splits import seeded_split
from iqaxai.experiment import Study, TrainedModel
from iqaxai.models import display_name
from iqaxai.saliency_eval import (MapSource, evaluate, fixed_source, hirescam_source, load_stretched, mean_density,
                                  saliency_parts)
from iqaxai.saliency_metrics import center_prior_map, fit_center_prior
from iqaxai.training import (TrainJob, evaluate as iqa_metrics, predict, train_in_parallel, train_or_load,
                             training_workers)

#: The three methods of Table II (registry names): the IQA-only Baseline and the two dual-task Baselines.
METHODS = ("saliency_baseline", "baseline_sal_loss", "baseline_gradcam_loss")
DUAL_TASK = ("baseline_sal_loss", "baseline_gradcam_loss")
#: The table column holding each training image's saliency map.
SALIENCY_COLUMN = "saliency_map"
CENTER_PRIOR = "Center Prior"


def seed_split(table: pd.DataFrame, seed: int, test: float = 0.2, val: float = 0.1, group: str | None = None) -> pd.DataFrame:
    """``table`` with a new random ``split``: ``test`` of it for testing, ``val`` (taken from the training part)
    for picking the best epoch, the rest for training; rows sharing ``group`` (e.g. a reference scene) stay together."""
    if not (0 < test < 1 and 0 < val < 1 and test + val < 1):
        raise ValueError(f"test and val must be fractions with test + val < 1, got {test} and {val}")
    groups = table[group].to_numpy() if group else None
    return table.assign(split=seeded_split(len(table), (1 - test - val, val, test), seed=seed, groups=groups))


def with_saliency_maps(table: pd.DataFrame, folder: str | Path | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """``table`` with :data:`SALIENCY_COLUMN`: ``<folder>/<image stem>.png`` per image (a relative ``folder`` is
    taken under the data ``root``), or without ``folder`` the demo world's fixation density (column
    ``fixation_map``). Missing maps are an error naming them."""
    if folder is None:
        if "fixation_map" not in table:
            raise ValueError("this IQA set has no saliency maps of its own: pass the folder of proxy maps "
                             "(e.g. MSINet output, <folder>/<image stem>.png)")
        return table.assign(**{SALIENCY_COLUMN: table["fixation_map"]})
    folder = Path(folder)
    if not folder.is_absolute() and root is not None:
        folder = Path(root) / folder
    if not folder.is_dir():
        raise FileNotFoundError(f"saliency map folder {folder} does not exist (expected <image stem>.png per image)")
    paths = [folder / f"{Path(p).stem}.png" for p in table["path"]]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(paths)} saliency maps are missing in {folder} "
                                f"(first: {', '.join(missing[:3])})")
    return table.assign(**{SALIENCY_COLUMN: [str(p) for p in paths]})


def _job(study: Study, name: str, table: pd.DataFrame, seed: int, sal_weight: float | None) -> TrainJob:
    key, overrides, config = study.training(name)
    dual = key in DUAL_TASK
    config = replace(config, seed=seed, saliency_column=SALIENCY_COLUMN if dual else None)
    if dual and sal_weight is not None:
        overrides = {**overrides, "sal_weight": float(sal_weight)}
    return TrainJob(key, study.profile, table, overrides, config)


def train_seed(study: Study, table: pd.DataFrame, seed: int, methods: tuple[str, ...] = METHODS,
               sal_weight: float | None = None, progress: bool = True) -> dict[str, TrainedModel]:
    """Every method trained on the seed's split of ``table`` (side by side on a CPU; cached by configuration);
    ``sal_weight``: the dual-task models' saliency-loss weight (None: :data:`~iqaxai.models.dual_task.SAL_WEIGHT`)."""
    jobs = [_job(study, m, table, seed, sal_weight) for m in methods]
    workers = training_workers(len(jobs), study.device)
    if workers > 1:
        train_in_parallel(jobs, workers, progress=progress)
    out = {}
    for job in jobs:
        model, result = train_or_load(job.name, job.profile, job.table, job.model_kwargs, job.config, study.device,
                                      progress=progress)
        out[job.name] = TrainedModel(job.name, model.to(study.dev).eval(), result, job.config)
    return out


def seed_runs(study: Study, seed: int, proxy_maps: str | Path | None = None, root: str | Path | None = None,
              sal_weight: float | None = None, methods: tuple[str, ...] = METHODS,
              progress: bool = True) -> tuple[pd.DataFrame, dict[str, TrainedModel]]:
    """One seed of the protocol: the study's table with its saliency maps (:func:`with_saliency_maps`) and the
    seed's split (whole scenes on the demo world), and the methods trained on it (:func:`train_seed`)."""
    table = seed_split(with_saliency_maps(study.table, proxy_maps, root), seed, group="ref_img" if study.is_demo else None)
    return table, train_seed(study, table, seed, tuple(methods), sal_weight, progress)


def saliency_source(run: TrainedModel, device: torch.device) -> MapSource:
    """A method's saliency output as a map source: a dual-task model's own map, the Baseline's HiResCAM."""
    model = run.model
    if not getattr(model, "dual_task", False):
        return hirescam_source(model, run.input_size, device)

    def maps(rows: pd.DataFrame) -> np.ndarray:
        paths = list(rows["path"])
        from iqaxai.data.images import load_batch

        images = load_batch(paths, None) if run.input_size is None else load_stretched(paths, run.input_size)
        return model.predicted_saliency(images.to(device))[:, 0].float().cpu().numpy()

    return maps


def center_prior_source(parts: dict[str, pd.DataFrame], truth: str) -> MapSource:
    """The paper's CenterPrior: a Gaussian fitted to the mean fixation density of the set's training part."""
    return fixed_source(center_prior_map(fit_center_prior(mean_density(parts["prior"], truth)[None])))


def saliency_set(name: str, table: pd.DataFrame | None = None, seed: int = 0, root: str | None = None,
                 n_table: int | None = None) -> tuple[dict[str, pd.DataFrame], MapSource]:
    """A saliency set's parts (:func:`~iqaxai.saliency_eval.saliency_parts`; ``demo``: the scenes of ``table``'s
    split, so a seed's test scenes) and its fitted centre prior. No transforms are fitted for Table II."""
    parts = saliency_parts(name, table, root, seed, n_transform=1, n_table=n_table)
    return parts, center_prior_source(parts, name)


def evaluate_seed(runs: dict[str, TrainedModel], table: pd.DataFrame, seed: int, device: torch.device,
                  cross: dict[str, pd.DataFrame] | None = None,
                  saliency: dict[str, tuple[dict[str, pd.DataFrame], MapSource]] | None = None,
                  extra_sources: dict[str, dict[str, MapSource]] | None = None, test_name: str = "test") -> pd.DataFrame:
    """Long table (seed, method, task, dataset, metric, value) of one seed: IQA SROCC/PLCC on the seed's test part
    (named ``test_name``) and on each ``cross`` table; NSS/SIM/CC/KLD on each saliency set (name -> (parts, centre
    prior) of :func:`saliency_set`) of the centre prior, every method's saliency output and ``extra_sources``
    (set name -> {name: map source}, e.g. a saliency model's maps)."""
    rows = []
    test = table[table["split"] == "test"]
    for run in runs.values():
        for name, part in {test_name: test, **(cross or {})}.items():
            scores = predict(run.model, part, device=device, image_size=run.input_size)
            metrics = iqa_metrics(scores, part["mos"].to_numpy(float))
            rows += [(seed, run.display, "IQA", name, m.upper(), v) for m, v in metrics.items()]
    for set_name, (parts, prior) in (saliency or {}).items():
        sources = {CENTER_PRIOR: prior, **{run.display: saliency_source(run, device) for run in runs.values()},
                   **(extra_sources or {}).get(set_name, {})}
        scored = evaluate(sources, parts["table"], set_name)
        for _, r in scored.iterrows():
            rows += [(seed, r["method"], "saliency", set_name, m, float(r[m])) for m in ("NSS", "SIM", "CC", "KLD")]
    return pd.DataFrame(rows, columns=["seed", "method", "task", "dataset", "metric", "value"])


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and number of seeds per (method, task, dataset, metric); the centre prior,
    the same map in every seed up to its fit, is averaged like the rest."""
    grouped = per_seed.groupby(["method", "task", "dataset", "metric"], sort=False)["value"]
    out = grouped.agg(mean="mean", std="std", seeds="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def table_ii(summary: pd.DataFrame, order: tuple[str, ...] = ()) -> pd.DataFrame:
    """Table II layout: one row per method, one column per (dataset, metric) with ``mean ± std``."""
    cells = summary.assign(cell=[f"{m:.3f} ± {s:.3f}" for m, s in zip(summary["mean"], summary["std"])])
    wide = cells.pivot(index="method", columns=["dataset", "metric"], values="cell")
    wide = wide[list(dict.fromkeys(zip(summary["dataset"], summary["metric"])))]
    methods = [m for m in (CENTER_PRIOR, *(display_name(o) for o in order)) if m in wide.index]
    return wide.reindex(methods + [m for m in wide.index if m not in methods]).fillna("-")


#: Our dataset labels -> the columns of the paper's Table II (the demo world has none).
PAPER_DATASETS = {"KonIQ-10k test": "KonIQ-10k", "CLIVE": "CLIVE", "salicon": "SALICON", "cat2000": "CAT2000"}


def beside_paper(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`summarise`'s rows with the paper's Table II value where the method and dataset have one (else NaN)."""
    from iqaxai.paper_results import saliency_table_ii

    paper = saliency_table_ii()
    values = []
    for method, dataset, metric in zip(summary["method"], summary["dataset"], summary["metric"]):
        column = (PAPER_DATASETS.get(dataset), metric)
        values.append(float(paper.loc[method, column]) if method in paper.index and column in paper.columns else np.nan)
    return summary.assign(paper=values)


def write_stand_in_maps(table: pd.DataFrame, folder: str | Path) -> Path:
    """Write a stand-in saliency map per image of ``table`` (``<folder>/<image stem>.png``: a centred Gaussian,
    64x64 grey), for runs where no saliency model's maps exist (the paper dry run's miniatures). Not data."""
    from PIL import Image

    from iqaxai.saliency_metrics import gaussian_center_prior

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    blob = (gaussian_center_prior((64, 64), width=0.25) * 255).round().astype(np.uint8)
    for path in table["path"]:
        Image.fromarray(blob).save(folder / f"{Path(path).stem}.png")
    return folder
