"""The training loop: schedule, targets, learning a planted signal, best-weight selection, resuming, caching."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.stats import norm

import iqaxai.training as training
from iqaxai.models import create_model
from iqaxai.results import CorruptCacheWarning
from iqaxai.training import (
    TrainConfig,
    opinion_distribution,
    predict,
    targets,
    train_config,
    train_model,
    train_or_load,
    warmup_cosine,
)


@pytest.fixture(scope="module")
def brightness_world(tmp_path_factory):
    """60 small images whose MOS is a planted function of their brightness (plus texture noise)."""
    root = tmp_path_factory.mktemp("bright")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        level = rng.uniform(0.1, 0.9)
        img = np.clip(level + rng.normal(0, 0.05, (32, 32, 3)), 0, 1)
        path = root / f"{i:03d}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(path)
        rows.append({"image": path.name, "path": str(path), "mos": 100 * level, "sd": 10.0,
                     "split": "train" if i < 40 else ("val" if i < 50 else "test")})
    return pd.DataFrame(rows)


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10) == pytest.approx(0.0, abs=1e-12)


def test_opinion_distribution_closed_form():
    p = opinion_distribution(np.array([50.0, 0.0]), np.array([25.0, np.nan]))
    assert np.allclose(p.sum(axis=1), 1.0)
    # MOS 50 -> mean 3 on the 1-5 scale, SD 25 -> 1: the standard normal over the category edges
    expected = np.diff(np.concatenate([[0], norm.cdf([-1.5, -0.5, 0.5, 1.5]), [1]]))
    assert np.allclose(p[0], expected)
    assert p[1].argmax() == 0 and p[1][0] == pytest.approx(norm.cdf(0.5 / training.DEFAULT_SD_1TO5))


def test_targets_prefer_rating_counts_and_reject_nan():
    table = pd.DataFrame({"mos": [20.0, 80.0], "sd": [5.0, 5.0], "c1": [2, 0], "c2": [2, 0], "c3": [0, 0],
                          "c4": [0, 1], "c5": [0, 3]})
    mos, dist = targets(table)
    assert np.allclose(dist, [[0.5, 0.5, 0, 0, 0], [0, 0, 0, 0.25, 0.75]])
    _, fallback = targets(table.drop(columns=["c1", "c2", "c3", "c4", "c5"]))
    assert np.allclose(fallback, opinion_distribution(mos, np.array([5.0, 5.0])))
    with pytest.raises(ValueError, match="NaN MOS"):
        targets(pd.DataFrame({"mos": [1.0, np.nan]}))


def test_training_learns_a_planted_signal_and_keeps_the_best_epoch(brightness_world):
    table = brightness_world
    model = create_model("spaq_baseline", profile="smoke")
    cfg = TrainConfig(epochs=8, batch_size=8, lr=3e-3, warmup_epochs=0.5)
    result = train_model(model, table[table.split == "train"], table[table.split == "val"], cfg, device="cpu", progress=False)
    assert result.best_val_plcc > 0.9
    assert result.best_val_plcc == pytest.approx(result.history["val_plcc"].max())
    val = table[table.split == "val"]
    assert np.corrcoef(predict(model, val), val["mos"])[0, 1] == pytest.approx(result.best_val_plcc, abs=1e-6)
    test = table[table.split == "test"]
    assert np.corrcoef(predict(model, test), test["mos"])[0, 1] > 0.8


def test_distribution_models_train_with_cross_entropy(brightness_world):
    table = brightness_world
    model = create_model("triq", profile="smoke")
    cfg = TrainConfig(epochs=3, batch_size=8, lr=5e-4, warmup_epochs=0.5)
    result = train_model(model, table[table.split == "train"], table[table.split == "val"], cfg, device="cpu", progress=False)
    first = result.history["train_loss"].iloc[0]
    assert first == pytest.approx(-(opinion_distribution(table["mos"][:40], table["sd"][:40])
                                    * np.log(np.full(5, 0.2))).sum(1).mean(), rel=0.15)  # ~uniform start
    assert result.history["train_loss"].iloc[-1] < first


def test_interrupted_training_resumes_to_the_same_weights(brightness_world, tmp_path):
    table = brightness_world
    train, val = table[table.split == "train"], table[table.split == "val"]
    cfg = TrainConfig(epochs=4, batch_size=8, lr=3e-3)

    def fresh():
        torch.manual_seed(1)  # the same initial weights for every run
        return create_model("spaq_baseline", profile="smoke")

    straight = fresh()
    train_model(straight, train, val, cfg, device="cpu", progress=False)

    def stop_after_two(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        train_model(fresh(), train, val, cfg, device="cpu", checkpoint=ckpt, progress=False, on_epoch=stop_after_two)
    assert ckpt.exists()
    epochs_run = []
    resumed = fresh()
    result = train_model(resumed, train, val, cfg, device="cpu", checkpoint=ckpt, progress=False,
                         on_epoch=lambda row: epochs_run.append(row["epoch"]))
    assert epochs_run == [2, 3] and len(result.history) == 4
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="another configuration"):
        train_model(create_model("spaq_baseline", profile="smoke"), train, val, TrainConfig(epochs=5), device="cpu",
                    checkpoint=ckpt, progress=False)


def test_train_or_load_caches_by_configuration(brightness_world, tmp_path, monkeypatch):
    table = brightness_world
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3)
    model, result = train_or_load("spaq_baseline", "smoke", table, config=cfg, device="cpu", progress=False, cache_root=tmp_path)
    scores = predict(model, table)

    def no_training(*args, **kwargs):
        raise AssertionError("should have loaded from the cache")

    monkeypatch.setattr(training, "train_model", no_training)
    again, cached = train_or_load("spaq_baseline", "smoke", table, config=cfg, device="cpu", progress=False, cache_root=tmp_path)
    assert np.allclose(predict(again, table), scores)
    assert cached.best_val_plcc == pytest.approx(result.best_val_plcc)
    with pytest.raises(AssertionError, match="cache"):  # another configuration trains again
        train_or_load("spaq_baseline", "smoke", table, config=TrainConfig(epochs=3), device="cpu", progress=False,
                      cache_root=tmp_path)


def test_presets_and_bad_inputs():
    assert train_config("triq", "paper").lr == 5e-5 and train_config("triq", "paper").image_size == (768, 1024)
    assert train_config("cnniqa", "smoke").lr == 1e-3 and train_config("triq", "smoke").lr == 5e-4
    assert train_config("koncept512", "paper").image_size == (384, 512)
    with pytest.raises(KeyError, match="registered"):
        train_config("anything", "smoke")
    with pytest.raises(ValueError, match="profile must be"):
        train_config("triq", "fast")
    with pytest.raises(ValueError, match="at least 3 validation"):
        train_model(create_model("cnniqa"), pd.DataFrame({"path": [], "mos": []}), pd.DataFrame(), TrainConfig(), progress=False)
    assert math.isnan(training.evaluate(np.ones(5), np.arange(5.0))["plcc"])


def test_max_steps_cuts_each_epoch_to_that_many_optimiser_steps(brightness_world, monkeypatch):
    table = brightness_world
    train, val = table[table.split == "train"], table[table.split == "val"]
    steps = []
    original = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: (steps.append(1), original(self, *a, **k))[1])
    train_model(create_model("cnniqa"), train, val, TrainConfig(epochs=2, batch_size=4, max_steps=2), device="cpu", progress=False)
    assert len(steps) == 4
    steps.clear()
    train_model(create_model("cnniqa"), train, val, TrainConfig(epochs=1, batch_size=4), device="cpu", progress=False)
    assert len(steps) == -(-len(train) // 4)  # every batch without the cut


def test_recalibrated_batchnorm_statistics_are_those_of_the_batches():
    torch.manual_seed(0)
    model = create_model("spaq_baseline", profile="smoke")
    batches = [torch.rand(4, 3, 32, 32) * 0.5 + 0.25 for _ in range(3)]
    training.recalibrate_batchnorm(model, batches)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    handle = first.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    model.eval()
    with torch.no_grad():
        for b in batches:
            model(b)
    handle.remove()
    inputs = torch.cat(seen)  # equal batch sizes: the mean of batch means is the overall mean
    assert torch.allclose(first.running_mean, inputs.mean((0, 2, 3)), atol=1e-5)
    assert first.momentum == 0.1 and not model.training


# --- corrupt weight, history and checkpoint files ---------------------------------------------------------------

def _damage(path, how: str) -> None:
    """Cut a file in half or overwrite it with text."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncate" else b"epoch,val_plcc\x00\xff garbage" * 3)


