"""Block masks of the region grid and exact Shapley values of the regions (ICIP 2023, Section 2).

A **mask** lists which blocks of the rows x cols grid are masked (True = masked). :func:`block_masks`
returns every mask with 1 .. rows*cols - 1 masked blocks (4094 for the 3x4 grid), ordered by the number
of masked blocks n, then lexicographically by the masked block indices (``itertools.combinations``
order): first ``[0]``, ``[1]``, ..., ``[11]``, then ``[0, 1]``, ``[0, 2]``, ...

Because these masks together with the unmasked and the fully masked image are all 2^12 coalitions of
the 12 regions, the exact Shapley value of every region follows from the same predictions
(:func:`shapley_values`); no further model evaluation is needed.
"""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import torch

from iqaxai.grid import Grid


def block_masks(grid: Grid = (3, 4)) -> torch.Tensor:
    """Every mask with 1..B-1 of the B = rows*cols blocks masked, as bool [2^B - 2, B] (True = masked)."""
    n_blocks = grid[0] * grid[1]
    if n_blocks < 2 or n_blocks > 20:
        raise ValueError(f"a {grid[0]}x{grid[1]} grid has {n_blocks} blocks; block_masks supports 2..20")
    rows = [combo for n in range(1, n_blocks) for combo in itertools.combinations(range(n_blocks), n)]
    masks = torch.zeros(len(rows), n_blocks, dtype=torch.bool)
    for i, combo in enumerate(rows):
        masks[i, list(combo)] = True
    return masks


def coalition_ids(masks: torch.Tensor | np.ndarray) -> np.ndarray:
    """Bit-coded coalition of *unmasked* blocks of each mask (bit k set = block k present)."""
    present = ~np.asarray(masks, dtype=bool)
    return (present * (1 << np.arange(present.shape[1]))).sum(axis=1)


def coalition_values(masked: np.ndarray, unmasked: np.ndarray, fully_masked: np.ndarray,
                     masks: torch.Tensor | np.ndarray) -> np.ndarray:
    """Predictions [N, 2^B] indexed by coalition id, from the predictions of ``masks`` [N, M] plus the two ends.

    ``masks`` must be every mask of :func:`block_masks` (in any order).
    """
    masked = np.atleast_2d(np.asarray(masked, dtype=float))
    n_blocks = np.asarray(masks).shape[1]
    ids = coalition_ids(masks)
    if len(ids) != 2 ** n_blocks - 2 or len(np.unique(ids)) != len(ids):
        raise ValueError(f"need all {2 ** n_blocks - 2} distinct non-trivial masks of {n_blocks} blocks, got {len(ids)}")
    if masked.shape[1] != len(ids):
        raise ValueError(f"{masked.shape[1]} predictions per image for {len(ids)} masks")
    values = np.empty((masked.shape[0], 2 ** n_blocks))
    values[:, ids] = masked
    values[:, -1] = np.asarray(unmasked, dtype=float).reshape(-1)  # every block present
    values[:, 0] = np.asarray(fully_masked, dtype=float).reshape(-1)  # only the quality token
    return values


def shapley_values(values: np.ndarray) -> np.ndarray:
    """Exact Shapley values [N, B] of the B players from coalition values [N, 2^B] (bit k = player k).

    phi_k = sum over coalitions S without k of |S|! (B - |S| - 1)! / B! * (v(S + k) - v(S)).
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    n_players = int(np.log2(values.shape[1]))
    if 2 ** n_players != values.shape[1]:
        raise ValueError(f"coalition values must have 2^B columns, got {values.shape[1]}")
    ids = np.arange(2 ** n_players)
    size = np.array([bin(s).count("1") for s in ids])
    weight = np.array([factorial(s) * factorial(n_players - s - 1) / factorial(n_players) for s in range(n_players)])
    phi = np.empty((values.shape[0], n_players))
    for k in range(n_players):
        without = ids[(ids >> k) & 1 == 0]
        phi[:, k] = (values[:, without | (1 << k)] - values[:, without]) @ weight[size[without]]
    return phi


@torch.no_grad()
def sweep_block_masks(model, images: torch.Tensor, masks: torch.Tensor | None = None, grid: Grid = (3, 4),
                      method: str = "reference", chunk: int = 256) -> torch.Tensor:
    """Masked TRIQ predictions (MOS on 0-100) of every image under every block mask, [N, M].

    ``method="reference"`` runs the backbone once per image and the full encoder once per mask (in
    chunks of ``chunk`` masks) with the paper's -1e9 key masking: the straightforward definition.
    """
    if method != "reference":
        raise ValueError(f"unknown method {method!r}; available: 'reference'")
    from iqaxai.models.base import distribution_to_score

    masks = block_masks(grid) if masks is None else torch.as_tensor(masks, dtype=torch.bool)
    if masks.ndim != 2 or masks.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"masks must be [M, {grid[0] * grid[1]}] for a {grid[0]}x{grid[1]} grid, got {tuple(masks.shape)}")
    if tuple(model.grid) != tuple(grid):
        raise ValueError(f"the model masks a {model.grid} grid, the sweep asks for {grid}")
    model.eval()
    out = torch.empty(len(images), len(masks))
    for i, image in enumerate(images):
        fmap = model.feature_map(image[None])
        tokens = model.embed(fmap)
        key_masks = model.token_mask(masks.to(tokens.device), fmap.shape[-2:], len(masks))
        for start in range(0, len(masks), chunk):
            km = key_masks[start:start + chunk]
            dist = model.encode(tokens.expand(len(km), -1, -1), km)
            out[i, start:start + len(km)] = distribution_to_score(dist).float().cpu()
    return out
