"""Reading images for the models: RGB float arrays in [0, 1], with clear errors for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError


class ImageReadError(RuntimeError):
    """An image file is missing, unreadable, corrupt or too small; the message names the file."""


def load_image(path: str | os.PathLike, size: tuple[int, int] | None = None, min_size: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Read an image as float32 RGB (H, W, 3) in [0, 1], optionally resized to ``size = (H, W)``.

    ``min_size`` (H, W) is checked on the file's own size, e.g. the region grid for masking experiments.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()  # decode fully here, so a truncated file fails now and not later
            rgb = im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"cannot decode image {path} (corrupt or not an image): {error}") from error
    if rgb.height < min_size[0] or rgb.width < min_size[1]:
        raise ImageReadError(f"image {path} is {rgb.height}x{rgb.width} pixels, smaller than the required "
                             f"{min_size[0]}x{min_size[1]}")
    if size is not None and (rgb.height, rgb.width) != tuple(size):
        rgb = rgb.resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def load_batch(paths: list[str], size: tuple[int, int] | None) -> torch.Tensor:
    """Decode images into a [N, 3, H, W] float tensor in [0, 1]."""
    images = [load_image(p, size) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size ({sorted(shapes)[:3]} ...); set TrainConfig.image_size")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
