"""One training loop for every IQA model of the registry.

Following the ICIP 2023 paper (Section 4.1): horizontal flip is the only augmentation ("other methods can
potentially change the perceived image quality"), a learning-rate scheduler (linear warm-up then cosine
decay, as TRIQ's ``WarmUpCosineDecayScheduler``), and the validation PLCC monitored to keep the best
weights. Models whose ``info.output`` is ``"distribution"`` (TRIQ, AIHIQnet) are trained with
cross-entropy on the 5-bin opinion distribution (KonIQ-10k's c1..c5, else :func:`opinion_distribution`
from MOS and SD); regression models with the MSE of the score on the 0-100 scale divided by 25.

Checkpoints are written after every epoch and a run resumes from them; :func:`train_or_load` caches the
final weights by configuration so later notebooks reuse them.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import norm

from iqaxai.data.images import load_batch, load_image
from iqaxai.models import create_model, get_spec
from iqaxai.models.base import SCORE_SCALE, IQAModel
from iqaxai.profiles import check_profile
from iqaxai.results import CorruptCacheError, ResultsCache, config_key, warn_corrupt
from iqaxai.runtime import progress as progress_bar, resolve_device
from iqaxai.stats import StatsError, plcc, srocc

DIST_COLUMNS = ["c1", "c2", "c3", "c4", "c5"]
#: SD (on the 1-5 scale) assumed for the opinion distribution of datasets that publish none (SPAQ, SACID):
#: KonIQ-10k's mean per-image SD.
DEFAULT_SD_1TO5 = 0.57


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run."""

    epochs: int = 15
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    image_size: tuple[int, int] | None = None  # (H, W); None keeps the stored size (must be uniform)
    hflip: bool = True
    seed: int = 0
    patience: int | None = None  # stop after this many epochs without a better validation PLCC
    preload: bool = True  # decode all images once into memory (small datasets)
    num_workers: int = 0
    eval_batch_size: int = 32
    max_steps: int | None = None  # optimiser steps per epoch at most (the dry run's cut schedule); None: every batch
    recalibrate_bn: bool = False  # set BatchNorm statistics from the training images before training (random backbones)
    saliency_column: str | None = None  # table column of each image's saliency map (dual-task models: notebook 11)


def config_identity(config: TrainConfig) -> dict:
    """The fields of a configuration that identify a training run (an unused ``saliency_column`` is left out, so
    the identities of runs without saliency maps do not depend on that field's existence)."""
    fields = asdict(config)
    if fields["saliency_column"] is None:
        del fields["saliency_column"]
    return fields


def train_config(model_name: str, profile: str, **overrides) -> TrainConfig:
    """The training configuration a model's spec declares for a profile (sources cited there), with overrides."""
    return replace(TrainConfig(**get_spec(model_name).train[check_profile(profile)]), **overrides)


# ----------------------------------------------------------------------------------------------- data

def opinion_distribution(mos: np.ndarray, sd: np.ndarray | None = None) -> np.ndarray:
    """5-bin opinion distributions [N, 5] from MOS (0-100) and SD (0-100 scale; NaN -> default).

    Fallback for datasets without rating counts (as the TRIQ code does for LIVE-C): a normal
    distribution on the 1-5 scale (mean 1 + MOS / 25, SD / 25) integrated over the five categories.
    """
    mu = 1.0 + np.asarray(mos, dtype=float) / 25.0
    s = np.full_like(mu, DEFAULT_SD_1TO5) if sd is None else np.asarray(sd, dtype=float) / 25.0
    s = np.where(np.isfinite(s) & (s > 0.05), s, DEFAULT_SD_1TO5)
    edges = norm.cdf((np.array([1.5, 2.5, 3.5, 4.5])[None, :] - mu[:, None]) / s[:, None])
    return np.diff(np.concatenate([np.zeros((len(mu), 1)), edges, np.ones((len(mu), 1))], axis=1), axis=1)


