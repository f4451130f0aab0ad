"""Tests for iqaxai.outlier_study (thesis "Explainable AI for IQA", Sec. 4.1-4.2) and the SPAQ BL loader."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from iqaxai import outlier_study as study
from iqaxai import stats
from iqaxai.data.common import DatasetError
from iqaxai.models import pyiqa_adapter
from iqaxai.models.baselines import SPAQBaseline, load_spaq_release
from iqaxai.outlier_study import SkipModel
from iqaxai.paper_results import thesis_table_4_3

N = 400
UNDER_OFFSETS = (50.0, 30.0, 45.0, 35.0, 40.0, 55.0)  # MOS pushed up: the model underestimates these
OVER_OFFSETS = (38.0, 52.0, 33.0, 47.0)  # MOS pushed down: overestimated


def planted(seed: int = 0, n: int = N):
    """pred 0..100, MOS = 20 + 0.6 pred + noise far inside the per-image SD, and 6 + 4 planted misses.

    Returns pred, mos, sd, under (indices), over (indices); the planted offsets are UNDER/OVER_OFFSETS in order.
    """
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0, 100, n)
    sd = rng.uniform(4, 8, n)
    mos = 20 + 0.6 * pred + rng.normal(size=n) * 0.25 * sd
    idx = rng.choice(n, len(UNDER_OFFSETS) + len(OVER_OFFSETS), replace=False)
    under, over = idx[: len(UNDER_OFFSETS)], idx[len(UNDER_OFFSETS):]
    mos[under] += UNDER_OFFSETS
    mos[over] -= OVER_OFFSETS
    return pred, mos, sd, under, over


# --- outlier table: planted outliers and their directions ---------------------------------------------------


@pytest.fixture(scope="module")
def long_table():
    pred, mos, sd, under, over = planted(0)
    preds = {("dbcnn", "clive"): (pred, mos, sd),
             ("dbcnn_lower_better", "clive"): (-pred, mos, sd),  # a metric where lower means better
             ("dbcnn", "spaq"): (pred, mos, None)}
    return study.outlier_table(preds, top_percents=(5, 30)), under, over


@pytest.mark.parametrize("top", [5.0, 30.0])
@pytest.mark.parametrize("model", ["dbcnn", "dbcnn_lower_better"])
def test_planted_outliers_found_with_directions(long_table, top, model):
    table, under, over = long_table
    rows = table[(table.model == model) & (table.dataset == "clive") & (table.top_percent == top)].set_index("method")
    assert list(rows.index) == ["loo_plcc", "ransac", "logistic_2sigma", "combined"]
    assert (rows.n_methods == 3).all() and (rows.n_images == N).all()
    # the noise stays far inside 2 sigma, so the 2-sigma rule and the combination flag exactly the planted images
    for method in ("logistic_2sigma", "combined"):
        assert rows.loc[method, ["outliers", "under", "over"]].tolist() == [10, 6, 4]
    k = int(top * N / 100)
    for method in ("loo_plcc", "ransac"):  # capped at the top p %, the planted ones among them
        assert 10 <= rows.loc[method, "outliers"] <= k
        assert rows.loc[method, "under"] + rows.loc[method, "over"] == rows.loc[method, "outliers"]
        assert rows.loc[method, "under"] >= 6 and rows.loc[method, "over"] >= 4


def test_planted_outlier_flags_are_the_planted_images():
    pred, mos, sd, under, over = planted(1)
    for top in (5, 30):
        flags = study.outlier_flags({("m", "d"): (pred, mos, sd)}, top_percent=top)[("m", "d")]
        assert set(np.flatnonzero(flags["combined"])) == set(under) | set(over)
        for method in ("loo_plcc", "ransac"):
            assert flags[method].to_numpy()[np.r_[under, over]].all()


def test_dataset_without_sd_combines_two_methods(long_table):
    table, _, _ = long_table
    rows = table[(table.dataset == "spaq") & (table.top_percent == 5)].set_index("method")
    assert list(rows.index) == ["loo_plcc", "ransac", "combined"]
    assert (rows.n_methods == 2).all()
    assert rows.loc["combined", "under"] >= 6 and rows.loc["combined", "over"] >= 4
    assert "logistic_2sigma" in table.attrs["skipped"][("dbcnn", "spaq")]


def test_outlier_table_bad_inputs():
    pred, mos, sd, _, _ = planted(2, n=60)
    with pytest.raises(ValueError, match="differ in length"):
        study.outlier_table({("m", "d"): (pred[:-1], mos, sd)})
    with pytest.raises(ValueError, match="sd and mos differ"):
        study.outlier_table({("m", "d"): (pred, mos, sd[:-2])})
    bad = mos.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="mos has 1 NaN/inf value.*position 7"):
        study.outlier_table({("m", "d"): (pred, bad, sd)})
    with pytest.raises(ValueError, match=r"\(model, dataset\)"):
        study.outlier_table({"m": (pred, mos, sd)})
    with pytest.raises(ValueError, match="non-empty"):
        study.outlier_table({})
    with pytest.raises(ValueError, match="top_percent"):
        study.outlier_table({("m", "d"): (pred, mos, sd)}, top_percents=(0,))


# --- Table 4.3 ------------------------------------------------------------------------------------------------


def _long_rows(models, datasets, methods=("loo_plcc", "ransac", "combined"), top=5.0):
    """An outlier_table()-shaped table with distinct counts: under = 10 * model number + dataset number."""
    rows = [{"model": m, "dataset": d, "top_percent": top, "method": meth, "n_images": 100, "n_methods": 2,
             "outliers": 0, "under": 10 * i + j if meth == "combined" else -1, "over": 100 + 10 * i + j}
            for i, m in enumerate(models) for j, d in enumerate(datasets) for meth in methods]
    return pd.DataFrame(rows, columns=study.OUTLIER_TABLE_COLUMNS)


def test_table_4_3_layout_matches_the_thesis_table():
    models, datasets = list(study.THESIS_MODELS)[::-1], list(study.THESIS_DATASETS)[::-1]  # pivot restores order
    long = _long_rows(models, datasets)
    ours, theirs = study.table_4_3(long), thesis_table_4_3()
    assert ours.index.equals(theirs.index) and ours.columns.equals(theirs.columns)
    assert ours.index.name == theirs.index.name and list(ours.columns.names) == list(theirs.columns.names)
    assert (ours.dtypes == theirs.dtypes).all()
    i, j = models.index("koncept512"), datasets.index("tid2013")
    assert ours.loc["TID2013", ("KonIQ", "Under")] == 10 * i + j
    assert ours.loc["TID2013", ("KonIQ", "Over")] == 100 + 10 * i + j
    with pytest.raises(ValueError, match="no rows for top_percent=30"):
        study.table_4_3(long, top_percent=30)
    partial = study.table_4_3(long[~((long.model == "musiq") & (long.dataset == "clive"))])
    assert partial.loc["CLIVE", ("MUSIQ", "Under")] is pd.NA
    with pytest.raises(ValueError, match="more than one row"):
        study.table_4_3(pd.concat([long, long]))


def test_table_4_3_from_outlier_table(long_table):
    table, _, _ = long_table
    t = study.table_4_3(table[table.model == "dbcnn"], top_percent=30)
    assert list(t.index) == ["CLIVE", "SPAQ"] and list(t.columns) == [("DBCNN", "Under"), ("DBCNN", "Over")]
    assert t.loc["CLIVE"].tolist() == [6, 4]
    ransac = table[(table.model == "dbcnn") & (table.dataset == "spaq") & (table.top_percent == 30)
                   & (table.method == "ransac")].iloc[0]
    assert study.table_4_3(table[table.model == "dbcnn"], 30, "ransac").loc["SPAQ"].tolist() == \
        [ransac.under, ransac.over]


def test_thesis_table_4_3_numbers():
    t = thesis_table_4_3()
    assert list(t.index) == ["KonIQ-10k", "CLIVE", "SPAQ", "TID2013"]
    assert list(t.columns.get_level_values(0)[::2]) == ["DBCNN", "CNNIQA", "SPAQ", "KonIQ", "MUSIQ"]
    assert t.sum(axis=1).tolist() == [126, 145, 129, 130]
    assert t.loc["CLIVE", ("MUSIQ", "Under")] == 14 and t.loc["TID2013", ("DBCNN", "Over")] == 33
    assert t.loc["SPAQ", ("KonIQ", "Over")] == 13 and t.loc["KonIQ-10k", ("CNNIQA", "Under")] == 13


# --- common outliers and galleries -------------------------------------------------------------------------


def _mask(n, idx):
    m = np.zeros(n, dtype=bool)
    m[list(idx)] = True
    return m


def test_common_outliers_of_planted_sets():
    flags = {"a": _mask(50, {1, 2, 3, 7, 40}), "b": _mask(50, {2, 3, 7, 9, 40}), "c": _mask(50, {0, 2, 3, 7, 8})}
    assert study.common_outliers(flags).tolist() == [2, 3, 7]
    assert study.common_outliers({"a": flags["a"], "b": flags["b"]}).tolist() == [2, 3, 7, 40]
    assert study.common_outliers({"a": flags["a"].astype(int), "b": flags["b"]}).tolist() == [2, 3, 7, 40]
    by = study.common_outliers_by_dataset({("a", "x"): flags["a"], ("b", "x"): flags["b"],
                                           ("a", "y"): flags["c"], ("b", "y"): flags["b"]})
    assert by["x"].tolist() == [2, 3, 7, 40] and by["y"].tolist() == [2, 3, 7]


def test_common_outliers_alignment_checks():
    with pytest.raises(ValueError, match="lengths differ"):
        study.common_outliers({"a": _mask(50, {1}), "b": _mask(49, {1})})
    s = pd.Series(_mask(4, {1}), index=["i0", "i1", "i2", "i3"])
    with pytest.raises(ValueError, match="index of 'b' differs"):
        study.common_outliers({"a": s, "b": s.set_axis(["i1", "i0", "i2", "i3"])})
    with pytest.raises(ValueError, match="boolean"):
        study.common_outliers({"a": np.array([0, 2, 1])})
    with pytest.raises(ValueError, match="no flags for model"):
        study.common_outliers_by_dataset({("a", "x"): _mask(5, {1}), ("b", "x"): _mask(5, {1}),
                                          ("a", "y"): _mask(5, {1})})


def test_gallery_orders_by_miss():
    rng = np.random.default_rng(4)
    pred = rng.uniform(0, 100, 200)
    trend = 20 + 0.6 * pred
    mos = trend.copy()
    under, over = np.array([5, 17, 60, 99, 120, 150]), np.array([3, 44, 71, 180])
    mos[under] += UNDER_OFFSETS
    mos[over] -= OVER_OFFSETS
    flags = _mask(200, list(under) + list(over) + [0, 1])  # images 0, 1: flagged but on the trend (no miss)
    u, o = study.gallery(pred, mos, flags, n=4, mapped=trend)
    assert u.tolist() == under[np.argsort(UNDER_OFFSETS)[::-1]][:4].tolist()
    assert o.tolist() == over[np.argsort(OVER_OFFSETS)[::-1]][:4].tolist()
    # with the fitted logistic mapping: the same images on each side, ordered by their fitted miss
    u_all, o_all = study.gallery(pred, mos, flags, n=100)
    miss = mos - stats.map_logistic(pred, mos)
    assert set(u_all[:6]) == set(under) and set(o_all[:4]) == set(over)  # images 0, 1 (tiny misses) come last
    assert len(u_all) + len(o_all) == 12
    assert np.all(np.diff(miss[u_all]) <= 0) and np.all(np.diff(-miss[o_all]) <= 0)
    assert study.gallery(pred, mos, flags, n=0, mapped=trend)[0].size == 0
    with pytest.raises(ValueError, match="non-negative"):
        study.gallery(pred, mos, flags, n=-1)
    with pytest.raises(ValueError, match="differ in length"):
        study.gallery(pred, mos, flags[:-1], n=2)


# --- models ----------------------------------------------------------------------------------------------------


class AuthorsBaseline(nn.Module):
    """h4nwei/SPAQ BL_demo.py's Baseline: torchvision resnet50 with fc = Linear(2048, 1), as ``self.backbone``."""

    def __init__(self):
        super().__init__()
        import torchvision

        self.backbone = torchvision.models.resnet50(weights=None)
        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, 1, bias=True)

    def forward(self, x):
        return self.backbone(x)


