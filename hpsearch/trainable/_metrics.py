"""Validation and test metrics: the same function for every split."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Evaluate in chunks so a large validation split does not need one huge activation.
_EVAL_CHUNK = 16384


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    task: str,
    prefix: str,
    target_scale: tuple[float, float] = (0.0, 1.0),
) -> dict[str, float]:
    """``{prefix}_loss`` plus ``{prefix}_accuracy`` or ``{prefix}_rmse`` / ``{prefix}_r2``.

    The loss is always plain cross-entropy or MSE (on standardized targets),
    whatever the trial trained with, so trials stay comparable. ``y`` holds
    standardized targets for regression; ``target_scale`` (mean, std) maps
    predictions back to the original units for RMSE and R².
    """
    was_training = model.training
    model.eval()
    outs = torch.cat([model(x[i : i + _EVAL_CHUNK]) for i in range(0, len(x), _EVAL_CHUNK)])
    model.train(was_training)
    return scores(outs, y, task, prefix, target_scale)


def scores(
    outs: torch.Tensor,
    y: torch.Tensor,
    task: str,
    prefix: str,
    target_scale: tuple[float, float] = (0.0, 1.0),
) -> dict[str, float]:
    """:func:`evaluate`'s metrics from a model's outputs ``outs`` on the rows of ``y``."""
    if task == "classification":
        return {
            f"{prefix}_loss": float(F.cross_entropy(outs, y)),
            f"{prefix}_accuracy": float((outs.argmax(dim=1) == y).float().mean()),
        }
    pred = outs.squeeze(-1)
    mse_std = F.mse_loss(pred, y)
    mean, std = target_scale
    err = (pred - y) * std
    y_orig = y * std + mean
    ss_tot = ((y_orig - y_orig.mean()) ** 2).sum()
    return {
        f"{prefix}_loss": float(mse_std),
        f"{prefix}_rmse": float(torch.sqrt((err**2).mean())),
        f"{prefix}_r2": float(1.0 - (err**2).sum() / ss_tot) if ss_tot > 0 else 0.0,
    }
