"""The dual-task Baselines of *Bridging the Gap Between Saliency Prediction and IQA*, Section III-C.

Both predict a quality score and a saliency map at the resolution of the last feature map, and are trained on
``IQA loss + sal_weight * saliency loss`` (:func:`iqaxai.training.loss_fn`) against a saliency map of the image:

- **Baseline-Sal-Loss** (:class:`SalLossBaseline`): the Baseline plus a small decoder, one 1x1 convolution and a
  sigmoid on the last feature map.
- **Baseline-GradCAM-Loss** (:class:`GradCAMLossBaseline`): no extra parameters; the model's own Grad-CAM of the
  score is the saliency output, ``ReLU(sum_k alpha_k A^k)`` with ``alpha_k`` the spatial mean of ``dy/dA^k``
  detached from the graph (the paper's equation), so the saliency loss's gradients flow through the activations
  ``A`` only. In training mode BatchNorm couples a batch's scores, so ``alpha`` comes from the gradient of the
  batch's summed score (as a batched Grad-CAM does); in eval mode each image's is its own.

Saliency loss (:func:`saliency_loss`): the MSE between the predicted map, scaled to max 1 per image (the
sigmoid's output already lies in [0, 1]; Grad-CAM has no scale of its own), and the ground-truth map
area-averaged to the feature map's size and scaled to max 1, as the authors' ``MSESalLoss`` (Alexkkir/pyiqa-sal)
compares a map with the ground truth resized to it. ``sal_weight`` (default 1) weighs the two losses as written;
the authors' released configs divide each loss by its own weight, which cancels the weights, and are not followed.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from iqaxai.models.backbones import C5Map
from iqaxai.models.baselines import SaliencyBaseline

#: Default weight of the saliency loss against the IQA loss (the MSE of the score in units of 25 MOS points).
SAL_WEIGHT = 1.0


def _unit_max(maps: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Maps [B, 1, h, w] scaled to max 1 per image (all-zero maps stay zero)."""
    return maps / (maps.amax(dim=(2, 3), keepdim=True) + eps)


def saliency_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between a predicted map [B, 1, h, w] and a ground-truth map [B, 1, H, W] (area-averaged to h x w),
    both scaled to max 1 per image."""
    if predicted.ndim != 4 or target.ndim != 4 or predicted.shape[:2] != target.shape[:2] or predicted.shape[1] != 1:
        raise ValueError(f"saliency_loss needs maps [B, 1, h, w] and [B, 1, H, W], got {tuple(predicted.shape)} "
                         f"and {tuple(target.shape)}")
    truth = F.adaptive_avg_pool2d(target.to(predicted.dtype), predicted.shape[-2:])
    return F.mse_loss(_unit_max(predicted), _unit_max(truth))


def gradcam_map(features: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Grad-CAM [B, 1, h, w] of ``score`` [B] on ``features`` [B, C, h, w] with detached channel weights: the
    result stays differentiable with respect to the features (and what produced them)."""
    grads = torch.autograd.grad(score.sum(), features, retain_graph=True, create_graph=False)[0]
    alpha = grads.mean(dim=(2, 3), keepdim=True).detach()
    return F.relu((alpha * features).sum(dim=1, keepdim=True))


class _DualTask(SaliencyBaseline):
    """A Baseline that also predicts saliency: :meth:`dual_outputs` gives (score [B], saliency [B, 1, h, w])."""

    dual_task = True

    def __init__(self, backbone: str = "efficientnet_b0", pretrained: bool = False, hidden: Sequence[int] = (1024, 256),
                 dropout: float = 0.25, sal_weight: float = SAL_WEIGHT):
        super().__init__(backbone, pretrained, hidden, dropout)
        if not sal_weight >= 0:
            raise ValueError(f"sal_weight must be a non-negative number, got {sal_weight}")
        self.sal_weight = float(sal_weight)
        self.info = type(self.info)(self.registry_name, source=self.info.source,
                                    extra={**self.info.extra, "sal_weight": self.sal_weight})

    @property
    def channels(self) -> int:
        """Channels of the last feature map."""
        return self.backbone.channels if isinstance(self.backbone, C5Map) else int(self.backbone[-1].out_channels)

    def _score(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.mlp(features.mean(dim=(2, 3))))

    def dual_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def predicted_saliency(self, x: torch.Tensor) -> torch.Tensor:
        """The saliency output [B, 1, h, w] for images in [0, 1] (gradients enabled where it needs them)."""
        with torch.enable_grad():
            return self.dual_outputs(x)[1].detach()


class SalLossBaseline(_DualTask):
    """Baseline-Sal-Loss: the Baseline plus a 1x1 convolution and a sigmoid on the last feature map."""

    registry_name = "baseline_sal_loss"

    def __init__(self, backbone: str = "efficientnet_b0", pretrained: bool = False, hidden: Sequence[int] = (1024, 256),
                 dropout: float = 0.25, sal_weight: float = SAL_WEIGHT):
        super().__init__(backbone, pretrained, hidden, dropout, sal_weight)
        self.sal_conv = nn.Conv2d(self.channels, 1, kernel_size=1)

    def dual_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(score [B] on 0-100, saliency [B, 1, h, w] in (0, 1)) of images in [0, 1]."""
        features = self.feature_map(x)
        return self._score(features), torch.sigmoid(self.sal_conv(features))


class GradCAMLossBaseline(_DualTask):
    """Baseline-GradCAM-Loss: the Baseline, whose own Grad-CAM of the score is its saliency output."""

    registry_name = "baseline_gradcam_loss"

    def dual_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(score [B] on 0-100, Grad-CAM [B, 1, h, w] >= 0) of images in [0, 1]; needs gradients enabled."""
        if not torch.is_grad_enabled():
            raise RuntimeError("GradCAMLossBaseline.dual_outputs needs gradients enabled (use predicted_saliency)")
        features = self.feature_map(x)
        score = self._score(features)
        return score, gradcam_map(features, score)
