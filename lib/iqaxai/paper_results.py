"""Numbers published in the papers, for side-by-side display next to reproduced results (never as results)."""

from __future__ import annotations

import pandas as pd

#: ICIP 2023 Section 2: PLCC between TRIQ's predictions without masking and with the trivial or the important
#: half of the blocks masked ("0.97 vs. 0.67" on KonIQ-10k, "0.96 vs. 0.68" on SPAQ).
HALF_MASKING = {
    "koniq10k": {"trivial masked": 0.97, "important masked": 0.67},
    "spaq": {"trivial masked": 0.96, "important masked": 0.68},
}

#: ICIP 2023 "Half of an Image Is Enough", Table I: per dataset and model, the test PLCC, then PLCC after
#: zeroing the important regions (vs. the original prediction, vs. MOS) and the trivial regions (same two).
_TABLE_I = {
    "koniq10k": {
        "triq": (0.922, 0.680, 0.671, 0.972, 0.902),
        "aihiqnet": (0.929, 0.816, 0.804, 0.959, 0.896),
        "koncept512": (0.916, 0.817, 0.813, 0.960, 0.901),
        "dbcnn": (0.856, 0.804, 0.796, 0.963, 0.887),
        "swin_iqa": (0.956, 0.835, 0.811, 0.974, 0.921),
    },
    "spaq": {
        "triq": (0.916, 0.695, 0.675, 0.969, 0.907),
        "aihiqnet": (0.928, 0.810, 0.801, 0.958, 0.912),
        "koncept512": (0.831, 0.802, 0.788, 0.957, 0.811),
        "dbcnn": (0.894, 0.808, 0.797, 0.960, 0.868),
        "swin_iqa": (0.933, 0.804, 0.782, 0.963, 0.902),
    },
}
TABLE_I_COLUMNS = ["test_plcc", "important_vs_pred", "important_vs_mos", "trivial_vs_pred", "trivial_vs_mos"]


def table_i(dataset: str = "koniq10k") -> pd.DataFrame:
    """Table I of the ICIP 2023 paper for ``koniq10k`` or ``spaq`` (index: registry model names)."""
    if dataset not in _TABLE_I:
        raise KeyError(f"Table I reports koniq10k and spaq, not {dataset!r}")
    return pd.DataFrame.from_dict(_TABLE_I[dataset], orient="index", columns=TABLE_I_COLUMNS)

#: ICIP 2023 Table II: matching degree (%) between each semantic measure and the region importance, at
#: thresholds T = 1..5, on KonIQ-10k and SPAQ combined.
TABLE_II = {
    "saliency": (100, 96, 69.2, 52.4, 37.8),
    "spatial_frequency": (100, 99, 70.1, 60.1, 40.8),
    "objectness": (100, 100, 77.3, 66.6, 44.7),
    "average": (100, 100, 79.5, 65.8, 45.6),
}

#: ICIP 2023 Section 4.2: mean PLCC over the five models between original predictions and predictions with
#: the important / trivial half, chosen by the averaged semantic measure, zeroed.
AVERAGED_MEASURE_ZEROING = {"important zeroed": 0.803, "trivial zeroed": 0.885}


def table_ii() -> pd.DataFrame:
    """Table II of the ICIP 2023 paper (index: measure, columns: T=1..5)."""
    return pd.DataFrame.from_dict(TABLE_II, orient="index", columns=[f"T={t}" for t in range(1, 6)])


#: *Bridging the Gap Between Saliency Prediction and IQA*, Table I: saliency metrics on SALICON val (after the
#: map transforms) of the centre prior, HiResCAM maps of IQA models and two saliency-prediction models.
_SALIENCY_TABLE_I = {
    "CenterPrior": ("Dummy", 0.582, 0.534, 0.541, 0.784),
    "Baseline-EfficientNet": ("GradCAM from IQA", 0.604, 0.584, 0.637, 0.700),
    "Baseline-ResNet50": ("GradCAM from IQA", 0.621, 0.555, 0.590, 0.782),
    "TOPIQ": ("GradCAM from IQA", 0.597, 0.552, 0.572, 0.759),
    "DBCNN": ("GradCAM from IQA", 0.579, 0.566, 0.590, 0.707),
    "CLIP-IQA+": ("GradCAM from IQA", 0.584, 0.550, 0.589, 0.741),
    "MSINet": ("SOTA SP", 0.612, 0.767, 0.891, 0.252),
    "TranSalNet": ("SOTA SP", 0.613, 0.776, 0.903, 0.258),
}


#: Our method names (model display names, the two centre priors) -> the saliency paper's Table I names.
SALIENCY_PAPER_NAMES = {"Baseline": "Baseline-EfficientNet", "Baseline (ResNet50)": "Baseline-ResNet50", "DBCNN": "DBCNN",
                        "TOPIQ": "TOPIQ", "CLIP-IQA+": "CLIP-IQA+", "MSINet": "MSINet", "TranSalNet": "TranSalNet",
                        "CenterPrior (fitted)": "CenterPrior"}


