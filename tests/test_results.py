"""Tests for iqaxai.results."""

from __future__ import annotations

import json
import multiprocessing
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iqaxai import results
from iqaxai.results import CacheConfigError, ResultsCache, cached, config_key

CONFIG = {"model": "resnet18", "lr": 1e-3, "seeds": (0, 1), "masks": np.arange(3), "w": np.float32(0.5)}


class Counter:
    """A job function that counts its calls and can fail on a chosen argument."""

    def __init__(self, fail_on: int | None = None):
        self.calls: list[int] = []
        self.fail_on = fail_on

    def __call__(self, arg: int) -> dict:
        if arg == self.fail_on:
            raise RuntimeError("interrupted")
        self.calls.append(arg)
        return {"map": np.full((2, 3), arg, dtype=np.float32), "score": arg / 7}


ITEMS = {f"img{i:02d}": i for i in range(6)}


def test_config_key_stable_and_distinct(tmp_path):
    reordered = dict(reversed(list(CONFIG.items())))
    assert config_key(CONFIG) == config_key(reordered) == config_key(dict(CONFIG))
    assert len(config_key(CONFIG)) == 16
    assert config_key({"a": Path("x") / "y"}) == config_key({"a": "x/y"})
    assert config_key({"a": np.int64(3)}) == config_key({"a": 3})
    for other in ({**CONFIG, "lr": 1e-4}, {**CONFIG, "masks": np.arange(4)}, {"model": "resnet18"}):
        assert config_key(other) != config_key(CONFIG)
    assert config_key({"a": np.arange(3)}) != config_key({"a": np.arange(3.0)})
    with pytest.raises(TypeError, match="not supported"):
        config_key({"f": object()})


def test_config_key_same_in_another_process():
    code = "from iqaxai.results import config_key; print(config_key({'b': [1, 2.5], 'a': 'x'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == config_key({"a": "x", "b": (1, 2.5)})


def test_folder_layout_and_default_root(tmp_path, monkeypatch):
    cache = ResultsCache("sweep", CONFIG, root=tmp_path)
    assert cache.path == tmp_path / "sweep" / config_key(CONFIG)
    stored = json.loads((cache.path / "config.json").read_text())
    assert stored["model"] == "resnet18" and stored["seeds"] == [0, 1]
    ResultsCache("sweep", CONFIG, root=tmp_path)  # reopening with the same config is fine
    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path / "c"))
    assert ResultsCache("x", {}).path.parent == tmp_path / "c" / "results" / "x"


def test_map_computes_each_item_once(tmp_path):
    f = Counter()
    out = ResultsCache("job", {"k": 1}, root=tmp_path).map(f, ITEMS, progress=False)
    assert sorted(f.calls) == list(range(6))
    assert list(out) == list(ITEMS)
    g = Counter()
    again = ResultsCache("job", {"k": 1}, root=tmp_path).map(g, list(ITEMS.items()), desc="resume")
    assert g.calls == []
    for k in ITEMS:
        np.testing.assert_array_equal(again[k]["map"], out[k]["map"])
        assert again[k]["score"] == out[k]["score"]


def test_resume_after_interruption(tmp_path):
    first = ResultsCache("job", CONFIG, root=tmp_path)
    with pytest.raises(RuntimeError, match="interrupted"):
        first.map(Counter(fail_on=2), ITEMS, progress=False)
    assert first.done() == {"img00", "img01"}
    assert not [p for p in first.path.iterdir() if p.name.startswith(".tmp")]
    f = Counter()
    out = ResultsCache("job", CONFIG, root=tmp_path).map(f, ITEMS, progress=False)
    assert f.calls == [2, 3, 4, 5]
    assert set(out) == set(ITEMS) == first.done()
    assert out["img00"]["score"] == 0 and out["img05"]["score"] == 5 / 7


