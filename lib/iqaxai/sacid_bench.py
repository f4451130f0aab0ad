"""Every metric of SACID's Table III by name through one interface (*Bridging the Gap*, Section III-D, Fig. 3).

A :class:`Metric` maps ``(dist, ref | None, saliency | None)`` to ``[B]`` scores. :func:`build_metrics` resolves
names: our ``psnr``, ``ssim``, ``ew_psnr`` and ``ew_ssim`` (:mod:`iqaxai.fr_saliency`), any pyiqa metric
(``"pyiqa:<name>"``, or the paper's pyiqa metrics by their pyiqa name or display name: ``ms_ssim``,
``"TOPIQ-NR"``, ...) and trained models wrapped by :func:`model_metric`. A pyiqa metric that cannot be created
(pyiqa not installed, weights not cached while offline, a missing dependency) becomes a row of the skipped table
with its reason; weights are looked up in pyiqa's cache before anything is downloaded, and downloads fail fast
when ``HF_HUB_OFFLINE`` is set or the host does not answer (helpers of :mod:`iqaxai.models.pyiqa_adapter`);
backbones that timm fetches from the Hugging Face hub fail at once too (huggingface_hub is put in offline mode
while a metric is built if its host does not answer), instead of retrying for minutes.

:func:`score_images` scores the images one at a time at full resolution (the paper: "each image was provided in
its original resolution"), the saliency map resized to its image. A row without a reference (``ref_path`` NaN)
gets NaN from full-reference metrics (NR metrics still run) and a ``partial`` row in the notes naming the count;
a metric that raises on an image is dropped whole and listed as ``skipped`` with the image and the error.

:func:`sacid_correlations` follows the paper's evaluation:

- **SROCC and PLCC** over all images against the raw ``mos_original`` (``subjective_score`` of ``moses.csv``,
  which the authors' notebook merges directly, although the scale is anchored per sequence). PLCC is the plain
  Pearson coefficient (no logistic mapping).
- **KRCC†**: "KRCC was calculated in groups with different both sequences and bitrates", read as one group per
  (sequence, bitrate) pair, i.e. the 4 presets coded at one rate (180 groups of 4 on the full dataset):
  Kendall's tau-b within each group, averaged over groups (:func:`iqaxai.stats.grouped_krcc`; groups where
  the metric or the score is constant are left out and counted). This is the default ``group_by``.
  "KRCC per sequence" (groups of 12, the per-sequence anchoring of the scores) is reported beside it.
- Scores of lower-better metrics are negated first, so every coefficient reads "higher is better".
- **Infinite scores** (EW-PSNR where the saliency map is zero wherever the images differ; PSNR of identical
  images) stay ``inf`` in the scores. Before correlating, ``+inf`` becomes the metric's largest finite score
  plus 1 (1 dB for the PSNRs) and ``-inf`` its smallest minus 1 (:func:`finite_scores`): rank statistics
  thus treat ``+inf`` as the largest value (tied among themselves) and PLCC sees a point just beyond the rest.
  The count is the column ``inf``. A statistic that is undefined (constant scores) is NaN with the reason in
  ``note``; no other NaN reaches the table.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from iqaxai import fr_saliency
from iqaxai.data.images import load_image
from iqaxai.stats import StatsError, grouped_krcc, plcc, srocc

__all__ = [
    "Metric",
    "GROUPS",
    "KRCC_DAGGER",
    "OUR_METRICS",
    "PYIQA_METRICS",
    "TABLE_III_METRICS",
    "COMPARISON_METRICS",
    "PYIQA_MISSING",
    "build_metrics",
    "model_metric",
    "score_images",
    "finite_scores",
    "table_fingerprint",
    "sacid_correlations",
    "top_metrics_figure",
]

#: The paper's "Type" column, in its order.
GROUPS = ("NSS based", "FR", "NR")
KINDS = ("FR", "NR")
KRCC_DAGGER = "KRCC†"
PYIQA_MISSING = "pyiqa not installed (pip install 'iqaxai[pyiqa]')"
SKIPPED_COLUMNS = ["metric", "status", "reason"]
_REASON_CHARS = 300
_CACHE_NAME = "sacid_scores"
_CACHE_FORMAT = 1

MetricFn = Callable[[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class Metric:
    """One metric of the table: ``fn(dist, ref | None, saliency | None) -> [B]`` scores.

    ``dist`` and ``ref`` are [B, 3, H, W] in [0, 1], ``saliency`` [B, H, W] (non-negative). ``kind`` is "FR"
    (needs ``ref``) or "NR"; ``group`` the paper's Type column ("NSS based", "FR", "NR"). ``key`` identifies
    everything that shapes the scores (implementation, version, options, weights); results are cached under it.
    """

    name: str
    kind: str
    group: str
    lower_better: bool
    uses_saliency: bool
    fn: MetricFn
    key: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.group not in GROUPS:
            raise ValueError(f"Metric {self.name!r}: group must be one of {GROUPS}, got {self.group!r}")

    def __call__(self, dist: torch.Tensor, ref: torch.Tensor | None = None,
                 saliency: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [B] of ``dist`` (with ``ref`` for FR metrics and ``saliency`` where used)."""
        if self.kind == "FR" and ref is None:
            raise ValueError(f"{self.name} is a full-reference metric: it needs ref")
        if self.uses_saliency and saliency is None:
            raise ValueError(f"{self.name} weights by saliency: it needs a saliency map")
        out = torch.as_tensor(self.fn(dist, ref, saliency)).reshape(-1)
        if out.numel() != dist.shape[0]:
            raise ValueError(f"{self.name} returned {out.numel()} values for {dist.shape[0]} images, expected one each")
        return out

    def info(self) -> dict[str, Any]:
        """Plain metadata (what :func:`sacid_correlations` needs), without the callable."""
        return {"kind": self.kind, "group": self.group, "lower_better": self.lower_better,
                "uses_saliency": self.uses_saliency, "key": self.key}


