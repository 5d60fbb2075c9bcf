"""Offline image data for the vision chapters (7 ViT, 8 Swin, 9 CLIP, 10 MAE).

- :func:`load_digits`: scikit-learn's 1 797 real handwritten digits (8×8, shipped with
  scikit-learn, no download), scaled to [0, 1], optionally resized, split train/test;
- :func:`make_shapes`: procedurally drawn coloured shapes with captions
  ("a small red circle in the top left"), deterministic per seed, at any resolution,
  vectorised (thousands of images per second);
- :func:`torchvision_dataset`: MNIST / Fashion-MNIST / CIFAR-10 through torchvision, only
  with an explicit ``download=True``; offline it fails at once and names the offline
  alternative.
"""

from __future__ import annotations

import os
import socket
from typing import NamedTuple, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

Device = Optional[Union[str, torch.device]]


# ------------------------------------------------------------------------------ digits


class ImageSplit(NamedTuple):
    """A train/test split: images (N, C, H, W) float in [0, 1] and labels (N,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_digits(size: int = 8, seed: int = 0, test_fraction: float = 0.25, device: Device = None) -> ImageSplit:
    """scikit-learn's handwritten digits as tensors, resized to ``size × size``.

    The 1 797 images are 8×8 with ink values 0..16; they are divided by 16 so pixels lie in
    [0, 1], resized (bilinear, antialiased when shrinking) when ``size != 8``, and split
    into train/test stratified by class (``seed`` picks the split).

    Returns ImageSplit(x_train (N_train, 1, size, size), y_train (N_train,),
    x_test (N_test, 1, size, size), y_test (N_test,)), labels 0..9.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    if not isinstance(size, int) or isinstance(size, bool) or size < 2:
        raise ValueError(f"size must be an int ≥ 2 (pixels per side); got {size!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}")
    digits = sk_load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    y = torch.tensor(digits.target, dtype=torch.int64)  # (1797,)
    if size != 8:
        x = resize_images(x, size)
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    train_idx, test_idx = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    return ImageSplit(x[train_idx].to(device), y[train_idx].to(device), x[test_idx].to(device), y[test_idx].to(device))


def resize_images(x: Tensor, size: int) -> Tensor:
    """Bilinear resize of (N, C, H, W) images to (N, C, size, size), clamped to [0, 1]."""
    if x.dim() != 4:
        raise ValueError(f"x must be (N, C, H, W); got shape {tuple(x.shape)}")
    shrinking = size < min(x.shape[-2:])
    out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)
    return out.clamp_(0.0, 1.0)


# ------------------------------------------------------------------------------ shapes

SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
COLOUR_NAMES: tuple[str, ...] = ("red", "green", "blue", "yellow", "magenta", "cyan")
SIZE_NAMES: tuple[str, ...] = ("small", "large")
POSITION_NAMES: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right")
ATTRIBUTE_NAMES: dict[str, tuple[str, ...]] = {
    "shape": SHAPE_NAMES,
    "colour": COLOUR_NAMES,
    "size": SIZE_NAMES,
    "position": POSITION_NAMES,
}
DEFAULT_TEMPLATE = "a {size} {colour} {shape} in the {position}"

_RGB = torch.tensor(
    [
        [0.95, 0.15, 0.15],  # red
        [0.15, 0.80, 0.20],  # green
        [0.20, 0.35, 1.00],  # blue
        [1.00, 0.90, 0.15],  # yellow
        [0.90, 0.20, 0.90],  # magenta
        [0.15, 0.90, 0.95],  # cyan
    ]
)
_RADIUS = (0.13, 0.21)  # half-extent of small / large shapes, as a fraction of the side
_QUADRANT_CENTRE = (0.28, 0.72)  # centre of the left/top and right/bottom quadrants


class Shapes(NamedTuple):
    """Drawn shapes: images (N, 3, H, W) in [0, 1], one caption per image, and the attributes
    that generated it: ``attributes[k]`` is an int64 tensor (N,) indexing ``ATTRIBUTE_NAMES[k]``
    for k in "shape", "colour", "size", "position"."""

    images: Tensor
    captions: list[str]
    attributes: dict[str, Tensor]


