"""The notebook runner behind run_all.sh, the provenance of outputs, and device selection."""

from __future__ import annotations

import nbformat
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