# ----------------------------------------------------------------------------------------------------
# Our metrics, pyiqa's metrics, trained models
# ----------------------------------------------------------------------------------------------------


def _map2d(saliency: torch.Tensor | None) -> torch.Tensor:
    """A saliency map [B, H, W] from [B, 1, H, W] or [B, H, W]."""
    if saliency is None:
        raise ValueError("a saliency map is needed")
    return saliency[:, 0] if saliency.ndim == 4 and saliency.shape[1] == 1 else saliency


_OURS: dict[str, tuple[str, bool, MetricFn]] = {
    "psnr": ("PSNR", False, lambda d, r, s: fr_saliency.psnr(d, r)),
    "ssim": ("SSIM", False, lambda d, r, s: fr_saliency.ssim(d, r)),
    "ew_psnr": ("EW-PSNR", True, lambda d, r, s: fr_saliency.ew_psnr(d, r, _map2d(s))),
    "ew_ssim": ("EW-SSIM", True, lambda d, r, s: fr_saliency.ew_ssim(d, r, _map2d(s))),
}

#: Our metrics (names of :data:`_OURS`) with their display names.
OUR_METRICS = {name: spec[0] for name, spec in _OURS.items()}

#: pyiqa name -> (display name, the paper's Type). pyiqa's PSNR and SSIM sit beside ours for comparison.
PYIQA_METRICS: dict[str, tuple[str, str]] = {
    "ms_ssim": ("MS-SSIM", "NSS based"),
    "vif": ("VIF", "NSS based"),
    "brisque": ("BRISQUE", "NSS based"),
    "psnr": ("PSNR (pyiqa)", "NSS based"),
    "ssim": ("SSIM (pyiqa)", "NSS based"),
    "lpips": ("LPIPS", "FR"),
    "dists": ("DISTS", "FR"),
    "pieapp": ("PieAPP", "FR"),
    "ahiq": ("AHIQ", "FR"),
    "topiq_fr": ("TOPIQ-FR", "FR"),
    "topiq_nr": ("TOPIQ-NR", "NR"),
    "maniqa": ("MANIQA", "NR"),
    "tres": ("TReS", "NR"),
    "hyperiqa": ("HyperIQA", "NR"),
    "paq2piq": ("PaQ2PiQ", "NR"),
    "clipiqa+": ("CLIP-IQA+", "NR"),
    "musiq": ("MUSIQ", "NR"),
    "dbcnn": ("DBCNN", "NR"),
}