def make_shapes(
    n: int,
    size: int = 32,
    seed: int = 0,
    *,
    template: str = DEFAULT_TEMPLATE,
    jitter: float = 0.04,
    noise: float = 0.0,
    supersample: int = 4,
    device: Device = None,
) -> Shapes:
    """``n`` images of one coloured shape on black, with captions, deterministic per ``seed``.

    Each image draws shape ∈ SHAPE_NAMES, colour ∈ COLOUR_NAMES, size ∈ SIZE_NAMES and
    position ∈ POSITION_NAMES (a quadrant) uniformly; the centre is jittered by up to
    ``jitter`` (fraction of the side). Shapes are drawn on a ``supersample``-times finer grid
    and average-pooled (anti-aliased edges); ``noise`` adds N(0, noise²) pixel noise.
    Captions fill ``template`` (keys {shape} {colour} {size} {position}).

    Returns Shapes(images (n, 3, size, size), captions list[str] of length n,
    attributes {"shape", "colour", "size", "position"}: int64 (n,)).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be an int ≥ 0 (number of images); got {n!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 4:
        raise ValueError(f"size must be an int ≥ 4 (pixels per side); got {size!r}")
    if not isinstance(supersample, int) or supersample < 1:
        raise ValueError(f"supersample must be an int ≥ 1; got {supersample!r}")
    # one row of 6 uniforms per image, so make_shapes(m, seed=s) is a prefix of make_shapes(n, seed=s)
    u = torch.rand(n, 6, generator=torch.Generator().manual_seed(seed))
    attrs = {k: (u[:, j] * len(names)).long() for j, (k, names) in enumerate(ATTRIBUTE_NAMES.items())}
    radius = torch.tensor(_RADIUS)[attrs["size"]]  # (n,)
    quad = torch.tensor(_QUADRANT_CENTRE)
    cx = quad[attrs["position"] % 2] + jitter * (2 * u[:, 4] - 1)
    cy = quad[attrs["position"] // 2] + jitter * (2 * u[:, 5] - 1)
    cx, cy = cx.clamp(radius, 1 - radius), cy.clamp(radius, 1 - radius)
    pixel_noise = (
        torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed + 1)) if noise > 0 else None
    )

    masks = torch.empty(n, size, size)
    for start in range(0, n, 512):  # chunks bound the memory of the fine grid
        sl = slice(start, start + 512)
        masks[sl] = _draw_masks(attrs["shape"][sl], cx[sl], cy[sl], radius[sl], size, supersample)
    images = masks.unsqueeze(1) * _RGB[attrs["colour"]][:, :, None, None]  # (n, 3, H, W)
    if pixel_noise is not None:
        images = (images + noise * pixel_noise).clamp_(0.0, 1.0)
    captions = [template.format(**{k: ATTRIBUTE_NAMES[k][int(attrs[k][i])] for k in ATTRIBUTE_NAMES}) for i in range(n)]
    return Shapes(images.to(device), captions, {k: v.to(device) for k, v in attrs.items()})


_SHAPE_TESTS = {  # (dx, dy) in units of the radius, y pointing down → bool "pixel is inside"
    "circle": lambda dx, dy: dx**2 + dy**2 <= 1.0,
    "square": lambda dx, dy: (dx.abs() <= 0.85) & (dy.abs() <= 0.85),
    "triangle": lambda dx, dy: (dy <= 0.8) & (dx.abs() <= (dy + 1.0) * 0.58),  # apex up
    "diamond": lambda dx, dy: dx.abs() + dy.abs() <= 1.1,
    "cross": lambda dx, dy: ((dx.abs() <= 0.3) & (dy.abs() <= 1.0)) | ((dy.abs() <= 0.3) & (dx.abs() <= 1.0)),
}


def _draw_masks(shape: Tensor, cx: Tensor, cy: Tensor, r: Tensor, size: int, ss: int) -> Tensor:
    """Coverage in [0, 1] of each image's shape: (n,) attributes → (n, size, size)."""
    fine = size * ss
    coords = (torch.arange(fine) + 0.5) / fine  # pixel centres
    dx = (coords[None, None, :] - cx[:, None, None]) / r[:, None, None]  # (n, 1, F)
    dy = (coords[None, :, None] - cy[:, None, None]) / r[:, None, None]  # (n, F, 1)
    inside = torch.zeros(len(shape), fine, fine, dtype=torch.bool)
    for k, name in enumerate(SHAPE_NAMES):
        rows = shape == k
        if rows.any():
            inside[rows] = _SHAPE_TESTS[name](dx[rows], dy[rows])
    return F.avg_pool2d(inside.float().unsqueeze(1), ss).squeeze(1)  # (n, H, W)


# ------------------------------------------------------------------------------ torchvision

_TORCHVISION = {
    "mnist": ("MNIST", "yann.lecun.com"),
    "fashion-mnist": ("FashionMNIST", "fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
    "cifar10": ("CIFAR10", "www.cs.toronto.edu"),
}
_OFFLINE_ALTERNATIVE = (
    "course_lib.data.load_digits(size=28) (real handwritten digits shipped "
    "with scikit-learn) or course_lib.data.make_shapes(n, size=32) (drawn "
    "coloured shapes)"
)


def _online(host: str, timeout: float = 2.0) -> bool:
    """Whether a TCP connection to ``host``:443 opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def torchvision_dataset(name: str, root: str = "data", download: bool = False, train: bool = True):
    """MNIST, Fashion-MNIST or CIFAR-10 from torchvision, as a Dataset of (image (C, H, W)
    in [0, 1], label) pairs.

    Nothing is downloaded unless ``download=True``. Without the files in ``root``, or offline,
    this raises at once (no long network timeouts) and names the offline alternative.
    """
    import torchvision
    from torchvision import transforms

    key = name.lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in _TORCHVISION:
        raise ValueError(f"name must be one of {sorted(_TORCHVISION)}; got {name!r}")
    cls_name, host = _TORCHVISION[key]
    cls = getattr(torchvision.datasets, cls_name)
    try:  # files already in root: no network needed
        return cls(root, train=train, download=False, transform=transforms.ToTensor())
    except RuntimeError:
        pass
    if not download:
        raise FileNotFoundError(
            f"{name} is not in {os.path.abspath(root)!r}; pass download=True to fetch it "
            f"(needs internet), or use the offline alternative {_OFFLINE_ALTERNATIVE}"
        )
    if not _online(host):
        raise ConnectionError(
            f"cannot download {name}: {host} is unreachable (offline?). Use the offline "
            f"alternative {_OFFLINE_ALTERNATIVE}"
        )
    return cls(root, train=train, download=True, transform=transforms.ToTensor())


__all__ = [
    "ImageSplit",
    "load_digits",
    "resize_images",
    "Shapes",
    "make_shapes",
    "SHAPE_NAMES",
    "COLOUR_NAMES",
    "SIZE_NAMES",
    "POSITION_NAMES",
    "ATTRIBUTE_NAMES",
    "DEFAULT_TEMPLATE",
    "torchvision_dataset",
]
