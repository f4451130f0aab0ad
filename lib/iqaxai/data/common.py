"""Shared pieces of the dataset loaders: the table schema, errors, score checks and rescaling, file lookup."""

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

#: Rows named in an error message at most.
SHOWN = 5


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


class DatasetWarning(UserWarning):
    """A dataset loaded, but some rows lack something that only some uses need (e.g. a reference image)."""


# ------------------------------------------------------------------------------------------ file lookup


def find_child(parent: Path, name: str) -> Path | None:
    """``parent / name`` if it exists, else the entry of ``parent`` whose name equals ``name`` ignoring case."""
    exact = parent / name
    if exact.exists():
        return exact
    try:
        entries = os.listdir(parent)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    lowered = name.lower()
    return next((parent / e for e in sorted(entries) if e.lower() == lowered), None)


def find_path(base: Path, rel: str, case_insensitive: bool = True) -> Path | None:
    """The existing path ``base / rel``, each component matched ignoring case if ``case_insensitive``; else None."""
    if not case_insensitive:
        path = base / rel
        return path if path.exists() else None
    path = base
    for part in Path(str(rel).replace("\\", "/")).parts:
        found = find_child(path, part)
        if found is None:
            return None
        path = found
    return path


def require_file(dataset: str, path: Path, what: str) -> Path:
    """Return ``path`` if it exists, else raise a DatasetError describing ``what`` it should be."""
    if not path.exists():
        raise DatasetError(dataset, path, f"missing {what}")
    return path


def load_mat_variable(dataset: str, path: Path, variable: str, what: str | None = None) -> np.ndarray:
    """Variable ``variable`` of the MATLAB file ``path``; DatasetErrors name the file and the variables found."""
    from scipy.io import loadmat

    require_file(dataset, path, what or f"MATLAB file '{path.name}' (variable '{variable}')")
    try:
        data = loadmat(path)
    except Exception as exc:
        raise DatasetError(dataset, path, f"could not read the MATLAB file ({exc})") from exc
    if variable not in data:
        keys = sorted(k for k in data if not k.startswith("__"))
        raise DatasetError(dataset, path, f"expected a variable '{variable}' in the .mat file; found {keys}")
    return np.asarray(data[variable])


# ------------------------------------------------------------------------------------------ score files


def require_columns(dataset: str, path: Path, frame: pd.DataFrame, columns: Iterable[str]) -> None:
    """Raise a DatasetError if ``frame`` (read from ``path``) lacks any of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            dataset, path, f"score file lacks columns {missing}; found {list(frame.columns)}"
        )


def require_rows(dataset: str, path: Path, frame: pd.DataFrame | pd.Series | Sequence, what: str = "score file") -> None:
    """Raise a DatasetError if the ``what`` read from ``path`` holds no data rows (e.g. only a header)."""
    if len(frame) == 0:
        raise DatasetError(dataset, path, f"the {what} holds no data rows (only a header, or empty)")


def read_score_csv(dataset: str, path: Path, columns: Iterable[str]) -> pd.DataFrame:
    """Read a CSV score file, raising a DatasetError if unreadable, lacking ``columns`` or without data rows.

    Header names are stripped; the index holds each row's line number in the file (the header is line 1),
    so that error messages can name the line.
    """
    try:
        frame = pd.read_csv(path, skip_blank_lines=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DatasetError(dataset, path, f"cannot read the score file as CSV ({error})") from error
    frame.columns = [str(c).strip() for c in frame.columns]
    require_columns(dataset, path, frame, columns)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    frame = frame[~frame.isna().all(axis=1)]  # blank lines
    require_rows(dataset, path, frame)
    return frame


def rescale_to_100(
    values: np.ndarray | pd.Series, lo: float, hi: float, lower_better: bool = False
) -> np.ndarray:
    """Map scores from the nominal range [lo, hi] linearly onto 0-100, flipping lower-is-better scales."""
    v = (np.asarray(values, dtype=float) - lo) / (hi - lo) * 100.0
    return 100.0 - v if lower_better else v


def _labels(index: Iterable, unit: str) -> str:
    """'line 3' / 'entries 8, 11': where in the file, at most :data:`SHOWN` of them."""
    labels = list(index)
    shown = ", ".join(str(i) for i in labels[:SHOWN]) + (", ..." if len(labels) > SHOWN else "")
    if len(labels) > 1:
        unit = unit[:-1] + "ies" if unit.endswith("y") else unit + "s"
    return f"{unit} {shown}"


def check_scores(
    dataset: str,
    path: Path,
    values: pd.Series,
    name: str = "MOS",
    lo: float | np.ndarray | None = None,
    hi: float | np.ndarray | None = None,
    unit: str = "row",
) -> None:
    """Raise a DatasetError if scores are missing, not numbers, infinite or outside the documented [lo, hi].

    ``values.index`` holds each value's position in ``path`` (a line, a sheet row, a .mat entry; ``unit``
    says which) and the message names the offending ones. ``lo`` / ``hi`` may be per-row arrays.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna()
    if bad.any():
        raise DatasetError(
            dataset, path,
            f"{int(bad.sum())} {name} value(s) are missing or not numbers ({_labels(values.index[bad], unit)})",
        )
    v = numeric.to_numpy(dtype=float)
    infinite = ~np.isfinite(v)
    if infinite.any():
        raise DatasetError(
            dataset, path, f"{int(infinite.sum())} {name} value(s) are infinite ({_labels(values.index[infinite], unit)})"
        )
    low = np.full(len(v), -np.inf) if lo is None else np.broadcast_to(np.asarray(lo, dtype=float), v.shape)
    high = np.full(len(v), np.inf) if hi is None else np.broadcast_to(np.asarray(hi, dtype=float), v.shape)
    outside = (v < low) | (v > high)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        scale = f"[{low[first]:g}, {high[first]:g}]".replace("inf", "∞")
        shown = ", ".join(f"{x:g}" for x in v[outside][:SHOWN])
        raise DatasetError(
            dataset, path,
            f"{int(outside.sum())} {name} value(s) outside the documented range {scale} "
            f"({_labels(values.index[outside], unit)}: {shown})",
        )


