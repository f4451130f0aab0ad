"""Run the numbered notebooks in order with Papermill (the engine behind ``run_all.sh``).

Executed copies go to ``build/executed/<run>/`` so the sources in ``notebooks/`` stay clean. A notebook that
declares ``datasets`` (a list) runs once with all of them (results pooled over datasets, e.g. Table II); one
that declares ``dataset`` runs once per dataset of ``--dataset``. The smoke profile runs on the demo world
and writes the committed ``tables/`` and ``figures/``; a paper run writes ``results/<profile>/<dataset>/``.
``--dry-run`` is the paper profile with the papers' architectures randomly initialised (``weights=random``)
on miniature datasets in the official layouts (written under ``build/dry-run-data`` unless ``--data-root``
is given), with the schedules of ``profiles/paper-dry-run.yaml``. The run stops at the first failing
notebook, naming it and the failing cell, and always ends with a summary; Ctrl-C marks the running notebook
interrupted, prints the summary and exits with 130. Relative ``--data-root`` and ``--out`` are taken from the
caller's working directory; the device, the selection and the output folder are checked before any notebook runs.

Progress inside long cells: the kernels run with ``IQAXAI_HEADLESS=1``, so the library's loops (training epochs,
the masked sweep, occlusion/DCT/HSV batches; :func:`iqaxai.runtime.progress`) write a line every few seconds to
the kernel's stderr instead of a notebook widget; :class:`ProgressRelay` prints those lines in the terminal under
the notebook's name, above Papermill's cell bar. The kernels use IPython's inline matplotlib backend, so the
executed copies show the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from iqaxai.paths import repo_root

from iqaxai.profiles import PROFILES, WEIGHTS
from iqaxai.runtime import HEADLESS_ENV, PROGRESS_MARK

DRY_RUN_DATASETS = ("koniq10k", "spaq", "kadid10k", "clive", "tid2013", "salicon", "cat2000", "sacid", "csiq")
INTERRUPTED = 130  # the shell's exit status after SIGINT
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # IPython's own: figures become image/png outputs


@dataclass
class Outcome:
    """What happened to one notebook."""

    name: str
    status: str  # "ok", "failed", "interrupted" or "skipped"
    seconds: float = 0.0
    detail: str = ""


def find_notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks ``NN_*.ipynb`` in order, optionally restricted to names or number prefixes (``None``:
    all; an empty selection is refused, naming the notebooks that exist)."""
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only is None:
        return books
    if not only:
        raise SystemExit(f"run_all: --only selects no notebook; available: {', '.join(b.stem for b in books)}")
    chosen = [b for b in books if any(b.stem == o or b.name == o or b.stem.startswith(f"{o}_") for o in only)]
    unknown = [o for o in only if not any(b.stem == o or b.name == o or b.stem.startswith(f"{o}_") for b in books)]
    if unknown:
        raise SystemExit(f"run_all: no notebook matches {unknown}; available: {[b.stem for b in books]}")
    return chosen


def _stand_in_proxy_maps(root: Path) -> None:
    """The dry run's stand-ins for the KonIQ-10k proxy saliency maps notebooks 11-12 read (profiles/paper.yaml)."""
    from iqaxai.data import load_dataset
    from iqaxai.dual_task import write_stand_in_maps

    write_stand_in_maps(load_dataset("koniq10k", root=root), root / "saliency_maps" / "koniq10k")


def profile_parameters(profile: str, notebook: str, folder: Path, dry_run: bool = False) -> dict:
    """Parameters of ``profile`` for one notebook: ``common`` then the notebook's own section of ``<profile>.yaml``,
    then (dry run) the same two of ``<profile>-dry-run.yaml``."""
    params: dict = {}
    for name in [profile] + ([f"{profile}-dry-run"] if dry_run else []):
        path = folder / f"{name}.yaml"
        if path.exists():
            spec = yaml.safe_load(path.read_text()) or {}
            params.update({**(spec.get("common") or {}), **((spec.get("notebooks") or {}).get(notebook) or {})})
    return params