def saliency_table_i() -> pd.DataFrame:
    """Table I of the saliency paper (SALICON val): type, NSS, SIM, CC, KLD per method (index: the paper's names)."""
    return pd.DataFrame.from_dict(_SALIENCY_TABLE_I, orient="index", columns=["type", "NSS", "SIM", "CC", "KLD"])


#: The saliency paper's Table II (means over 10 random 80/20 splits of KonIQ-10k): IQA SROCC/PLCC on the KonIQ-10k
#: test part and on CLIVE; NSS/SIM/CC/KLD on SALICON and CAT2000. None: not applicable ("-" in the paper).
_SALIENCY_TABLE_II = {
    "Center Prior": (None, None, None, None, 0.578, 0.536, 0.544, 0.779, 0.303, 0.599, 0.771, 0.672),
    "Baseline": (0.913, 0.931, 0.862, 0.848, 0.604, 0.584, 0.637, 0.700, 0.308, 0.613, 0.781, 0.585),
    "Baseline-Sal-Loss": (0.914, 0.930, 0.845, 0.839, 0.618, 0.688, 0.803, 0.429, 0.372, 0.665, 0.818, 0.433),
    "Baseline-GradCAM-Loss": (0.912, 0.931, 0.852, 0.840, 0.615, 0.703, 0.825, 0.396, 0.382, 0.676, 0.826, 0.403),
    "MSINet": (None, None, None, None, 0.612, 0.767, 0.891, 0.252, 0.370, 0.664, 0.820, 0.421),
    "TranSalNet": (None, None, None, None, 0.613, 0.776, 0.903, 0.258, 0.369, 0.670, 0.829, 0.407),
}
#: (dataset, metric) of the columns of :data:`_SALIENCY_TABLE_II`.
SALIENCY_TABLE_II_COLUMNS = [(d, m) for d in ("KonIQ-10k", "CLIVE") for m in ("SROCC", "PLCC")] + \
    [(d, m) for d in ("SALICON", "CAT2000") for m in ("NSS", "SIM", "CC", "KLD")]


def saliency_table_ii() -> pd.DataFrame:
    """Table II of the saliency paper (index: method; columns: (dataset, metric) pairs; NaN where not applicable)."""
    return pd.DataFrame.from_dict(_SALIENCY_TABLE_II, orient="index", dtype=float,
                                  columns=pd.MultiIndex.from_tuples(SALIENCY_TABLE_II_COLUMNS))


#: The saliency paper's Table III on SACID: type, SROCC, PLCC, KRCC† (Kendall tau within groups of one
#: sequence and bitrate) per metric, at full resolution.
_SACID_TABLE_III = {
    "MS-SSIM": ("NSS based", 0.807, 0.849, 0.013), "BRISQUE": ("NSS based", 0.817, 0.833, 0.144),
    "PSNR": ("NSS based", 0.822, 0.858, 0.009), "SSIM": ("NSS based", 0.835, 0.880, 0.004),
    "VIF": ("NSS based", 0.848, 0.891, 0.052), "EW-SSIM": ("NSS based", 0.850, 0.867, 0.272),
    "EW-PSNR": ("NSS based", 0.875, 0.893, 0.356),
    "AHIQ": ("FR", 0.789, 0.817, 0.091), "LPIPS": ("FR", 0.818, 0.854, 0.024), "PieAPP": ("FR", 0.833, 0.869, 0.069),
    "TOPIQ-FR": ("FR", 0.836, 0.848, 0.257), "DISTS": ("FR", 0.871, 0.904, 0.178),
    "MANIQA": ("NR", 0.752, 0.773, 0.128), "TReS": ("NR", 0.765, 0.800, 0.117), "HyperIQA": ("NR", 0.784, 0.802, 0.124),
    "SGDNet-None": ("NR", 0.820, 0.853, 0.302), "PaQ2PiQ": ("NR", 0.848, 0.858, 0.237),
    "SGDNet-Output": ("NR", 0.854, 0.879, 0.374), "Baseline-GradCAM-Loss": ("NR", 0.863, 0.865, 0.248),
    "CLIP-IQA+": ("NR", 0.869, 0.896, 0.196), "Baseline": ("NR", 0.871, 0.881, 0.217),
    "TOPIQ-NR": ("NR", 0.876, 0.886, 0.257), "Baseline-Sal-Loss": ("NR", 0.880, 0.886, 0.259),
    "MUSIQ": ("NR", 0.888, 0.899, 0.324), "DBCNN": ("NR", 0.901, 0.917, 0.331),
}


def sacid_table_iii() -> pd.DataFrame:
    """Table III of the saliency paper (index: metric; columns: type, SROCC, PLCC, KRCC†)."""
    return pd.DataFrame.from_dict(_SACID_TABLE_III, orient="index", columns=["type", "SROCC", "PLCC", "KRCC†"])


