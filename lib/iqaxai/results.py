"""Cached, resumable results for long computations, keyed by their configuration.

Each configuration gets a folder ``<cache_dir>/results/<name>/<key>/`` holding ``config.json``,
one ``<item_id>.npz`` per finished item and optional ``<table>.csv`` files. Items are written
atomically (temporary file, then :func:`os.replace`), so an interrupted job never leaves a
half-written item, and rerunning it computes only what is missing.

Robustness:

- An item that cannot be read back (truncated, overwritten, not an ``.npz``) is reported with a
  :class:`CorruptCacheWarning` naming its file, deleted and computed again by :meth:`ResultsCache.map`
  and :func:`cached`; :meth:`ResultsCache.load` raises :class:`CorruptCacheError` naming it. ``map``
  reads every finished item before computing the missing ones, so a corrupt item is found first.
- An unreadable ``config.json`` (not JSON) is reported with a warning and written again; the items stay,
  since the folder name is the hash of the configuration and every item is checked when read. A readable
  ``config.json`` holding another configuration is a :class:`CacheConfigError`.
- Each item is computed under an exclusive lock (:func:`file_lock`, ``fcntl.flock`` on Linux and macOS), so
  two processes running the same job on one cache share the items: one computes, the other waits and reads.
- Names and item ids are plain file names, so nothing is written outside the cache root.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from iqaxai.paths import cache_dir

try:
    import fcntl
except ImportError:  # Windows: no locking, concurrent runs may compute an item twice (still atomic)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CacheConfigError",
    "CorruptCacheError",
    "CorruptCacheWarning",
    "ResultsCache",
    "cached",
    "check_name",
    "config_key",
    "file_lock",
    "read_npz",
    "warn_corrupt",
]

Value = dict[str, Any]
_ID = re.compile(r"^[A-Za-z0-9_\-=+,@][A-Za-z0-9_.\-=+,@]*$")
_RESULT = "result"


class CacheConfigError(RuntimeError):
    """A cache folder whose ``config.json`` does not match the requested configuration."""


class CorruptCacheError(RuntimeError):
    """A cache file that cannot be read back (truncated, overwritten or not written by this module)."""

    def __init__(self, path: Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cache file {self.path} is corrupt ({reason}); delete it to compute it again")


class CorruptCacheWarning(UserWarning):
    """A corrupt cache file was found; it is deleted and its content computed again."""


def warn_corrupt(path: str | os.PathLike, reason: str, action: str = "computing it again") -> None:
    """Warn that the cache file ``path`` is corrupt and what happens instead."""
    warnings.warn(f"corrupt cache file {path} ({reason}): {action}", CorruptCacheWarning, stacklevel=3)


def check_name(name: str, what: str = "name") -> str:
    """``name`` if it is a plain file name (letters, digits, ``_.-=+,@``, no leading dot), else ValueError."""
    if not isinstance(name, str) or not _ID.match(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits and _.-=+,@ (no leading dot, no '/')")
    return name


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed, removed on release); other processes wait.

    Uses ``fcntl.flock``; the lock file is unlinked while still held, and a waiter that then finds a
    different file at ``path`` retries, so two holders never overlap. Without ``fcntl`` it does nothing.
    """
    if fcntl is None:
        yield
        return
    path = Path(path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held, now = os.fstat(fd), os.stat(path)
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                break
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _jsonable(obj: Any) -> Any:
    """JSON fallback for numpy values, paths and sets."""
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return Path(obj).as_posix()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise TypeError(f"config value of type {type(obj).__name__} is not supported: {obj!r}")


def _canonical(config: Mapping[str, Any]) -> str:
    """Canonical JSON: sorted keys, no whitespace; tuples become lists."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=_jsonable)


def config_key(config: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit key: sha256 of the canonical JSON of ``config``."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _atomic(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success move it into place, else delete it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _normalize(value: Mapping[str, Any]) -> Value:
    """A dict of arrays/scalars as it reads back from disk (0-d arrays become numpy scalars)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"a result must be a dict of arrays or scalars, got {type(value).__name__}")
    out: Value = {}
    for k, v in value.items():
        arr = np.asarray(v)
        if arr.dtype == object:
            raise TypeError(f"result entry {k!r} is not numeric or string data")
        out[str(k)] = arr[()] if arr.ndim == 0 else arr
    return out


