"""The notebook runner behind run_all.sh, the provenance of outputs, and device selection."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from iqaxai import runner
from iqaxai.report import provenance, save_table
from iqaxai.runtime import resolve_device


def _notebook(path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'smoke'\nvalue = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 2"), nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture()
def fake_repo(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "profiles").mkdir()
    _notebook(tmp_path / "notebooks" / "00_first.ipynb", "assert value == 1 or profile == 'paper'")
    _notebook(tmp_path / "notebooks" / "01_second.ipynb", "raise ValueError('planted failure')")
    _notebook(tmp_path / "notebooks" / "02_third.ipynb", "print('never runs')")
    (tmp_path / "notebooks" / "scratch.ipynb").write_text("{}")  # not numbered: ignored
    (tmp_path / "profiles" / "paper.yaml").write_text("common:\n  value: 5\nnotebooks:\n  00_first:\n    value: 7\n")
    monkeypatch.setattr(runner, "repo_root", lambda: tmp_path)
    return tmp_path


def test_find_notebooks_order_and_subset(fake_repo):
    folder = fake_repo / "notebooks"
    assert [p.stem for p in runner.find_notebooks(folder)] == ["00_first", "01_second", "02_third"]
    assert [p.stem for p in runner.find_notebooks(folder, ["02", "00_first"])] == ["00_first", "02_third"]
    with pytest.raises(SystemExit, match="no notebook matches"):
        runner.find_notebooks(folder, ["07"])


def test_profile_parameters_layering(fake_repo):
    assert runner.profile_parameters("paper", "00_first", fake_repo / "profiles") == {"value": 7}
    assert runner.profile_parameters("paper", "01_second", fake_repo / "profiles") == {"value": 5}
    assert runner.profile_parameters("smoke", "00_first", fake_repo / "profiles") == {}


def test_run_stops_at_first_failure_naming_notebook_and_cell(fake_repo, capsys):
    outcomes = runner.run("smoke", out_dir=fake_repo / "out")
    assert [(o.name, o.status) for o in outcomes] == [("00_first", "ok"), ("01_second", "failed"), ("02_third", "skipped")]
    assert "planted failure" in outcomes[1].detail and "cell" in outcomes[1].detail
    assert "FAILED: 01_second.ipynb" in capsys.readouterr().err
    assert (fake_repo / "out" / "00_first.ipynb").exists()
    source = nbformat.read(fake_repo / "notebooks" / "00_first.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code")  # sources stay clean
    text = runner.summary(outcomes)
    assert "01_second" in text and "failed" in text and "total" in text


def test_paper_profile_injects_parameters(fake_repo):
    outcomes = runner.run("paper", only=["00"], out_dir=fake_repo / "out")
    assert outcomes[0].status == "ok"
    executed = nbformat.read(fake_repo / "out" / "00_first.ipynb", as_version=4)
    injected = [c.source for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "value = 7" in injected[0] and 'profile = "paper"' in injected[0]


def test_outputs_carry_their_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("IQAXAI_OUT", str(tmp_path))
    save_table(pd.DataFrame({"a": [1.0]}), "t", "A caption", "demo")
    assert "DEMO WORLD" in (tmp_path / "tables" / "t.md").read_text()
    assert pd.read_csv(tmp_path / "tables" / "t.csv")["a"].tolist() == [1.0]
    assert provenance("real") == "real datasets"
    assert "DRY RUN" in provenance("dry-run")
    with pytest.raises(ValueError, match="source must be"):
        provenance("fast")


def test_device_selection_is_explicit_about_a_missing_gpu():
    import torch

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            resolve_device("cuda")


def _declaring(path, parameters: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_plan_runs_per_dataset_notebooks_once_per_dataset_and_pooled_ones_once(tmp_path):
    _declaring(tmp_path / "01_a.ipynb", "profile = 'smoke'\ndataset = 'koniq10k'\nweights = 'pretrained'")
    _declaring(tmp_path / "04_b.ipynb", "profile = 'smoke'\ndatasets = ['koniq10k']")
    _declaring(tmp_path / "00_c.ipynb", "profile = 'smoke'")
    books = runner.find_notebooks(tmp_path)
    jobs = runner.plan(books, "paper", ["koniq10k", "spaq"], {"profile": "paper", "weights": "random", "device": "cpu"},
                       tmp_path / "profiles")
    assert [(j.output, j.params.get("dataset"), j.params.get("datasets")) for j in jobs] == [
        ("00_c.ipynb", None, None), ("01_a@koniq10k.ipynb", "koniq10k", None), ("01_a@spaq.ipynb", "spaq", None),
        ("04_b.ipynb", None, ["koniq10k", "spaq"])]
    assert jobs[0].params == {"profile": "paper"}  # only what a notebook declares
    assert jobs[1].params["weights"] == "random"
    smoke = runner.plan(books, "smoke", [], {"profile": "smoke"}, tmp_path / "profiles")
    assert [j.output for j in smoke] == ["00_c.ipynb", "01_a.ipynb", "04_b.ipynb"]


def test_max_datasets_runs_a_per_dataset_notebook_on_the_first_datasets_only(tmp_path):
    _declaring(tmp_path / "05_a.ipynb", "profile = 'smoke'\ndataset = 'koniq10k'")
    _declaring(tmp_path / "06_b.ipynb", "profile = 'smoke'\ndataset = 'koniq10k'")
    _declaring(tmp_path / "07_c.ipynb", "profile = 'smoke'\ndatasets = ['koniq10k']")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "paper.yaml").write_text("notebooks:\n  05_a:\n    max_datasets: 1\n  07_c:\n    max_datasets: 1\n")
    books = runner.find_notebooks(tmp_path)
    jobs = runner.plan(books, "paper", ["koniq10k", "spaq"], {"profile": "paper"}, profiles)
    assert [j.output for j in jobs] == ["05_a@koniq10k.ipynb", "06_b@koniq10k.ipynb", "06_b@spaq.ipynb", "07_c.ipynb"]
    assert jobs[-1].params["datasets"] == ["koniq10k"]  # a pooling notebook pools the first datasets only
    assert "max_datasets" not in jobs[0].params
    assert [j.output for j in runner.plan(books, "paper", ["spaq"], {"profile": "paper"}, profiles)] == [
        "05_a.ipynb", "06_b.ipynb", "07_c.ipynb"]
    (profiles / "paper.yaml").write_text("notebooks:\n  05_a:\n    max_datasets: 0\n")
    with pytest.raises(ValueError, match="max_datasets of 05_a"):
        runner.plan(books, "paper", ["koniq10k", "spaq"], {"profile": "paper"}, profiles)


def test_later_datasets_set_parameters_after_the_first_dataset_only(tmp_path):
    _declaring(tmp_path / "01_a.ipynb", "profile = 'smoke'\ndataset = 'koniq10k'\nmodels = ['x']\nseed = 0")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "paper.yaml").write_text("notebooks:\n  01_a:\n    models: [a, b]\n    later_datasets:\n      models: [a]\n")
    books = runner.find_notebooks(tmp_path)
    jobs = runner.plan(books, "paper", ["koniq10k", "spaq", "clive"], {"profile": "paper", "seed": 3}, profiles)
    assert [(j.params["dataset"], j.params["models"], j.params["seed"]) for j in jobs] == [
        ("koniq10k", ["a", "b"], 3), ("spaq", ["a"], 3), ("clive", ["a"], 3)]
    assert "later_datasets" not in jobs[0].params
    (profiles / "paper.yaml").write_text("notebooks:\n  01_a:\n    later_datasets: [a]\n")
    with pytest.raises(ValueError, match="later_datasets of 01_a"):
        runner.plan(books, "paper", ["koniq10k", "spaq"], {"profile": "paper"}, profiles)


def test_dry_run_overlay_and_random_weights_need_the_switch(tmp_path):
    (tmp_path / "paper.yaml").write_text("common:\n  epochs: 30\nnotebooks:\n  01_a:\n    n: 5\n")
    (tmp_path / "paper-dry-run.yaml").write_text("common:\n  epochs: 1\n")
    assert runner.profile_parameters("paper", "01_a", tmp_path) == {"epochs": 30, "n": 5}
    assert runner.profile_parameters("paper", "01_a", tmp_path, dry_run=True) == {"epochs": 1, "n": 5}
    with pytest.raises(SystemExit):
        runner.main(["--profile", "paper", "--weights", "random"])


def test_study_outputs_never_collide_and_say_what_they_are(tmp_path, monkeypatch):
    from iqaxai.experiment import Study, pooled_outputs, studies

    monkeypatch.setenv("IQAXAI_OUT", str(tmp_path))
    smoke = Study("smoke")
    koniq, spaq = Study("paper", "KonIQ-10k"), Study("paper", "spaq")
    dry = Study("paper", "koniq10k", weights="random")
    assert smoke.outputs.folder == tmp_path and smoke.source == "demo" and smoke.is_demo
    assert koniq.outputs.folder == tmp_path / "results" / "paper" / "koniq10k" and koniq.source == "real"
    assert spaq.outputs.folder == tmp_path / "results" / "paper" / "spaq"
    assert dry.outputs.folder == tmp_path / "results" / "paper-dry-run" / "koniq10k" and "DRY RUN" in dry.provenance
    assert pooled_outputs([koniq, spaq]).folder == tmp_path / "results" / "paper" / "koniq10k+spaq"
    with pytest.raises(ValueError, match="cannot pool"):
        pooled_outputs([koniq, dry])
    assert len(studies("smoke", ["koniq10k", "spaq"])) == 1 and len(studies("paper", ["koniq10k", "spaq"])) == 2
    assert (koniq.paper_dataset, spaq.paper_dataset, smoke.paper_dataset) == ("koniq10k", "spaq", "koniq10k")
    with pytest.raises(ValueError, match="weights must be"):
        Study("paper", weights="imagenet")
    with pytest.raises(KeyError, match="unknown dataset"):
        Study("paper", "koniq20k")


# The command line: every refusal comes before any notebook runs; Ctrl-C ends with the summary and 130.

@pytest.fixture()
def executions(fake_repo, monkeypatch):
    """Stand-in for papermill.execute_notebook: records each call; ``fail[name]`` is raised for that notebook."""
    import papermill

    calls, fail = [], {}

    def execute(book, output, parameters=None, **kwargs):
        calls.append((book, output, parameters))
        if Path(book).stem in fail:
            raise fail[Path(book).stem]

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # main() sets both if absent; keep them out of the test process
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return calls, fail


@pytest.mark.parametrize("only", [",", "", " , "])
def test_an_empty_only_is_refused_naming_the_notebooks(executions, only):
    calls, _ = executions
    with pytest.raises(SystemExit) as refusal:
        runner.main(["--only", only])
    assert "--only selects no notebook" in str(refusal.value.code)
    assert "00_first, 01_second, 02_third" in str(refusal.value.code)
    assert calls == []


def test_find_notebooks_refuses_an_empty_selection(fake_repo):
    with pytest.raises(SystemExit, match="selects no notebook; available: 00_first"):
        runner.find_notebooks(fake_repo / "notebooks", [])


@pytest.mark.parametrize("device, message", [
    ("cuda", "--device cuda was requested but no CUDA GPU is available here; use --device cpu or --device auto"),
    ("cuda:1", "no CUDA GPU is available"),
    ("gpu", "--device 'gpu' is not a device; accepted: auto, cpu, cuda, cuda:N"),
    ("cuda:x", "is not a device"),
])
def test_device_is_checked_before_any_notebook(executions, monkeypatch, capsys, device, message):
    import torch

    calls, _ = executions
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as refusal:
        runner.main(["--only", "00", "--device", device])
    assert refusal.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert calls == []


def test_check_device_accepted_values(monkeypatch):
    import torch

    assert runner.check_device("cpu") == "cpu" and runner.check_device("auto") == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert runner.check_device("cuda") == "cuda" and runner.check_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match=r"only 1 GPU\(s\) exist"):
        runner.check_device("cuda:3")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="MPS is not available here; accepted: auto, cpu, cuda, cuda:N$"):
        runner.check_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert runner.check_device("mps") == "mps"
    with pytest.raises(ValueError, match="accepted: auto, cpu, cuda, cuda:N, mps"):
        runner.check_device("GPU")


def test_an_unwritable_out_is_refused_naming_the_folder(executions, tmp_path, capsys):
    calls, _ = executions
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as refusal:
        runner.main(["--only", "00", "--out", str(tmp_path / "a-file" / "executed")])
    assert refusal.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot write executed notebooks to {tmp_path / 'a-file' / 'executed'}" in err and "--out" in err
    assert "Traceback" not in err and calls == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
def test_a_read_only_out_is_refused(executions, tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(ValueError, match=f"cannot write executed notebooks to {tmp_path / 'ro'}"):
        runner.writable_folder(tmp_path / "ro")


def test_relative_paths_are_taken_from_the_working_directory(executions, fake_repo, tmp_path, monkeypatch):
    calls, _ = executions
    _declaring(fake_repo / "notebooks" / "03_fourth.ipynb", "profile = 'smoke'\ndata_root = None")
    caller = tmp_path / "caller"
    caller.mkdir()
    monkeypatch.chdir(caller)
    monkeypatch.setenv("IQAXAI_CACHE", "cache")
    assert runner.main(["--only", "03", "--out", "executed", "--data-root", "datasets"]) == 0
    [(_, output, parameters)] = calls
    assert output == str(caller / "executed" / "03_fourth.ipynb")
    assert parameters["data_root"] == str(caller / "datasets")
    assert os.environ["IQAXAI_CACHE"] == str(caller / "cache")  # the kernels run in notebooks/


def _statuses(summary: str) -> dict[str, str]:
    """Notebook -> status, from the rows of a printed summary."""
    rows = [line.split() for line in summary.split("Summary", 1)[-1].splitlines()]
    return {row[0]: row[1] for row in rows if len(row) >= 3 and row[0][:2].isdigit()}


def _ctrl_c_in_kernel() -> Exception:
    from papermill.exceptions import PapermillExecutionError

    return PapermillExecutionError(cell_index=2, exec_count=2, source="", ename="KeyboardInterrupt", evalue="",
                                   traceback=[])


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, _ctrl_c_in_kernel], ids=["runner", "kernel"])
def test_ctrl_c_marks_the_notebook_interrupted_prints_the_summary_and_exits_130(executions, tmp_path, capsys,
                                                                                interrupt):
    calls, fail = executions
    fail["01_second"] = interrupt()
    assert runner.main(["--out", str(tmp_path / "out")]) == runner.INTERRUPTED == 130
    out, err = capsys.readouterr()
    assert "Summary" in out and "notebooks: 1 passed, 0 failed, 1 interrupted, 1 skipped" in out
    assert _statuses(out) == {"00_first": "ok", "01_second": "interrupted", "02_third": "skipped"}
    assert "INTERRUPTED: 01_second.ipynb" in err and "Traceback" not in err
    assert len(calls) == 2


_DRIVER = """
import sys
from pathlib import Path
from iqaxai import runner
runner.repo_root = lambda: Path(sys.argv[1])
sys.exit(runner.main(sys.argv[2:]))
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a process group")
def test_sigint_interrupts_the_running_cell_and_ends_with_the_summary(tmp_path):
    """A real Ctrl-C (SIGINT to the runner's process group) during a cell: no traceback, summary, exit 130."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "notebooks").mkdir()
    started = tmp_path / "cell-started"
    _notebook(tmp_path / "notebooks" / "00_wait.ipynb",
              f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(120)")
    _notebook(tmp_path / "notebooks" / "01_after.ipynb", "print('never runs')")
    (tmp_path / "driver.py").write_text(_DRIVER)
    command = [sys.executable, str(tmp_path / "driver.py"), str(tmp_path), "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), "the notebook's cell never started"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert _statuses(out) == {"00_wait": "interrupted", "01_after": "skipped"}
    assert "Traceback" not in err and "INTERRUPTED: 00_wait.ipynb" in err
    executed = nbformat.read(tmp_path / "out" / "00_wait.ipynb", as_version=4)
    assert any(o.get("ename") == "KeyboardInterrupt" for c in executed.cells for o in c.get("outputs", []))


def _fake_venv(folder: Path, record: Path) -> Path:
    """A virtual environment whose python records its working directory, refuses installs and runs this one."""
    import hashlib
    import sys

    (folder / "bin").mkdir(parents=True)
    python = folder / "bin" / "python"
    python.write_text(f'#!/bin/sh\npwd > "{record}"\n'
                      'case "$*" in *"-m pip"*|*"-m venv"*) echo "no installs in the test venv" >&2; exit 3;; esac\n'
                      f'exec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    root = Path(runner.__file__).resolve().parents[2]
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes() + (root / "scripts" / "ensure_env.sh").read_bytes())
    (folder / ".iqaxai-env").write_text(f"{digest.hexdigest()}-none-none-1\n")  # up to date for ensure_env.sh (pyiqa: 1)
    return folder


def _run_all(args: list[str], cwd: Path, venv: Path) -> "subprocess.CompletedProcess[str]":
    import subprocess

    root = Path(runner.__file__).resolve().parents[2]
    env = {**os.environ, "IQAXAI_VENV": str(venv), "IQAXAI_TORCH_SPEC": "none", "IQAXAI_EXTRAS": "none"}
    return subprocess.run(["bash", str(root / "run_all.sh"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_run_all_uses_iqaxai_venv_in_the_callers_directory(tmp_path):
    caller, record = tmp_path / "caller", tmp_path / "cwd.txt"
    caller.mkdir()
    venv = _fake_venv(tmp_path / "venv", record)
    done = _run_all(["--weights", "random"], caller, venv)  # refused by the runner before anything runs
    assert done.returncode == 2 and "allowed only with --dry-run" in done.stderr, done.stderr
    assert record.read_text().strip() == str(caller)


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_run_all_help_lists_the_runners_options(tmp_path):
    venv = _fake_venv(tmp_path / "venv", tmp_path / "cwd.txt")
    done = _run_all(["-h"], tmp_path, venv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: run_all.sh")
    assert all(option in done.stdout for option in ("--only", "--device", "--data-root", "--out", "--dry-run"))


def test_study_planted_and_decoys_of_rows_follow_the_rows_not_their_position():
    from iqaxai.data.demo import decoy_blocks, planted_blocks
    from iqaxai.experiment import Study

    smoke, real = Study("smoke"), Study("paper", "koniq10k")
    rows = smoke.test.iloc[[5, 0, 3]]  # out of order: the cells must follow the index, not the position
    np.testing.assert_array_equal(smoke.planted_of(rows), planted_blocks(rows))
    np.testing.assert_array_equal(smoke.decoys_of(rows), decoy_blocks(rows))
    assert not (smoke.planted_of(rows) & smoke.decoys_of(rows)).any()
    with pytest.raises(KeyError, match="not in the study's table"):
        smoke.planted_of(rows.rename(index={rows.index[0]: "nowhere"}))
    assert real.planted_of(rows) is None and real.decoys_of(rows) is None
