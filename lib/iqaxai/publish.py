"""Publish executed smoke notebooks over ``notebooks/*.ipynb``, so a reader browsing the repository sees every
notebook with its outputs (``python -m iqaxai.publish``, after ``bash run_all.sh``).

The committed notebook stays the skeleton: its cells (sources, ids, metadata) and its notebook metadata are
kept; only the outputs and execution counts come from the executed copy, whose sources must be the same (else
the copy is stale and nothing is written). What a regeneration would otherwise churn is left out:

- Papermill's and Jupyter's timing metadata (they are never copied from the executed copy);
- Papermill's ``injected-parameters`` cell when it only repeats the parameters cell's defaults (a smoke run);
- widget outputs (tqdm's bars in a kernel with ipywidgets) and progress on stderr: the headless progress lines
  of :func:`iqaxai.runtime.progress`, tqdm's carriage-return bars and tqdm's warnings; other stderr stays;
- absolute paths: the repository, its virtual environment, the results cache and the home folder are written
  as relative paths or ``<site-packages>``, ``<cache>``, ``~``, a cell's temporary file as ``<cell>``;
- large images: every ``image/png`` output wider than ``max_width`` pixels is scaled down, and each is
  re-encoded as an optimised palette PNG (Pillow's quantize) when that is smaller.
"""

from __future__ import annotations

import argparse
import ast
import base64
import copy
import io
import os
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from iqaxai.paths import cache_dir, repo_root
from iqaxai.runtime import PROGRESS_MARK

MAX_WIDTH = 800  # pixels: about the width a notebook shows an output at
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
INJECTED = "injected-parameters"
_TQDM_BAR = re.compile(r"\d+%\|.*\|\s*[\d.]+[kMGT]?/[\d.?]+[kMGT]?")  # " 45%|####5     | 9/20 [00:03<00:04, ...]"
_TQDM_WARNING = re.compile(r":\d+: Tqdm\w*Warning: ")
_TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/javascript")
_CELL_FILE = re.compile(r"/[^\s'\"<>]*/ipykernel_\d+/\d+\.py")
_ABSOLUTE = re.compile(r"(?<![\w.~<>/-])/(?:tmp|home|root|Users|work|var|mnt|opt|srv|data|scratch)/[^\s'\"<>]*")


class PublishError(ValueError):
    """An executed notebook that cannot be published: stale, failed, or of another profile."""


@dataclass(frozen=True)
class Published:
    """One published notebook: its path, its size before and after in bytes, its images and the absolute paths
    still in its outputs (e.g. an ``$IQAXAI_OUT`` of the run; worth a look before committing)."""

    path: Path
    bytes_before: int
    bytes_after: int
    images: int
    absolute_paths: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------ parameters

def assigned_values(source: str) -> dict[str, object] | None:
    """``{name: value}`` of a parameters cell's plain assignments of literals; None when a value is not a literal
    (then it cannot be compared with anything)."""
    values: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                return None
    return values


def injected_is_default(parameters: str, injected: str) -> bool:
    """Whether every parameter Papermill injected has the value the parameters cell gives it already."""
    defaults, given = assigned_values(parameters), assigned_values(injected)
    if defaults is None or given is None:
        return False
    return all(name in defaults and defaults[name] == value and type(defaults[name]) is type(value)
               for name, value in given.items())


# ------------------------------------------------------------------------------------------------ outputs

def path_replacements(root: Path | None = None) -> list[tuple[str, str]]:
    """Absolute paths of this machine and what a published output says instead, most specific first."""
    root = (root or repo_root()).resolve()
    pairs = [(sysconfig.get_paths()["purelib"], "<site-packages>"), (str(Path(sys.prefix).resolve()), "<venv>"),
             (str(cache_dir().resolve()), "<cache>"), (str(root) + os.sep, ""), (str(root), "."),
             (str(Path.home().resolve()), "~")]
    seen, out = set(), []
    for old, new in sorted(pairs, key=lambda p: -len(p[0])):  # the longest first: a venv inside the repository
        if old not in seen and len(old) > 1:
            seen.add(old)
            out.append((old, new))
    return out


def relative_paths(text: str, replacements: list[tuple[str, str]]) -> str:
    """``text`` with every absolute path of ``replacements`` replaced, and a notebook cell's temporary file
    (``/tmp/ipykernel_<pid>/<hash>.py``, where a warning raised for cell code points) written as ``<cell>``."""
    for old, new in replacements:
        text = text.replace(old, new)
    return _CELL_FILE.sub("<cell>", text)