#: Table III's metrics (without the authors' trained models; add those with :func:`model_metric`), in its order.
TABLE_III_METRICS = (
    "ms_ssim", "brisque", "psnr", "ssim", "vif", "ew_ssim", "ew_psnr",
    "ahiq", "lpips", "pieapp", "topiq_fr", "dists",
    "maniqa", "tres", "hyperiqa", "paq2piq", "clipiqa+", "topiq_nr", "musiq", "dbcnn",
)
#: pyiqa's PSNR and SSIM, to compare with ours.
COMPARISON_METRICS = ("pyiqa:psnr", "pyiqa:ssim")


def _one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (its first sentence when long), at most a few hundred characters."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = f"{type(err).__name__}: {lines[0] if lines else '(no message)'}"
    if len(text) > _REASON_CHARS and ". " in text[:_REASON_CHARS]:
        return text[: text[:_REASON_CHARS].rindex(". ") + 1]
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _ours(name: str) -> Metric:
    display, uses_saliency, fn = _OURS[name]
    return Metric(display, "FR", "NSS based", False, uses_saliency, fn, key=f"iqaxai.fr_saliency:{name}:v1")


def _resolve(name: str) -> tuple[str, str]:
    """``("ours", name)`` or ``("pyiqa", pyiqa_name)`` for a requested name; ValueError if unknown."""
    low = name.strip().lower()
    if low in _OURS:
        return "ours", low
    if low.startswith("pyiqa:") and low[6:]:
        return "pyiqa", low[6:]
    if low in PYIQA_METRICS:
        return "pyiqa", low
    for key, display in OUR_METRICS.items():
        if display.lower() == low:
            return "ours", key
    for key, (display, _) in PYIQA_METRICS.items():
        if display.lower() == low:
            return "pyiqa", key
    known = dict.fromkeys([*OUR_METRICS, *OUR_METRICS.values(), *(f"pyiqa:{k}" for k in PYIQA_METRICS),
                           *(d for d, _ in PYIQA_METRICS.values())])
    by_lower = {k.lower(): k for k in reversed(list(known))}
    close = [by_lower[c] for c in difflib.get_close_matches(low, list(by_lower), n=3)]
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise ValueError(f"unknown metric {name!r}{hint}. Expected one of ours ({', '.join(OUR_METRICS)}), a pyiqa "
                     f"metric of Table III ({', '.join(PYIQA_METRICS)}), their display names, or "
                     "'pyiqa:<name>' for any pyiqa metric")


def _pyiqa_display(pyiqa_name: str) -> str:
    return PYIQA_METRICS.get(pyiqa_name, (f"{pyiqa_name} (pyiqa)", ""))[0]


class _Pyiqa:
    """pyiqa imported on first use, with the reason when it cannot be; one network check for all metrics."""

    def __init__(self) -> None:
        from iqaxai.models import pyiqa_adapter

        self.adapter = pyiqa_adapter
        self.module = None
        self.reason = ""
        try:
            self.module = pyiqa_adapter._import_pyiqa()
        except ImportError as err:
            cause = err.__cause__
            self.reason = PYIQA_MISSING if cause is None else f"pyiqa cannot be imported ({_one_line(cause)})"
        self.network = pyiqa_adapter._NetworkCheck()

    def check_name(self, name: str) -> None:
        """ValueError for a name pyiqa does not know, or one that does not score single images."""
        configs = self.adapter._default_configs(self.module)
        if configs and name not in configs:
            close = difflib.get_close_matches(name, list(configs), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"unknown pyiqa metric {name!r}{hint} (see pyiqa.list_models())")
        if name in self.adapter.DATASET_LEVEL_METRICS:
            raise ValueError(f"pyiqa metric {name!r} scores a set of images, not one image")

    def create(self, name: str, device: str | torch.device, kwargs: Mapping[str, Any]):
        """``pyiqa.create_metric``, after checking pyiqa's weight cache; downloads fail fast offline."""
        with self._hub_offline_if_unreachable(), _without_download_notices():
            return self.adapter.create_metric(self.module, name, device, dict(kwargs), self.network)

    @contextlib.contextmanager
    def _hub_offline_if_unreachable(self) -> Iterator[None]:
        """huggingface_hub in offline mode while its host does not answer (or HF_HUB_OFFLINE is set), so that
        backbones fetched from the hub (timm) fail at once instead of retrying."""
        try:
            from huggingface_hub import constants
        except ImportError:
            yield
            return
        previous = constants.HF_HUB_OFFLINE
        if not previous and not self.network(*self.adapter._host_port(None)):
            constants.HF_HUB_OFFLINE = True
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = previous


