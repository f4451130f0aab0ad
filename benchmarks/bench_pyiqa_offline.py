"""How fast ``PyiqaModel`` fails when it cannot get weights: pyiqa missing, ``HF_HUB_OFFLINE=1``, network unreachable.

The tests (``tests/test_pyiqa_adapter.py``) check *what* happens offline without a clock and without the
network (which probe is called, with which timeout, that none is called under ``HF_HUB_OFFLINE``); this
script measures *how long* it takes, on this machine and its network. Printed per case: the best wall time of
a few runs, the bound the adapter promises, and the ratio time / bound (target <= 1):

- pyiqa blocked (``import pyiqa`` fails): ``ImportError`` from ``PyiqaModel``, ``pyiqa_model`` and
  ``list_pyiqa_models``; bound 1 s (nothing but an import attempt should run);
- weights not cached, ``HF_HUB_OFFLINE=1``: ``RuntimeError`` with no network probe (a minimal fake
  pyiqa stands in, so no real pyiqa or weights are needed); bound 1 s;
- weights not cached, real network probe of ``--host`` (default ``unreachable.invalid``, which no resolver
  answers; a blackhole address such as 10.255.255.1 exercises the connection timeout instead): the
  adapter's ``RuntimeError``, and the probe alone with ``--timeout``; bounds ``PROBE_TIMEOUT + 0.5 s``
  and ``timeout + 0.5 s`` (the probe thread's join limit).

This one does touch the network (name lookups and connections to ``--host``): run it by hand, never in CI.
Run: ``.venv/bin/python benchmarks/bench_pyiqa_offline.py [--host 10.255.255.1] [--timeout 0.5]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import types
from contextlib import contextmanager

from iqaxai.models import pyiqa_adapter
from iqaxai.models.pyiqa_adapter import PyiqaModel, list_pyiqa_models, pyiqa_model


def best_of(fn, repeats: int) -> tuple[float, str]:
    """Smallest wall time of ``fn()`` over ``repeats`` runs, and what the last run raised (or returned)."""
    times, outcome = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            outcome = f"returned {fn()!r}"
        except Exception as exc:  # noqa: BLE001 - the failure is what is measured
            outcome = f"{type(exc).__name__}: {str(exc)[:90]}..."
        times.append(time.perf_counter() - start)
    return min(times), outcome


@contextmanager
def patched_modules(**modules):
    """Within the block, ``sys.modules[name]`` is ``module`` (None blocks the import)."""
    saved = {name: sys.modules.get(name, KeyError) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is KeyError:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@contextmanager
def env(**values):
    """Within the block, the environment variables ``values`` are set (None: unset)."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fake_pyiqa(cache_dir: str, weights_url: str) -> types.ModuleType:
    """A minimal pyiqa: one NR metric whose weights (``weights_url``) are not in ``cache_dir``."""
    module = types.ModuleType("pyiqa")
    module.DEFAULT_CONFIGS = {"fakeiqa": {"metric_opts": {"type": "FakeNet", "pretrained_model_path": weights_url},
                                          "metric_mode": "NR"}}
    module.utils = types.SimpleNamespace(download_util=types.SimpleNamespace(DEFAULT_CACHE_DIR=cache_dir))

    def create_metric(*args, **kwargs):
        raise ConnectionError("the probe found the host reachable, so pyiqa was asked to build (download) the metric")

    module.create_metric = create_metric
    module.list_models = lambda metric_mode=None, **kw: ["fakeiqa"]
    return module


def report(label: str, seconds: float, bound: float, outcome: str) -> None:
    print(f"{label}\n  {seconds * 1e3:8.1f} ms   bound {bound * 1e3:.0f} ms   time / bound = {seconds / bound:.3f}"
          f"   ({outcome})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="unreachable.invalid", help="download host the probe is sent to")
    parser.add_argument("--timeout", type=float, default=0.5, help="probe timeout (s) for the probe alone")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}; PROBE_TIMEOUT = {pyiqa_adapter.PROBE_TIMEOUT} s\n")

    def blocked() -> str:
        for call in (lambda: PyiqaModel("musiq"), lambda: pyiqa_model("dbcnn"), list_pyiqa_models):
            try:
                call()
            except ImportError:
                continue
            raise AssertionError("expected ImportError")
        return "ImportError from each"

    with patched_modules(pyiqa=None):
        seconds, outcome = best_of(blocked, args.repeats)
        report("pyiqa blocked: PyiqaModel, pyiqa_model, list_pyiqa_models", seconds, 1.0, outcome)

    with tempfile.TemporaryDirectory() as cache:
        url = f"https://{args.host}/chaofengc/IQA-PyTorch-Weights/resolve/main/fake-0123.pth"
        with patched_modules(pyiqa=fake_pyiqa(cache, url)):
            with env(HF_HUB_OFFLINE="1"):
                seconds, outcome = best_of(lambda: PyiqaModel("fakeiqa"), args.repeats)
                report("weights not cached, HF_HUB_OFFLINE=1: RuntimeError, no probe", seconds, 1.0, outcome)
            with env(HF_HUB_OFFLINE=None):
                seconds, outcome = best_of(lambda: PyiqaModel("fakeiqa"), args.repeats)
                report(f"weights not cached, real probe of {args.host}", seconds,
                       pyiqa_adapter.PROBE_TIMEOUT + 0.5, outcome)

    seconds, outcome = best_of(lambda: pyiqa_adapter._network_available(args.host, 443, timeout=args.timeout),
                               args.repeats)
    report(f"probe alone: _network_available({args.host!r}, timeout={args.timeout})", seconds, args.timeout + 0.5,
           outcome)


if __name__ == "__main__":
    main()
