"""Visualising selected CNN feature maps ("What are we looking at?", section "What Features Play an Important Role
in Image Quality Assessment?", Figs 1-5).

A *layer model* is any ``torch.nn.Module`` (or callable) that maps RGB images [B, 3, H, W] in [0, 1] to the feature
maps [B, C, h, w] of one layer, doing its own input normalisation (``iqaxai.feature_maps`` builds them for
AlexNet/VGG16); a map is chosen by its ``channel`` index 0..C-1.

- **Activation maximisation** (Erhan et al. 2009, "Visualizing higher-layer features of a deep network"; the
  paper's Figs 2 and 5): :func:`activation_maximisation` / :func:`maximise_many` run gradient ascent on the input
  image to maximise the mean activation of a map, with the regularisers of Yosinski et al. 2015 ("Understanding
  neural networks through deep visualization"): L2 decay of the image, a Gaussian blur every few steps, and a
  random jitter (circular roll) of a few pixels at each step (the jitter of Mordvintsev et al. 2015,
  "Inceptionism", used alongside those regularisers). The image is optimised directly in pixel space and
  projected back onto [0, 1] (clamped) after every step, so it is always a valid image.
- **Where a map responds in one image** (the paper's Figs 1 and 4): the paper uses DeepVis, citing the
  prediction difference analysis of Zintgraf et al. 2017, which marginalises each patch over samples of a
  conditional image model. That is *approximated here by occlusion* (Zeiler & Fergus 2014, "Visualizing and
  understanding convolutional networks"): :func:`feature_occlusion` replaces one patch at a time by a fill and
  records the drop of the map's mean activation, averaged over the windows covering each pixel
  (``captum.attr.Occlusion``); one fill instead of many conditional samples, so no generative model is needed.
- **Which layers the selected maps come from** (the paper's Fig. 5 discussion, "most of the feature maps are
  extracted from the deep layers"): :func:`plot_layer_histogram`.

NetDissect (Bau et al. 2017; the paper's Fig. 3) is left out: it needs the densely labelled Broden data set,
which is not available offline.

Activation maximisation is written by hand rather than with torch-lucent: the registry's torch-lucent 0.1.8
(May 2021, the newest there) pins ``kornia<=0.4.1`` and lists pytest, coveralls, ipython and scikit-learn as run-time
requirements; it does run under torch 2.x when installed without its requirements, but its ``render_vis`` hooks
layers by module name, normalises for ImageNet itself, upsamples to 224 px and uses its own transform stack
(pad, jitter, scale, rotate) and Fourier/decorrelated parametrisation (Olah et al. 2017), not the regularisers of
Yosinski et al. that the paper's method follows. The loop below is about 40 lines and deterministic for a seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from iqaxai.checks import check_images
from iqaxai.perturbation import evaluating, gaussian_blur
from iqaxai.plots import colorbar, image_grid, integer_ticks, shared_limits

__all__ = [
    "AM_DEFAULTS",
    "FILLS",
    "activation_maximisation",
    "feature_occlusion",
    "map_activation",
    "maximise_many",
    "plot_layer_histogram",
    "plot_maps_gallery",
    "plot_occlusion_maps",
]

#: Defaults of :func:`maximise_many`. Yosinski et al. 2015 found several useful settings of their regularisers
#: by random search (decay, blur width, blur every few steps) rather than one best one; these are of that kind,
#: with Adam (Kingma & Ba 2015) in place of their plain gradient step so that one step size (``lr``, in units of
#: pixel value per step) serves every layer whatever its activation scale. ``noise``: standard deviation of the
#: seeded Gaussian noise added to the mid-grey start image.
AM_DEFAULTS: dict[str, object] = {
    "size": (128, 128), "steps": 200, "lr": 0.05, "jitter": 4, "blur_every": 4, "blur_sigma": 0.5,
    "l2": 1e-4, "noise": 0.02,
}

#: Fills of :func:`feature_occlusion`: the image's mean colour, black (0), or a Gaussian-blurred copy.
FILLS = ("mean", "black", "blur")


# ---------------------------------------------------------------------------------------------- checks


def _int(value, name: str, low: int) -> int:
    """``value`` as an int >= ``low``, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _positive(value, name: str) -> float:
    """``value`` as a finite float > 0, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _pair(value, name: str) -> tuple[int, int]:
    """(rows, cols) from an int or a pair of ints, each >= 1."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return _int(pair[0], name, 1), _int(pair[1], name, 1)


