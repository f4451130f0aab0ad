"""Region importance from the masked TRIQ (ICIP 2023, Section 2): which half of an image matters for IQA.

The sweep (:func:`run_sweep`) predicts every image under every block mask, plus unmasked and fully masked
(only the quality token). From these predictions, without further model evaluations, four rules score the
importance of each of the B = 12 blocks (higher = more important):

- ``dataset_plcc`` (the paper's rule as written): for each mask, the PLCC over the dataset's images between
  masked and unmasked predictions; a block's score is minus the mean PLCC over the masks that mask it. This
  gives one ranking for the whole dataset.
- ``distribution_plcc`` (per image): the same with the PLCC, for one image, between its masked and
  unmasked predicted 5-bin opinion distributions (TRIQ predicts a distribution, so the correlation is
  defined per image).
- ``mean_abs_change`` (per image): the mean absolute change of the predicted MOS over the masks that mask
  the block.
- ``shapley`` (per image): the magnitude of the block's exact Shapley value (the 4096 predictions are every
  coalition of the 12 regions): a block matters when its presence moves the score, up or down.
- ``shapley_signed`` (per image): the signed Shapley value, higher when the block raises the predicted score.
  Shown for contrast: on a low-quality image the distorted blocks lower the score and rank last, so the signed
  ranking puts the blocks that decide quality into the trivial half.

:func:`halves` splits the blocks evenly into the important half (the B/2 highest scores) and the trivial half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from iqaxai.grid import Grid, top_half
from iqaxai.masking import block_masks, coalition_ids, coalition_values, shapley_values, sweep_block_masks
from iqaxai.results import ResultsCache
from iqaxai.stats import StatsError

RULES = ("dataset_plcc", "distribution_plcc", "mean_abs_change", "shapley", "shapley_signed")
PER_IMAGE_RULES = RULES[1:]
#: What each rule ranks by, for tables.
RULE_MEANING = {
    "dataset_plcc": "-mean PLCC over the dataset of masked vs unmasked scores (one half for all images)",
    "distribution_plcc": "-mean PLCC of masked vs unmasked opinion distributions",
    "mean_abs_change": "mean |change| of the score when masked",
    "shapley": "|Shapley value| (magnitude)",
    "shapley_signed": "Shapley value (signed: raises the score)",
}


@dataclass
class Sweep:
    """Masked TRIQ predictions of N images under the M masks (True = masked), and at both ends."""

    masks: np.ndarray  # [M, B] bool
    scores: np.ndarray  # [N, M] MOS on 0-100
    distributions: np.ndarray  # [N, M, L]
    unmasked: np.ndarray  # [N]
    unmasked_distribution: np.ndarray  # [N, L]
    fully_masked: np.ndarray  # [N]
    fully_masked_distribution: np.ndarray  # [N, L]

    @property
    def n_blocks(self) -> int:
        return self.masks.shape[1]

    def prediction_with(self, masked_blocks: np.ndarray) -> np.ndarray:
        """Prediction [N] of each image with its own set of masked blocks (bool [N, B], one mask per image)."""
        masked_blocks = np.asarray(masked_blocks, dtype=bool)
        position = {int(c): j for j, c in enumerate(coalition_ids(self.masks))}
        out = np.empty(len(masked_blocks))
        for i, row in enumerate(masked_blocks):
            if not row.any():
                out[i] = self.unmasked[i]
            elif row.all():
                out[i] = self.fully_masked[i]
            else:
                out[i] = self.scores[i, position[int(coalition_ids(row[None])[0])]]
        return out

    def shapley(self) -> np.ndarray:
        """Exact Shapley values [N, B] of the blocks (needs all 2^B - 2 masks)."""
        return shapley_values(coalition_values(self.scores, self.unmasked, self.fully_masked, self.masks))


def _sweep_chunk(model, images: torch.Tensor, grid: Grid, device) -> dict[str, np.ndarray]:
    """Fast sweep of one chunk of images over every mask plus the two ends."""
    n_blocks = grid[0] * grid[1]
    masks = torch.cat([block_masks(grid), torch.zeros(1, n_blocks, dtype=torch.bool), torch.ones(1, n_blocks, dtype=torch.bool)])
    dist = sweep_block_masks(model.to(device), images, masks, grid, output="distribution").numpy()
    bins = np.arange(dist.shape[-1])
    scores = (dist * bins).sum(-1) * 100.0 / (dist.shape[-1] - 1)
    return {"scores": scores.astype(np.float32), "distributions": dist.astype(np.float32)}


def _item_id(index: int) -> str:
    """Cache item of the image at row ``index`` of the table (the table's image names are in the identity)."""
    return f"image_{index:06d}"


def run_sweep(model, table: pd.DataFrame, cache_config: dict, grid: Grid = (3, 4), image_size: tuple[int, int] | None = None,
              device: str = "cpu", chunk_images: int = 64, progress: bool = True) -> Sweep:
    """The masked sweep of every image of ``table``, cached per image (resumable).

    ``cache_config`` must identify the model's weights and the images (e.g. the training cache key and the
    dataset name); the table's image names, the grid and the image size are added to it. Missing images are
    swept ``chunk_images`` at a time; each image is its own cache item, so the chunk size does not shape the
    cached result and a sweep can be reread or resumed with any chunk size.
    """
    from iqaxai.data.images import load_batch
    from iqaxai.runtime import progress as progress_bar

    if not isinstance(chunk_images, (int, np.integer)) or chunk_images < 1:
        raise ValueError(f"run_sweep: chunk_images must be a positive int, got {chunk_images!r}")
    if len(table) == 0:
        raise ValueError("run_sweep: the table holds no images")
    paths, names = table["path"].tolist(), table["image"].astype(str).tolist()
    cache = ResultsCache("masked_sweep", {**cache_config, "grid": list(grid), "images": names, "size": image_size})
    done = cache.done()
    todo = [i for i in range(len(paths)) if _item_id(i) not in done]
    with torch.no_grad(), progress_bar(total=len(paths), initial=len(paths) - len(todo), desc="masked sweep (images)",
                                       show=progress, unit="image") as bar:
        for start in range(0, len(todo), chunk_images):
            rows = todo[start:start + chunk_images]
            result = _sweep_chunk(model, load_batch([paths[i] for i in rows], image_size), grid, device)
            for j, i in enumerate(rows):
                cache.save(_item_id(i), {k: v[j] for k, v in result.items()})
            bar.update(len(rows))
    items = [cache.load(_item_id(i)) for i in range(len(paths))]
    scores = np.stack([item["scores"] for item in items]).astype(np.float64)
    dists = np.stack([item["distributions"] for item in items]).astype(np.float64)
    return Sweep(block_masks(grid).numpy(), scores[:, :-2], dists[:, :-2], scores[:, -2], dists[:, -2], scores[:, -1], dists[:, -1])


def _row_plcc(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    """PLCC along ``axis`` (NaN where either side is constant)."""
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    den = np.sqrt((a * a).sum(axis=axis) * (b * b).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=axis) / np.where(den > 0, den, 1.0), np.nan)


def _mean_over_masks_with_block(values: np.ndarray, masks: np.ndarray, what: str) -> np.ndarray:
    """Mean of per-mask ``values`` [..., M] over the masks that mask each block -> [..., B] (NaNs skipped)."""
    masks = np.asarray(masks, dtype=bool)
    valid = ~np.isnan(values)
    counts = valid.astype(float) @ masks
    if (counts == 0).any():
        raise StatsError(f"{what} is undefined for every mask of some block (constant predictions?)")
    return np.where(valid, values, 0.0) @ masks / counts


def mask_plcc(sweep: Sweep) -> np.ndarray:
    """PLCC [M] over the images between each mask's predictions and the unmasked predictions."""
    if len(sweep.unmasked) < 3:
        raise StatsError(f"the dataset-level rule needs at least 3 images, got {len(sweep.unmasked)}")
    if np.ptp(sweep.unmasked) == 0:
        raise StatsError("the unmasked predictions are constant over the images: their PLCC is undefined")
    return _row_plcc(sweep.scores, sweep.unmasked[:, None], axis=0)


def block_importance(sweep: Sweep, rule: str) -> np.ndarray:
    """Importance of each block (higher = more important): [B] for ``dataset_plcc``, else [N, B]."""
    if rule == "dataset_plcc":
        return -_mean_over_masks_with_block(mask_plcc(sweep), sweep.masks, "the PLCC over the dataset")
    if rule == "distribution_plcc":
        corr = _row_plcc(sweep.distributions, sweep.unmasked_distribution[:, None, :], axis=-1)
        return -_mean_over_masks_with_block(corr, sweep.masks, "the PLCC of the opinion distributions")
    if rule == "mean_abs_change":
        return _mean_over_masks_with_block(np.abs(sweep.scores - sweep.unmasked[:, None]), sweep.masks, "the change")
    if rule == "shapley":
        return np.abs(sweep.shapley())
    if rule == "shapley_signed":
        return sweep.shapley()
    raise ValueError(f"unknown rule {rule!r}; available: {', '.join(RULES)}")


def halves(importance: np.ndarray) -> np.ndarray:
    """Important half (bool, True = among the B/2 highest scores; ties go to the lower block index)."""
    return top_half(importance)


def image_halves(sweep: Sweep, rule: str) -> np.ndarray:
    """Important half of every image [N, B] under ``rule`` (the dataset rule gives every image the same half)."""
    important = halves(block_importance(sweep, rule))
    return np.broadcast_to(important, (len(sweep.unmasked), sweep.n_blocks)).copy()


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of blocks two important halves [N, B] share, per image."""
    return (np.asarray(a, dtype=bool) & np.asarray(b, dtype=bool)).sum(-1)


def chance_overlap(n_blocks: int = 12) -> float:
    """Expected overlap of two random halves of ``n_blocks``: (B/2)^2 / B (hypergeometric mean)."""
    half = n_blocks // 2
    return half * half / n_blocks


def half_masking_plcc(sweep: Sweep, important: np.ndarray) -> dict[str, float]:
    """PLCC over the images between unmasked predictions and predictions with each image's trivial half
    masked, and with its important half masked (the paper's 0.97 vs 0.67 comparison)."""
    from iqaxai.stats import plcc

    important = np.asarray(important, dtype=bool)
    return {"trivial masked": plcc(sweep.unmasked, sweep.prediction_with(~important)),
            "important masked": plcc(sweep.unmasked, sweep.prediction_with(important))}


def planted_match(important: np.ndarray, planted: np.ndarray) -> dict[str, float]:
    """How well recovered halves [N, B] match planted ones: mean overlap, share with >= B/2 - 1 shared, exact."""
    shared = overlap(important, planted)
    half = np.asarray(planted).shape[-1] // 2
    return {"mean overlap": float(shared.mean()), f">= {half - 1} of {half}": float((shared >= half - 1).mean()),
            "exact": float((shared == half).mean())}


def summary(sweep: Sweep, rules: tuple[str, ...] = RULES, planted: np.ndarray | None = None,
            decoys: np.ndarray | None = None) -> pd.DataFrame:
    """Per rule: PLCC with each image's trivial / important half masked, and the match with the planted halves
    (with ``decoys``, also the important half's hit rate on the quality cells and on the decoys)."""
    from iqaxai.planted import chance_hit_rate, hit_rate

    rows = []
    for rule in rules:
        important = image_halves(sweep, rule)
        row = {"rule": rule, "ranks by": RULE_MEANING[rule],
               **{f"PLCC, {k}": v for k, v in half_masking_plcc(sweep, important).items()}}
        if planted is not None:
            row.update({f"planted: {k}": v for k, v in planted_match(important, planted).items()})
        if decoys is not None:
            row.update({"quality hit rate": hit_rate(important, planted), "decoy hit rate": hit_rate(important, decoys),
                        "chance hit rate": chance_hit_rate(important)})
        rows.append(row)
    return pd.DataFrame(rows)


def rule_agreement(halves_by_rule: dict[str, np.ndarray]) -> pd.DataFrame:
    """Mean number of shared important blocks between the halves of every pair of rules."""
    names = list(halves_by_rule)
    return pd.DataFrame([[float(overlap(halves_by_rule[a], halves_by_rule[b]).mean()) for b in names] for a in names],
                        index=names, columns=names)


def chance_at_least(shared: int, n_blocks: int = 12) -> float:
    """Probability that a random half shares at least ``shared`` blocks with a given half (hypergeometric)."""
    from scipy.stats import hypergeom

    half = n_blocks // 2
    return float(hypergeom(n_blocks, half, half).sf(shared - 1))
