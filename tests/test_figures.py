"""The figure check behind save_figure: planted unreadable figures are refused, readable ones pass."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from iqaxai import plots
from iqaxai.report import SOURCES, FigureCheckError, check_figure, save_figure

SOURCE = SOURCES["demo"]
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _titled(fig, source: str = SOURCE):
    fig.suptitle(f"a figure\n{source}")
    return fig


def _line_plot(labelled: bool = True):
    fig, ax = plt.subplots()
    ax.plot(np.arange(5), RNG.random(5))
    if labelled:
        ax.set(xlabel="epoch", ylabel="PLCC")
    return fig, ax


def test_labelled_line_plot_with_source_passes():
    check_figure(_titled(_line_plot()[0]), "good")


def test_line_plot_without_axis_labels_is_refused():
    fig, ax = _line_plot(labelled=False)
    ax.set_title("curves")
    with pytest.raises(FigureCheckError, match=r"'unlabelled'.*axes 0 \('curves'\).*x and a y label"):
        check_figure(_titled(fig), "unlabelled")


def test_line_plot_with_only_an_x_label_is_refused():
    fig, ax = _line_plot(labelled=False)
    ax.set_xlabel("epoch")
    with pytest.raises(FigureCheckError, match="label"):
        check_figure(_titled(fig), "half labelled")


@pytest.mark.parametrize("title", ["", "a figure without its data source", "DEMO WORLD"])
def test_missing_source_is_refused(title):
    fig, _ = _line_plot()
    fig.suptitle(title)
    with pytest.raises(FigureCheckError, match="data source"):
        check_figure(fig, "no source")


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_provenance_line_counts_as_a_source(source):
    check_figure(_titled(_line_plot()[0], SOURCES[source]), "sourced")


def test_bar_plot_without_labels_is_refused():
    fig, ax = plt.subplots()
    ax.bar(np.arange(4), RNG.random(4))
    with pytest.raises(FigureCheckError, match="x and a y label"):
        check_figure(_titled(fig), "bars")


def test_2d_imshow_without_colour_bar_is_refused():
    fig, ax = plt.subplots()
    ax.imshow(RNG.random((8, 8)), cmap="magma")
    ax.axis("off")
    with pytest.raises(FigureCheckError, match=r"axes 0.*'magma'.*colour bar"):
        check_figure(_titled(fig), "no bar")


def test_2d_imshow_with_its_colour_bar_passes():
    fig, ax = plt.subplots()
    fig.colorbar(ax.imshow(RNG.random((8, 8))), ax=ax)
    ax.axis("off")
    check_figure(_titled(fig), "bar")


def test_overlay_on_rgb_image_needs_a_colour_bar():
    fig, ax = plt.subplots()
    ax.imshow(RNG.random((8, 8, 3)))
    ax.imshow(RNG.random((8, 8)), cmap="jet", alpha=0.5)
    ax.axis("off")
    with pytest.raises(FigureCheckError, match="'jet'"):
        check_figure(_titled(fig), "overlay")


def test_rgb_image_with_axis_off_passes():
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.imshow(RNG.random((8, 8, 3)))
        plots.draw_grid(ax, (8, 8), (2, 2), cells=[0], inset=1)  # outlines on an image: not data axes
        ax.axis("off")
    axes[1].imshow(RNG.random((8, 8, 4)))
    check_figure(_titled(fig), "rgb")


def test_image_with_ticks_shown_needs_labels():
    fig, ax = plt.subplots()
    ax.imshow(RNG.random((8, 8, 3)))
    with pytest.raises(FigureCheckError, match="x and a y label"):
        check_figure(_titled(fig), "ticks")


def test_two_maps_sharing_one_colour_bar_pass():
    fig, axes = plt.subplots(1, 2)
    images = [ax.imshow(RNG.random((8, 8)), cmap="RdBu_r", vmin=-1, vmax=1) for ax in axes]
    fig.colorbar(images[0], ax=list(axes))
    for ax in axes:
        ax.axis("off")
    check_figure(_titled(fig), "shared")


def test_one_colour_bar_for_a_block_of_maps_passes():
    fig, axes = plots.image_grid(6, 3)
    axes = np.reshape(list(axes), (2, 3))
    maps = [RNG.normal(size=(8, 8)) for _ in range(4)]
    scale = plots.shared_limits(maps, symmetric=True)
    assert scale["vmin"] == -scale["vmax"] == -max(np.abs(m).max() for m in maps)
    for ax, m in zip(axes[:, 1:].flat, maps):
        shown = ax.imshow(m, cmap="RdBu_r", **scale)
    plots.colorbar(shown, axes[:, 1:], "score change", location="bottom")  # a 2-D block of axes
    check_figure(_titled(fig), "block")


def test_shared_colour_bar_must_match_the_scale():
    fig, axes = plt.subplots(1, 2)
    first = axes[0].imshow(RNG.random((8, 8)), cmap="RdBu_r", vmin=-1, vmax=1)
    axes[1].imshow(RNG.random((8, 8)), cmap="RdBu_r", vmin=-2, vmax=2)  # another scale: the bar does not read it
    fig.colorbar(first, ax=list(axes))
    for ax in axes:
        ax.axis("off")
    with pytest.raises(FigureCheckError, match="axes 1"):
        check_figure(_titled(fig), "mismatch")


def test_pcolormesh_without_colour_bar_is_refused():
    fig, ax = plt.subplots()
    ax.pcolormesh(RNG.random((4, 5)))
    ax.set(xlabel="x", ylabel="y")
    with pytest.raises(FigureCheckError, match="QuadMesh"):
        check_figure(_titled(fig), "mesh")


def test_labelled_scatter_passes():
    fig, ax = plt.subplots()
    ax.scatter(RNG.random(10), RNG.random(10), s=6, c="lightgrey")
    ax.scatter(RNG.random(3), RNG.random(3), s=40, facecolors="none", edgecolors="tab:purple", label="ransac")
    ax.set(xlabel="prediction", ylabel="MOS")
    fig.legend()
    check_figure(_titled(fig), "scatter")


def test_outlier_scatter_keeps_every_detector_visible():
    fig, axes = plt.subplots(1, 2, layout="constrained")
    pred, mos = RNG.random(20) * 100, RNG.random(20) * 100
    everyone = np.zeros(20, bool)
    everyone[3] = True  # flagged by every detector: each must still draw its own marker there
    hits = {"loo_plcc": everyone, "ransac": everyone, "logistic_2sigma": everyone, "combined": everyone}
    for ax in axes:
        plots.outlier_scatter(ax, pred, mos, hits, fit=pred, best=np.array([0, 1]))
    legend = plots.figure_legend(fig, axes)
    check_figure(_titled(fig), "outliers")
    drawn = [c for c in axes[0].collections if len(c.get_offsets()) == 1 and c.get_offsets()[0][0] == pred[3]]
    sizes = [c.get_sizes()[0] for c in drawn]
    assert len(drawn) == 4 and sizes == sorted(sizes, reverse=True)  # larger markers first, smaller on top
    assert [t.get_text() for t in legend.get_texts()][-4:] == [s["label"] for s in plots.OUTLIER_STYLES.values()]
    assert not axes[0].get_legend() and len(fig.legends) == 1


def test_scatter_coloured_by_values_needs_a_colour_bar():
    fig, ax = plt.subplots()
    points = ax.scatter(RNG.random(10), RNG.random(10), c=RNG.random(10), cmap="viridis")
    ax.set(xlabel="prediction", ylabel="MOS")
    with pytest.raises(FigureCheckError, match="PathCollection"):
        check_figure(_titled(fig), "valued scatter")
    fig.colorbar(points, ax=ax)
    check_figure(fig, "valued scatter")


def test_shared_y_axis_label_covers_the_row():
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax in axes:
        ax.plot(np.arange(3), RNG.random(3))
        ax.set_xlabel("band")
    axes[0].set_ylabel("score change")
    check_figure(_titled(fig), "sharey")


def test_figure_wide_axis_labels_count():
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.plot(np.arange(3), RNG.random(3))
    fig.supxlabel("band")
    with pytest.raises(FigureCheckError, match="axes 0"):
        check_figure(_titled(fig), "supx only")
    fig.supylabel("score change")
    check_figure(fig, "supx and supy")


def test_save_figure_checks_before_writing(tmp_path):
    fig, _ = _line_plot(labelled=False)
    with pytest.raises(FigureCheckError, match="'bad'"):
        save_figure(fig, "bad", "unlabelled", "demo", folder=tmp_path)
    assert not (tmp_path / "figures" / "bad.png").exists()
    fig, _ = _line_plot()
    path = save_figure(fig, "good", "labelled", "demo", folder=tmp_path)
    assert path.exists() and SOURCE in fig.get_suptitle()


@pytest.mark.parametrize("rows", [1, 4])
@pytest.mark.parametrize("layout", [None, "constrained"])
def test_title_sits_just_above_the_axes(tmp_path, rows, layout):
    fig, axes = plt.subplots(rows, 3, figsize=(8, 2.5 * rows), layout=layout, squeeze=False)
    for ax in axes.flat:
        ax.imshow(RNG.random((12, 16, 3)))
        ax.set_title("panel")
        ax.axis("off")
    save_figure(fig, f"rows{rows}", "title", "demo", folder=tmp_path)
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    top = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes)
    assert 0 <= title.y0 - top <= 0.15 * fig.dpi  # at most 0.15 inch of space under the title, none over the axes


def test_figure_legend_stays_under_the_title(tmp_path):
    fig, axes = plots.image_grid(6, 3)
    for ax in axes:
        ax.imshow(RNG.random((12, 16, 3)))
    legend = plots.line_legend(fig, {"planted": {"color": "red"}, "half": {"color": "lime", "ls": "--"}},
                               loc="outside upper center")
    save_figure(fig, "legend", "title", "demo", folder=tmp_path)
    assert legend.get_bbox_to_anchor() is not fig.bbox  # pinned to the frame: a tight save cannot move it up
    renderer = fig.canvas.get_renderer()
    assert fig._suptitle.get_window_extent(renderer).y0 >= legend.get_window_extent(renderer).y1