def _read_config(path: Path) -> str | None:
    """The canonical JSON stored in ``path``; None (with a warning if it is unreadable) when there is none."""
    if not path.exists():
        return None
    try:
        return _canonical(json.loads(path.read_text()))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        warn_corrupt(path, f"{type(err).__name__}: {err}",
                     "writing it again; the items in its folder belong to this configuration (its name is "
                     "the configuration's hash) and are checked when read")
        return None


def read_npz(path: Path) -> Value:
    """Every array of an ``.npz`` item (0-d arrays as numpy scalars); CorruptCacheError if unreadable."""
    with open(path, "rb") as f:  # opened here, so that it is closed whatever numpy raises
        head = f.read(4)
        if not head:
            raise CorruptCacheError(path, "empty file")
        if head not in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip archive's first bytes (the second: no members)
            raise CorruptCacheError(path, "not an .npz archive")
        f.seek(0)
        try:
            with np.load(f, allow_pickle=False) as z:
                return {k: z[k][()] if z[k].ndim == 0 else z[k] for k in z.files}
        except (OSError, MemoryError):  # the machine's trouble (permissions, I/O, memory), not the file's
            raise
        except Exception as err:  # numpy and zipfile raise many kinds for damaged content
            raise CorruptCacheError(path, f"truncated or damaged: {type(err).__name__}: {err}") from err


