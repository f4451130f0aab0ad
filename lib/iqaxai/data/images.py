"""Reading images for the models: RGB float arrays in [0, 1], resized without squashing, with clear errors for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


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


#: First bytes of a TIFF file (little/big endian, classic/BigTIFF).
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: Pillow modes with an alpha channel.
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
#: Pillow modes of 16-bit greyscale pixels.
MODES_16 = ("I;16", "I;16L", "I;16B", "I;16N")


def _opaque(alpha: np.ndarray, full: float, path: Path) -> None:
    """Refuse an image whose alpha channel is not fully opaque (``full`` is opaque in its dtype)."""
    transparent = int(np.count_nonzero(alpha < full))
    if transparent:
        raise ImageReadError(
            f"image {path} has an alpha channel with {transparent} of {alpha.size} pixels not fully opaque; "
            "the quality models see RGB only and compositing would invent a background: flatten it onto the "
            "background it was shown on and save it without alpha"
        )


def _unit_range(pixels: np.ndarray, path: Path) -> np.ndarray:
    """Pixels as float32 in [0, 1] by their dtype: uint8 / 255, uint16 / 65535, float kept if within [0, 1]."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / 255.0
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / 65535.0
    if pixels.dtype == bool:
        return pixels.astype(np.float32)
    if pixels.dtype.kind == "f":
        out = pixels.astype(np.float32)
        if not np.isfinite(out).all():
            raise ImageReadError(f"image {path} has {int((~np.isfinite(out)).sum())} NaN or infinite pixel values")
        lo, hi = float(out.min()), float(out.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageReadError(
                f"image {path} holds floating-point pixels in [{lo:g}, {hi:g}], outside [0, 1]: their scale is "
                "unknown (save it as 8- or 16-bit, or scale it to [0, 1])"
            )
        return out
    raise ImageReadError(
        f"image {path} has {pixels.dtype} pixels, whose scale is unknown; expected 8- or 16-bit integers or "
        "floats in [0, 1]"
    )


def _to_rgb(pixels: np.ndarray, alpha: bool, path: Path) -> np.ndarray:
    """(H, W[, C]) pixels -> (H, W, 3) float32 in [0, 1]: grey is repeated, an opaque alpha channel (last) dropped."""
    pixels = _unit_range(pixels, path)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if alpha:
        _opaque(pixels[..., -1], 1.0, path)
        pixels = pixels[..., :-1]
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ImageReadError(f"image {path} has pixels of shape {pixels.shape}; expected grey or RGB (with alpha)")
    return pixels


def _read_tiff(path: Path) -> np.ndarray | None:
    """Pixels of a TIFF deeper than 8 bits (16-bit, float) read with tifffile; None if Pillow reads it exactly."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        if page.dtype in (np.uint8, bool):
            return None
        if page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB):
            raise ImageReadError(f"image {path}: {page.dtype} TIFF in photometric {page.photometric.name} is not supported")
        pixels = page.asarray()
        if page.axes.startswith("S"):  # planar configuration: samples first
            pixels = np.moveaxis(pixels, 0, -1)
        samples = 1 if pixels.ndim == 2 else pixels.shape[-1]
        alpha = bool(page.extrasamples) and samples in (2, 4)
    return _to_rgb(pixels, alpha, path)


def _read_pil(path: Path) -> Image.Image | np.ndarray:
    """An 8-bit image as a PIL RGB image (resized exactly as before); 16-bit or float ones as (H, W, 3) arrays."""
    with Image.open(path) as im:
        im.load()  # decode fully here, so a truncated file fails now and not later
        mode = im.mode
        if mode in MODES_16 or (mode == "I" and im.format == "PNG"):  # 16-bit greyscale (mode "I" in old Pillows)
            return _to_rgb(np.asarray(im).astype(np.uint16), False, path)
        if mode in ("I", "F"):
            return _to_rgb(np.asarray(im), False, path)
        if mode in ALPHA_MODES or "transparency" in im.info:
            rgba = im.convert("RGBA")
            _opaque(np.asarray(rgba)[..., 3], 255, path)
            return rgba.convert("RGB")
        return im.convert("RGB")


def decode_image(path: str | os.PathLike) -> Image.Image | np.ndarray:
    """Decode an image by its real bit depth: an 8-bit one as a PIL RGB image, a deeper one as float32 (H, W, 3) in [0, 1].

    * 8-bit (and palette, 1-bit, CMYK, ...) files are converted to RGB by Pillow.
    * 16-bit greyscale PNG/TIFF and 16-bit RGB TIFF are divided by 65535. Pillow reads 16-bit RGB PNGs
      only at 8 bits (the high byte): those come back as 8-bit, within 1/255 of the true value.
    * Floating-point images (TIFF) are kept if all values are in [0, 1]; other ranges, NaN and inf are
      errors, and so are 32-bit integer images (their scale is unknown).
    * An alpha channel that is fully opaque everywhere is dropped (nothing is lost); any transparent
      pixel is an :class:`ImageReadError`: the models see RGB, and compositing onto a background would
      invent pixels nobody rated.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image file not found: {path}")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic in TIFF_MAGIC:
            deep = _read_tiff(path)
            if deep is not None:
                return deep
        return _read_pil(path)
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # what Pillow and tifffile raise for bad files
        raise ImageReadError(f"cannot decode image {path} (corrupt or not an image): {error}") from error


def _fit_float(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`fit_to_size` on float (H, W, 3) pixels: each channel as a 32-bit float image, clipped to [0, 1]."""
    channels = [np.asarray(fit_to_size(Image.fromarray(np.ascontiguousarray(pixels[..., c])), size)) for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def load_image(path: str | os.PathLike, size: tuple[int, int] | None = None, min_size: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Read an image as float32 RGB (H, W, 3) in [0, 1], optionally brought to ``size = (H, W)`` by :func:`fit_to_size`.

    Pixels are scaled by the file's real bit depth and alpha is never dropped silently (see
    :func:`decode_image`). ``min_size`` (H, W) is checked on the file's own size, e.g. the region grid for
    masking experiments. Resizing keeps the aspect ratio (rotation to the target's orientation, then cover
    and centre-crop; see :func:`fit_to_size`); deeper than 8-bit images are resized in float.
    """
    path = Path(path)
    pixels = decode_image(path)
    height, width = (pixels.height, pixels.width) if isinstance(pixels, Image.Image) else pixels.shape[:2]
    if height < min_size[0] or width < min_size[1]:
        raise ImageReadError(f"image {path} is {height}x{width} pixels, smaller than the required "
                             f"{min_size[0]}x{min_size[1]}")
    if isinstance(pixels, np.ndarray):
        return pixels if size is None else _fit_float(pixels, size)
    if size is not None:
        pixels = fit_to_size(pixels, size)
    return np.asarray(pixels, dtype=np.float32) / 255.0


def load_batch(paths: list[str], size: tuple[int, int] | None) -> torch.Tensor:
    """Decode images into a [N, 3, H, W] float tensor in [0, 1]."""
    images = [load_image(p, size) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size ({sorted(shapes)[:3]} ...); set TrainConfig.image_size")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
