"""Progress of long loops: a bar in JupyterLab, a few whole lines in a headless run, relayed by the runner."""

from __future__ import annotations

import io
import os

import nbformat
import pytest
from tqdm.auto import tqdm as auto_tqdm

from iqaxai import runner, runtime
from iqaxai.runtime import PROGRESS_MARK, LineProgress, progress


@pytest.fixture()
def interactive(monkeypatch):
    monkeypatch.delenv(runtime.HEADLESS_ENV, raising=False)


@pytest.fixture()
def headless(monkeypatch):
    monkeypatch.setenv(runtime.HEADLESS_ENV, "1")
    monkeypatch.setenv(runtime.INTERVAL_ENV, "0")  # a line at every change of the count


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_interactive_runs_get_tqdm_auto_and_headless_only_bars_stay_hidden(interactive, capsys):
    bar = progress(range(3), desc="loop", total=3)
    assert type(bar) is auto_tqdm and not isinstance(bar, LineProgress) and not bar.disable
    bar.close()
    hidden = progress(range(3), desc="occlusion", show=None)  # headless only
    assert hidden.disable and list(hidden) == [0, 1, 2]
    assert progress(desc="off", show=False).disable
    assert not runtime.headless()


@pytest.mark.parametrize("value, expected", [("1", True), ("yes", True), ("0", False), ("", False), (" ", False)])
def test_headless_switch(monkeypatch, value, expected):
    monkeypatch.setenv(runtime.HEADLESS_ENV, value)
    assert runtime.headless() is expected


def test_headless_runs_write_whole_marked_lines_no_carriage_returns(headless, capsys):
    bar = progress(range(4), desc="train triq epoch", total=4, unit="epoch")
    assert isinstance(bar, LineProgress)
    for epoch in bar:
        bar.set_postfix_str(f"val PLCC {0.5 + epoch / 10:.3f}", refresh=False)
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    lines = _lines(err)
    # none at the start (0/4), one per epoch, the last without a duplicate at close; each with the epoch's postfix
    assert [line.split("  (")[0] for line in lines] == [
        f"{PROGRESS_MARK}train triq epoch {n}/4, val PLCC {0.5 + (n - 1) / 10:.3f}" for n in (1, 2, 3, 4)]
    assert "left)" in lines[0] and lines[-1].endswith(" s)") and "left" not in lines[-1]


def test_headless_lines_are_rate_limited_and_short_loops_stay_silent(monkeypatch, capsys):
    monkeypatch.setenv(runtime.HEADLESS_ENV, "1")
    monkeypatch.setenv(runtime.INTERVAL_ENV, "3600")
    for _ in progress(range(5000), desc="occlusion map (black, batches)", show=None):
        pass
    assert capsys.readouterr().err == ""  # shorter than FINAL_LINE_AFTER and the interval: not a word
    monkeypatch.setattr(runtime, "FINAL_LINE_AFTER", 0.0)
    with progress(total=10, initial=4, desc="masked sweep (images)", unit="image") as bar:
        for _ in range(6):
            bar.update(1)
    assert _lines(capsys.readouterr().err) == [PROGRESS_MARK + "masked sweep (images) 10/10  (0 s)"]


def test_headless_respects_show_false_and_a_bad_interval_is_refused(headless, monkeypatch, capsys):
    assert list(progress(range(3), desc="quiet", show=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(runtime.INTERVAL_ENV, "soon")
    with pytest.raises(ValueError, match="IQAXAI_PROGRESS_INTERVAL must be a number"):
        progress(range(3), desc="loop")


def test_duration_reads_like_a_clock_a_person_uses():
    assert [runtime._duration(s) for s in (4.4, 59.6, 125, 3780)] == ["4 s", "1 min 00 s", "2 min 05 s", "1 h 03 min"]


def test_relay_prints_only_progress_lines_under_the_notebook_name():
    terminal = io.StringIO()
    relay = runner.ProgressRelay("01_train_models", terminal)
    relay.write(f"{PROGRESS_MARK}train triq epoch 3/20, val PLCC 0.612  (21 s, ab")  # a line in two pieces
    assert terminal.getvalue() == ""
    relay.write("out 2 min left)\n\rcomplexity:  10%|#  | 1/10\rcomplexity: 100%|###| 10/10\n")
    relay.write("/x/iqaxai/results.py:88: CorruptCacheWarning: cache item a.npz is unreadable\n  warn(...)\n")
    relay.write("plain stderr chatter\n")
    relay.flush()
    relay.write(f"{PROGRESS_MARK}masked sweep (images) 960/960  (58 s)\n")
    assert terminal.getvalue().splitlines() == [
        "[01_train_models] train triq epoch 3/20, val PLCC 0.612  (21 s, about 2 min left)",
        "[01_train_models] masked sweep (images) 960/960  (58 s)"]  # warnings and bars stay in the notebook


def test_runner_runs_kernels_headless_and_relays_their_progress(tmp_path, monkeypatch, capsys):
    """A real kernel: the progress lines reach the terminal, the executed copy keeps a few lines only."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "profiles").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("n = 400", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import os, time\nfrom iqaxai.runtime import progress\n"
                    "assert os.environ['IQAXAI_HEADLESS'] == '1'\n"
                    "for i in progress(range(n), desc='loop', show=None):\n    time.sleep(0.005)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "00_loop.ipynb")
    monkeypatch.setattr(runner, "repo_root", lambda: tmp_path)
    monkeypatch.setenv(runtime.INTERVAL_ENV, "0.5")
    monkeypatch.delenv(runtime.HEADLESS_ENV, raising=False)
    outcomes = runner.run("smoke", out_dir=tmp_path / "out", device="cpu")
    assert [o.status for o in outcomes] == ["ok"], outcomes
    assert runtime.HEADLESS_ENV not in os.environ  # restored after the run
    shown = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[00_loop]")]
    assert shown and shown[-1].startswith("[00_loop] loop 400/400  (")
    assert all(line.startswith("[00_loop] loop ") for line in shown)
    executed = nbformat.read(tmp_path / "out" / "00_loop.ipynb", as_version=4)
    stderr = "".join(o.get("text", "") for o in executed.cells[-1].outputs if o.get("name") == "stderr")
    assert 1 <= len(stderr.splitlines()) <= 10 and "\r" not in stderr  # about 2 s of loop at one line per 0.5 s