@pytest.fixture(scope="module")
def one_thread():
    """ResNet50 forwards on one thread: several times faster than two on a shared two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def spaq_release(tmp_path_factory, one_thread):
    """A BL_release.pt in the authors' format (random weights, random BatchNorm statistics) and its network."""
    torch.manual_seed(0)
    net = AuthorsBaseline()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
        net.backbone.fc.bias.fill_(61.5)
    path = tmp_path_factory.mktemp("spaq") / "BL_release.pt"
    torch.save({"state_dict": net.state_dict()}, path)
    return path, net.eval()


def test_spaq_release_gives_the_authors_output(spaq_release, tmp_path):
    path, net = spaq_release
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    model = load_spaq_release(SPAQBaseline("resnet50", pretrained=False), path).eval()
    assert model.info.normalisation == "none"
    with torch.no_grad():
        want = net(x)[:, 0]
        assert want.abs().min() > 1  # a real score, not a zero head
        torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-4)
        # in float64 (loaded into a float64 model, so the head's W/25 and (b-50)/25 are not rounded to float32)
        # the two networks agree to rounding: the mapping of every weight is exact
        model64 = load_spaq_release(SPAQBaseline("resnet50", pretrained=False).double(), path).eval()
        got, want = model64(x.double()), net.double()(x.double())[:, 0]
        net.float()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-10)
    # DataParallel prefixes and a bare state dict load the same
    bare = tmp_path / "bare.pt"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, bare)
    again = load_spaq_release(SPAQBaseline("resnet50", pretrained=False), bare).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model.float()(x))


