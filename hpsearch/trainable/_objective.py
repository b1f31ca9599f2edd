"""Training losses and input augmentations, applied per batch on the trial's device."""

from __future__ import annotations

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


def build_augmentation(hp: HParams) -> Augment:
    """The batch augmentation named by ``hp.augmentation``.

    All randomness comes from torch's global generator, whose state the
    checkpoint saves, so a resumed trial draws the same noise.
    """
    strength = hp.augmentation_strength
    if hp.augmentation == "none" or strength <= 0:
        return _none
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
