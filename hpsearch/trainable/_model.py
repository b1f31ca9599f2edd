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


#: Frequencies and output width of each numeric column's periodic embedding
#: (Gorishniy et al. 2022 use 8-96 frequencies; RealMLP's PBLD 16 dimensions).
FREQUENCIES = 16
EMBEDDING_DIM = 16


class PeriodicEmbedding(nn.Module):
    """PLR (Gorishniy et al. 2022): each of the first ``embedded`` columns becomes
    ReLU(Linear([cos(2 pi f x), sin(2 pi f x)])) with trained frequencies ``f``;
    the other columns (indicators, one-hot blocks) pass through unchanged."""

    def __init__(self, embedded: int, scale: float) -> None:
        super().__init__()
        self.embedded = embedded
        self.frequencies = nn.Parameter(torch.randn(embedded, FREQUENCIES) * scale)
        bound = (2 * FREQUENCIES) ** -0.5  # nn.Linear's own initialisation for this width
        self.weight = nn.Parameter(
            torch.empty(embedded, 2 * FREQUENCIES, EMBEDDING_DIM).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(embedded, EMBEDDING_DIM).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, columns) -> (rows, embedded * EMBEDDING_DIM + the other columns)."""
        angle = 2 * torch.pi * x[:, : self.embedded, None] * self.frequencies
        periodic = torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
        out = torch.relu(torch.einsum("bnk,nkd->bnd", periodic, self.weight) + self.bias)
        return torch.cat([out.flatten(1), x[:, self.embedded :]], dim=1)


def build_mlp(num_inputs: int, num_outputs: int, hp: HParams, embedded: int = 0) -> nn.Sequential:
    """[Embedding] then Linear -> [BatchNorm] -> activation -> [Dropout], once per hidden layer.

    ``embedded``: how many leading columns are numeric, hence embedded when
    ``hp.embedding`` asks for it (0: none, as for image pixels).
    """
    layers: list[nn.Module] = []
    width_in = num_inputs
    if hp.embedding == "periodic" and embedded > 0:
        layers.append(PeriodicEmbedding(embedded, hp.embedding_scale))
        width_in = num_inputs + embedded * (EMBEDDING_DIM - 1)
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