def targets(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(MOS on 0-100, opinion distribution [N, 5]) of a dataset table; NaN MOS is an error."""
    mos = table["mos"].to_numpy(dtype=float)
    if not np.isfinite(mos).all():
        bad = table.index[~np.isfinite(mos)][:5].tolist()
        raise ValueError(f"training targets contain NaN MOS (rows {bad}); saliency-only datasets cannot be used")
    if all(c in table for c in DIST_COLUMNS) and table[DIST_COLUMNS].notna().all().all():
        dist = table[DIST_COLUMNS].to_numpy(dtype=float)
        dist = dist / dist.sum(axis=1, keepdims=True)
    else:
        dist = opinion_distribution(mos, table["sd"].to_numpy(dtype=float) if "sd" in table else None)
    return mos, dist


def load_saliency(path: str, shape: tuple[int, int]) -> torch.Tensor:
    """A saliency map (grey levels, any size) as float [1, H, W] in [0, 1] at ``shape`` (bilinear, antialiased)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            grey = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the saliency map {path}: {err}") from err
    out = torch.from_numpy(grey)[None, None]
    if tuple(out.shape[-2:]) != tuple(shape):
        out = F.interpolate(out, size=shape, mode="bilinear", align_corners=False, antialias=True)
    return out[0].clamp(0, 1)


class ImageTable(torch.utils.data.Dataset):
    """Images of a dataset table (decoded on access) with their MOS, opinion distribution and, when
    ``saliency_column`` names one, saliency map at the image's size (else an empty tensor)."""

    def __init__(self, table: pd.DataFrame, size: tuple[int, int] | None = None, saliency_column: str | None = None):
        self.paths = table["path"].tolist()
        self.mos, self.dist = targets(table)
        self.size = size
        self.saliency = None
        if saliency_column is not None:
            if saliency_column not in table or table[saliency_column].isna().any():
                raise ValueError(f"the training table needs a saliency map per image in column {saliency_column!r}"
                                 f"{'' if saliency_column in table else ' (no such column)'}")
            self.saliency = table[saliency_column].astype(str).tolist()

    def __len__(self) -> int:
        return len(self.paths)

    def saliency_of(self, i: int, shape: tuple[int, int]) -> torch.Tensor:
        """Image ``i``'s saliency map [1, H, W] at ``shape`` (empty without saliency maps)."""
        return torch.zeros(0) if self.saliency is None else load_saliency(self.saliency[i], shape)

    def __getitem__(self, i: int):
        img = torch.from_numpy(load_image(self.paths[i], self.size)).permute(2, 0, 1)
        return (img, torch.tensor(self.mos[i], dtype=torch.float32), torch.tensor(self.dist[i], dtype=torch.float32),
                self.saliency_of(i, tuple(img.shape[-2:])))


def _batches(data: ImageTable, config: TrainConfig, shuffle: bool, generator: torch.Generator, batch_size: int):
    """Mini-batches (images, mos, dist, saliency): from a preloaded tensor or through a DataLoader."""
    if config.preload:
        if not hasattr(data, "_cache"):
            images = load_batch(data.paths, data.size)
            saliency = (torch.zeros(len(data), 0) if data.saliency is None
                        else torch.stack([data.saliency_of(i, tuple(images.shape[-2:])) for i in range(len(data))]))
            data._cache = (images, torch.tensor(data.mos, dtype=torch.float32),
                           torch.tensor(data.dist, dtype=torch.float32), saliency)
        images, mos, dist, saliency = data._cache
        order = torch.randperm(len(data), generator=generator) if shuffle else torch.arange(len(data))
        for start in range(0, len(data), batch_size):
            idx = order[start:start + batch_size]
            yield images[idx], mos[idx], dist[idx], saliency[idx]
    else:
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                             num_workers=min(config.num_workers, os.cpu_count() or 1),  # never more than the cores
                                             pin_memory=torch.cuda.is_available())
        yield from loader


# ----------------------------------------------------------------------------------------------- loop