@contextlib.contextmanager
def _without_download_notices() -> Iterator[None]:
    """Drop the "Downloading: <url>" lines pyiqa prints before a download that the offline guard then refuses
    (the refusal is the skipped row's reason); everything else printed is passed on."""
    import io
    import sys

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        for buffer, stream in ((out, sys.stdout), (err, sys.stderr)):
            kept = [line for line in buffer.getvalue().splitlines(keepends=True) if not line.startswith("Downloading: ")]
            stream.write("".join(kept))


def _creation_reason(pyiqa, name: str, err: Exception) -> str:
    """One line on why pyiqa could not create ``name``."""
    why = _one_line(err)
    if type(err).__name__ == "LocalEntryNotFoundError":
        why = "a backbone or weight file is not in the Hugging Face cache and the hub cannot be reached (offline)"
    elif why.startswith(prefix := f"RuntimeError: pyiqa metric {name!r}: "):  # the adapter's explanations
        why = why[len(prefix):]
    return f"cannot create pyiqa metric {name!r}: {why}"


def _pyiqa_metric(name: str, metric, version: str, kwargs: Mapping[str, Any]) -> Metric:
    """A created pyiqa metric as a :class:`Metric` (kind from pyiqa, group from Table III or the kind)."""
    kind = str(getattr(metric, "metric_mode", "NR")).upper()
    display, group = PYIQA_METRICS.get(name, (_pyiqa_display(name), kind))

    def fn(dist: torch.Tensor, ref: torch.Tensor | None, saliency: torch.Tensor | None) -> torch.Tensor:
        out = metric(dist.float(), ref.float()) if kind == "FR" else metric(dist.float())
        return torch.as_tensor(out[0] if isinstance(out, (tuple, list)) else out).detach().double().cpu()

    options = ",".join(f"{k}={kwargs[k]!r}" for k in sorted(kwargs))
    return Metric(display, kind, group, bool(getattr(metric, "lower_better", False)), False, fn,
                  key=f"pyiqa-{version}:{name}:{options}")


def model_metric(name: str, model: torch.nn.Module, input_size: tuple[int, int] | None = None) -> Metric:
    """One of our trained :class:`~iqaxai.models.base.IQAModel` as an NR metric named ``name``.

    Images go in at full resolution by default (as the paper); ``input_size = (H, W)`` resizes them first
    (bilinear, antialiased, no crop). The model runs in eval mode without gradients on its own device.
    """
    from iqaxai.experiment import model_fingerprint

    if input_size is not None and (len(input_size) != 2 or min(input_size) < 1):
        raise ValueError(f"model_metric({name!r}): input_size must be (H, W) with positive sides, got {input_size}")
    info = getattr(model, "info", None)
    size = None if input_size is None else (int(input_size[0]), int(input_size[1]))

    def fn(dist: torch.Tensor, ref: torch.Tensor | None, saliency: torch.Tensor | None) -> torch.Tensor:
        param = next(iter(model.parameters()), None)
        x = dist.to(param.device) if param is not None else dist
        if size is not None and tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        model.eval()
        with torch.no_grad():
            return model(x).detach().double().cpu()

    return Metric(name, "NR", "NR", bool(getattr(info, "lower_better", False)), False, fn,
                  key=f"model:{name}:{model_fingerprint(model)}:size={size}")


def _skipped(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=SKIPPED_COLUMNS)