class ResultsCache:
    """Per-item results of one computation under one configuration, stored as ``.npz`` files."""

    def __init__(self, name: str, config: Mapping[str, Any], root: str | os.PathLike | None = None):
        """Open (creating if needed) the folder for ``name`` and ``config``; check its config.json."""
        self.name = check_name(name, "cache name")
        self.config = dict(config)
        self.key = config_key(config)
        self.path = Path(root if root is not None else cache_dir() / "results") / name / self.key
        self.path.mkdir(parents=True, exist_ok=True)
        cfg = self.path / "config.json"
        wanted = _canonical(config)
        stored = _read_config(cfg)
        if stored is None:
            with _atomic(cfg, "w") as f:
                json.dump(json.loads(wanted), f, indent=2, sort_keys=True)
        elif stored != wanted:
            raise CacheConfigError(
                f"{cfg} holds a different configuration than the one requested "
                f"(hash collision or edited folder): stored {stored}, requested {wanted}; "
                f"delete the folder {self.path} to start again"
            )

    def __repr__(self) -> str:
        """Name, key and folder."""
        return f"ResultsCache({self.name!r}, key={self.key!r}, path={str(self.path)!r})"

    def _item(self, item_id: str) -> Path:
        """File of one item; ids must be plain file names (letters, digits, ``_.-=+,@``)."""
        return self.path / f"{check_name(item_id, 'item id')}.npz"

    def has(self, item_id: str) -> bool:
        """Whether the item's file exists (its content is checked when it is read)."""
        return self._item(item_id).exists()

    def load(self, item_id: str) -> Value:
        """The stored dict of one item (KeyError if it is not done, CorruptCacheError if unreadable)."""
        try:
            return read_npz(self._item(item_id))
        except FileNotFoundError:
            raise KeyError(f"{item_id!r} is not in {self}") from None

    def save(self, item_id: str, value: Mapping[str, Any]) -> Value:
        """Store a dict of arrays/scalars atomically; returns it as :meth:`load` would."""
        path = self._item(item_id)
        out = _normalize(value)
        with _atomic(path) as f, zipfile.ZipFile(f, "w") as zf:  # the .npz layout of np.savez
            for k, v in out.items():
                with zf.open(f"{k}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(v), allow_pickle=False)
        return out

    def done(self) -> set[str]:
        """Ids of the items whose file exists (their content is checked when read)."""
        return {p.stem for p in self.path.glob("*.npz") if not p.name.startswith(".")}

    def lock(self, item_id: str) -> contextlib.AbstractContextManager[None]:
        """An exclusive inter-process lock for one item (see :func:`file_lock`)."""
        return file_lock(self.path / f".{check_name(item_id, 'item id')}.lock")

    def _try_load(self, item_id: str) -> Value | CorruptCacheError | None:
        """The stored item, the error that made it unreadable, or None when it is missing."""
        try:
            return self.load(item_id)
        except KeyError:
            return None
        except CorruptCacheError as err:
            return err

    def get_or_compute(self, item_id: str, compute: Callable[[], Mapping[str, Any]], *, warned: bool = False) -> Value:
        """The stored item, else ``compute()`` saved; under the item's lock, so a concurrent run waits and reads.

        A corrupt item is reported (unless ``warned``), deleted and computed again.
        """
        with self.lock(item_id):
            found = self._try_load(item_id)
            if isinstance(found, dict):
                return found
            if isinstance(found, CorruptCacheError):
                if not warned:
                    warn_corrupt(found.path, found.reason)
                found.path.unlink(missing_ok=True)
            return self.save(item_id, compute())

    def map(
        self,
        func: Callable[[Any], Mapping[str, Any]],
        items: Mapping[str, Any] | Iterable[tuple[str, Any]],
        desc: str | None = None,
        progress: bool = True,
    ) -> dict[str, Value]:
        """``{id: func(arg)}`` over ``items``, computing and saving only the ids not yet done.

        Every finished item is read first; corrupt ones are reported and computed with the missing ones.
        """
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        ids = [i for i, _ in pairs]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique")
        for i in ids:
            self._item(i)
        finished = self.done()
        values: dict[str, Value] = {}
        todo: list[tuple[str, Any, bool]] = []
        for i, arg in pairs:
            found = self._try_load(i) if i in finished else None
            if isinstance(found, dict):
                values[i] = found
                continue
            if isinstance(found, CorruptCacheError):
                warn_corrupt(found.path, found.reason)
            todo.append((i, arg, found is not None))
        with tqdm(total=len(pairs), initial=len(values), desc=desc or self.name, disable=not progress) as bar:
            for i, arg, warned in todo:
                values[i] = self.get_or_compute(i, functools.partial(func, arg), warned=warned)
                bar.update()
        return {i: values[i] for i in ids}

    def table_path(self, name: str) -> Path:
        """CSV file of a table."""
        return self._item(name).with_suffix(".csv")

    def has_table(self, name: str) -> bool:
        """Whether the table was saved."""
        return self.table_path(name).exists()

    def save_table(self, name: str, df: pd.DataFrame) -> Path:
        """Store a small table as CSV (atomically; the index is not kept, ``reset_index()`` first)."""
        path = self.table_path(name)
        with _atomic(path, "w") as f:
            df.to_csv(f, index=False)
        return path

    def load_table(self, name: str) -> pd.DataFrame:
        """Read a table saved with :meth:`save_table` (CorruptCacheError if it is not a readable CSV)."""
        path = self.table_path(name)
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise CorruptCacheError(path, f"{type(err).__name__}: {err}") from err

    def clear(self) -> None:
        """Delete all items and tables (``config.json`` stays)."""
        for p in self.path.iterdir():
            if p.name != "config.json" and p.is_file():
                p.unlink()


def cached(
    name: str,
    config: Mapping[str, Any],
    func: Callable[[], Mapping[str, Any]],
    root: str | os.PathLike | None = None,
) -> Value:
    """``func()`` (a dict of arrays/scalars) from the cache, computing and storing it if missing or corrupt."""
    return ResultsCache(name, config, root).get_or_compute(_RESULT, func)