def test_spaq_release_strict_key_check(spaq_release, tmp_path):
    path, net = spaq_release
    state = dict(net.state_dict())
    state.pop("backbone.layer4.2.conv3.weight")
    state["backbone.extra.weight"] = torch.zeros(1)
    broken = tmp_path / "broken.pt"
    torch.save({"state_dict": state}, broken)
    with pytest.raises(ValueError, match=r"missing keys: backbone\.body\.stages\.3\.2\.conv3\.weight.*"
                                         r"unexpected keys: backbone\.extra\.weight"):
        load_spaq_release(SPAQBaseline("resnet50", pretrained=False), broken)
    with pytest.raises(ValueError, match="shape mismatches"):  # a ResNet18 SPAQBaseline is not the release
        load_spaq_release(SPAQBaseline("resnet18", pretrained=False), path)
    with pytest.raises(FileNotFoundError):
        load_spaq_release(SPAQBaseline("tiny", pretrained=False), tmp_path / "absent.pt")


def test_thesis_outlier_model_loads_spaq_release(spaq_release):
    path, net = spaq_release
    model = study.thesis_outlier_model("SPAQ", checkpoint=path)
    assert isinstance(model, SPAQBaseline) and model.patch_eval and not model.training
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))  # one patch: same as the network
    with torch.no_grad():
        torch.testing.assert_close(model(x), net.float()(x)[:, 0], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["musiq", "CNNIQA", "dbcnn"])
