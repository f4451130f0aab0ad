"""Gradient and surrogate explanations of NR-IQA models (thesis 3.3.2; ICIP 2023 Fig. 1).

- **Grad-CAM for regression** (pytorch-grad-cam's ``GradCAM``): the *positive* map uses the weights
  alpha_k = mean_ij dy/dA^k (thesis eq. 3.7) and shows what raises the predicted quality; the *negative* map
  uses alpha_k = mean_ij -dy/dA^k (eq. 3.9), i.e. the target -y, and shows what lowers it. Both keep the
  ReLU of eq. 3.8 and the library's per-image min-max scaling.
- **Guided backpropagation** (captum's ``GuidedBackprop``): the input gradient with only positive gradients
  passed back through every ReLU.
- **LIME** (the ``lime`` package) with a regression wrapper: the predicted score is the one "class" whose
  local linear surrogate over superpixels (or the 3x4 grid blocks) is fitted.
- **TRIQ's Grad-CAM x attention** (ICIP 2023 Fig. 1): the Grad-CAM map of TRIQ's CNN backbone multiplied by
  the transformer's attention from the quality token to the feature tokens (last layer, mean over heads).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from iqaxai.grid import Grid, cell_slices


def cam_layer(model: nn.Module) -> nn.Module:
    """The layer a model declares for Grad-CAM (``model.target_layer()``: its last convolutional stage, thesis 3.3.2.1)."""
    try:
        return model.target_layer()
    except (AttributeError, NotImplementedError) as error:
        raise ValueError(f"{type(model).__name__} declares no Grad-CAM layer (target_layer()); pass layer= explicitly") from error


class _Score(nn.Module):
    """Wraps a model so that its output is [B, 1] (what the explanation libraries expect of a regressor)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).reshape(-1, 1)


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W] (or [3, H, W]) in [0, 1], got {tuple(images.shape)}")
    return images


def grad_cam(model: nn.Module, images: torch.Tensor, sign: int = 1, layer: nn.Module | None = None) -> np.ndarray:
    """Positive (``sign=1``, eq. 3.7) or negative (``sign=-1``, eq. 3.9) Grad-CAM maps [B, H, W] in [0, 1]."""
    from pytorch_grad_cam import GradCAM

    if sign not in (1, -1):
        raise ValueError(f"sign must be 1 (what raises the score) or -1 (what lowers it), got {sign}")
    images = _check_images(images)
    model.eval()
    target: Callable[[torch.Tensor], torch.Tensor] = (lambda o: o[0]) if sign == 1 else (lambda o: -o[0])
    with GradCAM(_Score(model), target_layers=[layer or cam_layer(model)]) as cam:
        return cam(input_tensor=images, targets=[target] * len(images))


def guided_backprop(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Guided-backpropagation maps [B, H, W]: the largest absolute attribution over the colour channels."""
    from captum.attr import GuidedBackprop

    images = _check_images(images).clone().requires_grad_(True)
    model.eval()
    inplace = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]
    for m in inplace:  # captum's ReLU hooks cannot wrap in-place ReLUs
        m.inplace = False
    try:
        attribution = GuidedBackprop(_Score(model)).attribute(images, target=0)
    finally:
        for m in inplace:
            m.inplace = True
    return attribution.abs().amax(dim=1).detach().cpu().numpy()


def grid_segments(shape: tuple[int, int], grid: Grid = (3, 4)) -> np.ndarray:
    """Segment labels (H, W) of the grid blocks, row-major: a LIME segmentation aligned with the paper's regions."""
    labels = np.zeros(shape[:2], dtype=int)
    for k, (sy, sx) in enumerate(cell_slices(shape, grid)):
        labels[sy, sx] = k
    return labels


def lime_map(model: nn.Module, image: np.ndarray, segments: np.ndarray | None = None, num_samples: int = 500,
             batch_size: int = 64, seed: int = 0, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """LIME weights of an (H, W, 3) image in [0, 1]: per-pixel map (H, W) and per-segment weights.

    ``segments`` (H, W int labels) defaults to LIME's quickshift superpixels; hidden segments are filled with
    the image's mean colour, and the model's score (0-100) is the regression target.
    """
    from lime import lime_image

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) in [0, 1], got {image.shape}")
    model.eval().to(device)

    def predict(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).float().to(device)
        with torch.no_grad():
            return model(x).float().cpu().numpy()[:, None]

    kwargs = {} if segments is None else {"segmentation_fn": lambda _: np.asarray(segments)}
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    explanation = explainer.explain_instance(image, predict, labels=(0,), top_labels=None, hide_color=image.mean((0, 1)),
                                             num_samples=num_samples, batch_size=batch_size, random_seed=seed, **kwargs)
    labels = explanation.segments
    weights = np.zeros(labels.max() + 1)
    for segment, weight in explanation.local_exp[0]:
        weights[segment] = weight
    return weights[labels], weights


def triq_quality_attention(model, images: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """Attention [B, h, w] from TRIQ's quality token to the feature tokens (mean over heads) in ``layer``."""
    images = _check_images(images)
    model.eval()
    with torch.no_grad():
        fmap = model.feature_map(images)
        x = model.embed(fmap)
        index = range(len(model.layers))[layer]
        for block in model.layers[:index]:
            x = block(x)
        attn = model.layers[index].attn
        q, k = attn.split(attn.q(x)), attn.split(attn.k(x))
        weights = (q[:, :, :1] @ k.transpose(-1, -2) / attn.depth ** 0.5).softmax(-1)  # [B, H, 1, 1+T]
    return weights[:, :, 0, 1:].mean(1).reshape(len(images), *fmap.shape[-2:])


def triq_gradcam_attention(model, images: torch.Tensor) -> np.ndarray:
    """ICIP 2023 Fig. 1: TRIQ's backbone Grad-CAM times its quality-token attention, [B, H, W] scaled to [0, 1]."""
    images = _check_images(images)
    cam = torch.from_numpy(grad_cam(model, images))
    attention = triq_quality_attention(model, images)
    attention = F.interpolate(attention[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    combined = (cam * attention).numpy()
    top = combined.reshape(len(combined), -1).max(1)[:, None, None]
    return combined / np.where(top > 0, top, 1.0)
