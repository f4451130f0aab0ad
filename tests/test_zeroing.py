"""Zeroing image blocks after normalisation (Table I)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqaxai.grid import cell_mask
from iqaxai.models.base import IQAModel, ModelInfo
from iqaxai.zeroing import pixel_keep_mask, predict_zeroed, zeroed_after_normalisation, zeroing_row


class RegionMean(IQAModel):
    """Score = mean of the ImageNet-normalised red channel over block 5 of the 3x4 grid (a planted model)."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("region_mean")

    def forward(self, x):
        return self.normalise(x)[:, 0, 32:64, 32:64].mean((-1, -2))


def test_keep_mask_is_the_complement_of_the_zeroed_blocks():
    blocks = np.zeros((2, 12), dtype=bool)
    blocks[0, [0, 5]] = True
    blocks[1, 11] = True
    keep = pixel_keep_mask(blocks, (97, 130))
    assert keep.shape == (2, 1, 97, 130)
    assert np.array_equal(keep[0, 0].numpy() == 0, cell_mask((97, 130), [0, 5]))
    assert np.array_equal(keep[1, 0].numpy() == 0, cell_mask((97, 130), [11]))
    with pytest.raises(ValueError, match="must be"):
        pixel_keep_mask(np.zeros((1, 5), dtype=bool), (96, 128))


def test_zeroing_acts_after_normalisation_and_only_where_asked():
    model = RegionMean().eval()
    images = torch.rand(4, 3, 96, 128) * 0.2  # dark: normalised values are negative, never zero
    zero_block5 = np.zeros((4, 12), dtype=bool)
    zero_block5[:, 5] = True
    other = np.zeros((4, 12), dtype=bool)
    other[:, [0, 1, 2, 11]] = True
    original = predict_zeroed(model, images, None)
    assert np.allclose(predict_zeroed(model, images, zero_block5, batch_size=3), 0.0)  # zero after normalising
    assert np.allclose(predict_zeroed(model, images, other), original)
    blanked = images.clone()
    blanked[:, :, 32:64, 32:64] = 0  # zero pixels *before* normalising: a different, non-zero result
    assert not np.allclose(model(blanked).numpy(), 0.0)
    assert "normalise" not in vars(model)  # the wrapper is removed afterwards


def test_zeroed_triq_equals_a_manual_forward():
    from iqaxai.models.triq import TRIQ

    torch.manual_seed(0)
    model = TRIQ(backbone="tiny_s16").eval()
    x = torch.rand(2, 3, 96, 128)
    blocks = np.zeros((2, 12), dtype=bool)
    blocks[0, :6] = True
    blocks[1, 6:] = True
    keep = pixel_keep_mask(blocks, (96, 128))
    with torch.no_grad():
        manual = model.encode(model.embed(model.proj(model.backbone(model.normalise(x) * keep)[-1])))
        manual = ((manual * torch.arange(5)).sum(-1) * 25).numpy()
    assert np.allclose(predict_zeroed(model, x, blocks), manual, atol=1e-4)
    with pytest.raises(ValueError, match="does not fit"), zeroed_after_normalisation(model, keep[:1]):
        model(x)


def test_zeroing_row_values():
    rng = np.random.default_rng(0)
    mos = rng.normal(size=50)
    original = mos + rng.normal(scale=0.3, size=50)
    row = zeroing_row(original, original * 0 + rng.normal(size=50), original + 0.01 * rng.normal(size=50), mos)
    assert row["trivial: predicted"] > 0.99 and abs(row["important: predicted"]) < 0.4
    assert row["test PLCC"] == pytest.approx(np.corrcoef(original, mos)[0, 1])


def test_run_zeroing_is_cached_and_consistent(small_world, tmp_path, monkeypatch):
    from iqaxai.data.demo import load_demo, planted_blocks
    from iqaxai.zeroing import run_zeroing

    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path))
    test = load_demo(small_world[1]).head(6)
    important = planted_blocks(test)
    model = RegionMean().eval()
    out = run_zeroing(model, "region_mean", test, important, "none", "planted", batch_size=4, progress=False)
    assert set(out) == {"original", "important zeroed", "trivial zeroed"}
    block5 = important[:, 5]
    zeroed_block5 = np.where(block5, out["important zeroed"], out["trivial zeroed"])
    assert np.allclose(zeroed_block5, 0.0)  # block 5 is zeroed in whichever half holds it
    kept = np.where(block5, out["trivial zeroed"], out["important zeroed"])
    assert np.allclose(kept, out["original"])
    monkeypatch.setattr("iqaxai.zeroing.predict_zeroed", lambda *a, **k: pytest.fail("recomputed a cached result"))
    again = run_zeroing(model, "region_mean", test, important, "none", "planted", batch_size=4, progress=False)
    assert all(np.array_equal(out[k], again[k]) for k in out)
    calls = []
    monkeypatch.setattr("iqaxai.zeroing.predict_zeroed",
                        lambda model, test, zeroed, **k: calls.append(zeroed) or np.zeros(len(test)))
    other = run_zeroing(model, "region_mean", test, ~important, "none", "another rule", batch_size=4, progress=False)
    assert len(calls) == 2 and all(c is not None for c in calls)  # another rule: the halves only, not the originals
    assert np.array_equal(other["original"], out["original"])
    with pytest.raises(ValueError, match="important halves must be"):
        run_zeroing(model, "region_mean", test, important[:3], "none", "planted")


