"""Run the numbered notebooks in order with Papermill (the engine behind ``run_all.sh``).

Executed copies go to ``build/executed/<run>/`` so the sources in ``notebooks/`` stay clean. A notebook that
declares ``datasets`` (a list) runs once with all of them (results pooled over datasets, e.g. Table II); one
that declares ``dataset`` runs once per dataset of ``--dataset``. The smoke profile runs on the demo world
and writes the committed ``tables/`` and ``figures/``; a paper run writes ``results/<profile>/<dataset>/``.
``--dry-run`` is the paper profile with the papers' architectures randomly initialised (``weights=random``)
on miniature datasets in the official layouts (written under ``build/dry-run-data`` unless ``--data-root``
is given), with the schedules of ``profiles/paper-dry-run.yaml``. The run stops at the first failing
notebook, naming it and the failing cell, and always ends with a summary.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from iqaxai.paths import repo_root

from iqaxai.profiles import PROFILES, WEIGHTS

DRY_RUN_DATASETS = ("koniq10k", "spaq", "kadid10k", "clive", "tid2013")


@dataclass
class Outcome:
    """What happened to one notebook."""

    name: str
    status: str  # "ok", "failed" or "skipped"
    seconds: float = 0.0
    detail: str = ""


def find_notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks ``NN_*.ipynb`` in order, optionally restricted to names or number prefixes."""
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return books
    chosen = [b for b in books if any(b.stem == o or b.name == o or b.stem.startswith(f"{o}_") for o in only)]
    unknown = [o for o in only if not any(b.stem == o or b.name == o or b.stem.startswith(f"{o}_") for b in books)]
    if unknown:
        raise SystemExit(f"run_all: no notebook matches {unknown}; available: {[b.stem for b in books]}")
    return chosen


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


@dataclass(frozen=True)
class Job:
    """One execution of a notebook: its path, the parameters it receives and the executed copy's name."""

    book: Path
    params: dict
    output: str


def plan(books: list[Path], profile: str, datasets: list[str], overrides: dict, profiles: Path,
         dry_run: bool = False) -> list[Job]:
    """The executions of a run: per-dataset notebooks once per dataset in the paper profile, others once."""
    jobs = []
    for book in books:
        declared = _declared_parameters(book)
        base = {**profile_parameters(profile, book.stem, profiles, dry_run), **overrides}
        if "datasets" in declared and datasets:
            runs = [({"datasets": list(datasets)}, book.name)]
        elif "dataset" in declared and profile == "paper" and datasets:
            runs = [({"dataset": d}, book.name if len(datasets) == 1 else f"{book.stem}@{d}.ipynb") for d in datasets]
        else:
            runs = [({}, book.name)]
        for extra, output in runs:
            params = {k: v for k, v in {**base, **extra}.items() if k in declared}
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
    """Execute the notebooks; stop at the first failure. Returns one outcome per planned execution."""
    import papermill

    root = repo_root()
    books = find_notebooks(root / "notebooks", only)
    out_dir = out_dir or root / "build" / "executed" / (f"{profile}-dry-run" if dry_run else profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict = {"profile": profile, "device": device}
    if profile == "paper":
        overrides["weights"] = weights
    if data_root:
        overrides["data_root"] = str(Path(data_root).expanduser().resolve())
    if epochs:
        overrides["epochs"] = epochs
    jobs = plan(books, profile, list(datasets or []), overrides, root / "profiles", dry_run)
    outcomes: list[Outcome] = []
    failed = False
    for i, job in enumerate(jobs, 1):
        name = Path(job.output).stem
        if failed:
            outcomes.append(Outcome(name, "skipped"))
            continue
        print(f"[{i}/{len(jobs)}] {job.output}  ({', '.join(f'{k}={v}' for k, v in job.params.items())})", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(job.book), str(out_dir / job.output), parameters=job.params, kernel_name="python3",
                cwd=str(job.book.parent), progress_bar=True, log_output=False,
            )
            outcomes.append(Outcome(name, "ok", time.perf_counter() - start))
        except Exception as error:  # noqa: BLE001 - any failure stops the run and is reported
            detail = _failure_detail(error)
            outcomes.append(Outcome(name, "failed", time.perf_counter() - start, detail))
            print(f"FAILED: {job.output}, {detail}\n  executed copy with the traceback: {out_dir / job.output}", file=sys.stderr)
            failed = True
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table of notebooks, status and time."""
    width = max([len(o.name) for o in outcomes] + [8])
    lines = [f"{'notebook':<{width}}  {'status':<8}  {'seconds':>8}"]
    lines += [f"{o.name:<{width}}  {o.status:<8}  {o.seconds:>8.1f}" + (f"  {o.detail}" if o.detail else "") for o in outcomes]
    lines.append(f"{'total':<{width}}  {'':<8}  {sum(o.seconds for o in outcomes):>8.1f}")
    count = {status: sum(o.status == status for o in outcomes) for status in ("ok", "failed", "skipped")}
    lines.append(f"notebooks: {count['ok']} passed, {count['failed']} failed" + (f", {count['skipped']} skipped" if count["skipped"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see ``run_all.sh --help``)."""
    parser = argparse.ArgumentParser(prog="run_all.sh", description="Run every numbered notebook with Papermill.")
    parser.add_argument("--profile", choices=PROFILES, default="smoke", help="smoke (demo world, CPU, minutes) or paper")
    parser.add_argument("--dataset", default="koniq10k",
                        help="paper profile: comma-separated datasets, e.g. koniq10k,spaq (the ICIP paper uses both)")
    parser.add_argument("--only", default="", help="comma-separated notebook numbers or names, e.g. 00,03")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IQAXAI_DATA or data/)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--weights", choices=WEIGHTS, default="pretrained",
                        help="paper profile: pretrained (the papers') or random (dry run only: architectures untrained)")
    parser.add_argument("--epochs", type=int, default=None, help="cut every training schedule to this many epochs")
    parser.add_argument("--dry-run", action="store_true",
                        help="paper profile, random weights, miniature datasets in the official layouts, cut schedules")
    parser.add_argument("--out", default=None, help="folder for executed notebooks (default build/executed/<run>)")
    args = parser.parse_args(argv)
    datasets = [d.strip() for d in args.dataset.split(",") if d.strip()]
    if args.dry_run:
        args.profile, args.weights = "paper", "random"  # the dry run is a run of the paper profile
        if args.data_root is None:
            from iqaxai.data.miniature import write_miniatures

            args.data_root = str(write_miniatures(repo_root() / "build" / "dry-run-data", DRY_RUN_DATASETS))
    elif args.weights == "random":
        parser.error("--weights random gives numbers of untrained networks; it is allowed only with --dry-run")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.profile == "smoke" or args.dry_run:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.profile == "smoke":
        datasets = []
    only = [o.strip() for o in args.only.split(",") if o.strip()] or None
    outcomes = run(args.profile, only, args.data_root, args.device, Path(args.out) if args.out else None, datasets,
                   args.weights, args.epochs, args.dry_run)
    print("\nSummary\n" + summary(outcomes))
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
