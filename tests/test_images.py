"""Reading images: values, resizing and the errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from iqaxai.data.images import ImageReadError, load_image


def test_load_image_values_and_resize(tmp_path):
    arr = np.zeros((6, 8, 3), np.uint8)
    arr[..., 0] = 255
    arr[2, 3] = (0, 51, 102)
    Image.fromarray(arr).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.shape == (6, 8, 3) and img.dtype == np.float32
    assert np.allclose(img[2, 3], (0.0, 0.2, 0.4)) and img[0, 0, 0] == 1.0
    Image.fromarray(arr[..., 0]).save(tmp_path / "grey.png")
    assert load_image(tmp_path / "grey.png").shape == (6, 8, 3)
    assert load_image(tmp_path / "a.png", size=(12, 16)).shape == (12, 16, 3)


def test_bad_images_raise_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="not found: .*missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ImageReadError, match="cannot decode image .*text.jpg"):
        load_image(tmp_path / "text.jpg")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 100).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="2x2 pixels, smaller than the required 3x4"):
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "tiny.png")
        load_image(tmp_path / "tiny.png", min_size=(3, 4))


# --------------------------------------------------------------------------- resizing keeps the aspect ratio

def _marked(height: int, width: int) -> np.ndarray:
    """A grey image with a red 80x80 marker in its top-left corner."""
    arr = np.full((height, width, 3), 128, np.uint8)
    arr[:80, :80] = (255, 0, 0)
    return arr


def _red(img: np.ndarray) -> np.ndarray:
    return (img[..., 0] > 0.8) & (img[..., 1] < 0.2)


def test_landscape_and_portrait_are_brought_to_the_target_without_squashing(tmp_path):
    Image.fromarray(_marked(1200, 1600)).save(tmp_path / "landscape.png")
    Image.fromarray(_marked(1600, 1200)).save(tmp_path / "portrait.png")
    land = load_image(tmp_path / "landscape.png", size=(768, 1024))
    port = load_image(tmp_path / "portrait.png", size=(768, 1024))
    assert land.shape == port.shape == (768, 1024, 3)
    # landscape 4:3: plain resize, the marker stays top-left and scales by 0.64 (80 -> 51 pixels)
    ys, xs = np.nonzero(_red(land))
    assert ys.min() == 0 and xs.min() == 0 and abs(ys.max() + 1 - 51.2) <= 1.5 and abs(xs.max() + 1 - 51.2) <= 1.5
    # portrait: turned 90 degrees counter-clockwise, so the top-left marker lands bottom-left, still square
    ys, xs = np.nonzero(_red(port))
    assert ys.max() == 767 and xs.min() == 0
    assert abs((ys.max() - ys.min()) - (xs.max() - xs.min())) <= 1
    assert not _red(port[:384]).any()


def test_wide_image_is_centre_cropped_not_squashed(tmp_path):
    # 16:9 with a centred disc of radius 300: scaled by 768/900 (shorter side), then 1365 -> 1024 cropped
    h, w, r = 900, 1600, 300
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.full((h, w, 3), 255, np.uint8)
    arr[(yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 <= r**2] = 0
    Image.fromarray(arr).save(tmp_path / "wide.png")
    img = load_image(tmp_path / "wide.png", size=(768, 1024))
    assert img.shape == (768, 1024, 3)
    ys, xs = np.nonzero(img[..., 0] < 0.5)
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert abs(height - width) <= 2  # a circle, not an ellipse (squashing would give 512 x 384)
    assert abs(height - 2 * r * 768 / 900) <= 2
    assert abs((ys.min() + ys.max()) / 2 - 383.5) <= 1 and abs((xs.min() + xs.max()) / 2 - 511.5) <= 1
    # a tall image to a landscape target is turned, not cropped to a sliver: the disc keeps its size
    Image.fromarray(np.ascontiguousarray(arr.transpose(1, 0, 2))).save(tmp_path / "tall.png")
    tall = load_image(tmp_path / "tall.png", size=(768, 1024))
    ys, xs = np.nonzero(tall[..., 0] < 0.5)
    assert abs((ys.max() - ys.min()) - (xs.max() - xs.min())) <= 2 and abs(ys.max() - ys.min() + 1 - 512) <= 2


def test_four_by_three_is_exactly_pil_bicubic(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "koniq.png")
    for size in ((384, 512), (768, 1024), (96, 128)):
        expected = np.asarray(Image.fromarray(arr).resize((size[1], size[0]), Image.BICUBIC), dtype=np.float32) / 255.0
        assert np.array_equal(load_image(tmp_path / "koniq.png", size=size), expected)
    assert np.array_equal(load_image(tmp_path / "koniq.png", size=(768, 1024)), arr.astype(np.float32) / 255.0)
    # within 1 % of the aspect: still a plain resize (1020x768 is 0.4 % wider than 4:3)
    Image.fromarray(arr[:, :1020]).save(tmp_path / "near.png")
    expected = np.asarray(Image.fromarray(arr[:, :1020]).resize((512, 384), Image.BICUBIC), dtype=np.float32) / 255.0
    assert np.array_equal(load_image(tmp_path / "near.png", size=(384, 512)), expected)


def test_load_batch_mixes_orientations(tmp_path):
    from iqaxai.data.images import load_batch

    Image.fromarray(_marked(1200, 1600)).save(tmp_path / "a.jpg")
    Image.fromarray(_marked(1600, 1200)).save(tmp_path / "b.jpg")
    Image.fromarray(_marked(900, 1600)).save(tmp_path / "c.jpg")
    batch = load_batch([str(tmp_path / n) for n in ("a.jpg", "b.jpg", "c.jpg")], (384, 512))
    assert tuple(batch.shape) == (3, 3, 384, 512)


# --------------------------------------------------------------------------- bit depth and alpha


def test_16_bit_grey_png_is_divided_by_65535(tmp_path):
    grey = np.full((6, 8), 32768, np.uint16)
    grey[0, 0], grey[0, 1] = 0, 65535
    Image.fromarray(grey).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png")
    assert img.shape == (6, 8, 3) and img.dtype == np.float32
    assert img[3, 3, 0] == pytest.approx(32768 / 65535) and img[0, 0, 1] == 0.0 and img[0, 1, 2] == 1.0
    assert img.mean() == pytest.approx((46 * 32768 / 65535 + 1) / 48, abs=1e-6)  # not saturated at 1.0


def test_16_bit_rgb_tiff_is_divided_by_65535(tmp_path):
    import tifffile

    rgb = np.zeros((6, 8, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 65535, 32768, 1000
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb, photometric="rgb")
    img = load_image(tmp_path / "rgb16.tif")
    assert np.allclose(img[2, 2], (1.0, 32768 / 65535, 1000 / 65535), atol=1e-7)
    resized = load_image(tmp_path / "rgb16.tif", size=(12, 16))
    assert resized.shape == (12, 16, 3) and np.allclose(resized[5, 5], img[2, 2], atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 8), (6, 8, 3)])
def test_float_tiff_in_unit_range_is_kept(tmp_path, shape):
    import tifffile

    pixels = np.linspace(0.0, 1.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    tifffile.imwrite(tmp_path / "f.tif", pixels, photometric="rgb" if pixels.ndim == 3 else "minisblack")
    img = load_image(tmp_path / "f.tif")
    expected = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=-1)
    assert img.dtype == np.float32 and np.array_equal(img, expected)
    assert img.mean() == pytest.approx(0.5)  # not all zeros
    resized = load_image(tmp_path / "f.tif", size=(12, 16))
    assert resized.shape == (12, 16, 3) and 0.0 <= resized.min() and resized.max() <= 1.0


def test_float_tiff_outside_unit_range_is_refused(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "f255.tif", np.full((6, 8, 3), 200.0, np.float32), photometric="rgb")
    with pytest.raises(ImageReadError, match=r"f255\.tif holds floating-point pixels in \[200, 200\], outside \[0, 1\]"):
        load_image(tmp_path / "f255.tif")
    bad = np.full((6, 8), 0.5, np.float32)
    bad[1, 1] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", bad)
    with pytest.raises(ImageReadError, match=r"nan\.tif has 1 NaN or infinite pixel"):
        load_image(tmp_path / "nan.tif")


def test_32_bit_integer_image_is_refused(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "i32.tif", np.full((6, 8), 70000, np.int32))
    with pytest.raises(ImageReadError, match=r"i32\.tif has int32 pixels, whose scale is unknown"):
        load_image(tmp_path / "i32.tif")


def test_transparent_pixels_are_refused_not_dropped(tmp_path):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[0, :3, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    with pytest.raises(ImageReadError, match=r"rgba\.png has an alpha channel with 3 of 48 pixels not fully opaque"):
        load_image(tmp_path / "rgba.png")
    la = np.stack([np.full((6, 8), 90, np.uint8), np.full((6, 8), 128, np.uint8)], axis=-1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    with pytest.raises(ImageReadError, match=r"la\.png has an alpha channel with 48 of 48"):
        load_image(tmp_path / "la.png")
    palette = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8)).convert("P")
    palette.save(tmp_path / "p.png", transparency=0)
    with pytest.raises(ImageReadError, match=r"p\.png has an alpha channel with 1 of 48"):
        load_image(tmp_path / "p.png")


def test_opaque_alpha_is_dropped_losslessly(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, np.full((6, 8), 255, np.uint8)])).save(tmp_path / "opaque.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(load_image(tmp_path / "opaque.png"), load_image(tmp_path / "rgb.png"))
    assert np.array_equal(load_image(tmp_path / "opaque.png", size=(12, 16)), load_image(tmp_path / "rgb.png", size=(12, 16)))


def test_eight_bit_tiff_still_read_by_pillow(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb8.tif")
    assert np.array_equal(load_image(tmp_path / "rgb8.tif"), rgb.astype(np.float32) / 255.0)
