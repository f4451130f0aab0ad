"""Publishing executed smoke notebooks: outputs kept, run-specific noise dropped, images made small."""

from __future__ import annotations

import base64
import io

import nbformat
import numpy as np
import pytest
from PIL import Image

from iqaxai import publish
from iqaxai.paths import repo_root
from iqaxai.runtime import PROGRESS_MARK

ROOT = str(repo_root())
PARAMETERS = 'profile = "smoke"  # smoke or paper\nn_images = 12\ndevice = "auto"\n'


def _png(width: int, height: int, alpha: bool = False) -> str:
    """A plot-like picture: a smooth background, lines and text-like blocks (not noise, which no PNG compresses)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // width), (y * 255 // height), np.full_like(x, 200)], -1).astype(np.uint8)
    rgb[height // 3:height // 3 + 4] = (20, 20, 160)
    rgb[:, ::97] = (0, 0, 0)
    mode = "RGB"
    if alpha:
        rgb = np.concatenate([rgb, np.full((height, width, 1), 255, np.uint8)], -1)
        mode = "RGBA"
    buffer = io.BytesIO()
    Image.fromarray(rgb, mode).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _source() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · A synthetic notebook"),
                nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("train()"),
                nbformat.v4.new_code_cell("plot()"),
                nbformat.v4.new_code_cell("table")]
    return nb


def _timing(cell_index: int) -> dict:
    return {"execution": {"iopub.execute_input": f"2026-12-01T10:00:0{cell_index}.1Z",
                          "shell.execute_reply": f"2026-12-01T10:00:0{cell_index}.9Z"},
            "papermill": {"duration": 0.8 + cell_index, "exception": False, "status": "completed",
                          "start_time": "2026-12-01T10:00:00+00:00", "end_time": "2026-12-01T10:00:09+00:00"},
            "tags": []}


def _executed(source: nbformat.NotebookNode, injected: str, png: str, profile: str = "smoke") -> nbformat.NotebookNode:
    """What Papermill writes for ``source``: timing metadata everywhere, the injected cell, noisy outputs."""
    nb = nbformat.v4.new_notebook(metadata={**source.metadata, "papermill": {
        "duration": 12.3, "input_path": f"{ROOT}/notebooks/99_synthetic.ipynb", "exception": None,
        "output_path": f"{ROOT}/build/executed/smoke/99_synthetic.ipynb", "parameters": {"profile": profile}},
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {}}}}})
    cells = [nbformat.from_dict(c) for c in source.cells]
    for i, cell in enumerate(cells):
        cell.metadata = {**_timing(i), **cell.metadata}
    inject = nbformat.v4.new_code_cell(injected, metadata={**_timing(9), "tags": ["injected-parameters"]})
    cells.insert(2, inject)
    for count, cell in enumerate((c for c in cells if c.cell_type == "code"), 1):
        cell.execution_count = count
    cells[3].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"outputs: {ROOT}/build/test-outputs\n"),
        nbformat.v4.new_output("stream", name="stderr", text=(
            f"{ROOT}/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found.\n"
            "  from .autonotebook import tqdm as notebook_tqdm\n"
            f"{PROGRESS_MARK}train triq epoch 3/20, val PLCC 0.612  (21 s, about 2 min left)\n"
            "\rcomplexity:   0%|          | 0/26 [00:00<?, ?it/s]\rcomplexity: 100%|##########| 26/26 [00:00<00:00]\n"
            f"{ROOT}/lib/iqaxai/results.py:88: CorruptCacheWarning: cache item {ROOT}/.cache/x.npz is unreadable\n"
            "  warnings.warn(message)\n")),
        nbformat.v4.new_output("stream", name="stderr", text=f"{PROGRESS_MARK}train triq epoch 20/20  (2 min 05 s)\n"),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
            "text/plain": "  0%|          | 0/20 [00:00<?, ?it/s]"}),
    ]
    cells[4].outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"},
                                               metadata={"image/png": {"width": 1000, "height": 500}})]
    cells[5].outputs = [nbformat.v4.new_output("execute_result", data={"text/html": "<table/>", "text/plain": "t"},
                                               execution_count=5)]
    nb.cells = cells
    return nb


def _decode(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_merge_keeps_the_sources_and_drops_run_noise():
    source, png = _source(), _png(2000, 1000)
    executed = _executed(source, 'profile = "smoke"\ndevice = "auto"\n', png)
    out = publish.merge(source, executed, "99_synthetic")
    # the skeleton is the committed notebook: same cells, ids, metadata; no timing, Papermill or widget state
    assert [(c.id, c.source, c.metadata) for c in out.cells] == [(c.id, c.source, c.metadata) for c in source.cells]
    assert out.metadata == source.metadata
    text = nbformat.writes(out)
    assert "papermill" not in text and "iopub" not in text and "duration" not in text and "widget" not in text
    assert ROOT not in text
    # injected parameters equal the defaults: dropped, and the counts run 1, 2, 3, 4 without the gap it left
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in out.cells)
    code = [c for c in out.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3, 4] and code[3].outputs[0]["execution_count"] == 4
    # stdout kept with a relative path; stderr without progress, bars and tqdm's warning; the real warning kept
    train = code[1].outputs
    assert [o.get("name") for o in train] == ["stdout", "stderr"]
    assert train[0]["text"] == "outputs: build/test-outputs\n"
    assert train[1]["text"] == ("lib/iqaxai/results.py:88: CorruptCacheWarning: cache item <cache>/x.npz is unreadable\n"
                                "  warnings.warn(message)\n")


def test_big_png_outputs_are_scaled_to_800_px_as_small_palette_pngs():
    source, png = _source(), _png(2000, 1000)
    out = publish.merge(source, _executed(source, 'profile = "smoke"\n', png), "99_synthetic")
    figure = [c for c in out.cells if c.cell_type == "code"][2].outputs[0]
    image = _decode(figure["data"]["image/png"])
    assert image.size == (800, 400) and image.mode == "P"  # palette PNG, aspect kept
    assert len(figure["data"]["image/png"]) < len(png)
    assert figure["metadata"]["image/png"] == {"width": 400, "height": 200}  # display size scaled alike
    assert figure["data"]["text/plain"] == "<Figure>"


def test_shrink_png_keeps_small_images_and_transparency():
    small = _png(300, 200)
    data, old, new = publish.shrink_png(small)
    assert old == new == (300, 200) and _decode(data).size == (300, 200)
    rgba = _png(1600, 600, alpha=True)  # opaque RGBA, as matplotlib writes: quantized as RGB
    data, old, new = publish.shrink_png(rgba, max_width=400)
    assert (old, new) == ((1600, 600), (400, 150)) and _decode(data).size == (400, 150) and _decode(data).mode == "P"
    see_through = _decode(rgba).copy()
    see_through.putalpha(Image.linear_gradient("L").resize(see_through.size))
    buffer = io.BytesIO()
    see_through.save(buffer, format="PNG")
    data, _, new = publish.shrink_png(base64.b64encode(buffer.getvalue()).decode(), max_width=400)
    alpha = np.asarray(_decode(data).convert("RGBA"))[..., 3]
    assert new == (400, 150) and alpha.min() < 20 and alpha.max() > 235  # transparency survives


@pytest.mark.parametrize("injected, kept", [
    ('profile = "smoke"\ndevice = "auto"\n', False),
    ('profile = "smoke"\nn_images = 5\n', True),  # another value than the default: the reader must see it
    ('n_images = 12.0\n', True),  # 12.0 is not the default 12
    ('seed = 3\n', True),  # a parameter the cell does not declare
])
def test_the_injected_cell_is_dropped_only_when_it_repeats_the_defaults(injected, kept):
    source = _source()
    out = publish.merge(source, _executed(source, injected, _png(100, 50)), "99_synthetic")
    tagged = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert bool(tagged) is kept
    if kept:
        assert out.cells.index(tagged[0]) == 2 and tagged[0].source == injected and tagged[0].execution_count == 2
        assert [c.execution_count for c in out.cells if c.cell_type == "code"] == [1, 2, 3, 4, 5]
    # publishing again over the published notebook: the same notebook (an injected cell it kept is no source cell)
    again = publish.merge(out, _executed(source, injected, _png(100, 50)), "99_synthetic")
    assert nbformat.writes(again) == nbformat.writes(out)


def test_stale_failed_or_paper_copies_are_refused():
    source = _source()
    executed = _executed(source, 'profile = "smoke"\n', _png(100, 50))
    changed = _source()
    changed.cells[3].source = "plot(new=True)"
    with pytest.raises(publish.PublishError, match="other cell sources"):
        publish.merge(changed, executed, "99_synthetic")
    with pytest.raises(publish.PublishError, match="'paper' profile"):
        publish.merge(source, _executed(source, 'profile = "paper"\n', _png(100, 50), profile="paper"), "99_synthetic")
    failed = _executed(source, 'profile = "smoke"\n', _png(100, 50))
    failed.cells[4].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    with pytest.raises(publish.PublishError, match="ValueError: boom"):
        publish.merge(source, failed, "99_synthetic")


def test_publish_writes_every_notebook_with_a_copy_and_reports_sizes(tmp_path, capsys):
    books, executed, out = tmp_path / "notebooks", tmp_path / "executed", tmp_path / "out"
    books.mkdir(), executed.mkdir()
    source = _source()
    nbformat.write(source, books / "99_synthetic.ipynb")
    nbformat.write(_source(), books / "98_not_run.ipynb")
    run = _executed(source, 'profile = "smoke"\n', _png(1800, 900))
    run.cells[3].outputs[0]["text"] += "tables written to /tmp/run-7/out\n"
    nbformat.write(run, executed / "99_synthetic.ipynb")
    assert publish.main(["--executed", str(executed), "--notebooks", str(books), "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "99_synthetic.ipynb" in report and "not published (no executed copy): 98_not_run" in report
    assert "absolute paths left in 99_synthetic.ipynb: /tmp/run-7/out" in report  # not this machine's: reported
    published = nbformat.read(out / "99_synthetic.ipynb", as_version=4)
    nbformat.validate(published)
    assert _decode(published.cells[3].outputs[0]["data"]["image/png"]).width == 800
    assert not (out / "98_not_run.ipynb").exists()
    import papermill  # a published notebook still declares its parameters to Papermill

    assert set(papermill.inspect_notebook(str(out / "99_synthetic.ipynb"))) == {"profile", "n_images", "device"}
    assert publish.main(["--executed", str(tmp_path / "none"), "--notebooks", str(books)]) == 1


def test_a_cells_temporary_file_is_written_as_cell():
    from iqaxai.publish import relative_paths

    text = "/tmp/ipykernel_10537/2751461343.py:7: RuntimeWarning: maps never had a gradient"
    assert relative_paths(text, []) == "<cell>:7: RuntimeWarning: maps never had a gradient"
    assert relative_paths('File "/var/folders/q1/T/ipykernel_1/22.py", line 3', []) == 'File "<cell>", line 3'
