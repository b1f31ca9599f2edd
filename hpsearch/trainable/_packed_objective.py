"""A pack's training losses and input augmentations: each member's own, in one batched call.

The counterparts of :func:`build_loss` and :func:`build_augmentation` for
(members, rows, ...) batches. The loss kind and parameter, and the augmentation
strength, are per member; the augmentation kind is shared by the pack.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from hpsearch.trainable._hparams import HParams

# (out (K, B, C), y (K, B)) -> each member's mean loss (K,)
PackedLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# (x (K, B, F), y (K, B)) -> (x', y_a, y_b, lam (K,)): member k's loss is
# lam_k * L(y_a) + (1 - lam_k) * L(y_b).
PackedAugment = Callable[
    [torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
]

_CLASSIFICATION = ("cross_entropy", "label_smoothing")
_REGRESSION = ("mse", "huber")


class _PerDevice:
    """Per-member constants, copied once to each device they are used on (not once a batch)."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)
        self._tensors: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def on(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.device, like.dtype)
        if key not in self._tensors:
            self._tensors[key] = torch.tensor(self.values, dtype=like.dtype, device=like.device)
        return self._tensors[key]


def packed_loss(hps: Sequence[HParams], task: str) -> PackedLoss:
    """Each member's ``build_loss(hp, task)``, as a (K,) tensor of batch means."""
    kinds = [hp.loss or ("cross_entropy" if task == "classification" else "mse") for hp in hps]
    allowed = _CLASSIFICATION if task == "classification" else _REGRESSION
    for kind in kinds:
        if kind not in allowed:
            raise ValueError(f"unknown loss {kind!r} for {task}")
    if task == "classification":
        smoothing = [
            hp.loss_param if kind == "label_smoothing" else 0.0
            for hp, kind in zip(hps, kinds, strict=True)
        ]
        return _cross_entropy(smoothing)
    huber = [kind == "huber" for kind in kinds]
    return _regression(huber, [hp.loss_param for hp in hps])


def _cross_entropy(smoothing: list[float]) -> PackedLoss:
    """torch's cross-entropy with label smoothing eps:
    (1 - eps) * mean(nll) + eps / C * mean(-sum_c log p_c)."""
    eps = _PerDevice(smoothing)
    smoothed = any(e != 0 for e in smoothing)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(out, dim=-1)
        nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(1)
        if not smoothed:
            return nll
        e = eps.on(nll)
        uniform = -logp.sum(-1).mean(1)
        return (1 - e) * nll + uniform * (e / out.shape[-1])

    return loss


def _regression(huber: list[bool], deltas: list[float]) -> PackedLoss:
    """mse, or Huber with delta = loss_param, per member."""
    is_huber = _PerDevice([float(h) for h in huber])
    delta = _PerDevice(deltas)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        diff = out.squeeze(-1) - y
        if not any(huber):
            return diff.square().mean(1)
        d = delta.on(diff)[:, None]
        size = diff.abs()
        robust = torch.where(size < d, 0.5 * diff.square(), d * (size - 0.5 * d)).mean(1)
        if all(huber):
            return robust
        return torch.where(is_huber.on(robust) > 0, robust, diff.square().mean(1))

    return loss


