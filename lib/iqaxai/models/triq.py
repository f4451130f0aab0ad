"""TRIQ (You and Korhonen, "Transformer for image quality assessment", ICIP 2021) with positional masking.

Architecture values follow the authors' TF-Keras code (junyongyou/triq, ``src/models/triq_model.py`` and
``src/models/transformer_iqa.py``):

- backbone: ResNet50 without its head, conv5 output C5 = [H/32, W/32, 2048];
- ``feature_proj_conv = Conv2D(d_model, 1x1)`` with bias, no activation; d_model = 32;
- ``if H/32 >= 16: MaxPool2D(2x2)`` (768x1024 input: 24x32 -> 12x16 = 192 tokens);
- a learned quality token prepended to the row-major tokens, a learned 1-D positional embedding of
  ``maximum_position_encoding = 193`` rows truncated to the token count (glorot-uniform init, Keras default);
- dropout 0.1, then 2 post-LN encoder layers (``LN(x + Dropout(MHA(x)))``, ``LN(. + Dropout(FFN(.)))``,
  LayerNorm eps 1e-6), 8 heads, FFN ``Dense(64, relu) -> Dense(32)``;
- head on the quality token: ``Dense(64, gelu) -> Dropout(0.1) -> Dense(5, softmax)``: the 5-bin opinion
  distribution, MOS = sum_i p_i * i (reported here on 0-100 as (MOS - 1) * 25);
- input scaled to [-1, 1] (``x / 127.5 - 1``).

**Positional masking** (ICIP 2023, Section 2): a large negative scalar (-1e9) is added to the query-key
dot products at masked key positions in every self-attention layer, so the softmax gives masked feature
vectors (numerically) zero weight. This is the key-column mask of the authors' ``create_padding_mask``
(shape [B, 1, 1, 1 + N]); the quality token is never masked. A mask may be given per token ([B, N] or [N])
or per region block of a grid over the token map ([B, rows*cols] or [rows*cols], 3x4 by default); True
(or exactly 1) means masked, other values are refused, and masks may differ between images of a batch.

The ICIP 2023 paper divides the **24x32** map of a 768x1024 image into 3x4 blocks of 8x8 vectors, i.e. the
map before TRIQ's pool. ``pool=None`` applies the authors' rule (pool when the map is at least 16 high),
``pool=False`` keeps the full map (768 tokens at 768x1024; ``max_positions`` then defaults to 769), ``pool=True``
always pools (blocks of 4x4 tokens at 768x1024).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from iqaxai.checks import check_masks
from iqaxai.grid import Grid, cell_slices
from iqaxai.models.backbones import create_backbone
from iqaxai.models.base import IQAModel, ModelInfo, distribution_to_score

MASK_VALUE = -1e9  # ICIP 2023: "a very high negative scalar value (-1e9)"


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention whose scores get ``MASK_VALUE`` added at masked key positions."""

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.num_heads, self.depth = num_heads, d_model // num_heads
        self.q, self.k, self.v, self.out = (nn.Linear(d_model, d_model) for _ in range(4))

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """[B, L, d_model] -> [B, heads, L, depth]."""
        b, length, _ = x.shape
        return x.view(b, length, self.num_heads, self.depth).transpose(1, 2)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.depth)
        if key_mask is not None:  # [B, L] bool, True = masked key column
            scores = scores + key_mask[:, None, None, :].to(scores.dtype) * MASK_VALUE
        attn = scores.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(x.shape)
        return self.out(out)


