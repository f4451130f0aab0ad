"""Reading images for the models: RGB float arrays in [0, 1], resized without squashing, with clear errors for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError


class ImageReadError(RuntimeError):
    """An image file is missing, unreadable, corrupt or too small; the message names the file."""


#: Two aspect ratios within this relative difference count as equal: the image is resized, not cropped.
ASPECT_TOLERANCE = 0.01


def _orientation(height: int, width: int) -> int:
    """+1 landscape, -1 portrait, 0 square."""
    return (width > height) - (height > width)


def fit_to_size(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize ``image`` to ``size = (H, W)`` keeping its aspect ratio: rotate to the target's orientation, cover, centre-crop.

    The rule, in order:

    1. If the image is portrait and the target landscape, or the other way round (squares have no
       orientation), it is turned by 90 degrees counter-clockwise (``PIL.Image.Transpose.ROTATE_90``; the
       top-left corner goes to the bottom-left). Phone photographs such as SPAQ's are stored in either
       orientation, and a rotation loses no pixel.
    2. If its aspect ratio then equals the target's within :data:`ASPECT_TOLERANCE` (1 %), it is resized to
       exactly (H, W), bicubic, as ``PIL.Image.resize`` always did (KonIQ-10k 1024x768 -> 768x1024 or
       384x512 is unchanged by this rule).
    3. Otherwise it is scaled, bicubic, so that it covers (H, W), the side that is short relative to the
       target becoming the target's matching side, and centre-cropped to exactly (H, W). This follows
       SPAQ's own preprocessing, ``transforms.Resize(512)`` in h4nwei/SPAQ ``Prepare_image.py``, which scales
       the shorter side and keeps the aspect ratio. Scaling and cropping are one resampling: the centred
       crop box, in source pixels, is passed to ``PIL.Image.resize(box=...)``.

    An image is never squashed: a circle stays a circle.
    """
    height, width = int(size[0]), int(size[1])
    if (image.height, image.width) == (height, width):
        return image
    target = _orientation(height, width)
    if target and _orientation(image.height, image.width) == -target:
        image = image.transpose(Image.Transpose.ROTATE_90)
    w, h = image.width, image.height
    aspect, target_aspect = w / h, width / height
    if abs(aspect - target_aspect) <= ASPECT_TOLERANCE * target_aspect:
        return image.resize((width, height), Image.BICUBIC)
    if aspect > target_aspect:  # too wide: keep the full height, crop the width
        crop = h * target_aspect
        box = ((w - crop) / 2, 0.0, (w + crop) / 2, float(h))
    else:  # too tall: keep the full width, crop the height
        crop = w / target_aspect
        box = (0.0, (h - crop) / 2, float(w), (h + crop) / 2)
    return image.resize((width, height), Image.BICUBIC, box=box)


def load_image(path: str | os.PathLike, size: tuple[int, int] | None = None, min_size: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Read an image as float32 RGB (H, W, 3) in [0, 1], optionally brought to ``size = (H, W)`` by :func:`fit_to_size`.

    ``min_size`` (H, W) is checked on the file's own size, e.g. the region grid for masking experiments.
    Resizing keeps the aspect ratio (rotation to the target's orientation, then cover and centre-crop;
    see :func:`fit_to_size`).
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
    if size is not None:
        rgb = fit_to_size(rgb, size)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def load_batch(paths: list[str], size: tuple[int, int] | None) -> torch.Tensor:
    """Decode images into a [N, 3, H, W] float tensor in [0, 1]."""
    images = [load_image(p, size) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size ({sorted(shapes)[:3]} ...); set TrainConfig.image_size")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