def _declared_parameters(path: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    import papermill

    return set(papermill.inspect_notebook(str(path)).keys())


def _failure_detail(error: Exception) -> str:
    """One line naming the failing cell and the error, from a Papermill execution error."""
    cell = getattr(error, "exec_count", None)
    index = getattr(error, "cell_index", None)
    where = f"cell {index}" if index is not None else "a cell"
    if cell is not None:
        where += f" (execution count {cell})"
    ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    return f"{where}: {ename}: {str(evalue).strip().splitlines()[0] if str(evalue).strip() else ''}"


def check_device(device: str) -> str:
    """``device`` if it names a device present here (auto, cpu, cuda, cuda:N, mps where supported), else a
    ValueError listing the accepted values or saying that the GPU is absent."""
    if device in ("auto", "cpu"):
        return device
    import torch

    mps = torch.backends.mps.is_available()
    accepted = "auto, cpu, cuda, cuda:N" + (", mps" if mps else "")
    if not _DEVICE.fullmatch(device):
        raise ValueError(f"--device {device!r} is not a device; accepted: {accepted}")
    if device == "mps" and not mps:
        raise ValueError(f"--device mps was requested but MPS is not available here; accepted: {accepted}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device} was requested but no CUDA GPU is available here; "
                             "use --device cpu or --device auto")
        index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
        if index >= count:
            raise ValueError(f"--device {device} was requested but only {count} GPU(s) exist "
                             f"(cuda:0 to cuda:{count - 1})")
    return device


def writable_folder(folder: Path) -> Path:
    """``folder``, created if needed, after checking that a file can be written in it; else a ValueError naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"cannot write executed notebooks to {folder}: {error.strerror or error}; "
                         "choose a writable folder with --out") from None
    return folder


def absolute(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded, relative to the current working directory, made absolute."""
    return Path(path).expanduser().resolve()


class CtrlC:
    """SIGINT while notebooks run. The first one interrupts the running cell in its kernel, as Jupyter's stop
    button does: the notebook then ends with a KeyboardInterrupt error and its kernel shuts down cleanly. A second
    one, or one while no cell runs, raises KeyboardInterrupt in the runner at once."""

    def __init__(self) -> None:
        self.kernel = None  # the manager of the running notebook's kernel, once the kernel answers
        self.requested = False
        self._task: asyncio.Task | None = None

    def manager_class(self) -> type:
        """A Jupyter kernel manager class that registers its manager here once the kernel is ready (a kernel
        still starting up would die of SIGINT with a traceback)."""
        from jupyter_client.manager import AsyncKernelManager

        owner = self

        class TrackedKernelManager(AsyncKernelManager):
            def client(self, **kwargs):
                kc = super().client(**kwargs)
                wait_for_ready = kc.wait_for_ready

                async def ready(*args, **kw) -> None:
                    await wait_for_ready(*args, **kw)
                    owner.kernel = self

                kc.wait_for_ready = ready
                return kc

        return TrackedKernelManager

    def __call__(self, signum: int, frame: object) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self.requested or self.kernel is None or loop is None:
            raise KeyboardInterrupt
        self.requested = True
        loop.call_soon_threadsafe(self._interrupt_kernel, loop)

    def _interrupt_kernel(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self.kernel.interrupt_kernel())


class ProgressRelay:
    """A notebook's stderr as Papermill hands it over (its ``stderr_file``): the library's progress lines
    (``PROGRESS_MARK``) go to the terminal as ``[notebook] text``, printed above Papermill's cell bar; everything
    else (warnings too) stays in the executed notebook only."""

    def __init__(self, name: str, terminal=None) -> None:
        self.name = name
        self.terminal = terminal  # None: sys.stderr at the time of writing
        self._pending = ""

    def write(self, text: str) -> int:
        """Take a piece of the stream; relay every complete line as a terminal would show it (after its last \\r)."""
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            shown = self.relayed(line.rsplit("\r", 1)[-1])
            if shown is not None:
                from tqdm import tqdm

                tqdm.write(f"[{self.name}] {shown}", file=self.terminal or sys.stderr)
        return len(text)

    @staticmethod
    def relayed(line: str) -> str | None:
        """The text the terminal shows for one stderr line, or None for a line it does not show."""
        return line[len(PROGRESS_MARK):].rstrip() if line.startswith(PROGRESS_MARK) else None

    def flush(self) -> None:
        """Nothing is buffered but an incomplete line."""


class _Headless:
    """Sets ``IQAXAI_HEADLESS=1`` (inherited by the kernels Papermill starts) and restores the previous value."""

    def __enter__(self) -> None:
        self.previous = os.environ.get(HEADLESS_ENV)
        os.environ[HEADLESS_ENV] = "1"

    def __exit__(self, *exc: object) -> None:
        if self.previous is None:
            os.environ.pop(HEADLESS_ENV, None)
        else:
            os.environ[HEADLESS_ENV] = self.previous


def _interrupted(error: BaseException) -> bool:
    """Whether a notebook stopped because of Ctrl-C (in this process or as the kernel's error)."""
    return isinstance(error, KeyboardInterrupt) or getattr(error, "ename", None) == "KeyboardInterrupt"


@dataclass(frozen=True)
class Job:
    """One execution of a notebook: its path, the parameters it receives and the executed copy's name."""

    book: Path
    params: dict
    output: str


def plan(books: list[Path], profile: str, datasets: list[str], overrides: dict, profiles: Path,
         dry_run: bool = False) -> list[Job]:
    """The executions of a run: per-dataset notebooks once per dataset in the paper profile, others once.

    A notebook's profile section may hold ``max_datasets: N``: a per-dataset notebook then runs on the first N
    datasets of the run only, a pooling one (``datasets``) pools those (the dry run uses it for notebooks whose
    code path does not depend on the dataset). ``later_datasets: {name: value}`` sets parameters for a
    per-dataset notebook's runs after the first dataset (the dry run trains one model on SPAQ: the later
    notebooks read only the first dataset's models).
    """
    jobs = []
    for book in books:
        declared = _declared_parameters(book)
        settings = profile_parameters(profile, book.stem, profiles, dry_run)
        limit = settings.pop("max_datasets", None)
        later = settings.pop("later_datasets", None) or {}
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"max_datasets of {book.stem} in the {profile} profile must be a positive integer, got {limit!r}")
        if not isinstance(later, dict):
            raise ValueError(f"later_datasets of {book.stem} in the {profile} profile must map parameters to values, got {later!r}")
        if "datasets" in declared and datasets:
            runs = [({"datasets": list(datasets)[:limit]}, book.name)]
        elif "dataset" in declared and profile == "paper" and datasets:
            runs = [({**(later if i else {}), "dataset": d}, book.name if len(datasets) == 1 else f"{book.stem}@{d}.ipynb")
                    for i, d in enumerate(datasets[:limit])]
        else:
            runs = [({}, book.name)]
        for extra, output in runs:
            params = {k: v for k, v in {**settings, **extra, **overrides}.items() if k in declared}
            jobs.append(Job(book, params, output))
    return jobs