def clean_stderr(text: str) -> str:
    """A stderr stream without progress: each line as a terminal shows it (after its last carriage return), less
    the library's progress lines, tqdm bars, tqdm's warnings (and their source line) and blank lines."""
    kept: list[str] = []
    skip_source_line = False
    for raw in text.split("\n"):
        line = raw.rsplit("\r", 1)[-1]
        if skip_source_line and line.startswith((" ", "\t")):
            skip_source_line = False
            continue
        skip_source_line = False
        if _TQDM_WARNING.search(line):
            skip_source_line = True
            continue
        if not line.strip() or line.startswith(PROGRESS_MARK) or _TQDM_BAR.search(line):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n" if kept else ""


def shrink_png(data: str, max_width: int = MAX_WIDTH) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """A base64 PNG at most ``max_width`` wide, re-encoded as an optimised palette PNG when that is smaller (or
    when it had to be scaled): ``(base64, old size, new size)``, sizes as (width, height)."""
    from PIL import Image

    raw = base64.b64decode(data)
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
        old = image.size
        work = image.convert("RGBA")
    has_alpha = work.getextrema()[3][0] < 255  # matplotlib's RGBA figures are mostly opaque: RGB quantizes better
    if not has_alpha:
        work = work.convert("RGB")
    if work.width > max_width:
        work = work.resize((max_width, max(1, round(work.height * max_width / work.width))), Image.Resampling.LANCZOS)
    method = Image.Quantize.FASTOCTREE if has_alpha else Image.Quantize.MEDIANCUT
    palette = work.quantize(colors=256, method=method, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    if buffer.tell() >= len(raw) and work.size == old:
        return data, old, old  # already small: keep the original bytes
    return base64.b64encode(buffer.getvalue()).decode("ascii"), old, work.size


def clean_output(output: NotebookNode, replacements: list[tuple[str, str]], max_width: int) -> NotebookNode | None:
    """One output as published, or None to drop it (widgets, progress-only stderr)."""
    output = copy.deepcopy(output)
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        if output.get("name") == "stderr":
            text = clean_stderr(text)
        output["text"] = relative_paths(text, replacements)
        return output if output["text"] else None
    if kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        if WIDGET_MIME in data:
            return None
        for mime in _TEXT_MIMES:
            if mime in data:
                value = data[mime]
                data[mime] = relative_paths("".join(value) if isinstance(value, list) else value, replacements)
        if "image/png" in data:
            data["image/png"], old, new = shrink_png(data["image/png"], max_width)
            meta = output.get("metadata", {}).get("image/png")
            if isinstance(meta, dict) and new != old:
                for key, full in (("width", old[0]), ("height", old[1])):
                    if key in meta:
                        meta[key] = max(1, round(meta[key] * new[0] / old[0]))
        return output
    if kind == "error":
        raise PublishError(f"an output is the error {output.get('ename')}: {output.get('evalue')}")
    return output


# ------------------------------------------------------------------------------------------------ notebooks

def _is_injected(cell: NotebookNode) -> bool:
    return INJECTED in cell.get("metadata", {}).get("tags", [])


def _is_parameters(cell: NotebookNode) -> bool:
    return "parameters" in cell.get("metadata", {}).get("tags", [])


def merge(source: NotebookNode, executed: NotebookNode, name: str, max_width: int = MAX_WIDTH,
          replacements: list[tuple[str, str]] | None = None) -> NotebookNode:
    """The committed notebook ``source`` with the outputs of ``executed`` (see the module docstring)."""
    replacements = path_replacements() if replacements is None else replacements
    run = executed.metadata.get("papermill", {})
    profile = (run.get("parameters") or {}).get("profile", "smoke")
    if profile != "smoke":
        raise PublishError(f"{name}: the executed copy is from the {profile!r} profile; only smoke runs are published")
    if run.get("exception"):
        raise PublishError(f"{name}: the executed copy stopped at an error; only notebooks that ran through are published")
    source = copy.deepcopy(source)
    source.cells = [c for c in source.cells if not _is_injected(c)]  # one kept by an earlier publication
    injected = [c for c in executed.cells if _is_injected(c)]
    ran = [c for c in executed.cells if not _is_injected(c)]
    if len(ran) != len(source.cells) or any(a.source != b.source or a.cell_type != b.cell_type
                                             for a, b in zip(source.cells, ran)):
        raise PublishError(f"{name}: the executed copy was made from other cell sources than the notebook's; "
                           "run the smoke profile again (bash run_all.sh)")
    published = source
    cells = []
    for cell, done in zip(published.cells, ran):
        if cell.cell_type == "code":
            outputs = [clean_output(o, replacements, max_width) for o in done.get("outputs", [])]
            cell.outputs = [o for o in outputs if o is not None]
            cell.execution_count = done.get("execution_count")
        cells.append(cell)
        if _is_parameters(cell) and injected and not injected_is_default(cell.source, injected[0].source):
            extra = nbformat.v4.new_code_cell(injected[0].source, metadata={"tags": [INJECTED]})
            extra.id = INJECTED  # not Papermill's random id: a regeneration leaves it alone
            extra.execution_count = injected[0].get("execution_count")
            cells.append(extra)
    count = 0  # number the code cells that ran 1, 2, ... in order (a dropped injected cell leaves no gap)
    for cell in cells:
        if cell.cell_type == "code" and cell.execution_count is not None:
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if output.get("output_type") == "execute_result":
                    output["execution_count"] = count
    published.cells = cells
    nbformat.validate(published)
    return published


def publish(executed_dir: Path, notebooks_dir: Path, out_dir: Path | None = None, max_width: int = MAX_WIDTH,
            only: list[str] | None = None) -> tuple[list[Published], list[str]]:
    """Publish every numbered notebook of ``notebooks_dir`` that has an executed copy in ``executed_dir`` into
    ``out_dir`` (default: over the notebooks). All are checked before any is written. Returns what was published
    and the names of the notebooks without an executed copy."""
    out_dir = out_dir or notebooks_dir
    books = sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if only is not None:
        books = [b for b in books if any(b.stem == o or b.stem.startswith(f"{o}_") for o in only)]
    missing = [b.stem for b in books if not (executed_dir / b.name).exists()]
    replacements = path_replacements()
    ready = []
    for book in books:
        if book.stem in missing:
            continue
        source = nbformat.read(book, as_version=4)
        executed = nbformat.read(executed_dir / book.name, as_version=4)
        ready.append((book, merge(source, executed, book.stem, max_width, replacements)))
    if not ready:
        raise PublishError(f"no executed notebook of {notebooks_dir} in {executed_dir}; run bash run_all.sh first")
    done = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for book, notebook in ready:
        target = out_dir / book.name
        before = book.stat().st_size
        nbformat.write(notebook, target)
        outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
        images = sum("image/png" in o.get("data", {}) for o in outputs)
        texts = [o.get("text", "") for o in outputs] + [str(v) for o in outputs for k, v in o.get("data", {}).items()
                                                        if k in _TEXT_MIMES]
        left = tuple(sorted({m for text in texts for m in _ABSOLUTE.findall(text)}))
        done.append(Published(target, before, target.stat().st_size, images, left))
    return done, missing


def report(done: list[Published], missing: list[str]) -> str:
    """A table of the published notebooks and their sizes."""
    lines = [f"{'notebook':<28} {'before':>9} {'after':>9} {'added':>9} {'images':>6}"]
    lines += [f"{p.path.name:<28} {p.bytes_before:>9} {p.bytes_after:>9} {p.bytes_after - p.bytes_before:>9} {p.images:>6}"
              for p in done]
    before, after = sum(p.bytes_before for p in done), sum(p.bytes_after for p in done)
    lines.append(f"{'total':<28} {before:>9} {after:>9} {after - before:>9} {sum(p.images for p in done):>6}")
    if missing:
        lines.append(f"not published (no executed copy): {', '.join(missing)}")
    for p in done:
        if p.absolute_paths:
            lines.append(f"absolute paths left in {p.path.name}: {', '.join(p.absolute_paths[:5])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m iqaxai.publish``: 0 when published, 1 when an executed copy cannot be published."""
    root = repo_root()
    parser = argparse.ArgumentParser(prog="python -m iqaxai.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", default=str(root / "build" / "executed" / "smoke"),
                        help="folder of the executed smoke notebooks (default build/executed/smoke, run_all.sh's)")
    parser.add_argument("--notebooks", default=str(root / "notebooks"), help="the committed notebooks (default notebooks/)")
    parser.add_argument("--out", default=None, help="where to write (default: over --notebooks)")
    parser.add_argument("--only", default=None, help="comma-separated notebook numbers or names")
    parser.add_argument("--max-width", type=int, default=MAX_WIDTH, help=f"widest image in pixels (default {MAX_WIDTH})")
    args = parser.parse_args(argv)
    only = None if args.only is None else [o.strip() for o in args.only.split(",") if o.strip()]
    try:
        done, missing = publish(Path(args.executed).resolve(), Path(args.notebooks).resolve(),
                                Path(args.out).resolve() if args.out else None, args.max_width, only)
    except PublishError as error:
        print(f"publish: {error}", file=sys.stderr)
        return 1
    print(report(done, missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
