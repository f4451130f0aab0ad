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