def run(
    profile: str = "smoke",
    only: list[str] | None = None,
    data_root: str | None = None,
    device: str = "auto",
    out_dir: Path | None = None,
    datasets: list[str] | None = None,
    weights: str = "pretrained",
    epochs: int | None = None,
    dry_run: bool = False,
) -> list[Outcome]:
    """Execute the notebooks; stop at the first failure or at Ctrl-C. Returns one outcome per planned execution.

    The device and the output folder are checked first (ValueError); relative paths are taken from the current
    working directory."""
    root = repo_root()
    check_device(device)
    books = find_notebooks(root / "notebooks", only)
    out_dir = writable_folder(absolute(out_dir) if out_dir else
                              root / "build" / "executed" / (f"{profile}-dry-run" if dry_run else profile))
    overrides: dict = {"profile": profile, "device": device}
    if profile == "paper":
        overrides["weights"] = weights
    if data_root:
        overrides["data_root"] = str(absolute(data_root))
    if epochs:
        overrides["epochs"] = epochs
    jobs = plan(books, profile, list(datasets or []), overrides, root / "profiles", dry_run)
    outcomes: list[Outcome] = []
    ctrl_c = CtrlC()
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live there only
    previous = signal.signal(signal.SIGINT, ctrl_c) if main_thread else None
    try:
        with _Headless():
            _execute(jobs, out_dir, ctrl_c, outcomes)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    return outcomes


