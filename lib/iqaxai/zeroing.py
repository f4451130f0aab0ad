"""Zeroing the important or the trivial half of an image (ICIP 2023, Section 4.1, Table I and Fig. 2).

"The pixels are zeroed after an image has been preprocessed via e.g. normalization": every registry model
normalises its own input in ``model.normalise``, so :func:`zeroed_after_normalisation` wraps that method to
multiply its output by a keep-mask, and the rest of the model runs unchanged.

A model that normalises its input somewhere else (e.g. a pyiqa metric, which normalises inside its own
network) cannot be zeroed after normalisation this way: wrapping ``model.normalise`` would silently change
nothing. Such models declare ``zeroing_after_normalisation = False`` and are refused up front; a model that
does not declare it but never calls ``model.normalise`` during the forward pass is refused after that pass.
Either way :class:`ZeroingNotApplicable` is raised, never a table of unzeroed scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from iqaxai.grid import Grid, cell_mask
from iqaxai.stats import plcc


def pixel_keep_mask(zeroed_blocks: np.ndarray, shape: tuple[int, int], grid: Grid = (3, 4)) -> torch.Tensor:
    """Keep-mask [N, 1, H, W] (0 inside each image's zeroed blocks, 1 elsewhere) from bool [N, B]."""
    zeroed_blocks = np.atleast_2d(np.asarray(zeroed_blocks, dtype=bool))
    if zeroed_blocks.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"zeroed blocks must be [N, {grid[0] * grid[1]}] for a {grid[0]}x{grid[1]} grid, "
                         f"got {zeroed_blocks.shape}")
    keep = np.stack([~cell_mask(shape, np.flatnonzero(row), grid) for row in zeroed_blocks])
    return torch.from_numpy(keep)[:, None].float()


class ZeroingNotApplicable(RuntimeError):
    """A model whose normalised input cannot be zeroed: it does not normalise through ``model.normalise``."""


_PIXEL_SPACE_HINT = ("Zeroing the pixels before the model (in [0, 1] pixel space) would run, but it is a different "
                     "experiment from Table I (the model would see the normalised value of black, not zero).")


def _model_name(model) -> str:
    """The model's display name (``model.info.name``, else its class name)."""
    info = getattr(model, "info", None)
    return str(getattr(info, "name", None) or type(model).__name__)


def check_zeroing_supported(model) -> None:
    """Raise :class:`ZeroingNotApplicable` if ``model`` declares ``zeroing_after_normalisation = False``."""
    if not getattr(model, "zeroing_after_normalisation", True):
        raise ZeroingNotApplicable(
            f"model {_model_name(model)!r} does not support zeroing after normalisation: it normalises its "
            "input internally, not through model.normalise, so its normalised input cannot be zeroed. "
            + _PIXEL_SPACE_HINT)


@contextmanager
def zeroed_after_normalisation(model, keep: torch.Tensor) -> Iterator[None]:
    """Within the block, ``model`` zeroes its normalised input where ``keep`` [B, 1, H, W] is 0.

    Raises :class:`ZeroingNotApplicable` on entry for a model that declares it unsupported, and on leaving
    the block if ``model.normalise`` was never called in it (the zeroing would have changed nothing).
    """
    check_zeroing_supported(model)
    original = model.normalise
    calls = 0

    def normalise(x: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if keep.shape[0] != x.shape[0] or keep.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"keep-mask {tuple(keep.shape)} does not fit the batch {tuple(x.shape)}")
        out = original(x)  # float32 even for float64 input (the model's check casts it)
        return out * keep.to(out.device, out.dtype)

    model.normalise = normalise  # an instance attribute shadows the method
    try:
        yield
    finally:
        del model.normalise
    if calls == 0:
        raise ZeroingNotApplicable(
            f"model {_model_name(model)!r} never called model.normalise during the forward pass: it normalises "
            "its input internally, so zeroing after normalisation cannot be applied to it (nothing was zeroed). "
            + _PIXEL_SPACE_HINT)


@torch.no_grad()
def predict_zeroed(model, images: pd.DataFrame | torch.Tensor, zeroed_blocks: np.ndarray | None, grid: Grid = (3, 4),
                   image_size: tuple[int, int] | None = None, batch_size: int = 32, device: str | torch.device = "cpu") -> np.ndarray:
    """Scores [N] with each image's ``zeroed_blocks`` (bool [N, B]) set to zero after normalisation
    (``None``: the original images)."""
    from iqaxai.data.images import load_batch

    model.eval().to(device)
    n = len(images)
    out = []
    for start in range(0, n, batch_size):
        if isinstance(images, torch.Tensor):
            x = images[start:start + batch_size]
        else:
            x = load_batch(images["path"].tolist()[start:start + batch_size], image_size)
        x = x.to(device)
        if zeroed_blocks is None:
            out.append(model(x).float().cpu())
            continue
        keep = pixel_keep_mask(np.asarray(zeroed_blocks)[start:start + batch_size], tuple(x.shape[-2:]), grid)
        with zeroed_after_normalisation(model, keep):
            out.append(model(x).float().cpu())
    return torch.cat(out).numpy().astype(np.float64) if n else np.zeros(0)


def zeroing_row(original: np.ndarray, zeroed_important: np.ndarray, zeroed_trivial: np.ndarray, mos: np.ndarray) -> dict[str, float]:
    """One model's Table I entries: PLCC of the zeroed predictions with the original predictions and with MOS."""
    return {"test PLCC": plcc(original, mos),
            "important: predicted": plcc(original, zeroed_important), "important: MOS": plcc(zeroed_important, mos),
            "trivial: predicted": plcc(original, zeroed_trivial), "trivial: MOS": plcc(zeroed_trivial, mos)}




def run_zeroing(model, name: str, test: pd.DataFrame, important: np.ndarray, weights: str, rule: str, grid: Grid = (3, 4),
                image_size: tuple[int, int] | None = None, batch_size: int = 32, device: str | torch.device = "cpu",
                progress: bool = True) -> dict[str, np.ndarray]:
    """Predictions of one model on the original test images and with each image's important or trivial half
    zeroed. ``weights`` identifies the model's weights and ``rule`` the halves' rule; the original predictions
    are cached apart from the halves, so Table I under several rules (or measures) computes them once."""
    from iqaxai.results import ResultsCache, cached, config_key

    check_zeroing_supported(model)
    important = np.asarray(important, dtype=bool)
    if important.shape != (len(test), grid[0] * grid[1]):
        raise ValueError(f"important halves must be [{len(test)}, {grid[0] * grid[1]}], got {important.shape}")
    identity = {"weights": weights, "model": name, "size": image_size}
    images = test["image"].astype(str).tolist()
    kwargs = dict(grid=grid, image_size=image_size, batch_size=batch_size, device=device)
    original = cached("zeroing_original", {**identity, "images": config_key({"images": images})},
                      lambda: {"scores": predict_zeroed(model, test, None, **kwargs)})["scores"]
    halves_key = config_key({"images": images, "important": important.astype(int).tolist()})
    halves = ResultsCache("zeroing", {**identity, "rule": rule, "grid": list(grid), "images_and_halves": halves_key})
    runs = {"important zeroed": important, "trivial zeroed": ~important}
    done = halves.map(lambda zeroed: {"scores": predict_zeroed(model, test, zeroed, **kwargs)},
                      [(k.replace(" ", "_"), v) for k, v in runs.items()], desc=f"zeroing {name}", progress=progress)
    return {"original": original, **{k: done[k.replace(" ", "_")]["scores"] for k in runs}}