@pytest.mark.parametrize("file, how", [("model.pt", "truncate"), ("model.pt", "garbage"), ("history.csv", "garbage")])
def test_corrupt_cached_weights_are_reported_and_the_model_retrained(brightness_world, tmp_path, monkeypatch, file, how):
    table = brightness_world.iloc[::3]  # 14 training, 3 validation images
    cfg = TrainConfig(epochs=1, batch_size=8, lr=3e-3)
    kwargs = dict(config=cfg, device="cpu", progress=False, cache_root=tmp_path)
    model, _ = train_or_load("cnniqa", "smoke", table, **kwargs)
    scores = predict(model, table)
    folder = next(tmp_path.glob("trained_models/*"))
    _damage(folder / file, how)
    runs = []
    original = training.train_model
    monkeypatch.setattr(training, "train_model", lambda *a, **k: (runs.append(1), original(*a, **k))[1])
    with pytest.warns(CorruptCacheWarning, match=re.escape(str(folder / file)) + ".*training the model again"):
        again, result = train_or_load("cnniqa", "smoke", table, **kwargs)
    assert runs == [1]
    np.testing.assert_allclose(predict(again, table), scores, rtol=1e-5, atol=1e-4)  # same seed, same weights
    assert len(result.history) == 1
    reloaded, _ = train_or_load("cnniqa", "smoke", table, **kwargs)  # the rewritten files load
    assert runs == [1]
    np.testing.assert_allclose(predict(reloaded, table), predict(again, table))