def _check_model(layer_model, where: str) -> None:
    """Refuse something that cannot be called as a layer model."""
    if not callable(layer_model):
        raise TypeError(f"{where}: expected a layer model (a torch.nn.Module mapping images [B, 3, H, W] to "
                        f"feature maps [B, C, h, w]), got {type(layer_model).__name__}")


def _model_dtype(layer_model) -> torch.dtype:
    """The floating dtype of the layer model's parameters (float32 when it has none)."""
    params = getattr(layer_model, "parameters", None)
    for p in (params() if callable(params) else ()):
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _features(layer_model, images: torch.Tensor, where: str) -> torch.Tensor:
    """The layer model's output for ``images``, checked to be feature maps [B, C, h, w]."""
    out = layer_model(images)
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != images.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{where}: the layer model must return feature maps [B, C, h, w] with B = "
                         f"{images.shape[0]}, got {shape}")
    return out


def _check_channels(channels: Sequence[int], n_maps: int, where: str) -> None:
    """Every channel an int in 0..n_maps-1, else a ValueError naming the first bad one."""
    for c in channels:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < n_maps:
            raise ValueError(f"{where}: channel {c!r} is out of range: the layer has {n_maps} feature maps, "
                             f"so a channel must be an int in 0..{n_maps - 1}")


def _one_image(image, where: str, dtype: torch.dtype) -> torch.Tensor:
    """One RGB image (tensor [3, H, W] or [1, 3, H, W], or numpy (H, W, 3)) as a checked [1, 3, H, W] tensor."""
    if isinstance(image, np.ndarray):
        check_images(image, where, "HWC")
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(dtype)
    if isinstance(image, torch.Tensor) and image.dim() == 4:
        check_images(image, where, "BCHW")
        if image.shape[0] != 1:
            raise ValueError(f"{where}: expected one image, got a batch of {image.shape[0]}")
        return image.to(dtype)
    check_images(image, where, "CHW")
    return image[None].to(dtype)


# ------------------------------------------------------------------------------- activation maximisation


def map_activation(layer_model, images, channel: int) -> np.ndarray:
    """Mean activation [B] of feature map ``channel`` for images [B, 3, H, W] in [0, 1] (no gradients)."""
    where = "map_activation(images)"
    _check_model(layer_model, where)
    images = torch.as_tensor(images) if isinstance(images, np.ndarray) else images
    check_images(images, where, "BCHW")
    with evaluating(layer_model):
        out = _features(layer_model, images.to(_model_dtype(layer_model)), where)
        _check_channels([channel], out.shape[1], where)
        return out[:, int(channel)].mean((-2, -1)).double().cpu().numpy()


