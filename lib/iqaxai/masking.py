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
import math
from math import factorial

import numpy as np
import torch

from iqaxai.checks import check_images, check_masks
from iqaxai.grid import Grid, cell_slices


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


def _check_masks(masks: torch.Tensor | None, grid: Grid, model) -> torch.Tensor:
    """Bool masks [M >= 1, rows*cols] (bool or exactly 0/1 values) for a model masking the same grid."""
    masks = block_masks(grid) if masks is None else check_masks(masks, "sweep_block_masks(masks)")
    if masks.ndim != 2 or masks.shape[1] != grid[0] * grid[1] or masks.shape[0] == 0:
        raise ValueError(f"masks must be [M, {grid[0] * grid[1]}] with M >= 1 for a {grid[0]}x{grid[1]} grid, "
                         f"got {tuple(masks.shape)}")
    if tuple(model.grid) != tuple(grid):
        raise ValueError(f"the model masks a {model.grid} grid, the sweep asks for {grid}")
    return masks


@torch.no_grad()
def sweep_block_masks(model, images: torch.Tensor, masks: torch.Tensor | None = None, grid: Grid = (3, 4),
                      method: str = "fast", chunk: int = 256, batch_size: int = 8,
                      output: str = "score") -> torch.Tensor:
    """Masked TRIQ predictions of every image under every block mask: MOS on 0-100 [N, M], or with
    ``output="distribution"`` the predicted opinion distributions [N, M, levels].

    ``images`` must be a non-empty batch [N, 3, H, W] in [0, 1] (:func:`iqaxai.checks.check_images`).
    ``masks`` defaults to :func:`block_masks`; any bool (or exactly 0/1) [M, rows*cols] works, including the
    all-False (unmasked) and all-True (only the quality token) masks. The backbone runs once per image (in batches
    of ``batch_size``), never once per mask.

    - ``method="fast"`` (default) is exact and exploits the structure of the problem (see
      :func:`_fast_sweep_image`); it needs a TRIQ with one or two encoder layers.
    - ``method="reference"`` runs the full encoder once per mask (``chunk`` masks at a time) with the
      paper's -1e9 key masking: the straightforward definition, kept for the tests.
    """
    from iqaxai.models.base import distribution_to_score

    if method not in ("fast", "reference"):
        raise ValueError(f"unknown method {method!r}; available: 'fast', 'reference'")
    check_images(images, "sweep_block_masks(images)")
    masks = _check_masks(masks, grid, model)
    if method == "fast" and len(model.layers) not in (1, 2):
        raise ValueError(f"the fast sweep handles TRIQ with 1 or 2 encoder layers, this one has {len(model.layers)}; "
                         "use method='reference'")
    if output not in ("score", "distribution"):
        raise ValueError(f"output must be 'score' or 'distribution', got {output!r}")
    model.eval()
    out = None
    for first in range(0, len(images), batch_size):
        batch = images[first:first + batch_size].to(next(model.parameters()).device)
        fmaps = model.feature_map(batch)
        all_tokens = model.embed(fmaps)
        for i, tokens in enumerate(all_tokens):
            if method == "fast":
                dist = _fast_sweep_image(model, tokens, fmaps.shape[-2:], masks.to(tokens.device))
            else:
                dist = _reference_sweep_image(model, tokens, fmaps.shape[-2:], masks.to(tokens.device), chunk)
            if out is None:
                out = torch.empty(len(images), len(masks), *(() if output == "score" else dist.shape[1:]))
            out[first + i] = (distribution_to_score(dist) if output == "score" else dist).float().cpu()
    return out


def _reference_sweep_image(model, tokens: torch.Tensor, map_shape, masks: torch.Tensor, chunk: int) -> torch.Tensor:
    """Opinion distributions [M, levels]: the full encoder once per mask."""
    key_masks = model.token_mask(masks, map_shape, len(masks))
    return torch.cat([model.encode(tokens.expand(len(km), -1, -1), km) for km in key_masks.split(chunk)])


# Largest gap (in nats) between a query's top attention score and its score for the always-present quality
# key for which float32 partial sums stay exact: terms lost to underflow (< e^-87 of the top) are then
# < e^-(87-60) of the present keys' mass. Wider gaps switch to float64 (gap up to ~650).
_FLOAT32_GAP = 60.0


