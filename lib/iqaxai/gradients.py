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

from iqaxai.checks import check_images
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


def _batch(model: nn.Module, images: torch.Tensor, where: str) -> torch.Tensor:
    """Images [B, 3, H, W] in [0, 1] from a batch or one image [3, H, W], checked by :func:`check_images` and
    cast to the model's parameter dtype (float64 input is accepted)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor [B, 3, H, W] or [3, H, W], got {type(images).__name__}")
    images = check_images(images, where, "CHW")[None] if images.ndim == 3 else check_images(images, where)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), images.dtype)
    return images if images.dtype == dtype else images.to(dtype)


def _check_cam_map(map_shape: tuple[int, ...], image_shape: tuple[int, ...], layer: nn.Module) -> None:
    """Refuse a Grad-CAM whose target layer has a single position (its min-max scaled map is all zeros)."""
    if len(map_shape) == 4 and map_shape[-2] * map_shape[-1] < 2:
        raise ValueError(f"grad_cam: the target layer ({type(layer).__name__}) gives a {map_shape[-2]}x{map_shape[-1]} "
                         f"map for {image_shape[-2]}x{image_shape[-1]} images: one position, so the Grad-CAM map would be "
                         "constant (all zeros after scaling); use larger images or a layer with a finer map")


def grad_cam(model: nn.Module, images: torch.Tensor, sign: int = 1, layer: nn.Module | None = None) -> np.ndarray:
    """Positive (``sign=1``, eq. 3.7) or negative (``sign=-1``, eq. 3.9) Grad-CAM maps [B, H, W] in [0, 1].

    Images are [B, 3, H, W] or [3, H, W] in [0, 1]. A target layer whose map has one position for these
    images (e.g. 8x8 images through a stride-32 backbone) is refused: its map carries no spatial information.
    """
    from pytorch_grad_cam import GradCAM

    if sign not in (1, -1):
        raise ValueError(f"sign must be 1 (what raises the score) or -1 (what lowers it), got {sign}")
    images = _batch(model, images, "grad_cam(images)")
    model.eval()
    target_layer = layer or cam_layer(model)
    target: Callable[[torch.Tensor], torch.Tensor] = (lambda o: o[0]) if sign == 1 else (lambda o: -o[0])
    shapes: list[tuple[int, ...]] = []
    handle = target_layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(getattr(out, "shape", ()))))
    try:
        with GradCAM(_Score(model), target_layers=[target_layer]) as cam:
            maps = cam(input_tensor=images, targets=[target] * len(images))
    finally:
        handle.remove()
    if shapes:
        _check_cam_map(shapes[-1], tuple(images.shape), target_layer)
    return maps


def guided_backprop(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Guided-backpropagation maps [B, H, W]: the largest absolute attribution over the colour channels.

    Images are [B, 3, H, W] or [3, H, W] in [0, 1].
    """
    from captum.attr import GuidedBackprop

    images = _batch(model, images, "guided_backprop(images)").clone().requires_grad_(True)
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
    """LIME weights of an (H, W, 3) float image in [0, 1] (:func:`check_images`): per-pixel map (H, W) and
    per-segment weights.

    ``segments`` (H, W int labels) defaults to LIME's quickshift superpixels; hidden segments are filled with
    the image's mean colour, and the model's score (0-100) is the regression target.
    """
    from lime import lime_image

    image = check_images(np.asarray(image), "lime_map(image)", "HWC").astype(np.float64)
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
    images = _batch(model, images, "triq_quality_attention(images)")
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
    images = _batch(model, images, "triq_gradcam_attention(images)")
    cam = torch.from_numpy(grad_cam(model, images))
    attention = triq_quality_attention(model, images)
    attention = F.interpolate(attention[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    combined = (cam * attention).numpy()
    top = combined.reshape(len(combined), -1).max(1)[:, None, None]
    return combined / np.where(top > 0, top, 1.0)