def build_metrics(
    names: Iterable[str | Metric] = TABLE_III_METRICS + COMPARISON_METRICS,
    device: str | torch.device = "cpu",
    pyiqa_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, Metric], pd.DataFrame]:
    """``({display name: Metric}, skipped)`` for ``names`` (metric names or ready :class:`Metric` objects).

    pyiqa is imported, and each pyiqa metric created on ``device``, only when asked for; one that cannot be
    (pyiqa missing, weights not cached offline, a missing dependency) is a ``skipped`` row of the table
    ``[metric, status, reason]``. ``pyiqa_options``: keyword arguments per pyiqa name for ``create_metric``.
    Unknown names and duplicate display names raise ValueError.
    """
    options = dict(pyiqa_options or {})
    metrics: dict[str, Metric] = {}
    rows: list[tuple[str, str, str]] = []
    pyiqa: _Pyiqa | None = None
    for item in names:
        if isinstance(item, Metric):
            metric, display = item, item.name
        else:
            if not isinstance(item, str):
                raise TypeError(f"build_metrics: expected metric names or Metric objects, got {type(item).__name__}")
            source, key = _resolve(item)
            display = OUR_METRICS[key] if source == "ours" else _pyiqa_display(key)
            if source == "ours":
                metric = _ours(key)
            else:
                pyiqa = pyiqa or _Pyiqa()
                if pyiqa.module is None:
                    rows.append((display, "skipped", pyiqa.reason))
                    continue
                pyiqa.check_name(key)
                kwargs = dict(options.get(key, {}))
                try:
                    created = pyiqa.create(key, device, kwargs)
                except Exception as err:  # noqa: BLE001 - any failure to build a metric is reported, not raised
                    rows.append((display, "skipped", _creation_reason(pyiqa.module, key, err)))
                    continue
                metric = _pyiqa_metric(key, created, str(getattr(pyiqa.module, "__version__", "?")), kwargs)
        if metric.name in metrics or metric.name in {r[0] for r in rows}:
            raise ValueError(f"build_metrics: the metric {metric.name!r} is listed twice")
        metrics[metric.name] = metric
    return metrics, _skipped(rows)


# ----------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------


def _file_digest(path: str, memo: dict[str, str]) -> str:
    if path not in memo:
        with open(path, "rb") as f:
            memo[path] = hashlib.file_digest(f, "blake2b").hexdigest()
    return memo[path]


def table_fingerprint(table: pd.DataFrame) -> str:
    """16-hex-digit hash of the rows' image, reference and saliency files (content, in row order)."""
    if "path" not in table:
        raise ValueError("table_fingerprint: the table needs a 'path' column (compressed images)")
    digest, memo = hashlib.sha256(), {}
    for column in ("path", "ref_path", "saliency_path"):
        digest.update(column.encode())
        values = table[column] if column in table else pd.Series([np.nan] * len(table))
        for value in values:
            digest.update(b"-" if _missing(value) else _file_digest(str(value), memo).encode())
    return digest.hexdigest()[:16]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _tensor(path: str) -> torch.Tensor:
    return torch.from_numpy(load_image(path)).permute(2, 0, 1).unsqueeze(0).contiguous()


def _saliency(path: str, size: tuple[int, int]) -> torch.Tensor:
    """The map [1, H, W] at the image's ``size`` (channel mean; bilinear, antialiased when shrinking)."""
    s = _tensor(path).mean(1, keepdim=True)
    if tuple(s.shape[-2:]) != size:
        shrink = s.shape[-2] > size[0] or s.shape[-1] > size[1]
        s = F.interpolate(s, size=size, mode="bilinear", align_corners=False, antialias=shrink).clamp_min(0)
    return s[:, 0]