def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and make cuDNN deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to zero at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def recalibrate_batchnorm(model: IQAModel, batches) -> None:
    """Replace every BatchNorm layer's running statistics by their average over ``batches`` of images.

    A randomly initialised deep backbone in eval mode uses the default statistics (mean 0, variance 1), under
    which its activations fade layer by layer until every image gets the same features; with statistics of
    real inputs it normalises as in training. (torch.optim.swa_utils.update_bn does this for a DataLoader
    of inputs only; here the batches carry targets too.)
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    was_training = model.training
    model.train()
    for images in batches:
        model(images)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


def loss_fn(model: IQAModel, images: torch.Tensor, mos: torch.Tensor, dist: torch.Tensor,
            saliency: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy on the opinion distribution, or the MSE of the score (in units of 25 MOS points); for a
    dual-task model (:mod:`iqaxai.models.dual_task`) plus ``sal_weight`` times its saliency loss against
    ``saliency`` [B, 1, H, W]."""
    if getattr(model, "dual_task", False):
        from iqaxai.models.dual_task import saliency_loss

        if saliency is None or saliency.numel() == 0:
            raise ValueError(f"{model.info.name} learns saliency too: set TrainConfig.saliency_column to the table "
                             "column of each image's saliency map")
        score, predicted = model.dual_outputs(images)
        return F.mse_loss(score / SCORE_SCALE, mos / SCORE_SCALE) + model.sal_weight * saliency_loss(predicted, saliency)
    if model.info.output == "distribution":
        p = model.distribution(images)
        return -(dist * torch.log(p.clamp_min(1e-8))).sum(-1).mean()
    return F.mse_loss(model(images) / SCORE_SCALE, mos / SCORE_SCALE)


@torch.no_grad()
def predict(model: IQAModel, images: pd.DataFrame | torch.Tensor, batch_size: int = 32, device: str = "auto",
            image_size: tuple[int, int] | None = None, progress: bool = False) -> np.ndarray:
    """Scores of a dataset table's images (or of an image tensor in [0, 1]) in eval mode."""
    dev = resolve_device(device) if isinstance(device, str) else device
    model.eval().to(dev)
    out = []
    if isinstance(images, torch.Tensor):
        chunks = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
    else:
        paths = images["path"].tolist()
        chunks = (load_batch(paths[i:i + batch_size], image_size) for i in range(0, len(paths), batch_size))
    for x in progress_bar(chunks, total=math.ceil(len(images) / batch_size), desc="predict", show=progress, leave=False):
        out.append(model(x.to(dev)).float().cpu())
    return torch.cat(out).numpy().astype(np.float64)


def evaluate(scores: np.ndarray, mos: np.ndarray) -> dict[str, float]:
    """PLCC and SROCC of scores against MOS; NaN (with a reason) when undefined, e.g. constant scores."""
    try:
        return {"plcc": plcc(scores, mos), "srocc": srocc(scores, mos)}
    except StatsError:
        return {"plcc": float("nan"), "srocc": float("nan")}


@dataclass
class TrainResult:
    """Outcome of a training run: the epoch history and the best validation PLCC."""

    history: pd.DataFrame
    best_epoch: int
    best_val_plcc: float


