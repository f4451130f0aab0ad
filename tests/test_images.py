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
