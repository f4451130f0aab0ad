"""Run the numbered notebooks in order with Papermill (the engine behind ``run_all.sh``).

Executed copies go to ``build/executed/<profile>/`` so the sources in ``notebooks/`` stay clean; the
notebooks write their figures to ``figures/`` and tables to ``tables/``. The run stops at the first
failing notebook, naming it and the failing cell, and always ends with a summary of what ran.
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

PROFILES = ("smoke", "paper")


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


def profile_parameters(profile: str, notebook: str, folder: Path) -> dict:
    """Parameters of ``profile`` for one notebook: ``common`` then the notebook's own section of ``<profile>.yaml``."""
    path = folder / f"{profile}.yaml"
    if not path.exists():
        return {}
    spec = yaml.safe_load(path.read_text()) or {}
    return {**(spec.get("common") or {}), **((spec.get("notebooks") or {}).get(notebook) or {})}


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


def run(
    profile: str = "smoke",
    only: list[str] | None = None,
    data_root: str | None = None,
    device: str = "auto",
    out_dir: Path | None = None,
) -> list[Outcome]:
    """Execute the notebooks; stop at the first failure. Returns one outcome per selected notebook."""
    import papermill

    root = repo_root()
    books = find_notebooks(root / "notebooks", only)
    out_dir = out_dir or root / "build" / "executed" / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = {"profile": profile, "device": device}
    if data_root:
        overrides["data_root"] = str(Path(data_root).expanduser().resolve())
    outcomes: list[Outcome] = []
    failed = False
    for i, book in enumerate(books, 1):
        if failed:
            outcomes.append(Outcome(book.stem, "skipped"))
            continue
        declared = _declared_parameters(book)
        params = {**profile_parameters(profile, book.stem, root / "profiles"), **overrides}
        params = {k: v for k, v in params.items() if k in declared}
        print(f"[{i}/{len(books)}] {book.name}  ({profile}; {', '.join(f'{k}={v}' for k, v in params.items())})", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(book), str(out_dir / book.name), parameters=params, kernel_name="python3",
                cwd=str(book.parent), progress_bar=True, log_output=False,
            )
            outcomes.append(Outcome(book.stem, "ok", time.perf_counter() - start))
        except Exception as error:  # noqa: BLE001 - any failure stops the run and is reported
            detail = _failure_detail(error)
            outcomes.append(Outcome(book.stem, "failed", time.perf_counter() - start, detail))
            print(f"FAILED: {book.name}, {detail}\n  executed copy with the traceback: {out_dir / book.name}", file=sys.stderr)
            failed = True
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table of notebooks, status and time."""
    width = max([len(o.name) for o in outcomes] + [8])
    lines = [f"{'notebook':<{width}}  {'status':<8}  {'seconds':>8}"]
    lines += [f"{o.name:<{width}}  {o.status:<8}  {o.seconds:>8.1f}" + (f"  {o.detail}" if o.detail else "") for o in outcomes]
    lines.append(f"{'total':<{width}}  {'':<8}  {sum(o.seconds for o in outcomes):>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see ``run_all.sh --help``)."""
    parser = argparse.ArgumentParser(prog="run_all.sh", description="Run every numbered notebook with Papermill.")
    parser.add_argument("--profile", choices=PROFILES, default="smoke", help="smoke (demo world, CPU, minutes) or paper")
    parser.add_argument("--only", default="", help="comma-separated notebook numbers or names, e.g. 00,03")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IQAXAI_DATA or data/)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--out", default=None, help="folder for executed notebooks (default build/executed/<profile>)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.profile == "smoke":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    only = [o.strip() for o in args.only.split(",") if o.strip()] or None
    outcomes = run(args.profile, only, args.data_root, args.device, Path(args.out) if args.out else None)
    print("\nSummary\n" + summary(outcomes))
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
