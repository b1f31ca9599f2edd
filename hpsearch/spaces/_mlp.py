"""The default search space ``mlp``: every knob of a hand-tuned PyTorch MLP.

Define-by-run, so parameters that only make sense for one choice exist only
for it: ``momentum`` and ``nesterov`` only for SGD, an augmentation's
strength only for that augmentation, ``width_3`` only with 3+ layers.
"""

from __future__ import annotations

from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from hpsearch.spaces._context import SpaceContext
from hpsearch.spaces._contract import (
    ACTIVATIONS,
    AUGMENTATIONS,
    CLASSIFICATION_LOSSES,
    EMBEDDINGS,
    IMAGE_AUGMENTATIONS,
    MAX_BATCH_SIZE,
    MAX_WIDTH,
    OPTIMIZERS,
    REGRESSION_LOSSES,
    SCHEDULES,
    Activation,
    Augmentation,
    ClassificationLoss,
    Embedding,
    ImageAugmentation,
    Optimizer,
    RegressionLoss,
    Schedule,
)

Range = tuple[float, float]
IntRange = tuple[int, int]


def _check_range(name: str, value: tuple[float, float], positive: bool) -> None:
    low, high = value
    if positive and low <= 0:
        raise ValueError(f"{name} range must be positive (log scale), got [{low}, {high}]")
    if low > high:
        raise ValueError(f"{name} range is reversed: [{low}, {high}] (write [low, high])")