def maximise_many(layer_model, channels: Sequence[int], *, size: int | tuple[int, int] = (128, 128),
                  steps: int = 200, lr: float = 0.05, jitter: int = 4, blur_every: int = 4, blur_sigma: float = 0.5,
                  l2: float = 1e-4, noise: float = 0.02, seed: int = 0, device: str | torch.device = "cpu"
                  ) -> np.ndarray:
    """Activation-maximisation images (N, H, W, 3) in [0, 1], one per channel, optimised together in one batch.

    Image k maximises the mean activation of map ``channels[k]`` (the loss is the sum over images of each
    image's own map's mean, so the images do not interact). Each step: roll the batch by one random offset in
    ``-jitter..jitter`` pixels per axis (the same offset for every image; the gradient flows back through the
    roll), Adam step of size ``lr`` up the gradient, L2 decay towards mid-grey (``x <- 0.5 + (1 - l2)(x - 0.5)``;
    mid-grey is about the ImageNet mean, the zero of the normalised input that Yosinski et al. decay towards),
    every ``blur_every`` steps a Gaussian blur of ``blur_sigma`` px (0 = never), then clamp to [0, 1]. All
    images start from the same mid-grey image plus seeded noise of std ``noise``, and the jitter offsets come
    from the same seed, so an image does not depend on which other maps are optimised with it: it equals
    :func:`activation_maximisation` of its channel up to float round-off of the batched forward pass.
    The layer model must live on ``device``; it is put in eval mode during the run (its flag restored after).
    """
    where = "maximise_many"
    _check_model(layer_model, where)
    channels = list(np.atleast_1d(np.asarray(channels, dtype=object)).ravel())
    if not channels:
        raise ValueError(f"{where}: channels is empty; give at least one feature-map index")
    h, w = _pair(size, "size")
    steps, jitter = _int(steps, "steps", 1), _int(jitter, "jitter", 0)
    blur_every, seed = _int(blur_every, "blur_every", 0), _int(seed, "seed", 0)
    lr, blur_sigma = _positive(lr, "lr"), _positive(blur_sigma, "blur_sigma")
    if isinstance(l2, bool) or not isinstance(l2, (int, float, np.number)) or not 0 <= l2 < 1:
        raise ValueError(f"l2 must be a number in [0, 1) (the share of the image's deviation from grey removed "
                         f"per step), got {l2!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.number)) or not 0 <= noise < math.inf:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")

    dtype = _model_dtype(layer_model)
    gen = torch.Generator().manual_seed(seed)
    start = (0.5 + noise * torch.randn(1, 3, h, w, generator=gen, dtype=torch.float64)).clamp(0, 1)
    offsets = torch.randint(-jitter, jitter + 1, (steps, 2), generator=gen).tolist()
    n = len(channels)
    x = start.to(device, dtype).repeat(n, 1, 1, 1).requires_grad_(True)
    rows = torch.arange(n, device=device)
    with evaluating(layer_model, no_grad=False):
        with torch.no_grad():
            out = _features(layer_model, x[:1], where)
        _check_channels(channels, out.shape[1], where)
        chosen = torch.as_tensor([int(c) for c in channels], device=device)
        optimiser = torch.optim.Adam([x], lr=lr)
        moved = torch.zeros(n, dtype=torch.bool, device=device)
        for step, (dy, dx) in enumerate(offsets):
            shifted = torch.roll(x, (dy, dx), (-2, -1)) if (dy or dx) else x
            maps = _features(layer_model, shifted, where)
            objective = maps[rows, chosen].mean((-2, -1)).sum()
            (grad,) = torch.autograd.grad(objective, x)  # not .backward(): no gradients pile up in the model
            moved |= grad.flatten(1).abs().amax(1) > 0
            x.grad = -grad  # the optimiser descends; we ascend
            optimiser.step()
            with torch.no_grad():
                if l2:
                    x.sub_(0.5).mul_(1.0 - l2).add_(0.5)
                if blur_every and (step + 1) % blur_every == 0:
                    x.copy_(gaussian_blur(x, blur_sigma))
                x.clamp_(0.0, 1.0)
    if not moved.all():
        dead = [channels[k] for k in torch.nonzero(~moved).flatten().tolist()]
        warnings.warn(f"{where}: feature map(s) {dead} never had a gradient (inactive, e.g. ReLU-dead, on every "
                      "jittered image), so their images are the start image; try a larger noise or another seed",
                      RuntimeWarning, stacklevel=2)
    return x.detach().permute(0, 2, 3, 1).to("cpu", torch.float32).numpy()


def activation_maximisation(layer_model, channel: int, *, size: int | tuple[int, int] = (128, 128),
                            steps: int = 200, lr: float = 0.05, jitter: int = 4, blur_every: int = 4,
                            blur_sigma: float = 0.5, l2: float = 1e-4, noise: float = 0.02, seed: int = 0,
                            device: str | torch.device = "cpu") -> np.ndarray:
    """Activation-maximisation image (H, W, 3) in [0, 1] of feature map ``channel`` (see :func:`maximise_many`)."""
    return maximise_many(layer_model, [channel], size=size, steps=steps, lr=lr, jitter=jitter,
                         blur_every=blur_every, blur_sigma=blur_sigma, l2=l2, noise=noise, seed=seed,
                         device=device)[0]