class EncoderLayer(nn.Module):
    """Post-LN transformer encoder layer of TRIQ."""

    def __init__(self, d_model: int = 32, num_heads: int = 8, mlp_dim: int = 64, dropout: float = 0.1):
        super().__init__()
        self.attn = MaskedSelfAttention(d_model, num_heads)
        self.ffn = nn.Sequential(nn.Linear(d_model, mlp_dim), nn.ReLU(), nn.Linear(mlp_dim, d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model, eps=1e-6), nn.LayerNorm(d_model, eps=1e-6)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm1(x + self.drop1(self.attn(x, key_mask)))
        return self.norm2(x + self.drop2(self.ffn(x)))


class TRIQ(IQAModel):
    """TRIQ: CNN backbone + transformer encoder predicting the 5-bin opinion distribution."""

    def __init__(
        self,
        backbone: str = "resnet50",
        pretrained: bool = False,
        d_model: int = 32,
        num_layers: int = 2,
        num_heads: int = 8,
        mlp_dim: int = 64,
        dropout: float = 0.1,
        max_positions: int | None = None,
        pool: bool | None = None,
        n_levels: int = 5,
        grid: Grid = (3, 4),
    ):
        super().__init__()
        self.info = ModelInfo("triq", output="distribution", normalisation="minus_one_one",
                              source="You & Korhonen, ICIP 2021; masking: ICIP 2023",
                              extra={"pool": pool, "backbone": backbone})
        self.backbone = create_backbone(backbone, pretrained)
        self.proj = nn.Conv2d(self.backbone.channels[-1], d_model, 1)
        if max_positions is None:  # 1 + tokens: 193 for the authors' pooled 12x16 map, 769 for the unpooled 24x32 one
            max_positions = 769 if pool is False else 193
        self.pool, self.grid, self.max_positions = pool, tuple(grid), max_positions
        self.quality_token = nn.Parameter(torch.empty(1, 1, d_model))
        self.pos_emb = nn.Parameter(torch.empty(1, max_positions, d_model))
        for p in (self.quality_token, self.pos_emb):  # Keras add_weight default: glorot uniform
            bound = math.sqrt(6.0 / (p.shape[-2] + p.shape[-1]))
            nn.init.uniform_(p, -bound, bound)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(EncoderLayer(d_model, num_heads, mlp_dim, dropout) for _ in range(num_layers))
        self.head = nn.Sequential(nn.Linear(d_model, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, n_levels))

    def target_layer(self) -> nn.Module:
        """The backbone's last stage (C5): Grad-CAM's layer (ICIP 2023 Fig. 1)."""
        return self.backbone.stages[-1]

    # ------------------------------------------------------------------ pieces reused by the masked sweep
    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Projected (and possibly pooled) C5 map [B, d_model, h, w] of images in [0, 1]."""
        fmap = self.proj(self.backbone(self.normalise(x))[-1])
        pool = fmap.shape[-2] >= 16 if self.pool is None else self.pool
        return F.max_pool2d(fmap, 2) if pool else fmap

    def embed(self, fmap: torch.Tensor) -> torch.Tensor:
        """Tokens [B, 1 + h*w, d_model]: quality token + row-major map tokens, plus positional embedding."""
        tokens = fmap.flatten(2).transpose(1, 2)
        n = tokens.shape[1] + 1
        if n > self.max_positions:
            raise ValueError(f"{n - 1} tokens (+1 quality token) exceed the positional embedding's {self.max_positions} "
                             f"rows; build TRIQ with max_positions >= {n} (769 for the paper's unpooled 24x32 map)")
        tokens = torch.cat([self.quality_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return tokens + self.pos_emb[:, :n]

    def token_mask(self, mask: torch.Tensor, map_shape: tuple[int, int], batch: int) -> torch.Tensor:
        """Key mask [B, 1 + h*w] from a per-token or per-block mask (True = masked; quality token never)."""
        h, w = map_shape
        mask = check_masks(mask, "TRIQ mask")
        if mask.ndim == 1:
            mask = mask.expand(batch, -1)
        if mask.ndim != 2 or mask.shape[0] != batch:
            raise ValueError(f"mask must be [N], [B, N], [blocks] or [B, blocks] for a batch of {batch}, got {tuple(mask.shape)}")
        rows, cols = self.grid
        if mask.shape[1] == h * w:
            tokens = mask
        elif mask.shape[1] == rows * cols:
            tokens = torch.zeros(batch, h, w, dtype=torch.bool, device=mask.device)
            for k, (sy, sx) in enumerate(cell_slices((h, w), self.grid)):  # rejects maps smaller than the grid
                tokens[:, sy, sx] = mask[:, k, None, None]
            tokens = tokens.flatten(1)
        else:
            raise ValueError(f"mask has {mask.shape[1]} entries; expected {h * w} (one per token of the {h}x{w} map) "
                             f"or {rows * cols} (one per block of the {rows}x{cols} grid)")
        return torch.cat([torch.zeros(batch, 1, dtype=torch.bool, device=tokens.device), tokens], dim=1)

    def encode(self, tokens: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Opinion distribution [B, n_levels] from embedded tokens through the encoder and head."""
        x = self.drop(tokens)
        for layer in self.layers:
            x = layer(x, key_mask)
        return self.head(x[:, 0]).softmax(dim=-1)

    # ------------------------------------------------------------------ public forward
    def distribution(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted 5-bin opinion distribution of images in [0, 1], optionally positionally masked."""
        fmap = self.feature_map(x)
        key_mask = None if mask is None else self.token_mask(check_masks(mask, "TRIQ mask").to(x.device), fmap.shape[-2:],
                                                             x.shape[0])
        return self.encode(self.embed(fmap), key_mask)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted MOS on 0-100 of images in [0, 1], optionally positionally masked."""
        return distribution_to_score(self.distribution(x, mask))
