"""Choosing the compute device, with a clear error when a GPU is asked for but absent; progress bars that suit
JupyterLab and headless runs alike (:func:`progress`)."""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
from typing import Iterable

from tqdm.std import tqdm as std_tqdm


def resolve_device(device: str = "auto"):
    """``auto`` -> CUDA if available else CPU; ``cuda``/``cuda:N`` must exist, else a clear error."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} was requested but no CUDA GPU is available here; "
                               "use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {device!r} was requested but only {torch.cuda.device_count()} GPU(s) exist")
    return dev


# ------------------------------------------------------------------------------------------------ progress
# In JupyterLab (or a terminal) a long loop shows tqdm's bar: an ipywidget in a notebook, a terminal bar elsewhere.
# In a headless run (run_all.sh sets IQAXAI_HEADLESS=1 for the kernels it starts) a widget would reach no one and a
# carriage-return bar would fill the executed notebook with refreshes, so the loop writes a few whole lines to
# stderr instead, each starting with PROGRESS_MARK: the runner prints those in the terminal, prefixed with the
# notebook's name, e.g. "[01_train_models] train triq epoch 3/20, val PLCC 0.612, loss 1.271  (21 s, about 2 min left)".

HEADLESS_ENV = "IQAXAI_HEADLESS"
INTERVAL_ENV = "IQAXAI_PROGRESS_INTERVAL"
PROGRESS_MARK = "[progress] "
DEFAULT_INTERVAL = 10.0  # seconds between two lines of one loop in a headless run
FINAL_LINE_AFTER = 5.0  # a headless loop that ran at least this long ends with a line saying so


def headless() -> bool:
    """Whether this process runs without anyone watching a widget (``IQAXAI_HEADLESS`` set, not ``0``)."""
    return os.environ.get(HEADLESS_ENV, "").strip() not in ("", "0")


def progress_interval() -> float:
    """Seconds between two progress lines of a headless loop (``IQAXAI_PROGRESS_INTERVAL``, default 10)."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{INTERVAL_ENV} must be a non-negative number of seconds, got {raw!r}")
    return value


def progress(iterable: Iterable | None = None, *, desc: str, total: int | None = None, show: bool | None = True,
             leave: bool = True, initial: int = 0, unit: str = "it") -> "std_tqdm":
    """A progress bar over ``iterable`` (or updated by hand with ``update``), used like ``tqdm``.

    Interactive (JupyterLab, a terminal): ``tqdm.auto``, i.e. a widget bar in a notebook. Headless
    (:func:`headless`): a :class:`LineProgress`, whole lines on stderr at most every :func:`progress_interval`
    seconds. ``show=False`` hides the bar; ``show=None`` shows it in headless runs only (loops too short or too
    many for a bar in a notebook, whose progress a terminal running ``run_all.sh`` still wants).
    """
    quiet = not (headless() if show is None else show)
    if headless():
        return LineProgress(iterable, desc=desc, total=total, disable=quiet, initial=initial, unit=unit,
                            mininterval=progress_interval(), miniters=1, file=sys.stderr)
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=quiet, leave=leave, initial=initial, unit=unit)


def _duration(seconds: float) -> str:
    """``7 s``, ``2 min 05 s``, ``1 h 03 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class LineProgress(std_tqdm):
    """tqdm that writes whole lines (``PROGRESS_MARK`` + ``desc n/total, postfix  (elapsed, about ETA left)``),
    never carriage returns or cursor moves: none at the start, then one when the count changed and at least
    ``mininterval`` seconds passed since the last, and a last one at ``close`` when the loop ran at least
    ``FINAL_LINE_AFTER`` seconds or wrote a line before."""

    def __init__(self, *args, **kwargs) -> None:
        self._shown_n = kwargs.get("initial", 0)  # the count of the last line; tqdm displays once while starting
        self._lines = 0
        super().__init__(*args, **kwargs)

    def line(self) -> str:
        """The text of a progress line for the current count."""
        d = self.format_dict
        n, total, elapsed = d["n"], d["total"], d["elapsed"]
        text = f"{d['prefix'] or 'progress'} {n}" + (f"/{total}" if total else "")
        if d["postfix"]:
            text += f", {d['postfix']}"
        timing = _duration(elapsed)
        done = n - (d["initial"] or 0)
        if total and 0 < done and n < total and elapsed > 0:
            timing += f", about {_duration((total - n) * elapsed / done)} left"
        return f"{text}  ({timing})"

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Write a line when the count changed since the last one (tqdm calls this within its rate limit)."""
        if msg is not None or self.n == self._shown_n:
            return True
        self._shown_n = self.n
        self._lines += 1
        self.fp.write(PROGRESS_MARK + self.line() + "\n")
        self.fp.flush()
        return True

    def close(self) -> None:
        """Write the last line if the loop was long or wrote lines before, then deregister the bar."""
        if getattr(self, "disable", True):
            return
        if self._lines or self._time() - self.start_t >= FINAL_LINE_AFTER:
            self.display()
        self.disable = True
        self._decr_instances(self)


#: Seconds a network probe waits (DNS included) before a host counts as unreachable.
PROBE_TIMEOUT = 3.0


def offline_requested() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for no network at all (the runner sets it)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "on", "yes", "true"}


def network_available(host: str, port: int = 443, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether one TCP connection to ``host:port`` succeeds within ``timeout`` seconds (DNS included: the
    attempt runs in a thread, since a stuck resolver does not honour the socket timeout)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="iqaxai-network-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])
