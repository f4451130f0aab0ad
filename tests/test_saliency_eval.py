"""Table I machinery: the parts of a saliency set, map sources, and chunked scoring against the ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from iqaxai.data.demo import load_demo
from iqaxai.data.fixations import ground_truth
from iqaxai.saliency_eval import (directory_source, evaluate, fit_transforms, fixed_source, load_stretched,
                                  saliency_parts)
from iqaxai.saliency_metrics import MapTransform, gaussian_center_prior


@pytest.fixture(scope="module")
def parts(small_world):
    root, config = small_world
    return saliency_parts("demo", load_demo(config, root=root), seed=0)


def _truth_source(rows: pd.DataFrame) -> np.ndarray:
    return np.stack([ground_truth(r, "demo")[0] for _, r in rows.iterrows()])


def _blurred_source(rows: pd.DataFrame) -> np.ndarray:
    return np.stack([ndimage.gaussian_filter(m, 12) for m in _truth_source(rows)])


def test_demo_parts_are_disjoint_scenes_one_image_each(parts):
    scenes = {k: set(v["ref_img"]) for k, v in parts.items()}
    assert all(len(v) == len(parts[k]) for k, v in scenes.items())  # one image per scene
    assert not (scenes["prior"] & scenes["table"]) and not (scenes["transform"] & scenes["table"])
    with pytest.raises(ValueError, match="needs the demo world's image table"):
        saliency_parts("demo")
    with pytest.raises(ValueError, match="source must be"):
        saliency_parts("mit1003")


def test_the_density_scores_perfectly_and_chunks_do_not_matter(parts):
    rows = parts["table"]
    sources = {"truth": _truth_source, "pysaliency prior": fixed_source(gaussian_center_prior((96, 128)))}
    whole, chunked = evaluate(sources, rows, "demo", chunk=len(rows)), evaluate(sources, rows, "demo", chunk=1)
    pd.testing.assert_frame_equal(whole, chunked)
    top = whole.set_index("method")
    assert top.loc["truth", "CC"] == pytest.approx(1.0) and top.loc["truth", "KLD"] == pytest.approx(0.0, abs=1e-6)
    assert top.loc["pysaliency prior", "CC"] < 0.9 and (top["images"] == len(rows)).all()


def test_a_fitted_transform_undoes_part_of_a_planted_blur_and_is_reported_beside_the_raw_map(parts):
    prior = gaussian_center_prior((96, 128))
    sources = {"blurred": _blurred_source, "prior": fixed_source(prior)}
    fitted = fit_transforms(sources, parts["transform"], "demo", prior, fixed=("prior",))
    assert fitted["prior"][0].prior_weight == 0 and np.isnan(fitted["prior"][1])
    table = evaluate(sources, parts["table"], "demo", prior, fitted).set_index(["method", "transform"])
    assert ("prior", "fitted") not in table.index  # the identity is not listed twice
    if fitted["blurred"][0].gamma != 1 or fitted["blurred"][0].prior_weight or fitted["blurred"][0].blur:
        assert table.loc[("blurred", "fitted"), "CC"] >= table.loc[("blurred", "none"), "CC"] - 0.02


def test_directory_and_stretched_sources(parts, tmp_path):
    rows = parts["prior"].iloc[:3]
    for i, path in enumerate(rows["path"]):
        Image.fromarray(np.full((30, 40), 60 * i, np.uint8)).save(tmp_path / (path.rsplit("/", 1)[-1].rsplit(".", 1)[0] + ".png"))
    maps = directory_source(tmp_path)(rows)
    assert maps.shape == (3, 30, 40) and maps[2].max() == pytest.approx(120 / 255)
    with pytest.raises(FileNotFoundError, match="no saliency map for"):
        directory_source(tmp_path)(parts["prior"].iloc[3:4])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        directory_source(tmp_path / "nope")
    with pytest.warns(UserWarning, match="scored without a fitted transform"):  # maps for the table images only
        fitted = fit_transforms({"supplied": directory_source(tmp_path)}, parts["prior"].iloc[3:5], "demo",
                                gaussian_center_prior((96, 128)))
    assert fitted["supplied"][0] == MapTransform()
    x = load_stretched(list(rows["path"]), (48, 32))  # no crop: the whole 96x128 image squeezed into 48x32
    assert tuple(x.shape) == (3, 3, 48, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(ValueError, match="non-negative map per image"):
        evaluate({"signed": lambda r: -_truth_source(r)}, rows, "demo")