def _token_blocks(map_shape, grid: Grid, device) -> list[torch.Tensor]:
    """Token indices (1-based: index 0 is the quality token) of each grid block of the token map."""
    h, w = map_shape
    index = torch.arange(1, 1 + h * w, device=device).view(h, w)
    return [index[sy, sx].flatten() for sy, sx in cell_slices((h, w), grid)]  # rejects maps smaller than the grid


def _fast_sweep_image(model, tokens: torch.Tensor, map_shape, masks: torch.Tensor, rows_per_step: int = 16384) -> torch.Tensor:
    """Exact opinion distributions [M, levels] of one image's tokens [1 + T, d] under every block mask.

    Only the quality token's final output is read, and a masked key gets exactly zero attention weight
    (exp(-1e9) underflows), so:

    - **Layer 1**: the softmax of query i over the present keys is sum_b [b present] A_ib / sum_b [b present]
      Z_ib (+ the quality key), with the per-block partial sums A_ib = sum_{j in b} e^(s_ij - c_i) v_j and
      Z_ib = sum_{j in b} e^(s_ij - c_i) computed once per image. Per mask this is one small matmul of the
      presence matrix with the partial sums, then out-projection, residual, LayerNorm and FFN for the
      present tokens only (a masked token's output is never read).
    - **Last layer**: only the quality token's query matters. Its score for key y_j is q.(W_k y_j + b_k),
      whose b_k term is the same for every key and cancels in the softmax, so the score is
      (W_k^T q).y_j; and the value sum is W_v (sum_j a_j y_j) + b_v since the weights sum to one. Both
      run in the d_model space, with an online (running-max) softmax over the blocks.

    All 2^B coalitions are computed (ordered by their bit-coded id, so the coalitions holding a block are
    a strided view: no gathers) and the requested masks picked at the end. Each step handles about
    ``rows_per_step`` (token, mask) pairs of one block: few large operations on small token maps, bounded
    memory on large ones.
    """
    layer1 = model.layers[0]
    attn1 = layer1.attn
    heads, depth = attn1.num_heads, attn1.depth
    d_model = tokens.shape[-1]
    blocks = _token_blocks(map_shape, model.grid, tokens.device)
    if len(blocks) > 16:
        raise ValueError(f"the fast sweep handles grids of up to 16 blocks, not {len(blocks)}; use method='reference'")

    # ---- layer 1: per-block partial softmax sums, once per image
    q, k, v = (attn1.split(lin(tokens[None]))[0] for lin in (attn1.q, attn1.k, attn1.v))  # [H, 1+T, D]
    scores = q @ k.transpose(-1, -2) / math.sqrt(depth)  # [H, 1+T, 1+T]
    top = scores.max(dim=-1, keepdim=True).values
    gap = float((top[..., 0] - scores[..., 0]).max())
    if gap > 700:
        raise FloatingPointError(f"attention scores span {gap:.0f} nats; the fast sweep cannot represent them")
    work = torch.float32 if gap <= _FLOAT32_GAP and tokens.dtype == torch.float32 else torch.float64
    weights = (scores.to(work) - top.to(work)).exp()  # [H, 1+T, 1+T]
    v = v.to(work)
    # per-block partial sums [B, 1+T, H*(D+1)] (value sum and normaliser), and the always-present quality key's term
    partial = torch.stack([torch.cat([weights[:, :, b] @ v[:, b], weights[:, :, b].sum(-1, keepdim=True)], -1)
                           .transpose(0, 1).flatten(1) for b in blocks])
    quality_term = torch.cat([weights[:, :, :1] * v[:, :1], weights[:, :, :1]], -1).transpose(0, 1).flatten(1)
    # every coalition of present blocks, id = bit-coded present blocks (bit k = block k); the requested
    # masks are picked from them at the end
    n_blocks = len(blocks)
    ids = torch.arange(2 ** n_blocks, device=tokens.device)
    bits = torch.arange(n_blocks, device=tokens.device)
    present = ((ids[:, None] >> bits) & 1).to(work)  # [2^B, B]

    def block_terms(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What layer 1 needs of the query tokens ``rows``: partial sums [B, t*H*(D+1)], quality term, tokens."""
        return partial[:, rows].flatten(1), quality_term[rows].flatten(), tokens[rows]

    def layer1_outputs(terms: tuple[torch.Tensor, torch.Tensor, torch.Tensor], present_rows: torch.Tensor) -> torch.Tensor:
        """Layer-1 outputs [m, t, d] of a block's query tokens under the presence rows [m, B]."""
        block_partial, block_quality, block_tokens = terms
        sums = torch.addmm(block_quality, present_rows, block_partial).view(len(present_rows), -1, heads, depth + 1)
        attended = (sums[..., :depth] / sums[..., depth:]).to(tokens.dtype).flatten(2)  # [m, t, H*D]
        x = layer1.norm1(block_tokens + attn1.out(attended))
        return layer1.norm2(x + layer1.ffn(x))

    picked = ((~masks).long() << bits).sum(1)  # coalition id of each requested mask
    quality = layer1_outputs(block_terms(torch.zeros(1, dtype=torch.long, device=tokens.device)), present)[:, 0]  # [2^B, d]
    if len(model.layers) == 1:
        return model.head(quality[picked]).softmax(dim=-1)

    # ---- layer 2: the quality token's query only; a softmax over the present tokens of each block, merged
    # over the blocks with running maxima (online softmax)
    layer2 = model.layers[1]
    attn2 = layer2.attn
    query = attn2.split(attn2.q(quality)[:, None])[:, :, 0]  # [2^B, H, D]
    w_k = attn2.k.weight.view(heads, depth, d_model)  # rows of head h
    probe = torch.einsum("mhe,hed->mhd", query, w_k) / math.sqrt(depth)  # [2^B, H, d]: score = probe . y_j
    run_max = (probe * quality[:, None]).sum(-1)  # [2^B, H], the quality key's own score starts the softmax
    run_sum = torch.ones_like(run_max)
    run_val = quality[:, None].expand(-1, heads, -1).clone()  # [2^B, H, d]: sum_j a_j y_j, unnormalised
    for b, rows in enumerate(blocks):
        # the coalitions holding block b, as a strided view [2^(B-1-b), 2^b, ...] of the id order: no gathers
        def holding_b(t: torch.Tensor) -> torch.Tensor:
            return t.view(2 ** (n_blocks - 1 - b), 2, 2 ** b, *t.shape[1:])[:, 1]

        present_b, probe_b, terms = holding_b(present).flatten(0, 1), holding_b(probe).flatten(0, 1), block_terms(rows)
        n_b = len(present_b)
        block_max, block_sum = probe_b.new_empty(n_b, heads), probe_b.new_empty(n_b, heads)
        block_val = probe_b.new_empty(n_b, heads, d_model)
        chunk = max(1, rows_per_step // len(rows))
        for start in range(0, n_b, chunk):
            part = slice(start, start + chunk)
            y = layer1_outputs(terms, present_b[part])  # [m, t, d]
            s = probe_b[part] @ y.transpose(1, 2)  # [m, H, t]
            block_max[part] = s.max(-1).values
            p = (s - block_max[part, :, None]).exp()
            block_sum[part] = p.sum(-1)
            block_val[part] = p @ y
        view_max, view_sum, view_val = holding_b(run_max), holding_b(run_sum), holding_b(run_val)
        block_max, block_sum, block_val = (t.view(view_max.shape[:2] + t.shape[1:]) for t in (block_max, block_sum, block_val))
        new_max = torch.maximum(view_max, block_max)
        old, new = (view_max - new_max).exp_(), (block_max - new_max).exp_()
        view_sum.mul_(old).add_(block_sum * new)
        view_val.mul_(old[..., None]).add_(block_val * new[..., None])
        view_max.copy_(new_max)
    mixed = run_val[picked] / run_sum[picked, :, None]  # [M, H, d]
    quality = quality[picked]
    w_v = attn2.v.weight.view(heads, depth, d_model)
    values = torch.einsum("mhd,hed->mhe", mixed, w_v) + attn2.v.bias.view(heads, depth)
    x = layer2.norm1(quality + attn2.out(values.flatten(1)))
    return model.head(layer2.norm2(x + layer2.ffn(x))).softmax(dim=-1)