class MLPSpaceOptions(BaseModel):
    """Ranges and choices of the ``mlp`` space; narrow them in the config file.

    Example (YAML)::

        space_options:
          optimizers: [adam, adamw]
          lr: [0.0005, 0.05]
          hidden_layers: [2, 3]
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizers: tuple[Optimizer, ...] = OPTIMIZERS
    lr: Range = (1e-4, 3e-1)
    lr_schedules: tuple[Schedule, ...] = SCHEDULES
    weight_decay: Range = (1e-6, 1e-2)
    allow_zero_weight_decay: bool = True
    momentum: Range = (0.5, 0.99)
    hidden_layers: IntRange = (1, 4)
    width: IntRange = (8, 256)
    activations: tuple[Activation, ...] = ACTIVATIONS
    # Offered only for tables (not with --input-shape).
    embeddings: tuple[Embedding, ...] = EMBEDDINGS
    embedding_scale: Range = (0.01, 2.0)
    dropout: Range = (0.0, 0.5)
    batch_norm: tuple[bool, ...] = (False, True)
    batch_sizes: tuple[int, ...] = (32, 64, 128, 256)
    augmentations: tuple[Augmentation, ...] = AUGMENTATIONS
    noise_std: Range = (0.01, 0.3)
    mixup_alpha: Range = (0.1, 1.0)
    feature_dropout: Range = (0.05, 0.3)
    # Offered only when the data is image-shaped (--input-shape).
    image_augmentations: tuple[ImageAugmentation, ...] = IMAGE_AUGMENTATIONS
    shift: Range = (0.05, 0.2)  # largest shift, as a share of the image side
    flip: Range = (0.25, 0.5)  # probability of a horizontal flip
    rotate: Range = (5.0, 20.0)  # largest rotation, degrees
    cutout: Range = (0.1, 0.4)  # side of the blanked square, as a share of the image side
    classification_losses: tuple[ClassificationLoss, ...] = CLASSIFICATION_LOSSES
    label_smoothing: Range = (0.01, 0.2)
    regression_losses: tuple[RegressionLoss, ...] = REGRESSION_LOSSES
    huber_delta: Range = (0.1, 5.0)

    @field_validator(
        "optimizers",
        "lr_schedules",
        "activations",
        "embeddings",
        "batch_norm",
        "batch_sizes",
        "augmentations",
        "image_augmentations",
        "classification_losses",
        "regression_losses",
    )
    @classmethod
    def _non_empty(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if not value:
            raise ValueError("must list at least one choice")
        if len(set(value)) != len(value):
            raise ValueError(f"lists a choice twice: {list(value)}")
        return value

    @field_validator("batch_sizes")
    @classmethod
    def _positive_batches(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [b for b in value if b <= 0]
        if bad:
            raise ValueError(f"batch sizes must be positive, got {bad}")
        if max(value, default=0) > MAX_BATCH_SIZE:
            raise ValueError(f"batch sizes are at most {MAX_BATCH_SIZE}, got {max(value)}")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> MLPSpaceOptions:
        for name in (
            "lr",
            "weight_decay",
            "noise_std",
            "mixup_alpha",
            "huber_delta",
            "label_smoothing",
            "embedding_scale",
            "width",
            "shift",
            "rotate",
            "cutout",
            "flip",
        ):
            _check_range(name, getattr(self, name), positive=True)
        for name in ("momentum", "dropout", "feature_dropout"):
            low, high = getattr(self, name)
            _check_range(name, (low, high), positive=False)
            if low < 0 or high >= 1:
                raise ValueError(f"{name} range must lie in [0, 1), got [{low}, {high}]")
        # Shares and probabilities: the trainable refuses more than 1.
        for name in ("flip", "cutout", "label_smoothing"):
            if getattr(self, name)[1] > 1:
                raise ValueError(
                    f"{name} range must lie in (0, 1], got {list(getattr(self, name))}"
                )
        if self.width[1] > MAX_WIDTH:
            raise ValueError(f"width is at most {MAX_WIDTH}, got {self.width[1]}")
        _check_range("hidden_layers", self.hidden_layers, positive=True)
        if self.hidden_layers[1] > 8:
            raise ValueError(f"hidden_layers is at most 8, got {self.hidden_layers[1]}")
        return self


def _suggest_range(trial: optuna.Trial, name: str, bounds: Range, log: bool) -> float:
    low, high = bounds
    if low == high:  # a range narrowed to one value is a constant, not a parameter
        return float(low)
    return trial.suggest_float(name, low, high, log=log)


def _suggest_int_range(trial: optuna.Trial, name: str, bounds: IntRange, log: bool) -> int:
    low, high = bounds
    if low == high:
        return int(low)
    return trial.suggest_int(name, low, high, log=log)


def _suggest_choice(trial: optuna.Trial, name: str, choices: tuple[Any, ...]) -> Any:
    if len(choices) == 1:
        return choices[0]
    return trial.suggest_categorical(name, list(choices))


#: Numeric columns above which a periodic embedding (16 inputs per column) is not
#: offered: 256 columns already make 4,096 inputs to the first layer.
MAX_EMBEDDED = 256
#: ... and above which the starting point leaves it out.
MAX_EMBEDDED_AT_START = 64


def _embeddings(opts: MLPSpaceOptions, ctx: SpaceContext) -> tuple[Embedding, ...]:
    """The embeddings worth offering: none for images, for tables without numeric
    columns, or with too many of them."""
    if ctx.input_shape or not 0 < ctx.num_numeric <= MAX_EMBEDDED:
        return ("none",)
    return opts.embeddings


def mlp(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
    """Sample one MLP training configuration (the default space).

    Example:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> config = mlp(study.ask(), SpaceContext())
        >>> sorted(config)[:3]
        ['activation', 'augmentation', 'augmentation_strength']
    """
    opts = MLPSpaceOptions.model_validate(dict(ctx.options))
    config: dict[str, Any] = {}

    # Optimizer; momentum and Nesterov exist only for SGD.
    config["optimizer"] = _suggest_choice(trial, "optimizer", opts.optimizers)
    config["lr"] = _suggest_range(trial, "lr", opts.lr, log=True)
    config["lr_schedule"] = _suggest_choice(trial, "lr_schedule", opts.lr_schedules)
    if config["optimizer"] == "sgd":
        config["momentum"] = _suggest_range(trial, "momentum", opts.momentum, log=False)
        config["nesterov"] = _suggest_choice(trial, "nesterov", (False, True))
    # Weight decay is log-scaled but may be switched off entirely.
    use_wd = _suggest_choice(
        trial, "use_weight_decay", (False, True) if opts.allow_zero_weight_decay else (True,)
    )
    config["weight_decay"] = (
        _suggest_range(trial, "weight_decay", opts.weight_decay, log=True) if use_wd else 0.0
    )

    # Architecture: depth first, then one width per layer that exists.
    depth = _suggest_int_range(trial, "hidden_layers", opts.hidden_layers, log=False)
    config["hidden_sizes"] = [
        _suggest_int_range(trial, f"width_{i + 1}", opts.width, log=True) for i in range(depth)
    ]
    config["activation"] = _suggest_choice(trial, "activation", opts.activations)
    # Numeric embeddings: for tables only, their scale only when they are on.
    embedding = _suggest_choice(trial, "embedding", _embeddings(opts, ctx))
    if embedding != "none":
        config["embedding"] = embedding
        config["embedding_scale"] = _suggest_range(
            trial, "embedding_scale", opts.embedding_scale, log=True
        )
    config["dropout"] = _suggest_range(trial, "dropout", opts.dropout, log=False)
    config["batch_norm"] = _suggest_choice(trial, "batch_norm", opts.batch_norm)
    config["batch_size"] = _suggest_choice(trial, "batch_size", opts.batch_sizes)

    # Augmentation, with a strength that means something only for its kind.
    # Image augmentations exist only for image-shaped data.
    choices = opts.augmentations + (opts.image_augmentations if ctx.input_shape else ())
    aug = _suggest_choice(trial, "augmentation", choices)
    strength_range = {
        "noise": opts.noise_std,
        "mixup": opts.mixup_alpha,
        "feature_dropout": opts.feature_dropout,
        "shift": opts.shift,
        "flip": opts.flip,
        "rotate": opts.rotate,
        "cutout": opts.cutout,
    }.get(aug)
    config["augmentation"] = aug
    config["augmentation_strength"] = (
        _suggest_range(trial, f"{aug}_strength", strength_range, log=aug in ("noise", "mixup"))
        if strength_range
        else 0.0
    )

    # Loss follows the task; its one parameter exists only where it applies.
    if ctx.task == "classification":
        loss = _suggest_choice(trial, "loss", opts.classification_losses)
        param = (
            _suggest_range(trial, "label_smoothing", opts.label_smoothing, log=True)
            if loss == "label_smoothing"
            else 0.0
        )
    else:
        loss = _suggest_choice(trial, "loss", opts.regression_losses)
        param = (
            _suggest_range(trial, "huber_delta", opts.huber_delta, log=True)
            if loss == "huber"
            else 0.0
        )
    config["loss"] = loss
    config["loss_param"] = param
    return config


#: The configuration every default search tries first (as Optuna parameters of ``mlp``),
#: so the search starts from a strong single model rather than a random draw:
#: AdamW, 3 x 256 ReLU, periodic embeddings, batch 128, the choices that gained most
#: on their own in benchmarks/ingredients.py. Classification adds a cosine schedule,
#: dropout 0.15 and label smoothing 0.1, which together helped all 6 classification
#: tables there; regression keeps a constant rate and no dropout (they hurt it).
_START: dict[str, Any] = {
    "optimizer": "adamw",
    "use_weight_decay": True,
    "weight_decay": 1e-5,
    "hidden_layers": 3,
    "width_1": 256,
    "width_2": 256,
    "width_3": 256,
    "activation": "relu",
    "embedding": "periodic",
    "embedding_scale": 0.1,
    "batch_norm": False,
    "batch_size": 128,
    "augmentation": "none",
}
_START_BY_TASK: dict[str, dict[str, Any]] = {
    "classification": {
        "lr": 2e-3,
        "lr_schedule": "cosine",
        "dropout": 0.15,
        "loss": "label_smoothing",
        "label_smoothing": 0.1,
    },
    "regression": {"lr": 1e-3, "lr_schedule": "constant", "dropout": 0.0, "loss": "mse"},
}


def _allowed(opts: MLPSpaceOptions, ctx: SpaceContext) -> dict[str, tuple[Any, ...]]:
    """What the options let each ``_START`` parameter be: choices, or a (low, high) range."""
    return {
        "optimizer": opts.optimizers,
        "use_weight_decay": (False, True) if opts.allow_zero_weight_decay else (True,),
        "lr_schedule": opts.lr_schedules,
        "activation": opts.activations,
        "embedding": _embeddings(opts, ctx),
        "batch_norm": opts.batch_norm,
        "batch_size": opts.batch_sizes,
        "augmentation": opts.augmentations,
        "loss": opts.classification_losses
        if ctx.task == "classification"
        else opts.regression_losses,
    }


def mlp_start(ctx: SpaceContext) -> dict[str, Any]:
    """The ``mlp`` space's first configuration for this context, as Optuna parameters.

    A parameter the user's ``space_options`` rule out is left out (the sampler
    then draws it), so the start never asks for what the space cannot return.
    """
    opts = MLPSpaceOptions.model_validate(dict(ctx.options))
    ranges: dict[str, tuple[float, float]] = {
        "lr": opts.lr,
        "weight_decay": opts.weight_decay,
        "embedding_scale": opts.embedding_scale,
        "dropout": opts.dropout,
        "label_smoothing": opts.label_smoothing,
        "hidden_layers": opts.hidden_layers,
        **{f"width_{i}": opts.width for i in (1, 2, 3)},
    }
    choices = _allowed(opts, ctx)
    wanted = {**_START, **_START_BY_TASK[ctx.task]}
    if ctx.num_numeric > MAX_EMBEDDED_AT_START:  # a wide table starts without embeddings
        wanted["embedding"] = "none"
    params = {}
    for name, value in wanted.items():
        if name in choices:
            fits = value in choices[name] and len(choices[name]) > 1
        else:
            low, high = ranges[name]
            fits = low <= value <= high and low < high
        if fits:
            params[name] = value
    offered = choices["embedding"]
    embedding = params.get("embedding", offered[0] if len(offered) == 1 else None)
    if embedding != "periodic":
        params.pop("embedding_scale", None)  # no periodic embedding to scale
    return params


#: The parameters of :func:`mlp` that fix a pack's structure (``PACK_SHARED``); the rest
#: (learning rate and schedule, weight decay, momentum, dropout, strengths, losses) vary.
MLP_SHARED = (
    "optimizer",
    "hidden_layers",
    "width_*",
    "activation",
    "embedding",
    "batch_norm",
    "batch_size",
    "augmentation",
)


def quick(trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
    """A small space for fast searches: Adam(W), learning rate, depth 1-3, width.

    Everything else is fixed to sensible defaults (ReLU, no dropout, batch 64).
    """
    return {
        "optimizer": trial.suggest_categorical("optimizer", ["adam", "adamw"]),
        "lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True),
        "weight_decay": 0.0,
        "hidden_sizes": [trial.suggest_int("width", 16, 128, log=True)]
        * trial.suggest_int("hidden_layers", 1, 3),
        "activation": "relu",
        "dropout": 0.0,
        "batch_norm": False,
        "batch_size": 64,
        "augmentation": "none",
        "augmentation_strength": 0.0,
        "loss": "cross_entropy" if ctx.task == "classification" else "mse",
        "loss_param": 0.0,
    }
