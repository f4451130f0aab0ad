"""Shared fixtures: a small demo world generated once per test session."""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from iqaxai.data.demo import DemoConfig, make_demo_world  # noqa: E402

SMALL_WORLD = DemoConfig(n_references=16, versions_per_reference=5, height=96, width=128, seed=3)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """A 80-image demo world at 96x128 (root path, config)."""
    root = tmp_path_factory.mktemp("demo") / "world"
    make_demo_world(root, SMALL_WORLD, progress=False)
    return root, SMALL_WORLD
