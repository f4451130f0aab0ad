"""The common interface of every IQA model: images in [0, 1], one quality score per image on 0-100.

Each model normalises its own input (so nothing is normalised twice) and carries :class:`ModelInfo`
metadata that explanation code reads (e.g. the sign of an explanation target from ``lower_better``).
Every model's input passes :meth:`IQAModel.check_input` (:func:`iqaxai.checks.check_images`) before it is
used: 8-bit or unscaled values, NaN/inf pixels, empty batches and other than 3 channels are refused, and
float64 images are cast to the model's parameter dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from iqaxai.checks import check_images

#: Scores of regression heads are ``SCORE_CENTER + SCORE_SCALE * raw``: a zero-initialised head starts
#: mid-scale and the regression loss works on roughly standardised targets.
SCORE_CENTER, SCORE_SCALE = 50.0, 25.0

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelInfo:
    """Metadata of a model: what it predicts and how to read it."""

    name: str
    kind: str = "NR"  # "NR" (no-reference) or "FR" (full-reference)
    output: str = "score"  # "score" (regression) or "distribution" (5-bin opinion distribution)
    score_range: tuple[float, float] = (0.0, 100.0)
    lower_better: bool = False
    input_size: tuple[int, int] | None = None  # (H, W) the model was designed for, None = any
    normalisation: str = "imagenet"  # "imagenet", "minus_one_one" ([-1, 1]) or "none"
    source: str = ""
    extra: dict = field(default_factory=dict)


def normalise(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Map images in [0, 1] to a backbone's expected input range."""
    if kind == "imagenet":
        mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std
    if kind == "minus_one_one":
        return x * 2.0 - 1.0
    if kind == "none":
        return x
    raise ValueError(f"unknown normalisation {kind!r}")


class IQAModel(nn.Module):
    """Base class: ``forward(x)`` takes [B, 3, H, W] images in [0, 1] and returns [B] scores."""

    info: ModelInfo
    #: Whether the model normalises its input through :meth:`normalise`, so that its normalised input can be
    #: zeroed (``iqaxai.zeroing``); False for models that normalise internally (e.g. pyiqa metrics).
    zeroing_after_normalisation: bool = True

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [0, 1] after :func:`~iqaxai.checks.check_images`, in the parameters' dtype."""
        check_images(x, f"{type(self).__name__} input")
        dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), x.dtype)
        return x if x.dtype == dtype else x.to(dtype)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """This model's input normalisation, after :meth:`check_input` (every model's forward passes here)."""
        return normalise(self.check_input(x), self.info.normalisation)

    def target_layer(self) -> nn.Module:
        """The layer whose [B, C, h, w] output the model's Grad-CAM reads (its last convolutional stage)."""
        raise NotImplementedError(f"{type(self).__name__} declares no explanation target layer")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class ScoreHead(nn.Module):
    """Final linear layer of a regression model, mapping features to a 0-100 score (zero-initialised)."""

    def __init__(self, in_features: int):
        super().__init__()
        self.fc = nn.Linear(in_features, 1)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return SCORE_CENTER + SCORE_SCALE * self.fc(h).squeeze(-1)


def distribution_to_score(p: torch.Tensor) -> torch.Tensor:
    """MOS on 0-100 from a 5-bin opinion distribution: ``(sum_i p_i * i - 1) * 25``."""
    bins = torch.arange(1, p.shape[-1] + 1, device=p.device, dtype=p.dtype)
    return ((p * bins).sum(-1) - 1.0) * (100.0 / (p.shape[-1] - 1))
