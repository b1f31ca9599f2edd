"""Training losses and input augmentations, applied per batch on the trial's device."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from hpsearch.trainable._hparams import HParams

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# (x, y) -> (x', y_a, y_b, lam): the loss is lam * L(y_a) + (1 - lam) * L(y_b).
Augment = Callable[
    [torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]
]


def build_loss(hp: HParams, task: str) -> LossFn:
    """The training loss; ``loss_param`` is label smoothing or Huber's delta."""
    loss = hp.loss or ("cross_entropy" if task == "classification" else "mse")
    if loss == "cross_entropy":
        return F.cross_entropy
    if loss == "label_smoothing":
        return lambda out, y: F.cross_entropy(out, y, label_smoothing=hp.loss_param)
    if loss == "mse":
        return lambda out, y: F.mse_loss(out.squeeze(-1), y)
    if loss == "huber":
        return lambda out, y: F.huber_loss(out.squeeze(-1), y, delta=hp.loss_param)
    raise ValueError(f"unknown loss {loss!r} for {task}")


def _none(
    x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    return x, y, y, 1.0


def _per_image(
    transform: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...]
) -> Augment:
    """Apply ``transform`` to the batch viewed as (B, C, H, W) images."""

    def augment(
        x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        images = transform(x.view(x.shape[0], *shape))
        return images.reshape(x.shape[0], -1), y, y, 1.0

    return augment


def _affine(images: torch.Tensor, max_shift: float, max_degrees: float) -> torch.Tensor:
    """Per-image random translation (share of the side) and rotation (degrees)."""
    batch = images.shape[0]
    angle = (torch.rand(batch, device=images.device) * 2 - 1) * math.radians(max_degrees)
    # affine_grid works in [-1, 1] coordinates: a shift of s * side is 2 * s.
    shift = (torch.rand(batch, 2, device=images.device) * 2 - 1) * 2 * max_shift
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def _flip(images: torch.Tensor, p: float) -> torch.Tensor:
    flip = torch.rand(images.shape[0], device=images.device) < p
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def _cutout(images: torch.Tensor, share: float) -> torch.Tensor:
    """Blank one random square per image (side = share of the smaller image side)."""
    batch, _, height, width = images.shape
    side = max(1, round(share * min(height, width)))
    top = torch.randint(0, height - side + 1, (batch, 1, 1), device=images.device)
    left = torch.randint(0, width - side + 1, (batch, 1, 1), device=images.device)
    rows = torch.arange(height, device=images.device)[None, :, None]
    cols = torch.arange(width, device=images.device)[None, None, :]
    hole = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return images * (~hole)[:, None].to(images.dtype)


def build_augmentation(hp: HParams, input_shape: tuple[int, ...] | None = None) -> Augment:
    """The batch augmentation named by ``hp.augmentation``, applied on the trial's device.

    Image augmentations need ``input_shape`` (C, H, W). All randomness comes
    from torch's global generator, whose state the checkpoint saves, so a
    resumed trial draws the same augmentations.
    """
    strength = hp.augmentation_strength
    if hp.augmentation == "none" or strength <= 0:
        return _none
    if hp.augmentation in ("shift", "flip", "rotate", "cutout"):
        if input_shape is None:
            raise ValueError(f"augmentation {hp.augmentation!r} needs image-shaped data")
        image_ops: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
            "shift": lambda im: _affine(im, strength, 0.0),
            "rotate": lambda im: _affine(im, 0.0, strength),
            "flip": lambda im: _flip(im, strength),
            "cutout": lambda im: _cutout(im, strength),
        }
        return _per_image(image_ops[hp.augmentation], input_shape)
    if hp.augmentation == "noise":
        return lambda x, y: (x + strength * torch.randn_like(x), y, y, 1.0)
    if hp.augmentation == "feature_dropout":
        # Inverted dropout on inputs: drop whole features, keep the expected scale.
        keep = 1.0 - strength
        return lambda x, y: ((torch.rand_like(x) < keep) * x / keep, y, y, 1.0)
    if hp.augmentation == "mixup":
        beta = torch.distributions.Beta(torch.tensor(strength), torch.tensor(strength))

        def mixup(
            x: torch.Tensor, y: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
            lam = float(beta.sample())
            perm = torch.randperm(x.shape[0], device=x.device)
            return lam * x + (1.0 - lam) * x[perm], y, y[perm], lam

        return mixup
    raise ValueError(f"unknown augmentation {hp.augmentation!r}")