def _execute(jobs: list[Job], out_dir: Path, ctrl_c: CtrlC, outcomes: list[Outcome]) -> None:
    """Execute ``jobs`` in order into ``out_dir``, appending one outcome each; stop at a failure or Ctrl-C."""
    import papermill

    failed = False
    for i, job in enumerate(jobs, 1):
        name = Path(job.output).stem
        if failed:
            outcomes.append(Outcome(name, "skipped"))
            continue
        ctrl_c.kernel, ctrl_c.requested = None, False
        start = time.perf_counter()
        try:
            settings = ", ".join(f"{k}={v}" for k, v in job.params.items())
            print(f"[{i}/{len(jobs)}] {job.output}  ({settings})", flush=True)
            papermill.execute_notebook(
                str(job.book), str(out_dir / job.output), parameters=job.params, kernel_name="python3",
                cwd=str(job.book.parent), progress_bar=True, log_output=False, stderr_file=ProgressRelay(name),
                kernel_manager_class=ctrl_c.manager_class(),
            )
            if ctrl_c.requested:  # Ctrl-C came while no cell was running
                raise KeyboardInterrupt
            outcomes.append(Outcome(name, "ok", time.perf_counter() - start))
        except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - any failure stops the run and is reported
            if ctrl_c.requested or _interrupted(error):
                outcomes.append(Outcome(name, "interrupted", time.perf_counter() - start, "stopped by Ctrl-C"))
                print(f"\nINTERRUPTED: {job.output}", file=sys.stderr, flush=True)
                failed = True
                continue
            detail = _failure_detail(error)
            outcomes.append(Outcome(name, "failed", time.perf_counter() - start, detail))
            print(f"FAILED: {job.output}, {detail}\n  executed copy with the traceback: {out_dir / job.output}", file=sys.stderr)
            failed = True


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table of notebooks, status and time."""
    width, state = max([len(o.name) for o in outcomes] + [8]), max([len(o.status) for o in outcomes] + [7])
    lines = [f"{'notebook':<{width}}  {'status':<{state}}  {'seconds':>8}"]
    lines += [f"{o.name:<{width}}  {o.status:<{state}}  {o.seconds:>8.1f}" + (f"  {o.detail}" if o.detail else "")
              for o in outcomes]
    lines.append(f"{'total':<{width}}  {'':<{state}}  {sum(o.seconds for o in outcomes):>8.1f}")
    count = {status: sum(o.status == status for o in outcomes) for status in ("ok", "failed", "interrupted", "skipped")}
    lines.append(f"notebooks: {count['ok']} passed, {count['failed']} failed"
                 + "".join(f", {count[s]} {s}" for s in ("interrupted", "skipped") if count[s]))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    """The options of ``run_all.sh`` (``run_all.sh --help`` prints them)."""
    parser = argparse.ArgumentParser(
        prog="run_all.sh", description="Run the numbered notebooks in notebooks/ in order with Papermill.",
        epilog="Relative paths are taken from the current directory. Ctrl-C stops the run, prints the summary and "
               "exits with 130; a rerun resumes from the results cache and the training checkpoints.")
    parser.add_argument("--profile", choices=PROFILES, default="smoke", help="smoke (demo world, CPU, minutes) or paper")
    parser.add_argument("--dataset", default="koniq10k",
                        help="paper profile: comma-separated datasets, e.g. koniq10k,spaq (the ICIP paper uses both)")
    parser.add_argument("--only", default=None, help="comma-separated notebook numbers or names, e.g. 00,03")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IQAXAI_DATA or data/)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (mps where supported)")
    parser.add_argument("--weights", choices=WEIGHTS, default="pretrained",
                        help="paper profile: pretrained (the papers') or random (dry run only: architectures untrained)")
    parser.add_argument("--epochs", type=int, default=None, help="cut every training schedule to this many epochs")
    parser.add_argument("--dry-run", action="store_true",
                        help="paper profile, random weights, miniature datasets in the official layouts, cut schedules")
    parser.add_argument("--out", default=None, help="folder for executed notebooks (default build/executed/<run>)")
    return parser


def _names(only: str | None) -> list[str] | None:
    """The notebook names of ``--only`` (``None`` when the option is absent)."""
    return None if only is None else [o.strip() for o in only.split(",") if o.strip()]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see ``run_all.sh --help``): 0 when every notebook ran, 1 on a failure, 2 on a
    usage error, 130 on Ctrl-C."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _main(parser, args)
    except KeyboardInterrupt:
        print("\nrun_all: interrupted before the first notebook", file=sys.stderr)
        return INTERRUPTED


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Check the options, prepare the run and execute it."""
    datasets = [d.strip() for d in args.dataset.split(",") if d.strip()]
    only = _names(args.only)
    if not args.dry_run and args.weights == "random":
        parser.error("--weights random gives numbers of untrained networks; it is allowed only with --dry-run")
    find_notebooks(repo_root() / "notebooks", only)
    try:
        check_device(args.device)
        out = writable_folder(absolute(args.out)) if args.out else None
    except ValueError as error:
        parser.error(str(error))
    for name in ("IQAXAI_DATA", "IQAXAI_CACHE"):  # the notebooks run in notebooks/, not in the caller's directory
        if os.environ.get(name):
            os.environ[name] = str(absolute(os.environ[name]))
    data_root = str(absolute(args.data_root)) if args.data_root else None
    if args.dry_run:
        args.profile, args.weights = "paper", "random"  # the dry run is a run of the paper profile
        if data_root is None:
            from iqaxai.data.miniature import write_miniatures

            data_root = str(write_miniatures(repo_root() / "build" / "dry-run-data", DRY_RUN_DATASETS))
            _stand_in_proxy_maps(Path(data_root))
    # the kernels draw the notebooks' figures into the executed copies (plt.show); a caller's MPLBACKEND wins
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    if args.profile == "smoke" or args.dry_run:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.profile == "smoke":
        datasets = []
    outcomes = run(args.profile, only, data_root, args.device, out, datasets, args.weights, args.epochs, args.dry_run)
    print("\nSummary\n" + summary(outcomes), flush=True)
    if any(o.status == "interrupted" for o in outcomes):
        return INTERRUPTED
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
