"""The study every experiment notebook starts from: one owner of the experiment state.

``Study(profile, dataset, data_root, device, seed, weights)`` holds the profile's image table and its data
source (demo world, real data, or the paper dry run), the planted truth where the demo world knows it, the
trained models (trained once by notebook 01, loaded from the cache afterwards), the canonical masked-TRIQ
sweep and its halves, and where its tables and figures go. Notebooks hold parameters, narrative and plots.

- ``profile="smoke"``: the embedded demo world, small randomly initialised backbones, CPU, offline.
- ``profile="paper"``: a real dataset (``koniq10k``, ``spaq`` ...), the papers' architectures with their
  pretrained weights at the papers' input sizes and schedules.
- ``profile="paper", weights="random"``: the **dry run**: the same architectures randomly initialised (never
  downloaded), on whatever data the root holds (CI: miniatures in the official layouts); every table and
  figure says so; training stops after one optimiser step per epoch (:data:`DRY_RUN_SCHEDULE`). ``epochs``
  cuts every schedule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from iqaxai.grid import Grid
from iqaxai.models import TABLE_I_MODELS, display_name, get_spec
from iqaxai.models.base import IQAModel
from iqaxai.profiles import check_profile, check_weights
from iqaxai.report import output_folder, provenance, save_figure, save_table
from iqaxai.runtime import resolve_device
from iqaxai.training import (TrainConfig, TrainJob, TrainResult, is_trained, train_config, train_in_parallel,
                             train_or_load, training_workers)

#: The dry run exercises every training path but trains one optimiser step of two images per epoch, in the main
#: process, after setting the random backbones' BatchNorm statistics from the training images (else an untrained
#: InceptionResNetV2 gives every image the same features and every correlation is undefined).
DRY_RUN_SCHEDULE = {"max_steps": 1, "batch_size": 2, "eval_batch_size": 4, "num_workers": 0, "recalibrate_bn": True}
#: Datasets whose loader offers the quality- and complexity-stratified split (the others: seeded, by reference).
STRATIFIED = ("koniq10k", "spaq")
#: Display names of the datasets a study can run on.
DATASET_NAMES = {"koniq10k": "KonIQ-10k", "spaq": "SPAQ", "clive": "CLIVE", "kadid10k": "KADID-10k", "tid2013": "TID2013"}


@dataclass
class TrainedModel:
    """A trained model with its training outcome and configuration."""

    name: str
    model: IQAModel
    result: TrainResult
    config: TrainConfig

    @property
    def display(self) -> str:
        """The papers' name of the model."""
        return display_name(self.name)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(H, W) the model runs at (None: the images' stored size)."""
        return self.config.image_size

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the weights: identifies the model in result-cache keys."""
        return model_fingerprint(self.model)


def model_fingerprint(model: torch.nn.Module) -> str:
    """16-hex-digit sha256 of a model's state dict (names, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Outputs:
    """Where a run's tables and figures go, and the provenance they carry."""

    folder: Path
    source: str

    def save_table(self, table: pd.DataFrame, name: str, caption: str, **kwargs) -> Path:
        """``tables/<name>.csv`` and ``.md`` in this run's folder, captioned with the provenance."""
        return save_table(table, name, caption, self.source, folder=self.folder, **kwargs)

    def save_figure(self, fig, name: str, title: str, **kwargs) -> Path:
        """``figures/<name>.png`` in this run's folder, titled with the provenance."""
        return save_figure(fig, name, title, self.source, folder=self.folder, **kwargs)


@dataclass
class Study:
    """The experiment state shared by the notebooks (see the module docstring)."""

    profile: str = "smoke"
    dataset: str = "koniq10k"
    data_root: str | None = None
    device: str = "auto"
    seed: int = 0
    weights: str = "pretrained"
    epochs: int | None = None
    grid: Grid = (3, 4)
    _trained: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_profile(self.profile)
        check_weights(self.weights)
        if self.profile == "paper":
            from iqaxai.data import canonical_name

            self.dataset = canonical_name(self.dataset)
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be at least 1 (or None for the profile's schedule), got {self.epochs}")

    # ------------------------------------------------------------------ data
    @property
    def is_demo(self) -> bool:
        """True on the demo world (smoke profile), whose planted truth is known."""
        return self.profile == "smoke"

    @property
    def source(self) -> str:
        """``demo``, ``dry-run`` (random weights) or ``real``: the provenance of every output."""
        if self.is_demo:
            return "demo"
        return "dry-run" if self.weights == "random" else "real"

    @property
    def provenance(self) -> str:
        """The provenance line of this study's outputs."""
        return provenance(self.source)

    @property
    def data_name(self) -> str:
        """What the images are, for captions: the demo world or the dataset's name."""
        return "demo world" if self.is_demo else DATASET_NAMES.get(self.dataset, self.dataset)

    @property
    def paper_dataset(self) -> str:
        """The dataset whose published numbers sit beside this study's (KonIQ-10k for the demo world)."""
        return self.dataset if self.profile == "paper" and self.dataset in ("koniq10k", "spaq") else "koniq10k"

    @cached_property
    def table(self) -> pd.DataFrame:
        """The image table with MOS and train/val/test splits."""
        if self.is_demo:
            from iqaxai.data.demo import DemoConfig, load_demo

            return load_demo(DemoConfig(seed=self.seed))
        from iqaxai.data import load_dataset

        # the ICIP paper's splits spread quality and content evenly: the stratified split where the loader has one
        stratified = {"split": "stratified"} if self.dataset in STRATIFIED else {}
        return load_dataset(self.dataset, root=self.data_root, split_seed=self.seed, **stratified)

    @property
    def test_mask(self) -> np.ndarray:
        """bool [N]: the test rows of :attr:`table`."""
        return (self.table["split"] == "test").to_numpy()

    @property
    def test(self) -> pd.DataFrame:
        """The test rows of :attr:`table`."""
        return self.table[self.test_mask]

    @cached_property
    def planted(self) -> np.ndarray | None:
        """bool [N, 12]: the demo world's planted quality cells of every image (None on real data)."""
        if not self.is_demo:
            return None
        from iqaxai.data.demo import planted_blocks

        return planted_blocks(self.table)

    def planted_of(self, rows: pd.DataFrame) -> np.ndarray | None:
        """The planted cells of some rows of :attr:`table` (None on real data)."""
        return self._rows_of(self.planted, rows)

    @cached_property
    def decoys(self) -> np.ndarray | None:
        """bool [N, 12]: the demo world's decoy cells (detailed, fixated, never distorted; None on real data)."""
        if not self.is_demo:
            return None
        from iqaxai.data.demo import decoy_blocks

        return decoy_blocks(self.table)

    def decoys_of(self, rows: pd.DataFrame) -> np.ndarray | None:
        """The decoy cells of some rows of :attr:`table` (None on real data)."""
        return self._rows_of(self.decoys, rows)

    def _rows_of(self, cells: np.ndarray | None, rows: pd.DataFrame) -> np.ndarray | None:
        """The rows of a per-image cell array that belong to some rows of :attr:`table`."""
        if cells is None:
            return None
        at = self.table.index.get_indexer(rows.index)
        if (at < 0).any():
            raise KeyError(f"rows {list(rows.index[at < 0][:5])} are not in the study's table ({self.dataset})")
        return cells[at]

    # ------------------------------------------------------------------ models
    @property
    def dev(self) -> torch.device:
        """The compute device (``auto``: CUDA if present)."""
        return resolve_device(self.device)

    def training(self, name: str) -> tuple[str, dict, TrainConfig]:
        """A model's registry name, its constructor overrides and its training configuration in this study."""
        spec = get_spec(name)
        random = self.weights == "random" and "pretrained" in spec.presets[self.profile]
        overrides = {"pretrained": False} if random else {}
        config = train_config(spec.name, self.profile, seed=self.seed, **({"epochs": self.epochs} if self.epochs else {}),
                              **(DRY_RUN_SCHEDULE if self.source == "dry-run" else {}))
        return spec.name, overrides, config

    def model(self, name: str) -> TrainedModel:
        """A registered model trained on this study's train/val split (loaded from the cache when trained before)."""
        key, overrides, config = self.training(name)
        if key not in self._trained:
            model, result = train_or_load(key, self.profile, self.table, model_kwargs=overrides, config=config,
                                          device=self.device)
            self._trained[key] = TrainedModel(key, model.to(self.dev).eval(), result, config)
        return self._trained[key]

    def models(self, names: list[str] | tuple[str, ...] = TABLE_I_MODELS) -> dict[str, TrainedModel]:
        """Several trained models by name, in order; on a CPU the untrained ones train side by side first
        (:func:`~iqaxai.training.train_in_parallel`, :func:`~iqaxai.training.training_workers` processes)."""
        jobs: dict[str, TrainJob] = {}
        for name in names:
            key, overrides, config = self.training(name)
            if key not in self._trained and key not in jobs and not is_trained(key, self.profile, self.table, overrides, config):
                jobs[key] = TrainJob(key, self.profile, self.table, overrides, config)
        workers = training_workers(len(jobs), self.device)
        if workers > 1:
            train_in_parallel(list(jobs.values()), workers)
        return {n: self.model(n) for n in names}

    def images(self, name: str, rows: pd.DataFrame, column: str = "path") -> torch.Tensor:
        """The images of ``rows`` at model ``name``'s input size (aspect kept), on the compute device."""
        from iqaxai.data.images import load_batch

        return load_batch(list(rows[column]), self.model(name).input_size).to(self.dev)

    def image(self, name: str, i: int) -> np.ndarray:
        """Image ``i`` of :attr:`table` as (H, W, 3) in [0, 1], at model ``name``'s input size."""
        from iqaxai.data.images import load_image

        return load_image(self.table["path"].iloc[i], self.model(name).input_size)

    # ------------------------------------------------------------------ the masked TRIQ
    @cached_property
    def sweep(self):
        """All 4094 block masks of every image through the masked TRIQ (cached, resumable)."""
        from iqaxai.importance import run_sweep

        triq = self.model("triq")
        return run_sweep(triq.model, self.table, {"model": "triq", "weights": triq.fingerprint, "dataset": self.data_name},
                         grid=self.grid, image_size=triq.input_size, device=self.dev)

    def halves(self, rule: str) -> np.ndarray:
        """bool [N, 12]: every image's important half under an importance rule of :mod:`iqaxai.importance`."""
        from iqaxai.importance import image_halves

        return image_halves(self.sweep, rule)

    # ------------------------------------------------------------------ outputs
    @property
    def outputs(self) -> Outputs:
        """Where this study's tables and figures go (committed folders for smoke, results/ for paper)."""
        return Outputs(output_folder(self.profile, [self.dataset], self.source), self.source)

    def save_table(self, table: pd.DataFrame, name: str, caption: str, **kwargs) -> Path:
        """Save a table with this study's provenance, in its output folder."""
        return self.outputs.save_table(table, name, caption, **kwargs)

    def save_figure(self, fig, name: str, title: str, **kwargs) -> Path:
        """Save a figure with this study's provenance, in its output folder."""
        return self.outputs.save_figure(fig, name, title, **kwargs)

    def describe(self) -> str:
        """A few lines saying what this study runs on and where its outputs go."""
        what = f"{len(self.table)} images of the {self.data_name} ({self.table.groupby('split').size().to_dict()})"
        lines = [self.provenance, f"profile {self.profile}, weights {self.weights if not self.is_demo else 'random (smoke backbones)'}, "
                 f"device {self.dev}, seed {self.seed}", what, f"outputs: {self.outputs.folder}"]
        return "\n".join(lines)


def pooled_outputs(studies: list[Study]) -> Outputs:
    """Outputs of a result pooled over several studies (e.g. Table II over KonIQ-10k and SPAQ)."""
    sources = {s.source for s in studies}
    if len(sources) != 1 or len({s.profile for s in studies}) != 1:
        raise ValueError(f"cannot pool studies of different profiles or sources: {sorted(sources)}")
    first = studies[0]
    return Outputs(output_folder(first.profile, [s.dataset for s in studies], first.source), first.source)


def studies(profile: str, datasets: list[str] | tuple[str, ...], **kwargs) -> list[Study]:
    """One study per dataset in the paper profile; the smoke profile has one world, so one study."""
    if not datasets:
        raise ValueError("name at least one dataset")
    return [Study(profile, d, **kwargs) for d in (datasets if check_profile(profile) == "paper" else datasets[:1])]