def test_pyiqa_models_skip_without_pyiqa(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "pyiqa", None)  # absent, even where it is installed
    with pytest.raises(SkipModel) as info:
        study.thesis_outlier_model(name)
    display = study.thesis_model(name).display
    assert str(info.value).startswith(f"{display} skipped: pyiqa is not installed")
    assert "\n" not in str(info.value)


def test_pyiqa_offline_weights_skip(monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("pyiqa metric 'musiq': its pretrained weights are not cached at /x and\n"
                           "HF_HUB_OFFLINE is set")

    monkeypatch.setattr(pyiqa_adapter, "PyiqaModel", offline)
    with pytest.raises(SkipModel, match="^MUSIQ skipped: pyiqa metric 'musiq': its pretrained weights are not cached"):
        study.thesis_outlier_model("musiq")


@pytest.mark.parametrize("name, file", [("spaq_baseline", "BL_release.pt"), ("koncept512", "koncept512.pt")])
def test_checkpoint_models_skip_without_weights(tmp_path, name, file):
    with pytest.raises(SkipModel) as info:
        study.thesis_outlier_model(name, root=tmp_path)
    m = study.thesis_model(name)
    expected = tmp_path / m.checkpoint
    assert str(info.value).startswith(f"{m.display} skipped: weights file {file} not found at {expected}")
    assert info.value.model == m.display and "\n" not in str(info.value)


def test_koncept512_keras_weights_named_in_the_reason(tmp_path):
    folder = tmp_path / "weights" / "koncept512"
    folder.mkdir(parents=True)
    (folder / study.KONCEPT512_KERAS_FILE).write_bytes(b"HDF")
    with pytest.raises(SkipModel, match="found the authors' Keras weights .* must first be converted"):
        study.thesis_outlier_model("koncept512", root=tmp_path)


def test_thesis_models_and_unknown_names():
    assert list(study.THESIS_MODELS) == ["cnniqa", "dbcnn", "koncept512", "spaq_baseline", "musiq"]
    assert {m.trained_on for k, m in study.THESIS_MODELS.items() if k != "spaq_baseline"} == {"KonIQ-10k"}
    assert study.THESIS_MODELS["spaq_baseline"].trained_on == "SPAQ"
    assert sorted(m.table_name for m in study.THESIS_MODELS.values()) == sorted(study.TABLE_4_3_MODELS)
    assert study.thesis_model("KonIQ").key == "koncept512"
    with pytest.raises(ValueError, match="unknown thesis model 'hyperiqa'"):
        study.thesis_outlier_model("hyperiqa")


# --- scorers, cached predictions, the consensus handed to notebook 07 ------------------------------------------


class MeanRed(nn.Module):
    """Score = 100 x the mean red value (a planted model)."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        self.calls += 1
        return 100 * self.w * x[:, 0].mean((-1, -2))


def _tables(folder, n: int = 12):
    from PIL import Image

    rng = np.random.default_rng(0)
    tables = {}
    for dataset, size in (("a", (24, 32)), ("b", (20, 20))):
        rows = []
        for i in range(n):
            red = rng.integers(0, 256)
            path = folder / f"{dataset}{i}.png"
            Image.fromarray(np.full((*size, 3), red, dtype=np.uint8)).save(path)
            rows.append({"image": path.name, "path": str(path), "mos": 100 * red / 255 + rng.normal(), "sd": 1.0,
                         "red": red / 255})
        tables[dataset] = pd.DataFrame(rows)
    return tables


def test_predictions_are_the_model_scores_and_cached(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path / "cache"))
    tables = _tables(tmp_path)
    model = MeanRed()
    trained = {"red": SimpleNamespace(display="Red", model=model, input_size=None, fingerprint="w1")}
    scorers = study.thesis_scorers(trained, [], report=pytest.fail)
    preds = study.predictions(scorers, tables, progress=False)
    assert set(preds) == {("red", "a"), ("red", "b")}
    pred, mos, sd = preds[("red", "b")]
    np.testing.assert_allclose(pred, 100 * tables["b"]["red"].to_numpy(), atol=1e-4)
    np.testing.assert_array_equal(mos, tables["b"]["mos"].to_numpy())
    assert sd is not None and np.all(sd == 1.0)
    calls = model.calls
    study.predictions(scorers, tables, progress=False)
    assert model.calls == calls  # read back from the cache
    scorers["red"].fingerprint = "w2"  # other weights: computed again
    study.predictions(scorers, tables, progress=False)
    assert model.calls > calls


def test_thesis_scorers_skip_with_one_line(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setitem(sys.modules, "pyiqa", None)  # pyiqa absent, whatever this machine has
    lines = []
    trained = {"dbcnn": SimpleNamespace(display="DBCNN", model=MeanRed(), input_size=(96, 128), fingerprint="x")}
    scorers = study.thesis_scorers(trained, ["musiq", "dbcnn"], report=lines.append)
    assert list(scorers) == ["dbcnn"] and not scorers["dbcnn"].released  # the trained one stays
    assert len(lines) == 2 and lines[0].startswith("MUSIQ skipped") and lines[1].startswith("DBCNN skipped")
    with pytest.raises(ValueError, match="no model to run"):
        study.thesis_scorers({}, ["musiq"], report=lines.append)


def test_outlier_consensus_counts_models_and_directions():
    pred, mos, sd, under, over = planted(1, n=200)
    images = pd.DataFrame({"image": [f"i{i}" for i in range(200)], "path": [f"/x/i{i}.png" for i in range(200)], "mos": mos})
    pred_b = pred.copy()
    pred_b[under[:2]] = 100.0  # model b predicts two of the underestimated images as excellent: not outliers of b
    preds = {("a", "d"): (pred, mos, sd), ("b", "d"): (pred_b, mos, sd)}
    flags = study.outlier_flags(preds, top_percent=5)
    table = study.outlier_consensus(flags, preds, {"d": images})
    assert list(table.columns) == study.CONSENSUS_COLUMNS
    both = table[table["n_models"] == 2]
    assert set(both["image"]) == {f"i{i}" for i in [*under[2:], *over]}
    assert (both["of_models"] == 2).all() and table["n_models"].is_monotonic_decreasing
    direction = both.set_index("image")["direction"]
    assert all(direction[f"i{i}"] == "under" for i in under[2:]) and all(direction[f"i{i}"] == "over" for i in over)
    assert set(table.loc[table["n_models"] == 1, "models"]) == {"a"}
    assert "path" not in table  # names, not paths on the machine that ran notebook 06


def test_outliers_to_explain_finds_the_paths_on_this_machine(tmp_path):
    consensus = pd.DataFrame({"dataset": ["d", "d", "KonIQ-10k"], "image": ["i7", "i3", "10004473376.jpg"],
                              "mos": [1.0, 2.0, 3.0], "n_models": [2, 2, 1], "of_models": 2, "models": "a b",
                              "direction": "under"})
    here = pd.DataFrame({"image": [f"i{i}" for i in range(10)], "path": [f"/here/i{i}.png" for i in range(10)]})
    consensus.to_csv(tmp_path / "c.csv", index=False)
    picked = study.outliers_to_explain(tmp_path / "c.csv", 2, {"d": here})
    assert list(picked["image"]) == ["i7", "i3"] and list(picked["path"]) == ["/here/i7.png", "/here/i3.png"]
    with pytest.raises(ValueError, match="not in the d table, e.g. 'i7'"):
        study.outliers_to_explain(consensus, 2, {"d": here.iloc[:5]})
    with pytest.raises(ValueError, match="names an image twice"):
        study.outliers_to_explain(consensus, 2, {"d": pd.concat([here, here])})
    with pytest.raises(ValueError, match="dataset 'd': give its table"):
        study.outliers_to_explain(consensus, 2)
    with pytest.raises(DatasetError, match="koniq10k' not found"):  # a thesis dataset by name, from the data root
        study.outliers_to_explain(consensus, 3, {"d": here}, root=tmp_path)
    with pytest.raises(ValueError, match="missing"):
        study.outliers_to_explain(consensus.drop(columns="models"), 3)
    with pytest.raises(ValueError, match="empty"):
        study.outliers_to_explain(consensus.iloc[:0], 3)
