"""Cached, resumable results for long computations, keyed by their configuration.

Each configuration gets a folder ``<cache_dir>/results/<name>/<key>/`` holding ``config.json``,
one ``<item_id>.npz`` per finished item and optional ``<table>.csv`` files. Items are written
atomically (temporary file, then :func:`os.replace`), so an interrupted job never leaves a
half-written item, and rerunning it computes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from iqaxai.paths import cache_dir

__all__ = ["CacheConfigError", "ResultsCache", "cached", "config_key"]

Value = dict[str, Any]
_ID = re.compile(r"^[A-Za-z0-9_\-=+,@][A-Za-z0-9_.\-=+,@]*$")
_RESULT = "result"


class CacheConfigError(RuntimeError):
    """A cache folder whose ``config.json`` does not match the requested configuration."""


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


@contextmanager
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


class ResultsCache:
    """Per-item results of one computation under one configuration, stored as ``.npz`` files."""

    def __init__(self, name: str, config: Mapping[str, Any], root: str | os.PathLike | None = None):
        """Open (creating if needed) the folder for ``name`` and ``config``; check its config.json."""
        self.name = name
        self.config = dict(config)
        self.key = config_key(config)
        self.path = Path(root if root is not None else cache_dir() / "results") / name / self.key
        self.path.mkdir(parents=True, exist_ok=True)
        cfg = self.path / "config.json"
        wanted = _canonical(config)
        if cfg.exists():
            stored = _canonical(json.loads(cfg.read_text()))
            if stored != wanted:
                raise CacheConfigError(
                    f"{cfg} holds a different configuration than the one requested "
                    f"(hash collision or edited folder): stored {stored}, requested {wanted}"
                )
        else:
            with _atomic(cfg, "w") as f:
                json.dump(json.loads(wanted), f, indent=2, sort_keys=True)

    def __repr__(self) -> str:
        """Name, key and folder."""
        return f"ResultsCache({self.name!r}, key={self.key!r}, path={str(self.path)!r})"

    def _item(self, item_id: str) -> Path:
        """File of one item; ids must be plain file names (letters, digits, ``_.-=+,@``)."""
        if not isinstance(item_id, str) or not _ID.match(item_id):
            raise ValueError(f"invalid item id {item_id!r}: use letters, digits and _.-=+,@ (no leading dot)")
        return self.path / f"{item_id}.npz"

    def has(self, item_id: str) -> bool:
        """Whether the item is finished."""
        return self._item(item_id).exists()

    def load(self, item_id: str) -> Value:
        """The stored dict of one item (KeyError if it is not done)."""
        path = self._item(item_id)
        if not path.exists():
            raise KeyError(f"{item_id!r} is not in {self}")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k][()] if z[k].ndim == 0 else z[k] for k in z.files}

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
        """Ids of the finished items."""
        return {p.stem for p in self.path.glob("*.npz") if not p.name.startswith(".")}

    def map(
        self,
        func: Callable[[Any], Mapping[str, Any]],
        items: Mapping[str, Any] | Iterable[tuple[str, Any]],
        desc: str | None = None,
        progress: bool = True,
    ) -> dict[str, Value]:
        """``{id: func(arg)}`` over ``items``, computing and saving only the ids not yet done."""
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        ids = [i for i, _ in pairs]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique")
        for i in ids:
            self._item(i)
        finished = self.done()
        todo = [(i, a) for i, a in pairs if i not in finished]
        computed: dict[str, Value] = {}
        with tqdm(
            total=len(pairs), initial=len(pairs) - len(todo), desc=desc or self.name, disable=not progress
        ) as bar:
            for i, arg in todo:
                computed[i] = self.save(i, func(arg))
                bar.update()
        return {i: computed[i] if i in computed else self.load(i) for i in ids}

    def _table(self, name: str) -> Path:
        """CSV file of a table."""
        return self._item(name).with_suffix(".csv")

    def has_table(self, name: str) -> bool:
        """Whether the table was saved."""
        return self._table(name).exists()

    def save_table(self, name: str, df: pd.DataFrame) -> Path:
        """Store a small table as CSV (atomically; the index is not kept, ``reset_index()`` first)."""
        path = self._table(name)
        with _atomic(path, "w") as f:
            df.to_csv(f, index=False)
        return path

    def load_table(self, name: str) -> pd.DataFrame:
        """Read a table saved with :meth:`save_table`."""
        return pd.read_csv(self._table(name))

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
    """``func()`` (a dict of arrays/scalars) from the cache, computing and storing it if missing."""
    cache = ResultsCache(name, config, root)
    return cache.load(_RESULT) if cache.has(_RESULT) else cache.save(_RESULT, func())