class NormalisesInternally(IQAModel):
    """RegionMean that normalises inside its forward (like a pyiqa network) and never calls ``self.normalise``."""

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("normalises_internally")
        self.forward_calls = 0

    def forward(self, x):
        from iqaxai.models.base import normalise

        self.forward_calls += 1
        return normalise(x, "imagenet")[:, 0, 32:64, 32:64].mean((-1, -2))


class DeclaredUnsupported(RegionMean):
    """A PyiqaModel-like model: declares ``zeroing_after_normalisation = False``; counts its forward passes."""

    zeroing_after_normalisation = False

    def __init__(self):
        super().__init__()
        self.info = ModelInfo("pyiqa:fakeiqa")
        self.forward_calls = 0

    def forward(self, x):
        self.forward_calls += 1
        return super().forward(x)


def _block5(n):
    blocks = np.zeros((n, 12), dtype=bool)
    blocks[:, 5] = True
    return blocks


def test_model_that_never_calls_normalise_is_refused_after_its_forward():
    from iqaxai.zeroing import ZeroingNotApplicable

    model = NormalisesInternally().eval()
    images = torch.rand(4, 3, 96, 128) * 0.2
    original = predict_zeroed(model, images, None)  # unzeroed scores are fine
    assert np.allclose(original, RegionMean()(images).numpy())
    with pytest.raises(ZeroingNotApplicable, match="'normalises_internally'") as err:
        predict_zeroed(model, images, _block5(4), batch_size=2)
    assert "normalises its input internally" in str(err.value) and "pixel space" in str(err.value)
    assert model.forward_calls == 2  # the original run, then the first batch of the zeroed run: it stopped there
    assert "normalise" not in vars(model)  # the wrapper is removed even so
    with pytest.raises(ZeroingNotApplicable, match="never called model.normalise"):
        with zeroed_after_normalisation(model, pixel_keep_mask(_block5(4), (96, 128))):
            model(images)


def test_declared_unsupported_model_is_refused_before_any_forward(small_world, tmp_path, monkeypatch):
    from iqaxai.data.demo import load_demo, planted_blocks
    from iqaxai.models.pyiqa_adapter import PyiqaModel
    from iqaxai.zeroing import ZeroingNotApplicable, run_zeroing

    assert PyiqaModel.zeroing_after_normalisation is False and RegionMean.zeroing_after_normalisation is True
    model = DeclaredUnsupported().eval()
    images = torch.rand(4, 3, 96, 128) * 0.2
    with pytest.raises(ZeroingNotApplicable, match="'pyiqa:fakeiqa'") as err:
        predict_zeroed(model, images, _block5(4))
    assert "normalises its input internally" in str(err.value)
    with pytest.raises(ZeroingNotApplicable, match="'pyiqa:fakeiqa'"):
        with zeroed_after_normalisation(model, pixel_keep_mask(_block5(4), (96, 128))):
            pytest.fail("entered the block")
    monkeypatch.setenv("IQAXAI_CACHE", str(tmp_path / "cache"))
    test = load_demo(small_world[1]).head(4)
    with pytest.raises(ZeroingNotApplicable, match="'pyiqa:fakeiqa'"):
        run_zeroing(model, "fakeiqa", test, planted_blocks(test), "none", "planted", progress=False)
    assert model.forward_calls == 0
    assert "normalise" not in vars(model)
    assert not (tmp_path / "cache" / "results").exists()  # no results cache was even opened


def test_float64_images_are_zeroed_like_float32():
    from iqaxai.models.triq import TRIQ

    torch.manual_seed(0)
    model = TRIQ(backbone="tiny_s16").eval()
    x = torch.rand(2, 3, 96, 128)
    blocks = np.zeros((2, 12), dtype=bool)
    blocks[:, [0, 5, 11]] = True
    assert np.allclose(predict_zeroed(model, x.double(), blocks), predict_zeroed(model, x, blocks), atol=1e-5)
