"""Shared pieces of the dataset loaders: the table schema, errors, score rescaling, file lookup."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from iqaxai.data.splits import seeded_split
from iqaxai.paths import data_root

#: Columns every loader returns, in this order (extra group keys follow them).
#: ``image``: name relative to the dataset folder; ``path``: absolute path of the image file;
#: ``mos``: quality on 0-100, higher is better; ``mos_original``: the score as published;
#: ``sd`` / ``sd_original``: per-image standard deviation of the ratings on those two scales (NaN if
#: the dataset gives none); ``split``: ``train`` / ``val`` / ``test``.
COLUMNS = ["dataset", "image", "path", "mos", "mos_original", "sd", "sd_original", "split"]

README_URL = "data/README.md"


class DatasetError(RuntimeError):
    """A dataset is missing or malformed; the message says what was expected where."""

    def __init__(self, dataset: str, path: os.PathLike | str, expected: str, section: str | None = None):
        self.dataset = dataset
        self.path = Path(path)
        self.expected = expected
        section = section or dataset
        super().__init__(
            f"{dataset}: {expected} (looked at {self.path}). "
            f"See the '{section}' section of {README_URL} for where to get it and the layout expected."
        )


def require_file(dataset: str, path: Path, what: str) -> Path:
    """Return ``path`` if it exists, else raise a DatasetError describing ``what`` it should be."""
    if not path.exists():
        raise DatasetError(dataset, path, f"missing {what}")
    return path


def require_columns(dataset: str, path: Path, frame: pd.DataFrame, columns: Iterable[str]) -> None:
    """Raise a DatasetError if ``frame`` (read from ``path``) lacks any of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            dataset, path, f"score file lacks columns {missing}; found {list(frame.columns)}"
        )


def read_score_csv(dataset: str, path: Path, columns: Iterable[str]) -> pd.DataFrame:
    """Read a CSV score file (header names stripped), raising a DatasetError if unreadable or lacking ``columns``."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DatasetError(dataset, path, f"cannot read the score file as CSV ({error})") from error
    frame.columns = [str(c).strip() for c in frame.columns]
    require_columns(dataset, path, frame, columns)
    return frame


def rescale_to_100(
    values: np.ndarray | pd.Series, lo: float, hi: float, lower_better: bool = False
) -> np.ndarray:
    """Map scores from the nominal range [lo, hi] linearly onto 0-100, flipping lower-is-better scales."""
    v = (np.asarray(values, dtype=float) - lo) / (hi - lo) * 100.0
    return 100.0 - v if lower_better else v


def check_scores(dataset: str, path: Path, values: pd.Series, name: str = "MOS") -> None:
    """Raise a DatasetError if scores are missing (NaN) or not numbers, naming the offending rows."""
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna()
    if bad.any():
        rows = list(values.index[bad][:5])
        raise DatasetError(dataset, path, f"{int(bad.sum())} {name} value(s) are missing or not numbers (rows {rows})")


def finish_table(dataset: str, frame: pd.DataFrame, extra: Iterable[str] = ()) -> pd.DataFrame:
    """Order the columns (schema first, then ``extra`` group keys) and reset the index."""
    frame = frame.copy()
    frame["dataset"] = dataset
    for col in ("sd", "sd_original"):
        if col not in frame:
            frame[col] = np.nan
    cols = COLUMNS + [c for c in extra if c in frame.columns]
    return frame[cols].reset_index(drop=True)


def locate_dataset(
    dataset: str,
    folders: Sequence[str],
    root: os.PathLike | str | None,
    markers: Sequence[str],
    section: str | None = None,
) -> Path:
    """The folder of one dataset under the data root, recognised by any of its marker files.

    Tries ``<root>/<folder>`` for each of ``folders`` and then ``root`` itself (when ``root`` already
    is the dataset folder); returns the first that holds any of ``markers``.
    """
    base = data_root(root)
    for candidate in [base / f for f in folders] + [base]:
        if any((candidate / m).exists() for m in markers):
            return candidate
    present = next((base / f for f in folders if (base / f).is_dir()), None)
    if present is None:
        raise DatasetError(
            dataset, base / folders[0], f"dataset folder '{folders[0]}' not found under the data root", section
        )
    wanted = " or ".join(f"'{m}'" for m in markers)
    raise DatasetError(dataset, present / markers[0], f"expected {wanted} inside the dataset folder", section)


def require_images(
    dataset: str,
    base: Path,
    relpaths: Sequence[str],
    section: str | None = None,
    what: str = "image files",
    case_insensitive: bool = False,
) -> list[str]:
    """Absolute paths of ``relpaths`` under ``base``; a DatasetError lists the missing ones.

    Existence is checked against one directory listing per folder (fast for 10k images). With
    ``case_insensitive`` a file is found whatever the case of its name on disk, and the path returned
    is the one on disk.
    """
    listings: dict[str, dict[str, str]] = {}
    out: list[str] = []
    missing: list[str] = []
    for rel in relpaths:
        parent, _, name = str(rel).replace("\\", "/").rpartition("/")
        if parent not in listings:
            folder = base / parent if parent else base
            try:
                names = os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                names = []
            listings[parent] = {(n.lower() if case_insensitive else n): n for n in names}
        found = listings[parent].get(name.lower() if case_insensitive else name)
        if found is None:
            missing.append(str(rel))
            out.append("")
        else:
            out.append(str((base / parent / found) if parent else (base / found)))
    if missing:
        missing = list(dict.fromkeys(missing))  # a reference image may be listed once per distorted image
        first = ", ".join(missing[:5])
        raise DatasetError(
            dataset,
            base,
            f"{len(missing)} of {len(set(map(str, relpaths)))} {what} are missing (first: {first})",
            section,
        )
    return out


def full_reference_table(
    dataset: str,
    key: str,
    folder: Path,
    images: Sequence[str],
    mos: np.ndarray,
    mos_original: np.ndarray,
    groups: Mapping[str, Any],
    *,
    sd: np.ndarray | float = np.nan,
    sd_original: np.ndarray | float = np.nan,
    image_columns: Mapping[str, str] | None = None,
    split_by: str = "ref",
    split_seed: int = 0,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    what: str = "distorted images",
    case_insensitive: bool = False,
) -> pd.DataFrame:
    """Table of a full-reference dataset's distorted ``images`` with their checked reference paths, split by ``split_by``."""
    # ``groups``: the extra columns in output order. Those named in ``image_columns`` (column -> what they
    # are, default ``{"ref_path": "reference images"}``) hold paths relative to ``folder``: like ``images``
    # they are checked (in that order, distorted images first) and become absolute paths. With
    # ``case_insensitive`` the ``image`` column is the name found on disk, else ``images`` as given.
    image_columns = {"ref_path": "reference images"} if image_columns is None else image_columns
    paths = require_images(dataset, folder, images, what=what, case_insensitive=case_insensitive)
    checked = {
        column: require_images(dataset, folder, groups[column], what=kind, case_insensitive=case_insensitive)
        for column, kind in image_columns.items()
    }
    table = pd.DataFrame(
        {
            "image": [Path(p).relative_to(folder).as_posix() for p in paths] if case_insensitive else images,
            "path": paths,
            "mos": mos,
            "mos_original": mos_original,
            "sd": sd,
            "sd_original": sd_original,
            **{column: checked.get(column, values) for column, values in groups.items()},
        }
    )
    table["split"] = seeded_split(len(table), ratios, split_seed, groups=np.asarray(groups[split_by]))
    return finish_table(key, table, extra=list(groups))