class _Last:
    """The last file loaded per column (rows of one sequence share their reference and saliency map)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, Any], torch.Tensor] = {}

    def get(self, column: str, key: Any, load: Callable[[], torch.Tensor]) -> torch.Tensor:
        if (column, key) not in self.items:
            self.items = {k: v for k, v in self.items.items() if k[0] != column}
            self.items[(column, key)] = load()
        return self.items[(column, key)]


def _row_label(table: pd.DataFrame, i: int) -> str:
    return str(table["image"].iloc[i] if "image" in table else table["path"].iloc[i])


def _run(table: pd.DataFrame, metrics: Mapping[str, Metric], device: torch.device,
         progress: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Scores per metric over the rows, and the reason of each metric that failed."""
    values = {name: np.full(len(table), np.nan) for name in metrics}
    failed: dict[str, str] = {}
    need_ref = any(m.kind == "FR" for m in metrics.values())
    need_sal = any(m.uses_saliency for m in metrics.values())
    last = _Last()
    with torch.no_grad():
        for i in tqdm(range(len(table)), desc="SACID metrics", disable=not progress):
            active = [m for m in metrics.values() if m.name not in failed]
            if not active:
                break
            dist = _tensor(table["path"].iloc[i]).to(device)
            ref_path = table["ref_path"].iloc[i] if need_ref and "ref_path" in table else np.nan
            sal_path = table["saliency_path"].iloc[i] if need_sal and "saliency_path" in table else np.nan
            size = (dist.shape[-2], dist.shape[-1])
            ref = None if _missing(ref_path) else last.get("ref", ref_path, lambda: _tensor(ref_path)).to(device)
            sal = None if _missing(sal_path) else last.get("sal", (sal_path, size),
                                                          lambda: _saliency(sal_path, size)).to(device)
            for m in active:
                if (m.kind == "FR" and ref is None) or (m.uses_saliency and sal is None):
                    continue
                try:
                    values[m.name][i] = float(m(dist, ref, sal)[0])
                except Exception as err:  # noqa: BLE001 - a failing metric is dropped and reported
                    failed[m.name] = (f"failed on image {_row_label(table, i)} ({size[0]}x{size[1]}): "
                                      f"{_one_line(err)}")
    return values, failed


def _input_notes(table: pd.DataFrame, metrics: Mapping[str, Metric]) -> list[tuple[str, str, str]]:
    """``partial`` rows for metrics whose reference or saliency map is missing in some rows."""
    rows = []
    for m in metrics.values():
        for needed, column, what in ((m.kind == "FR", "ref_path", "reference image"),
                                     (m.uses_saliency, "saliency_path", "saliency map")):
            if not needed:
                continue
            n = int(table[column].map(_missing).sum()) if column in table else len(table)
            if n:
                rows.append((m.name, "partial", f"{n} of {len(table)} images have no {what} ({column} NaN): "
                                                f"{m.name} is NaN there"))
    return rows