#: "What Are We Looking At?" (Nguyen & Amirshahi), Tables 1 (AlexNet) and 2 (VGG16): per dataset (registry key),
#: the number of feature maps forward selection kept and the non-linear PLCC of the per-map SSIM metric with the
#: selected maps and with all maps, selected and reported on the same images. Table 2 prints CID:IQ 50 cm's
#: all-maps value as "080"; it is read as 0.80.
_FEATURE_MAP_TABLES = {
    "alexnet": {
        "cidiq100": (2, 0.89, 0.80), "cidiq50": (12, 0.87, 0.68), "csiq": (16, 0.90, 0.87),
        "tid2013": (9, 0.95, 0.91), "cidgd": (13, 0.75, 0.61),
    },
    "vgg16": {
        "cidiq100": (35, 0.93, 0.85), "cidiq50": (28, 0.92, 0.80), "csiq": (25, 0.91, 0.83),
        "tid2013": (24, 0.90, 0.88), "cidgd": (5, 0.71, 0.62),
    },
}

#: Column names of :func:`feature_map_tables`.
FEATURE_MAP_COLUMNS = ["n selected", "PLCC selected", "PLCC all"]


def feature_map_tables() -> pd.DataFrame:
    """Tables 1-2 of the feature-map paper (index: (backbone, dataset key); columns: :data:`FEATURE_MAP_COLUMNS`)."""
    rows = {(b, d): v for b, table in _FEATURE_MAP_TABLES.items() for d, v in table.items()}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=FEATURE_MAP_COLUMNS)
    out.index = pd.MultiIndex.from_tuples(out.index, names=["backbone", "dataset"])
    return out.astype({"n selected": int})


#: The master thesis "Explainable AI for IQA" (Nguyen, NTNU 2023), Table 4.3: per dataset, the (Under, Over) numbers
#: of outliers of each NR-IQA model, in the printed order of rows and columns ("KonIQ" is KonCept512, "SPAQ" the SPAQ
#: baseline).
_THESIS_TABLE_4_3 = {
    "KonIQ-10k": {"DBCNN": (4, 15), "CNNIQA": (13, 17), "SPAQ": (11, 15), "KonIQ": (5, 20), "MUSIQ": (9, 17)},
    "CLIVE": {"DBCNN": (4, 20), "CNNIQA": (4, 21), "SPAQ": (11, 22), "KonIQ": (9, 21), "MUSIQ": (14, 19)},
    "SPAQ": {"DBCNN": (5, 25), "CNNIQA": (6, 18), "SPAQ": (5, 26), "KonIQ": (5, 13), "MUSIQ": (5, 21)},
    "TID2013": {"DBCNN": (0, 33), "CNNIQA": (1, 11), "SPAQ": (0, 29), "KonIQ": (0, 25), "MUSIQ": (4, 27)},
}


def thesis_table_4_3() -> pd.DataFrame:
    """Table 4.3 of the thesis "Explainable AI for IQA": numbers of under- and overestimated outliers.

    Index ``dataset`` (KonIQ-10k, CLIVE, SPAQ, TID2013); columns (``model``, ``direction``) with models DBCNN,
    CNNIQA, SPAQ, KonIQ, MUSIQ and directions Under, Over: the layout of :func:`iqaxai.outlier_study.table_4_3`.

    Which outliers are counted is not stated. Sec. 4.2.5 answers its first question with "the outliers that are
    found by all three outlier detection methods" and then reports this table, so we read it as the combined rule.
    The top % is not given either; we conclude 5 %: it is the cut the text recommends ("determining 5% of total
    images as the outlier will give the most consistent results", Sec. 4.2.3) and the smaller of the two it shows
    (5 % and 30 %, Figs 4.3-4.8), and 30 % does not fit the counts: a cell holds 12-33 outliers, while at 30 % each
    method flags up to 348 CLIVE and 3,021 KonIQ-10k images, so an intersection this small is implausible. Even at
    5 % (58 CLIVE, 503 KonIQ-10k, 556 SPAQ, 150 TID2013 images per method) the large sets' 18-31 common outliers
    are few, so the thesis may have used a smaller cut or a fixed number of images; treat the match as
    approximate. SPAQ has no per-image SD, so there the 2-sigma rule cannot run. The text calls this table
    "Table 4.2".
    """
    rows = {d: [v for m in ("DBCNN", "CNNIQA", "SPAQ", "KonIQ", "MUSIQ") for v in r[m]]
            for d, r in _THESIS_TABLE_4_3.items()}
    columns = pd.MultiIndex.from_product([["DBCNN", "CNNIQA", "SPAQ", "KonIQ", "MUSIQ"], ["Under", "Over"]],
                                         names=["model", "direction"])
    out = pd.DataFrame.from_dict(rows, orient="index", columns=columns).astype("int64")
    out.index.name = "dataset"
    return out
