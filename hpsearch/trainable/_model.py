"""The MLP and its optimizer, built from a trial's hyperparameters."""

from __future__ import annotations

import torch
from torch import nn

from hpsearch.trainable._hparams import HParams

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def build_mlp(num_inputs: int, num_outputs: int, hp: HParams) -> nn.Sequential:
    """Linear -> [BatchNorm] -> activation -> [Dropout], once per hidden layer."""
    layers: list[nn.Module] = []
    width_in = num_inputs
    for width in hp.hidden_sizes:
        layers.append(nn.Linear(width_in, width))
        if hp.batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(ACTIVATIONS[hp.activation]())
        if hp.dropout > 0:
            layers.append(nn.Dropout(hp.dropout))
        width_in = width
    layers.append(nn.Linear(width_in, num_outputs))
    return nn.Sequential(*layers)


def build_optimizer(model: nn.Module, hp: HParams) -> torch.optim.Optimizer:
    """The optimizer named by ``hp.optimizer`` with its own parameters."""
    params = model.parameters()
    if hp.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=hp.lr,
            momentum=hp.momentum,
            weight_decay=hp.weight_decay,
            nesterov=hp.nesterov and hp.momentum > 0,
        )
    if hp.optimizer == "adam":
        return torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
    if hp.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
    if hp.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=hp.lr, weight_decay=hp.weight_decay)
    raise ValueError(f"unknown optimizer {hp.optimizer!r}")


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