def check_unique(
    dataset: str, path: Path, keys: pd.Series, scores: pd.Series | None = None, what: str = "image", unit: str = "row"
) -> None:
    """Raise a DatasetError if a ``what`` is listed more than once in ``path``, naming it and its rows.

    Every repetition is refused, identical or not: a copy would be counted twice in every statistic and
    could land in another split than the original (leakage). ``keys.index`` holds the positions in the
    file (``unit``); with ``scores`` the message says whether the copies disagree.
    """
    repeated = keys[keys.duplicated(keep=False)]
    if repeated.empty:
        return
    first = repeated.iloc[0]
    rows = repeated.index[repeated == first]
    detail = ""
    if scores is not None:
        listed = pd.to_numeric(scores.loc[rows], errors="coerce").tolist()
        if len(set(listed)) > 1:
            detail = f" with different scores {listed}"
    others = repeated.nunique() - 1
    also = f"; {others} more {what}(s) are repeated too" if others else ""
    raise DatasetError(
        dataset, path,
        f"{what} '{first}' is listed {len(rows)} times ({_labels(rows, unit)}){detail}{also}; each {what} "
        "must appear once (a copy is counted twice and can land in another split)",
    )


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

    Tries ``<root>/<folder>`` for each of ``folders`` (names matched ignoring case: ``TID2013/`` is
    ``tid2013/``) and then ``root`` itself (when ``root`` already is the dataset folder); returns the
    first that holds any of ``markers`` (also matched ignoring case).
    """
    base = data_root(root)
    candidates = [p for p in (find_child(base, f) for f in folders) if p is not None] + [base]
    for candidate in candidates:
        if any(find_path(candidate, m) is not None for m in markers):
            return candidate
    present = next((p for p in candidates[:-1] if p.is_dir()), None)
    if present is None:
        raise DatasetError(
            dataset, base / folders[0], f"dataset folder '{folders[0]}' not found under the data root", section
        )
    wanted = " or ".join(f"'{m}'" for m in markers)
    raise DatasetError(dataset, present / markers[0], f"expected {wanted} inside the dataset folder", section)


def find_images(base: Path, relpaths: Sequence[str], case_insensitive: bool = False) -> list[str | None]:
    """Absolute paths of ``relpaths`` under ``base`` (None where missing), one directory listing per folder.

    With ``case_insensitive`` every component (folders and file name) is matched whatever its case on
    disk, and the path returned is the one on disk.
    """
    listings: dict[str, tuple[Path, dict[str, str]]] = {}
    out: list[str | None] = []
    for rel in relpaths:
        parent, _, name = str(rel).replace("\\", "/").rpartition("/")
        if parent not in listings:
            folder = find_path(base, parent, case_insensitive) if parent else base
            try:
                names = os.listdir(folder) if folder is not None else []
            except (FileNotFoundError, NotADirectoryError):
                names = []
            listings[parent] = (folder or base / parent, {(n.lower() if case_insensitive else n): n for n in names})
        folder, listing = listings[parent]
        found = listing.get(name.lower() if case_insensitive else name)
        out.append(None if found is None else str(folder / found))
    return out


def require_images(
    dataset: str,
    base: Path,
    relpaths: Sequence[str],
    section: str | None = None,
    what: str = "image files",
    case_insensitive: bool = False,
    hint: str = "",
) -> list[str]:
    """Absolute paths of ``relpaths`` under ``base``; a DatasetError lists the missing ones (and ``hint``).

    See :func:`find_images` for ``case_insensitive``.
    """
    found = find_images(base, relpaths, case_insensitive)
    missing = list(dict.fromkeys(str(r) for r, p in zip(relpaths, found) if p is None))
    if missing:
        first = ", ".join(missing[:SHOWN])
        raise DatasetError(
            dataset,
            base,
            f"{len(missing)} of {len(set(map(str, relpaths)))} {what} are missing (first: {first}){hint}",
            section,
        )
    return [str(p) for p in found]


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