# ------------------------------------------------------------------------------------------- occlusion


def _channel_mean(layer_model, channel: int, where: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Forward function for captum: images [N, 3, H, W] -> mean activation [N] of map ``channel``."""
    def forward(images: torch.Tensor) -> torch.Tensor:
        return _features(layer_model, images, where)[:, channel].mean((-2, -1))
    return forward


def feature_occlusion(layer_model, image, channel: int, *, patch: int | tuple[int, int] = 15,
                      stride: int | tuple[int, int] = 5, fill: str = "mean", blur_sigma: float | None = None,
                      batch_size: int = 64) -> np.ndarray:
    """Occlusion map (H, W): per pixel, the mean drop of map ``channel``'s mean activation over the windows
    covering it when the window is replaced by ``fill``; positive where the map responded to what was there.

    ``image`` is one RGB image in [0, 1] (tensor [3, H, W] or numpy (H, W, 3)). Windows of ``patch`` px slide
    with ``stride`` px over all three colour channels together (``captum.attr.Occlusion`` with
    ``sliding_window_shapes=(3, *patch)``, ``strides=(3, *stride)``; where the image side minus the patch is not
    a multiple of the stride the last window is cut off at the edge, so every pixel is covered). ``fill``:
    ``"mean"`` the image's mean colour, ``"black"`` 0, ``"blur"`` the pixels of a Gaussian-blurred copy
    (``blur_sigma`` px, default ``max(patch) / 3``). ``batch_size`` perturbed images go through the layer model
    per forward pass (captum's ``perturbations_per_eval``). The image is cast to the layer model's dtype.
    """
    from captum.attr import Occlusion

    where = "feature_occlusion"
    _check_model(layer_model, where)
    if fill not in FILLS:
        raise ValueError(f"{where}: fill must be one of {FILLS}, got {fill!r}")
    (ph, pw), (sh, sw) = _pair(patch, "patch"), _pair(stride, "stride")
    batch_size = _int(batch_size, "batch_size", 1)
    dtype = _model_dtype(layer_model)
    x = _one_image(image, f"{where}(image)", dtype)
    h, w = x.shape[-2:]
    if ph > h or pw > w:
        raise ValueError(f"{where}: patch {(ph, pw)} is larger than the image {(h, w)}")
    if (sh > ph and ph < h) or (sw > pw and pw < w):
        raise ValueError(f"{where}: stride {(sh, sw)} is larger than the patch {(ph, pw)}: pixels between "
                         "windows would be left uncovered")
    if fill == "mean":
        baseline = x.mean((-2, -1), keepdim=True).expand_as(x).contiguous()
    elif fill == "black":
        baseline = torch.zeros_like(x)
    else:
        sigma = _positive(blur_sigma, "blur_sigma") if blur_sigma is not None else max(ph, pw) / 3.0
        baseline = gaussian_blur(x, sigma)
    with evaluating(layer_model):
        n_maps = _features(layer_model, x, where).shape[1]
        _check_channels([channel], n_maps, where)
        occlusion = Occlusion(_channel_mean(layer_model, int(channel), where))
        attribution = occlusion.attribute(x, sliding_window_shapes=(3, ph, pw), strides=(3, sh, sw),
                                          baselines=baseline, perturbations_per_eval=batch_size)
    # The same window covers all three colour channels, so the three channel maps are equal.
    return attribution[0, 0].detach().to("cpu", torch.float64).numpy()


# ---------------------------------------------------------------------------------------------- figures


def plot_layer_histogram(ax, layers: Sequence[int], n_layers: int, label: str | None = None, *,
                         width: float = 0.8, offset: float = 0.0, **bar_kwargs) -> np.ndarray:
    """Bar chart of how many selected maps come from each conv layer 1..``n_layers``; returns the counts.

    ``layers`` holds the 1-based layer number of every selected map. Every layer gets a tick, empty ones a
    zero bar; ``width`` and ``offset`` (in layers) place several series (e.g. data sets, each with a
    ``label``) side by side on one axis.
    """
    n_layers = _int(n_layers, "n_layers", 1)
    values = np.asarray(layers).ravel()
    if values.size and (not np.issubdtype(values.dtype, np.integer) or values.min() < 1
                        or values.max() > n_layers):
        raise ValueError(f"plot_layer_histogram: layers must be 1-based layer numbers in 1..{n_layers}, got "
                         f"values in [{values.min()!r}, {values.max()!r}] (dtype {values.dtype})")
    counts = np.bincount(values.astype(int) - 1, minlength=n_layers) if values.size else np.zeros(n_layers, int)
    numbers = np.arange(1, n_layers + 1)
    ax.bar(numbers + offset, counts, width=width, label=label, **bar_kwargs)
    ax.set_xticks(numbers)
    integer_ticks(ax, "y")
    ax.set_xlabel("convolutional layer")
    ax.set_ylabel("selected feature maps")
    if label is not None:
        ax.legend(fontsize=8, frameon=False)
    return counts


def plot_maps_gallery(images, titles: Sequence[str], *, cols: int = 5, size: float = 2.6,
                      suptitle: str | None = None):
    """Figure of RGB images (N, H, W, 3) in [0, 1] (e.g. activation-maximisation images), one titled panel each."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"plot_maps_gallery(images): expected RGB images (N, H, W, 3), got shape {images.shape}")
    for k, img in enumerate(images):
        check_images(img, f"plot_maps_gallery(images[{k}])", "HWC")
    if len(titles) != len(images):
        raise ValueError(f"plot_maps_gallery: {len(images)} images but {len(titles)} titles")
    fig, axes = image_grid(len(images), _int(cols, "cols", 1), size)
    for ax, img, title in zip(axes, images, titles):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def plot_occlusion_maps(image, maps, titles: Sequence[str], *, cols: int = 5, size: float = 2.6,
                        alpha: float = 0.6, cmap: str = "RdBu_r", label: str = "drop of mean activation",
                        image_title: str = "image"):
    """Figure of ``image`` and each occlusion map (N, H, W) over a grey copy of it, on one symmetric scale with
    one colour bar (red: the map responded to what was there, as the paper's red pixels)."""
    img = np.asarray(image.permute(1, 2, 0).cpu() if isinstance(image, torch.Tensor) else image)
    check_images(img, "plot_occlusion_maps(image)", "HWC")
    maps = np.asarray(maps, dtype=float)
    maps = maps[None] if maps.ndim == 2 else maps
    if maps.ndim != 3 or maps.shape[1:] != img.shape[:2]:
        raise ValueError(f"plot_occlusion_maps(maps): expected maps (N, {img.shape[0]}, {img.shape[1]}) matching "
                         f"the image, got shape {maps.shape}")
    if not np.isfinite(maps).all():
        raise ValueError("plot_occlusion_maps(maps): maps contain NaN or infinite values")
    if len(titles) != len(maps):
        raise ValueError(f"plot_occlusion_maps: {len(maps)} maps but {len(titles)} titles")
    fig, axes = image_grid(len(maps) + 1, _int(cols, "cols", 1), size)
    axes = list(axes)
    axes[0].imshow(img)
    axes[0].set_title(image_title, fontsize=8)
    grey = np.repeat((img @ np.array([0.299, 0.587, 0.114]))[..., None], 3, axis=-1)  # RGB: no colour map
    limits = shared_limits(maps, symmetric=True)
    artist = None
    for ax, m, title in zip(axes[1:], maps, titles):
        ax.imshow(grey)
        artist = ax.imshow(m, cmap=cmap, alpha=alpha, **limits)
        ax.set_title(title, fontsize=8)
    colorbar(artist, axes[1:len(maps) + 1], label)
    return fig