def test_round_trip_exact(tmp_path):
    cache = ResultsCache("rt", {}, root=tmp_path)
    rng = np.random.default_rng(0)
    value = {
        "f32": rng.normal(size=(4, 5)).astype(np.float32),
        "f64": rng.normal(size=7) * 1e300,
        "i8": np.array([-128, 0, 127], dtype=np.int8),
        "bool": np.array([True, False]),
        "nan": np.array([np.nan, np.inf, -0.0]),
        "float": 0.1,
        "int": 2**62 + 1,
        "np32": np.float32(1 / 3),
        "text": "I01_01_1.bmp",
        "file": 3,  # also a parameter name of np.savez
    }
    returned = cache.save("a", value)
    loaded = cache.load("a")
    assert loaded.keys() == value.keys()
    for k, v in value.items():
        assert np.asarray(loaded[k]).dtype == np.asarray(v).dtype, k
        assert np.asarray(loaded[k]).tobytes() == np.asarray(v).tobytes(), k
        assert np.asarray(returned[k]).tobytes() == np.asarray(v).tobytes(), k
    assert loaded["float"] == 0.1 and loaded["int"] == 2**62 + 1 and loaded["text"] == "I01_01_1.bmp"
    assert np.ndim(loaded["float"]) == 0 and loaded["f32"].shape == (4, 5)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    cache = ResultsCache("atomic", {}, root=tmp_path)

    def broken(member, arr, allow_pickle):
        member.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(results.np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        cache.save("x", {"a": np.zeros(3)})
    assert not cache.has("x") and cache.done() == set()
    assert [p.name for p in cache.path.iterdir()] == ["config.json"]


def test_invalid_values_and_ids(tmp_path):
    cache = ResultsCache("bad", {}, root=tmp_path)
    with pytest.raises(TypeError, match="dict"):
        cache.save("a", np.zeros(3))
    with pytest.raises(TypeError, match="not numeric"):
        cache.save("a", {"x": None})
    for bad in ("../escape", ".hidden", "a/b", "", 3):
        with pytest.raises(ValueError, match="invalid item id"):
            cache.has(bad)
    with pytest.raises(ValueError, match="unique"):
        cache.map(Counter(), [("a", 1), ("a", 2)], progress=False)
    with pytest.raises(KeyError):
        cache.load("missing")
    assert cache.done() == set()


def test_config_mismatch(tmp_path):
    cache = ResultsCache("job", {"lr": 0.1}, root=tmp_path)
    (cache.path / "config.json").write_text(json.dumps({"lr": 0.2}))
    with pytest.raises(CacheConfigError, match="different configuration"):
        ResultsCache("job", {"lr": 0.1}, root=tmp_path)


def test_tables_and_clear(tmp_path):
    cache = ResultsCache("tab", {}, root=tmp_path)
    df = pd.DataFrame({"model": ["a", "b"], "plcc": [0.91, 0.875], "n": [10, 12]})
    assert not cache.has_table("summary")
    cache.save_table("summary", df)
    pd.testing.assert_frame_equal(cache.load_table("summary"), df)
    cache.save("x", {"a": 1})
    assert cache.done() == {"x"}  # tables are not items
    cache.clear()
    assert cache.done() == set() and not cache.has_table("summary")
    assert (cache.path / "config.json").exists()


def test_cached(tmp_path):
    calls = []

    def train() -> dict:
        calls.append(1)
        return {"plcc": 0.9, "curve": np.linspace(0, 1, 5)}

    a = cached("train", {"epochs": 3}, train, root=tmp_path)
    b = cached("train", {"epochs": 3}, train, root=tmp_path)
    assert len(calls) == 1
    assert a["plcc"] == b["plcc"] == 0.9
    np.testing.assert_array_equal(a["curve"], b["curve"])
    cached("train", {"epochs": 4}, train, root=tmp_path)
    assert len(calls) == 2


# --- corrupt files, unsafe names, concurrent runs -------------------------------------------------------------

def _corrupt(path: Path, how: str) -> None:
    """Damage a cache file: cut it in half, overwrite it with text, or empty it."""
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a cache item" * 4, "empty": b""}[how])


def _count_corrupt(record) -> int:
    """How many CorruptCacheWarnings a pytest.warns record holds so far."""
    return sum(issubclass(w.category, results.CorruptCacheWarning) for w in record)


def test_corrupt_items_are_found_first_reported_and_recomputed(tmp_path):
    cache = ResultsCache("job", CONFIG, root=tmp_path)
    fresh = cache.map(Counter(), ITEMS, progress=False)
    for item, how in (("img01", "truncate"), ("img03", "garbage"), ("img04", "empty")):
        _corrupt(cache.path / f"{item}.npz", how)
    (cache.path / "img05.npz").unlink()
    warned_before_first_call = []

    with pytest.warns(results.CorruptCacheWarning, match=re.escape(str(cache.path)) + r"/img0\d\.npz") as record:
        class Recorder(Counter):
            def __call__(self, arg: int) -> dict:
                warned_before_first_call.append(_count_corrupt(record))
                return super().__call__(arg)

        f = Recorder()
        again = ResultsCache("job", CONFIG, root=tmp_path).map(f, ITEMS, progress=False)
    messages = [str(w.message) for w in record if issubclass(w.category, results.CorruptCacheWarning)]
    assert len(messages) == 3, [str(w.message) for w in record]
    for item in ("img01", "img03", "img04"):
        assert any(str(cache.path / f"{item}.npz") in m for m in messages), item
    assert warned_before_first_call[0] == 3  # every corrupt item is reported before anything is computed
    assert f.calls == [1, 3, 4, 5]
    for k in ITEMS:
        np.testing.assert_array_equal(again[k]["map"], fresh[k]["map"])
        assert cache.load(k)["score"] == fresh[k]["score"]  # the recomputed files read back


def test_load_names_a_corrupt_file_and_cached_recomputes_it(tmp_path):
    cache = ResultsCache("one", {}, root=tmp_path)
    cache.save("a", {"x": np.arange(10)})
    path = cache.path / "a.npz"
    _corrupt(path, "truncate")
    with pytest.raises(results.CorruptCacheError, match=re.escape(str(path)) + r".*delete it"):
        cache.load("a")
    np.save(path.with_suffix(".npy"), np.arange(3))
    path.with_suffix(".npy").replace(path)  # a plain .npy array under an item's name
    with pytest.raises(results.CorruptCacheError, match="not an .npz archive"):
        cache.load("a")
    path.write_bytes(b"")
    with pytest.raises(results.CorruptCacheError, match="empty file"):
        cache.load("a")

    calls = []
    value = {"plcc": 0.5}
    assert cached("train", {}, lambda: calls.append(1) or value, root=tmp_path)["plcc"] == 0.5
    result = tmp_path / "train" / config_key({}) / "result.npz"
    _corrupt(result, "garbage")
    with pytest.warns(results.CorruptCacheWarning, match=re.escape(str(result))):
        assert cached("train", {}, lambda: calls.append(1) or value, root=tmp_path)["plcc"] == 0.5
    assert len(calls) == 2
    assert cached("train", {}, lambda: calls.append(1) or value, root=tmp_path)["plcc"] == 0.5
    assert len(calls) == 2


@pytest.mark.parametrize("garbage", [b"{not json", b"", b"\xff\xfe\x00binary"])
def test_garbage_config_json_is_reported_and_written_again(tmp_path, garbage):
    cache = ResultsCache("job", CONFIG, root=tmp_path)
    cache.save("img00", {"score": 1.0})
    cfg = cache.path / "config.json"
    cfg.write_bytes(garbage)
    with pytest.warns(results.CorruptCacheWarning, match=re.escape(str(cfg)) + ".*writing it again"):
        reopened = ResultsCache("job", CONFIG, root=tmp_path)
    assert json.loads(cfg.read_text())["model"] == "resnet18"
    assert reopened.load("img00")["score"] == 1.0  # the folder's items belong to this configuration


@pytest.mark.parametrize("name", ["../../escape", "..", "a/b", "/tmp/abs", ".hidden", "", "a\\..\\b"])
def test_cache_names_cannot_leave_the_root(tmp_path, name):
    root = tmp_path / "cache" / "results"
    with pytest.raises(ValueError, match="invalid cache name"):
        ResultsCache(name, {}, root=root)
    with pytest.raises(ValueError, match="invalid cache name"):
        cached(name, {}, lambda: {"a": 1}, root=root)
    assert [p for p in tmp_path.rglob("*")] == []
    cache = ResultsCache("ok", {}, root=root)
    for bad in ("../escape", "../../t", ".x"):
        with pytest.raises(ValueError, match="invalid item id"):
            cache.save_table(bad, pd.DataFrame({"a": [1]}))
        with pytest.raises(ValueError, match="invalid item id"):
            cache.lock(bad)
    assert {p.name for p in cache.path.iterdir()} == {"config.json"}


def _sweep_worker(root: str, log: str, barrier) -> None:
    """One of two processes running the same job on one cache: logs every computed item."""
    def slow(arg: int) -> dict:
        with open(log, "a") as f:
            f.write(f"{arg}\n")
        time.sleep(0.15)
        return {"score": arg / 7}

    barrier.wait()
    out = ResultsCache("job", CONFIG, root=root).map(slow, ITEMS, progress=False)
    assert [out[k]["score"] for k in ITEMS] == [i / 7 for i in range(6)]


@pytest.mark.skipif(results.fcntl is None or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fcntl and fork")
def test_two_processes_on_one_cache_compute_each_item_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    log = tmp_path / "calls.txt"
    procs = [ctx.Process(target=_sweep_worker, args=(str(tmp_path), str(log), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(int(x) for x in log.read_text().split()) == list(range(6))
    cache = ResultsCache("job", CONFIG, root=tmp_path)
    assert cache.done() == set(ITEMS)
    assert not [p.name for p in cache.path.iterdir() if p.name.startswith(".")]  # no lock or temporary files left


def test_file_lock_excludes_a_second_holder(tmp_path):
    lock = tmp_path / ".x.lock"
    code = (f"import time; from iqaxai.results import file_lock\n"
            f"with file_lock({str(lock)!r}):\n    print('held', flush=True); time.sleep(1.0)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    tic = time.perf_counter()
    with results.file_lock(lock):
        waited = time.perf_counter() - tic
    child.wait(30)
    assert waited > 0.3 and not lock.exists()