def _identity(
    x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return x, y, y, torch.ones(x.shape[0], dtype=x.dtype, device=x.device)


def packed_augmentation(
    hps: Sequence[HParams], input_shape: tuple[int, ...] | None = None
) -> PackedAugment:
    """Each member's ``build_augmentation(hp, input_shape)`` on its own rows, in one call.

    The kind is ``hps[0].augmentation`` (shared); a member of strength <= 0 is left
    unchanged with lam 1. Randomness comes from torch's global generator.
    """
    kind = hps[0].augmentation
    strengths = [max(0.0, hp.augmentation_strength) for hp in hps]
    if kind == "none" or not any(s > 0 for s in strengths):
        return _identity
    strength = _PerDevice(strengths)
    if kind in ("shift", "flip", "rotate", "cutout"):
        if input_shape is None:
            raise ValueError(f"augmentation {kind!r} needs image-shaped data")
        return _images(kind, strength, _cutout_sides(strengths, input_shape), input_shape)
    if kind == "noise":
        return lambda x, y: (x + strength.on(x)[:, None, None] * torch.randn_like(x), *_plain(x, y))
    if kind == "feature_dropout":
        return lambda x, y: (_feature_dropout(x, strength.on(x)), *_plain(x, y))
    if kind == "mixup":
        return lambda x, y: _mixup(x, y, strength.on(x))
    raise ValueError(f"unknown augmentation {kind!r}")


def _plain(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return y, y, torch.ones(x.shape[0], dtype=x.dtype, device=x.device)


def _feature_dropout(x: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Inverted dropout on inputs at each member's rate (rate 0: unchanged)."""
    keep = (1.0 - strength)[:, None, None]
    return (torch.rand_like(x) < keep) * x / keep


def _mixup(
    x: torch.Tensor, y: torch.Tensor, strength: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """lam_k ~ Beta(s_k, s_k) and a permutation of its own rows per member (s_k = 0: lam 1)."""
    active = strength > 0
    concentration = torch.where(active, strength, torch.ones_like(strength))
    sample = torch.distributions.Beta(concentration, concentration).sample()
    lam = torch.where(active, sample, torch.ones_like(sample))
    perm = torch.argsort(torch.rand(y.shape, device=x.device), dim=1)
    partner = x.gather(1, perm.unsqueeze(-1).expand_as(x))
    scale = lam[:, None, None]
    y_b = torch.where(active[:, None], y.gather(1, perm), y)  # strength 0: y_b is y, as unpacked
    return scale * x + (1.0 - scale) * partner, y, y_b, lam


def _cutout_sides(strengths: list[float], shape: tuple[int, ...]) -> _PerDevice:
    """Each member's cutout side, as build_augmentation rounds it (0: no cutout)."""
    smaller = min(shape[-2:])
    return _PerDevice([max(1, round(s * smaller)) if s > 0 else 0 for s in strengths])


def _images(
    kind: str, strength: _PerDevice, sides: _PerDevice, shape: tuple[int, ...]
) -> PackedAugment:
    """An image augmentation with per-row strength, on the batch viewed as (K*B, C, H, W)."""

    def augment(
        x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        k, b = x.shape[:2]
        images = x.reshape(k * b, *shape)
        rows = strength.on(x).repeat_interleave(b)
        if kind == "flip":
            out = _flip(images, rows)
        elif kind == "cutout":
            out = _cutout(images, sides.on(x).repeat_interleave(b))
        else:
            zero = torch.zeros_like(rows)
            affine = _affine(images, rows, zero) if kind == "shift" else _affine(images, zero, rows)
            # A strength-0 member is exactly unchanged, not resampled through the identity grid.
            out = torch.where((rows > 0)[:, None, None, None], affine, images)
        return out.reshape(x.shape), *_plain(x, y)

    return augment


def _affine(
    images: torch.Tensor, max_shift: torch.Tensor, max_degrees: torch.Tensor
) -> torch.Tensor:
    """Per-image random translation (share of the side) and rotation (degrees), per-row limits."""
    batch = images.shape[0]
    angle = (torch.rand(batch, device=images.device) * 2 - 1) * (max_degrees * (math.pi / 180))
    # affine_grid works in [-1, 1] coordinates: a shift of s * side is 2 * s.
    shift = (torch.rand(batch, 2, device=images.device) * 2 - 1) * 2 * max_shift[:, None]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def _flip(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    flip = torch.rand(images.shape[0], device=images.device) < p
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def _cutout(images: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """Blank one random square per image, of its own side (0: none)."""
    batch, _, height, width = images.shape
    top = (torch.rand(batch, device=images.device) * (height - side.clamp(min=1) + 1)).floor()
    left = (torch.rand(batch, device=images.device) * (width - side.clamp(min=1) + 1)).floor()
    top, left, side = top[:, None, None], left[:, None, None], side[:, None, None]
    rows = torch.arange(height, device=images.device)[None, :, None]
    cols = torch.arange(width, device=images.device)[None, None, :]
    hole = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return images * (~hole)[:, None].to(images.dtype)