def train_model(model: IQAModel, train: pd.DataFrame, val: pd.DataFrame, config: TrainConfig = TrainConfig(),
                device: str = "auto", checkpoint: str | os.PathLike | None = None, progress: bool = True,
                on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model`` in place; it ends with the weights of the epoch with the best validation PLCC.

    With ``checkpoint``, the state after every epoch is saved there and a run that finds it resumes.
    """
    if len(train) == 0 or len(val) < 3:
        raise ValueError(f"need training images and at least 3 validation images, got {len(train)} and {len(val)}")
    seed_everything(config.seed)
    dev = resolve_device(device)
    model.to(dev)
    train_data = ImageTable(train, config.image_size, config.saliency_column)
    val_data = ImageTable(val, config.image_size)
    steps_per_epoch = math.ceil(len(train_data) / config.batch_size)
    if config.max_steps is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps)
    total = steps_per_epoch * config.epochs
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, total, warmup))
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict] = []
    best = {"plcc": -math.inf, "epoch": -1, "state": copy.deepcopy(model.state_dict())}
    start_epoch = 0
    ckpt = Path(checkpoint) if checkpoint else None
    state = _read_checkpoint(ckpt, dev) if ckpt else None
    if state is not None:
        if state["config"] != config_identity(config):
            raise ValueError(f"checkpoint {ckpt} was written for another configuration; delete it to start again")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1

    if config.recalibrate_bn and start_epoch == 0:
        first = _batches(train_data, config, False, torch.Generator().manual_seed(config.seed), max(2, config.batch_size))
        recalibrate_batchnorm(model, [next(iter(first))[0].to(dev)])
    bar = progress_bar(range(start_epoch, config.epochs), desc=f"train {model.info.name} epoch", show=progress,
                       initial=start_epoch, total=config.epochs, unit="epoch")
    stale = sum(1 for h in history if h["epoch"] > best["epoch"])
    for epoch in bar:
        tic = time.perf_counter()
        model.train()
        losses = []
        for step, (images, mos, dist, saliency) in enumerate(_batches(train_data, config, True, generator, config.batch_size)):
            if step == steps_per_epoch:
                break
            images, mos, dist, saliency = images.to(dev), mos.to(dev), dist.to(dev), saliency.to(dev)
            if config.hflip:
                flip = torch.rand(len(images), generator=generator) < 0.5
                images = torch.where(flip.to(dev)[:, None, None, None], images.flip(-1), images)
                if saliency.numel():
                    saliency = torch.where(flip.to(dev)[:, None, None, None], saliency.flip(-1), saliency)
            loss = loss_fn(model, images, mos, dist, saliency)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        val_images = torch.cat([b[0] for b in _batches(val_data, config, False, generator, config.eval_batch_size)]) \
            if config.preload else val
        scores = predict(model, val_images, config.eval_batch_size, dev, config.image_size)
        metrics = evaluate(scores, val_data.mos)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_plcc": metrics["plcc"],
               "val_srocc": metrics["srocc"], "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - tic}
        history.append(row)
        if np.isfinite(row["val_plcc"]) and row["val_plcc"] > best["plcc"]:
            best = {"plcc": row["val_plcc"], "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
            stale = 0
        else:
            stale += 1
        bar.set_postfix_str(f"val PLCC {row['val_plcc']:.3f}, loss {row['train_loss']:.3f}", refresh=False)
        if ckpt:
            _save_checkpoint(ckpt, model, optimizer, scheduler, generator, history, best, epoch, config)
        if on_epoch:
            on_epoch(row)
        if config.patience is not None and stale >= config.patience:
            break
    bar.close()
    model.load_state_dict(best["state"])
    return TrainResult(pd.DataFrame(history), int(best["epoch"]), float(best["plcc"]))


_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "generator", "torch_rng", "history", "best", "epoch", "config")


def _read_checkpoint(path: Path, device: torch.device) -> dict | None:
    """A resumable checkpoint, or None when there is none or it is unreadable (reported, deleted)."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=False)
        if not isinstance(state, dict):
            raise TypeError(f"a {type(state).__name__}, not a checkpoint dict")
        missing = [k for k in _CHECKPOINT_KEYS if k not in state]
        if missing:
            raise KeyError(f"no {', '.join(missing)}")
        return state
    except (OSError, MemoryError, torch.cuda.OutOfMemoryError):  # the machine's trouble, not the file's
        raise
    except Exception as err:  # torch and its unpickler raise many kinds for damaged content
        warn_corrupt(path, _reason(err), "training from the first epoch")
        path.unlink(missing_ok=True)
        return None


def _save_checkpoint(path: Path, model, optimizer, scheduler, generator, history, best, epoch, config) -> None:
    """Write a resumable checkpoint atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "history": history,
                "best": best, "epoch": epoch, "config": config_identity(config)}, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- cache

def dataset_fingerprint(table: pd.DataFrame) -> str:
    """A short hash of a table's images, scores and splits (part of a training cache key)."""
    from iqaxai.results import config_key

    cols = [c for c in ("image", "mos", "split") if c in table]
    return config_key({"rows": table[cols].astype(str).agg("|".join, axis=1).tolist()})


def _reason(err: BaseException) -> str:
    """An exception's type and message on one line, cut to 300 characters (torch's run over many lines)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def _read_weights(model: IQAModel, path: Path) -> None:
    """Load a state dict saved by :func:`train_or_load` into ``model``; CorruptCacheError if unusable."""
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (OSError, MemoryError, torch.cuda.OutOfMemoryError):  # the machine's trouble, not the file's
        raise
    except Exception as err:  # damaged content, or a state dict that does not fit the model
        raise CorruptCacheError(path, _reason(err)) from err


def _read_history(cache: ResultsCache) -> TrainResult:
    """The cached epoch history with its best epoch; CorruptCacheError if it is not a training history."""
    history = cache.load_table("history")
    if history.empty or not {"epoch", "val_plcc"} <= set(history.columns):
        raise CorruptCacheError(cache.table_path("history"), "not an epoch history with epoch and val_plcc columns")
    if history["val_plcc"].notna().any():
        best = int(history["val_plcc"].idxmax())
        return TrainResult(history, int(history["epoch"][best]), float(history["val_plcc"][best]))
    # no epoch had a defined validation PLCC: the initial weights were kept, as train_model does
    return TrainResult(history, -1, float("nan"))


def _load_cached(cache: ResultsCache, model: IQAModel) -> TrainResult | None:
    """The cached run (weights loaded into ``model``); None when absent or unusable (reported, deleted)."""
    weights = cache.path / "model.pt"
    if not (weights.exists() and cache.has_table("history")):
        return None
    try:
        result = _read_history(cache)
        _read_weights(model, weights)
        return result
    except CorruptCacheError as err:
        warn_corrupt(err.path, err.reason, "training the model again")
        err.path.unlink(missing_ok=True)
        return None


def _save_weights(model: IQAModel, path: Path) -> None:
    """Write a state dict atomically (temporary file, then rename)."""
    tmp = path.with_name(f".tmp-{path.name}")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)


def _fresh_model(name: str, profile: str, model_kwargs: dict, seed: int) -> IQAModel:
    """A registry model with the initial weights of ``seed``."""
    seed_everything(seed)  # the initial weights depend on the seed only
    return create_model(name, profile=profile, **model_kwargs)


def _model_cache(name: str, profile: str, table: pd.DataFrame, model_kwargs: dict, config: TrainConfig,
                 cache_root: str | os.PathLike | None) -> ResultsCache:
    """The cache entry of one trained model: its identity is everything that shapes the weights."""
    # the profile's preset shapes the model as much as the overrides do, so both are in the identity
    preset = dict(get_spec(name).presets[check_profile(profile)])
    key = {"model": name, "profile": profile, "preset": preset, "model_kwargs": dict(model_kwargs),
           "train": config_identity(config), "data": dataset_fingerprint(table)}
    if config.saliency_column is not None:  # the maps shape the weights as much as the images do
        key["saliency"] = config_key({"maps": table[config.saliency_column].astype(str).tolist()})
    return ResultsCache("trained_models", key, root=cache_root)


def is_trained(name: str, profile: str, table: pd.DataFrame, model_kwargs: dict | None = None,
               config: TrainConfig | None = None, cache_root: str | os.PathLike | None = None) -> bool:
    """Whether :func:`train_or_load` finds weights and history cached for this configuration (not yet read)."""
    cache = _model_cache(name, profile, table, model_kwargs or {}, config or train_config(name, profile), cache_root)
    return (cache.path / "model.pt").exists() and cache.has_table("history")


def train_or_load(name: str, profile: str, table: pd.DataFrame, model_kwargs: dict | None = None,
                  config: TrainConfig | None = None, device: str = "auto", progress: bool = True,
                  cache_root: str | os.PathLike | None = None) -> tuple[IQAModel, TrainResult]:
    """Train a registry model on ``table``'s train/val splits, or load the weights cached for this configuration.

    Unreadable cached weights or history are reported (:class:`~iqaxai.results.CorruptCacheWarning` naming
    the file), deleted and the model trained again. A second process asking for the same model waits for
    the first to finish and loads its weights.
    """
    model_kwargs = dict(model_kwargs or {})
    config = config or train_config(name, profile)
    cache = _model_cache(name, profile, table, model_kwargs, config, cache_root)
    with cache.lock("model"):
        model = _fresh_model(name, profile, model_kwargs, config.seed)
        tried = (cache.path / "model.pt").exists()
        cached = _load_cached(cache, model)
        if cached is not None:
            return model.to(resolve_device(device)).eval(), cached
        if tried:  # a failed load_state_dict may have copied some tensors already
            model = _fresh_model(name, profile, model_kwargs, config.seed)
        train, val = table[table["split"] == "train"], table[table["split"] == "val"]
        checkpoint = cache.path / "checkpoint.pt"
        result = train_model(model, train, val, config, device, checkpoint=checkpoint, progress=progress)
        _save_weights(model, cache.path / "model.pt")
        cache.save_table("history", result.history)
        checkpoint.unlink(missing_ok=True)
        return model.eval(), result


# ----------------------------------------------------------------------------------------------- several at once

@dataclass(frozen=True)
class TrainJob:
    """The arguments of one :func:`train_or_load` call, for :func:`train_in_parallel`."""

    name: str
    profile: str
    table: pd.DataFrame
    model_kwargs: dict
    config: TrainConfig
    cache_root: str | None = None


def training_workers(n_jobs: int, device: str = "auto") -> int:
    """Processes :func:`train_in_parallel` uses: one per job up to the CPU cores, 1 on an accelerator.

    Small models use a second core poorly inside one process (two smoke TRIQs trained side by side with one
    thread each took 0.83 of the time of one after the other with two threads, 3 epochs on 2 cores:
    benchmarks/bench_training.py), so on a CPU independent models train side by side. ``IQAXAI_TRAIN_WORKERS`` overrides the count (1: in turn).
    """
    if resolve_device(device).type != "cpu":
        return 1
    env = os.environ.get("IQAXAI_TRAIN_WORKERS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"IQAXAI_TRAIN_WORKERS must be a positive integer, got {env!r}")
        return min(int(env), max(n_jobs, 1))
    return max(1, min(n_jobs, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _train_job(job: TrainJob, threads: int) -> tuple[str, float]:
    """Worker: train one job into the cache with ``threads`` intra-op threads; its name and best validation PLCC."""
    torch.set_num_threads(threads)
    _, result = train_or_load(job.name, job.profile, job.table, job.model_kwargs, job.config, device="cpu",
                              progress=False, cache_root=job.cache_root)
    return job.name, result.best_val_plcc


def train_in_parallel(jobs: list[TrainJob], workers: int, progress: bool = True) -> None:
    """Train ``jobs`` into the training cache in ``workers`` processes on the CPU (the longest schedules first).

    The caller then loads each model with :func:`train_or_load`. A failing job stops the others and is raised
    with its model's name; interrupted runs resume from their per-epoch checkpoints.
    """
    import concurrent.futures as cf
    import multiprocessing

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    jobs = sorted(jobs, key=lambda j: -j.config.epochs)
    threads = max(1, torch.get_num_threads() // workers)
    # spawn, not fork: a forked child would inherit the parent's thread pools (and a Jupyter kernel's sockets)
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    bar = progress_bar(total=len(jobs), desc=f"train {len(jobs)} models in {workers} processes", show=progress,
                       unit="model")
    try:
        futures = {pool.submit(_train_job, job, threads): job.name for job in jobs}
        for done in cf.as_completed(futures):
            try:
                name, best = done.result()
            except Exception as err:
                raise RuntimeError(f"training {futures[done]} in a worker process failed: {_reason(err)}") from err
            bar.set_postfix_str(f"{name}: best val PLCC {best:.3f}", refresh=False)
            bar.update()
    except BaseException:
        # Python < 3.14 has no public way to stop running workers (ProcessPoolExecutor.terminate_workers)
        running = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in running:
            process.terminate()
        raise
    finally:
        bar.close()
    pool.shutdown()
