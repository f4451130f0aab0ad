"""Tables I and II under every halves rule, on planted models and planted halves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from iqaxai.grid import top_half
from iqaxai.models.base import IQAModel, ModelInfo
from iqaxai.rule_sensitivity import TABLE_I_VALUES, spread, table_i_by_rule, table_ii_by_rule
from iqaxai.stats import plcc
from iqaxai.zeroing import predict_zeroed


class TwoBlocks(IQAModel):
    """Score = mean of the normalised red channel over block 5, plus 0.3 x that over block 0 (3x4 grid, 96x128)."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("two_blocks")

    def forward(self, x):
        z = self.normalise(x)[:, 0]
        return z[:, 32:64, 32:64].mean((-1, -2)) + 0.3 * z[:, :32, :32].mean((-1, -2))


def _halves(n: int, important_blocks: list[int]) -> np.ndarray:
    h = np.zeros((n, 12), dtype=bool)
    h[:, important_blocks] = True
    return h


def _random_block_images(folder, n: int = 30) -> pd.DataFrame:
    """PNG images 96x128 whose 32x32 blocks have independent random grey levels, with random MOS."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        blocks = rng.integers(0, 256, (3, 4), dtype=np.uint8)
        pixels = np.repeat(np.repeat(blocks, 32, 0), 32, 1)
        path = folder / f"img{i:02d}.png"
        Image.fromarray(np.stack([pixels] * 3, -1)).save(path)
        rows.append({"image": path.name, "path": str(path), "mos": float(rng.uniform(0, 100))})
    return pd.DataFrame(rows)


def test_table_i_by_rule_ranks_planted_halves(monkeypatch, tmp_path):
    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path / "cache"))
    test = _random_block_images(tmp_path)
    run = SimpleNamespace(model=TwoBlocks().eval(), fingerprint="planted", input_size=None, display="TwoBlocks")
    rules = {"block 5 important": _halves(len(test), [5, 1, 2, 3, 4, 6]),
             "block 5 trivial": _halves(len(test), [0, 1, 2, 3, 4, 6])}
    table = table_i_by_rule({"two_blocks": run}, test, rules, progress=False)
    assert list(table.columns) == ["rule", "model", *TABLE_I_VALUES, "gap"]
    assert table["model"].tolist() == ["TwoBlocks", "mean"] * 2
    # closed form of one entry: keeping block 5 alone (trivial zeroed under the first rule) against the original
    original = predict_zeroed(run.model, test, None)
    kept = predict_zeroed(run.model, test, ~rules["block 5 important"])
    row = table[(table["rule"] == "block 5 important") & (table["model"] == "TwoBlocks")].iloc[0]
    assert row["trivial: predicted"] == pytest.approx(plcc(original, kept))
    gaps = table[table["model"] == "mean"].set_index("rule")["gap"]
    assert gaps["block 5 important"] > 0.3 and gaps["block 5 trivial"] < -0.3  # the rule decides the sign


def test_table_ii_by_rule_planted():
    rng = np.random.default_rng(0)
    values = {"a": rng.random((50, 12)), "b": rng.random((50, 12))}
    rules = {"follows a": top_half(values["a"]), "against a": ~top_half(values["a"])}
    table = table_ii_by_rule(rules, values, thresholds=[1, 5])
    a = table[table["measure"] == "a"].set_index("rule")
    assert a.loc["follows a", "T=5"] == 100.0 and a.loc["against a", "T=1"] == 0.0
    b = table[table["measure"] == "b"].set_index("rule")
    assert 0 < b.loc["follows a", "T=1"] < 100  # an unrelated measure matches some images, not all
    s = spread(table, "measure", ["T=1", "T=5"])
    assert s.loc["a", ("T=5", "range")] == 100.0
    assert s.loc["a", ("T=5", "min")] == 0.0


def test_bad_input_is_refused():
    values = {"a": np.random.default_rng(0).random((5, 12))}
    with pytest.raises(ValueError, match="bool \\[5, B\\]"):
        table_ii_by_rule({"r": np.ones((4, 12), dtype=bool)}, values)
    with pytest.raises(ValueError, match="bool"):
        table_ii_by_rule({"r": np.ones((5, 12))}, values)
    with pytest.raises(ValueError, match="no rule"):
        table_ii_by_rule({}, values)
    with pytest.raises(ValueError, match="different numbers"):
        table_ii_by_rule({"r": top_half(values["a"])}, {"a": values["a"], "b": values["a"][:3]})
    with pytest.raises(ValueError, match="lacks"):
        spread(pd.DataFrame({"rule": ["x"]}), "measure", ["T=1"])
