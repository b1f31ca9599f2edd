"""The space contract: when a space is called, what it gets, what it may return.

The hyperparameters a trial understands are listed here, once, in
:data:`SPACE_KEYS`; the trainable's ``HParams`` must match them (a test
checks: this package may not import torch). A space's config is checked
against them on probe trials before any trial runs, and again for every trial.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import numpy as np

from hpsearch.errors import UserError
from hpsearch.spaces._context import SpaceContext

if TYPE_CHECKING:
    import optuna

Optimizer = Literal["sgd", "adam", "adamw", "rmsprop"]
Activation = Literal["relu", "gelu", "silu", "tanh"]
Augmentation = Literal["none", "noise", "mixup", "feature_dropout"]
ImageAugmentation = Literal["shift", "flip", "rotate", "cutout"]
ClassificationLoss = Literal["cross_entropy", "label_smoothing"]
RegressionLoss = Literal["mse", "huber"]

OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
AUGMENTATIONS: tuple[Augmentation, ...] = get_args(Augmentation)
IMAGE_AUGMENTATIONS: tuple[ImageAugmentation, ...] = get_args(ImageAugmentation)
CLASSIFICATION_LOSSES: tuple[ClassificationLoss, ...] = get_args(ClassificationLoss)
REGRESSION_LOSSES: tuple[RegressionLoss, ...] = get_args(RegressionLoss)
LOSSES: dict[str, tuple[str, ...]] = {
    "classification": CLASSIFICATION_LOSSES,
    "regression": REGRESSION_LOSSES,
}

Kind = Literal["float", "int", "bool", "choice", "widths"]


class Space(Protocol):
    """A define-by-run search space: ``space(trial, context) -> config``.

    **When it is called.** On the driver, once per trial, when the sampler
    asks for the trial's configuration (define-by-run: what it suggests may
    depend on what it suggested before). Also on a few probe trials of a
    throw-away in-memory study before the search starts, so keep it free of
    side effects and cheap (no training, no I/O).

    **What it gets.** ``trial``, an Optuna trial: call its ``suggest_*``
    methods, each parameter name with one distribution. ``context``, a
    :class:`SpaceContext` (task, number of features and classes, input
    shape, the user's ``space_options``).

    **What it may return.** A dict whose keys are hyperparameters of
    :data:`SPACE_KEYS`, each value of that key's kind; keys it leaves out
    keep the trainable's defaults. ``seed`` and ``trial_number`` are set by
    hpsearch per trial.

    **What is refused.** An unknown key, a value of the wrong kind, a loss
    that does not fit the task, an image augmentation without image data,
    anything but a dict, or an exception: the search stops before any trial
    runs, with one line naming the space and the key.
    """

    def __call__(self, trial: optuna.Trial, context: SpaceContext, /) -> Mapping[str, Any]:
        """The configuration of one trial."""
        ...


@dataclass(frozen=True)
class Key:
    """One hyperparameter a space may return: its kind and what it means."""

    kind: Kind
    doc: str
    choices: tuple[str, ...] = ()


#: Every key a space may return: the one list of what a trial understands.
SPACE_KEYS: dict[str, Key] = {
    "optimizer": Key("choice", "the optimizer", OPTIMIZERS),
    "lr": Key("float", "learning rate"),
    "weight_decay": Key("float", "weight decay (0: none)"),
    "momentum": Key("float", "SGD's momentum (SGD only)"),
    "nesterov": Key("bool", "Nesterov momentum (SGD only)"),
    "hidden_sizes": Key("widths", "one width per hidden layer, e.g. [64, 64]"),
    "activation": Key("choice", "the hidden layers' activation", ACTIVATIONS),
    "dropout": Key("float", "dropout after each hidden layer, in [0, 1)"),
    "batch_norm": Key("bool", "batch norm after each hidden layer"),
    "batch_size": Key("int", "rows per training batch"),
    "augmentation": Key(
        "choice",
        "input augmentation (image ones need image data)",
        (*AUGMENTATIONS, *IMAGE_AUGMENTATIONS),
    ),
    "augmentation_strength": Key("float", "the augmentation's strength (0: off)"),
    "loss": Key(
        "choice", "training loss, fitting the task", (*CLASSIFICATION_LOSSES, *REGRESSION_LOSSES)
    ),
    "loss_param": Key("float", "label smoothing or Huber's delta"),
}

#: Keys hpsearch sets per trial; a space returning one would be overridden.
RESERVED_KEYS = ("seed", "trial_number")

#: Names people often write for a key, where spelling distance would not find it.
_ALIASES = {
    "learning_rate": "lr",
    "wd": "weight_decay",
    "optim": "optimizer",
    "act": "activation",
    "layers": "hidden_sizes",
    "hidden_layers": "hidden_sizes",
    "widths": "hidden_sizes",
    "width": "hidden_sizes",
    "batch": "batch_size",
    "bn": "batch_norm",
}

_EXPECTED: dict[Kind, str] = {
    "float": "a number",
    "int": "a positive integer",
    "bool": "true or false",
    "widths": "a list of positive integers, one width per hidden layer",
    "choice": "one of the choices",
}


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _fits(kind: Kind, value: object, choices: tuple[str, ...]) -> bool:
    if kind == "float":
        return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    if kind == "int":
        return _is_int(value) and int(value) > 0  # type: ignore[call-overload]
    if kind == "bool":
        return isinstance(value, bool | np.bool_)
    if kind == "widths":
        return isinstance(value, list | tuple) and all(_is_int(w) and w > 0 for w in value)
    return isinstance(value, str) and value in choices


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(key: str) -> str:
    guess = _ALIASES.get(key.lower()) or next(
        iter(difflib.get_close_matches(key, SPACE_KEYS, n=1, cutoff=0.6)), None
    )
    return f"; did you mean {guess!r}?" if guess else ""


def _check_key(space: str, key: object, value: object) -> None:
    if not isinstance(key, str):
        raise UserError(f"space {space!r} returned a key that is not text: {_short(key)}")
    if key in RESERVED_KEYS:
        raise UserError(
            f"space {space!r} returned {key!r}, which hpsearch sets for each trial",
            "leave it out",
        )
    spec = SPACE_KEYS.get(key)
    if spec is None:
        raise UserError(
            f"space {space!r} returned unknown key {key!r}",
            f"allowed: {', '.join(SPACE_KEYS)}{_did_you_mean(key)}",
        )
    if key == "loss" and value is None:
        return  # the task's plain loss
    if not _fits(spec.kind, value, spec.choices):
        fix = (
            f"choose one of: {', '.join(spec.choices)}"
            if spec.kind == "choice"
            else f"{key} must be {_EXPECTED[spec.kind]}"
        )
        raise UserError(f"space {space!r} returned {key}={_short(value)}", fix)


def _check_fit(
    space: str, config: Mapping[str, Any], context: SpaceContext, task_known: bool
) -> None:
    """Choices that are valid alone but not for this data."""
    loss = config.get("loss")
    if task_known and loss is not None and loss not in LOSSES[context.task]:
        raise UserError(
            f"space {space!r} returned loss={loss!r} for a {context.task} task",
            f"choose one of: {', '.join(LOSSES[context.task])}; read context.task",
        )
    augmentation = config.get("augmentation")
    if augmentation in IMAGE_AUGMENTATIONS and context.input_shape is None:
        raise UserError(
            f"space {space!r} returned augmentation={augmentation!r}, which needs image data",
            "offer it only when context.input_shape is set, i.e. with --input-shape",
        )


def check_config(
    space: str, config: object, context: SpaceContext, task_known: bool = True
) -> dict[str, Any]:
    """``config`` as a dict, if it keeps the contract; else one :class:`UserError` line.

    ``space`` names the space in the message (its registered name or
    ``package.module:function``). ``task_known=False`` (a table whose task is
    detected later) skips the check that the loss fits ``context.task``.
    """
    if not isinstance(config, Mapping):
        raise UserError(
            f"space {space!r} returned {type(config).__name__}, not a dict of hyperparameters",
            "end the space with return {'lr': ..., ...}",
        )
    for key, value in config.items():
        _check_key(space, key, value)
    _check_fit(space, config, context, task_known)
    return dict(config)


def call_space(
    fn: Space, space: str, trial: optuna.Trial, context: SpaceContext, task_known: bool = True
) -> dict[str, Any]:
    """Call a space on one trial and check what it returns (see :class:`Space`)."""
    try:
        config = fn(trial, context)
    except UserError as exc:
        raise UserError(f"space {space!r}: {exc.what}", exc.fix) from exc
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        raise UserError(f"space {space!r} raised {detail}", "fix the space function") from exc
    return check_config(space, config, context, task_known)
