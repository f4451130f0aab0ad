"""What the experiment notebooks share: the profile's dataset and the trained Table I models.

The smoke profile runs on the demo world, the paper profile on a real dataset; both train (or load from the
cache) the same models with the same settings, so every notebook sees the weights notebook 01 trained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
import torch

from iqaxai.models import TABLE_I_MODELS
from iqaxai.models.base import IQAModel
from iqaxai.training import TrainConfig, TrainResult, train_config, train_or_load


def experiment_table(profile: str, dataset: str = "koniq10k", data_root: str | None = None, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """The profile's image table with train/val/test splits, and its display name."""
    if profile == "smoke":
        from iqaxai.data.demo import DemoConfig, load_demo

        return load_demo(DemoConfig(seed=seed)), "demo world"
    if profile == "paper":
        from iqaxai.data import load_dataset

        return load_dataset(dataset, root=data_root, split="stratified", split_seed=seed), dataset
    raise ValueError(f"profile must be 'smoke' or 'paper', got {profile!r}")


@dataclass
class TrainedModel:
    """A trained model with its training outcome and configuration."""

    name: str
    model: IQAModel
    result: TrainResult
    config: TrainConfig

    @property
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


def table_i_models(profile: str, table: pd.DataFrame, models: tuple[str, ...] | list[str] = TABLE_I_MODELS,
                   triq_pool: bool | None = None, epochs: int | None = None, seed: int = 0, device: str = "auto",
                   progress: bool = True) -> dict[str, TrainedModel]:
    """Train (or load from the cache) each model on ``table``'s train/val splits with the profile's preset.

    Any registered model name is accepted (notebook 07 adds CNNIQA and the SPAQ baseline to the Table I set).
    """
    out = {}
    for name in models:
        kwargs = {"pool": triq_pool} if name == "triq" else {}
        config = train_config(name, profile, **({"epochs": epochs} if epochs else {}), seed=seed)
        model, result = train_or_load(name, profile, table, model_kwargs=kwargs, config=config, device=device, progress=progress)
        out[name] = TrainedModel(name, model, result, config)
    return out