def test_corrupt_checkpoint_is_reported_and_training_starts_over(brightness_world, tmp_path):
    table = brightness_world
    train, val = table[table.split == "train"], table[table.split == "val"]
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"\x80\x02 not a checkpoint")
    epochs = []
    with pytest.warns(CorruptCacheWarning, match=re.escape(str(ckpt)) + ".*from the first epoch"):
        train_model(create_model("cnniqa"), train, val, TrainConfig(epochs=1, batch_size=8), device="cpu",
                    checkpoint=ckpt, progress=False, on_epoch=lambda row: epochs.append(row["epoch"]))
    assert epochs == [0] and ckpt.exists()


def test_models_trained_side_by_side_equal_those_trained_in_turn(brightness_world, tmp_path, monkeypatch):
    table = brightness_world
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3)
    jobs = [training.TrainJob(name, "smoke", table, {}, cfg, str(tmp_path)) for name in ("spaq_baseline", "cnniqa")]
    assert not any(training.is_trained(j.name, "smoke", table, {}, cfg, tmp_path) for j in jobs)
    training.train_in_parallel(jobs, workers=2, progress=False)
    assert all(training.is_trained(j.name, "smoke", table, {}, cfg, tmp_path) for j in jobs)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count (2 cores // 2 workers, at most 1 here): same arithmetic
    try:
        for job in jobs:
            cached, _ = train_or_load(job.name, "smoke", table, config=cfg, device="cpu", progress=False, cache_root=tmp_path)
            fresh = training._fresh_model(job.name, "smoke", {}, cfg.seed)
            train_model(fresh, table[table.split == "train"], table[table.split == "val"], cfg, device="cpu", progress=False)
            np.testing.assert_allclose(predict(cached, table), predict(fresh, table), rtol=1e-5, atol=1e-5)
    finally:
        torch.set_num_threads(threads)


def test_a_failing_worker_is_named_and_the_worker_count_is_checked(brightness_world, tmp_path, monkeypatch):
    no_val = brightness_world[brightness_world.split != "val"]
    job = training.TrainJob("cnniqa", "smoke", no_val, {}, TrainConfig(epochs=1), str(tmp_path))
    with pytest.raises(RuntimeError, match="training cnniqa in a worker process failed: ValueError: need training images"):
        training.train_in_parallel([job, job], workers=2, progress=False)
    monkeypatch.setenv("IQAXAI_TRAIN_WORKERS", "0")
    with pytest.raises(ValueError, match="IQAXAI_TRAIN_WORKERS must be a positive integer"):
        training.training_workers(3, "cpu")
    monkeypatch.setenv("IQAXAI_TRAIN_WORKERS", "4")
    assert training.training_workers(3, "cpu") == 3 and training.training_workers(0, "cpu") == 1
    monkeypatch.delenv("IQAXAI_TRAIN_WORKERS")
    assert 1 <= training.training_workers(5, "cpu") <= 5