def score_images(
    table: pd.DataFrame,
    metrics: Mapping[str, Metric] | Iterable[str | Metric],
    device: str | torch.device = "cpu",
    progress: bool = False,
    cache: bool | str | os.PathLike = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(scores, notes)``: one column per metric indexed like ``table``; ``notes`` is ``[metric, status, reason]``.

    ``metrics``: from :func:`build_metrics`, or names/objects to build here (on ``device``; their skipped rows
    join the notes). Images are read one at a time at full resolution (``path``, ``ref_path``,
    ``saliency_path``), moved to ``device``. Missing reference (or saliency) paths give NaN for the metrics
    that need them (status ``partial``); a metric that raises is dropped from the scores (status ``skipped``).
    ``cache``: True (default folder) or a folder: each metric's scores are stored with
    :class:`~iqaxai.results.ResultsCache` under the table's file contents, the metric's ``key`` and the device
    type, and read back when they match. ``scores.attrs["metrics"]`` keeps each metric's metadata.
    """
    if "path" not in table:
        raise ValueError("score_images: the table needs a 'path' column (see iqaxai.data.sacid.load_sacid)")
    notes: list[tuple[str, str, str]] = []
    if not isinstance(metrics, Mapping):
        metrics, skipped = build_metrics(metrics, device=device)
        notes += [tuple(r) for r in skipped.itertuples(index=False)]
    dev = torch.device(device)
    results: dict[str, np.ndarray] = {}
    caches = _caches(table, metrics, dev, cache) if cache is not False else {}
    for name, c in caches.items():
        if c.has("scores"):
            results[name] = np.asarray(c.load("scores")["values"], dtype=float)
    todo = {n: m for n, m in metrics.items() if n not in results}
    values, failed = _run(table, todo, dev, progress) if todo else ({}, {})
    for name, reason in failed.items():
        notes.append((name, "skipped", reason))
    for name, v in values.items():
        if name not in failed:
            results[name] = v
            if name in caches:
                caches[name].save("scores", {"values": v})
    kept = {n: m for n, m in metrics.items() if n in results}
    notes += _input_notes(table, kept)
    scores = pd.DataFrame({n: results[n] for n in kept}, index=table.index)
    scores.attrs["metrics"] = {n: m.info() for n, m in kept.items()}
    return scores, _skipped(notes)


def _caches(table: pd.DataFrame, metrics: Mapping[str, Metric], device: torch.device,
            cache: bool | str | os.PathLike) -> dict[str, Any]:
    from iqaxai.results import ResultsCache

    unkeyed = [n for n, m in metrics.items() if not m.key]
    if unkeyed:
        raise ValueError(f"score_images(cache=...): metrics {unkeyed} have no key; set Metric.key to a string naming "
                         "everything that shapes their scores, or score without the cache")
    root = None if cache is True else Path(cache)
    fingerprint = table_fingerprint(table)
    return {n: ResultsCache(_CACHE_NAME, {"format": _CACHE_FORMAT, "table": fingerprint, "metric": m.key,
                                          "device": device.type}, root)
            for n, m in metrics.items()}


# ----------------------------------------------------------------------------------------------------
# Correlations and Fig. 3
# ----------------------------------------------------------------------------------------------------


def finite_scores(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` with ``+inf`` replaced by the largest finite value + 1 and ``-inf`` by the smallest - 1.

    NaN stays. Without finite values the anchors are 0 (so all ``+inf`` become 1). Rank statistics of the result
    equal those with ``+inf`` ranked above everything else.
    """
    x = np.array(values, dtype=float)
    finite = x[np.isfinite(x)]
    hi, lo = (finite.max(), finite.min()) if finite.size else (0.0, 0.0)
    x[np.isposinf(x)] = hi + 1.0
    x[np.isneginf(x)] = lo - 1.0
    return x


def _labels(table: pd.DataFrame, group_by: Sequence[str]) -> np.ndarray:
    missing = [c for c in group_by if c not in table]
    if missing:
        raise ValueError(f"sacid_correlations: group_by columns {missing} are not in the table "
                         f"(columns: {list(table.columns)})")
    return table.groupby(list(group_by), sort=True, dropna=False).ngroup().to_numpy()


def _stat(fn: Callable[[], float], what: str, notes: list[str]) -> float:
    try:
        return float(fn())
    except StatsError as err:
        notes.append(f"{what} undefined: {err}")
        return float("nan")


def _correlate(x: np.ndarray, mos: np.ndarray, dagger: np.ndarray, seq: np.ndarray) -> dict[str, Any]:
    """SROCC, PLCC, KRCC† and KRCC per sequence of one metric's (negated if lower-better) scores."""
    notes: list[str] = []
    used = ~np.isnan(x) & np.isfinite(mos)
    n_inf = int(np.isinf(x[used]).sum())
    xs, ys = finite_scores(x[used]), mos[used]
    row: dict[str, Any] = {
        "SROCC": _stat(lambda: srocc(xs, ys), "SROCC", notes),
        "PLCC": _stat(lambda: plcc(xs, ys), "PLCC", notes),
    }
    for column, labels in ((KRCC_DAGGER, dagger), ("KRCC per sequence", seq)):
        try:
            g = grouped_krcc(xs, ys, labels[used])
            row[column] = g.mean
            if column == KRCC_DAGGER:
                row["groups"] = g.n_groups
            if g.n_skipped:
                notes.append(f"{column}: {g.n_skipped} group(s) left out (constant or fewer than 2 items)")
        except StatsError as err:
            row[column] = float("nan")
            row.setdefault("groups", 0)
            notes.append(f"{column} undefined: {err}")
    row.update(images=int(used.sum()), inf=n_inf, note="; ".join(notes))
    return row


def _metric_infos(scores: pd.DataFrame, metrics: Mapping[str, Metric] | None) -> dict[str, dict[str, Any]]:
    infos = dict(scores.attrs.get("metrics", {}))
    infos.update({n: m.info() for n, m in (metrics or {}).items()})
    unknown = [c for c in scores.columns if c not in infos]
    if unknown:
        raise ValueError(f"sacid_correlations: no metadata (kind, group, lower_better) for columns {unknown}; "
                         "pass metrics= (from build_metrics) or scores from score_images")
    return infos


def sacid_correlations(
    scores: pd.DataFrame,
    table: pd.DataFrame,
    group_by: Sequence[str] = ("sequence", "bitrate"),
    metrics: Mapping[str, Metric] | None = None,
) -> pd.DataFrame:
    """Table III: per metric SROCC and PLCC over all images against ``mos_original``, KRCC† within
    ``group_by`` groups averaged, and KRCC per sequence (see the module docstring).

    Columns: Type, Method, kind, SROCC, PLCC, KRCC†, KRCC per sequence, images (rows with a score), inf (infinite
    scores replaced by :func:`finite_scores`), groups (KRCC† groups used), note. Rows by Type, then SROCC
    ascending as in the paper. Metadata comes from ``scores.attrs['metrics']`` (set by :func:`score_images`) or
    ``metrics``.
    """
    if "mos_original" not in table:
        raise ValueError("sacid_correlations: the table needs 'mos_original' (the raw subjective_score)")
    missing = scores.index.difference(table.index)
    if len(missing):
        raise ValueError(f"sacid_correlations: {len(missing)} score rows are not in the table "
                         f"(first: {list(missing[:3])}); pass the table the scores were computed on")
    rows = table.loc[scores.index]
    infos = _metric_infos(scores, metrics)
    mos = rows["mos_original"].to_numpy(dtype=float)
    dagger, seq = _labels(rows, group_by), _labels(rows, ["sequence"])
    out = []
    for name in scores.columns:
        info = infos[name]
        x = scores[name].to_numpy(dtype=float)
        x = -x if info["lower_better"] else x
        out.append({"Type": info["group"], "Method": name, "kind": info["kind"],
                    **_correlate(x, mos, dagger, seq)})
    columns = ["Type", "Method", "kind", "SROCC", "PLCC", KRCC_DAGGER, "KRCC per sequence", "images", "inf",
               "groups", "note"]
    corr = pd.DataFrame(out, columns=columns)
    corr["order"] = corr["Type"].map({g: i for i, g in enumerate(GROUPS)})
    return corr.sort_values(["order", "SROCC"], na_position="first").drop(columns="order").reset_index(drop=True)


def top_metrics_figure(corr: pd.DataFrame, k: int = 10, by: str = "SROCC"):
    """Fig. 3: the top-``k`` full-reference (NSS-based FR included) and no-reference metrics by ``by``, with
    SROCC, PLCC and KRCC† bars in two panels. Returns the matplotlib figure (not saved)."""
    import matplotlib.pyplot as plt

    stats = ["SROCC", "PLCC", KRCC_DAGGER]
    needed = [c for c in ["Method", "kind", by, *stats] if c not in corr]
    if needed:
        raise ValueError(f"top_metrics_figure: corr lacks columns {needed} (expected sacid_correlations' table)")
    if k < 1:
        raise ValueError(f"top_metrics_figure: k must be at least 1, got {k}")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True, sharey=True)
    width = 0.8 / len(stats)
    for ax, kind, title in zip(axes, KINDS, ("Full-reference (incl. NSS-based)", "No-reference")):
        top = corr[(corr["kind"] == kind) & corr[by].notna()].nlargest(k, by)
        pos = np.arange(len(top))
        for j, stat in enumerate(stats):
            ax.bar(pos + (j - 1) * width, top[stat].fillna(0.0), width, label=stat)
        ax.set_xticks(pos, top["Method"], rotation=45, ha="right")
        ax.set_xlim(-0.6, max(k, len(top)) - 0.4)
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_title(f"{title}: top {len(top)} by {by}")
        ax.set_xlabel("Method")
        ax.set_ylabel("Correlation with subjective score")
        if top.empty:
            ax.text(0.5, 0.5, "no metrics", transform=ax.transAxes, ha="center", va="center")
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(stats))
    return fig
