"""The space contract: when a space is called, what it gets, what it may return.

The hyperparameters a trial understands are listed here, once, in
:data:`SPACE_KEYS`; the trainable's ``HParams`` must match them (a test
checks: this package may not import torch). A space's config is checked
against them on probe trials before any trial runs, and again for every trial.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import numpy as np

from hpsearch.errors import UserError
from hpsearch.metrics import is_finite
from hpsearch.spaces._context import SpaceContext

if TYPE_CHECKING:
    import optuna

Optimizer = Literal["sgd", "adam", "adamw", "rmsprop"]
Activation = Literal["relu", "gelu", "silu", "tanh"]
Augmentation = Literal["none", "noise", "mixup", "feature_dropout"]
ImageAugmentation = Literal["shift", "flip", "rotate", "cutout"]
ClassificationLoss = Literal["cross_entropy", "label_smoothing"]
RegressionLoss = Literal["mse", "huber"]
Schedule = Literal["constant", "cosine"]
Embedding = Literal["none", "periodic"]

OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
AUGMENTATIONS: tuple[Augmentation, ...] = get_args(Augmentation)
IMAGE_AUGMENTATIONS: tuple[ImageAugmentation, ...] = get_args(ImageAugmentation)
CLASSIFICATION_LOSSES: tuple[ClassificationLoss, ...] = get_args(ClassificationLoss)
REGRESSION_LOSSES: tuple[RegressionLoss, ...] = get_args(RegressionLoss)
SCHEDULES: tuple[Schedule, ...] = get_args(Schedule)
EMBEDDINGS: tuple[Embedding, ...] = get_args(Embedding)
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

    **What is refused.** An unknown key, a value of the wrong kind or out
    of its range (``Key.bounds``; no NaN or infinity), a loss that does not
    fit the task, an image augmentation without image data, anything but a
    dict, or an exception (``sys.exit`` included): one line naming the space
    and the key, exit code 2. Numpy scalars are accepted and passed on as
    Python's ``int``, ``float`` and ``bool``.

    **What a pack shares.** A search with ``--pack K`` trains K trials at once as one
    batched model; they must agree on :data:`PACK_SHARED` (architecture, optimizer
    kind, batch size, augmentation kind), and may differ in everything else. The
    sampler draws a pack's first trial freely and the others with the Optuna
    parameters the space names as shared (``SpaceEntry.shared``, or a ``pack_shared``
    attribute of a user's function: names or ``fnmatch`` patterns) fixed to the
    first's values. Without that declaration a space still works: a trial whose
    structure differs from its pack's waits for the next pack, so a space that
    samples its structure freely packs less.

    **When it is refused.** The probe trials (16 random draws per context)
    catch what most branches return before any trial runs. They cannot
    reach every branch: one taken rarely (a narrow draw, a late trial
    number) is checked when a trial asks for its configuration, and the
    search stops then with the same one-line message.
    """

    def __call__(self, trial: optuna.Trial, context: SpaceContext, /) -> Mapping[str, Any]:
        """The configuration of one trial."""
        ...


#: The hyperparameters every trial of a pack must share (hpsearch.trainable's
#: ``PACK_SHARED``, kept equal by a test: this package may not import torch).
PACK_SHARED = (
    "optimizer",
    "hidden_sizes",
    "activation",
    "embedding",
    "batch_norm",
    "batch_size",
    "augmentation",
)

#: Caps on sizes: generous (the ``mlp`` space stops at 8 layers), yet a space's
#: slip cannot ask for a billion-wide layer and take the machine's memory.
MAX_LAYERS = 64
MAX_WIDTH = 65536
MAX_BATCH_SIZE = 2**20


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Key:
    """One hyperparameter a space may return: its kind, what it means, its range.

    A number (a ``widths`` key: each width) lies in ``[low, high]``, an end
    left out where ``low_open`` or ``high_open``; ``most`` caps how many
    widths a ``widths`` key lists.
    """

    kind: Kind
    doc: str
    choices: tuple[str, ...] = ()
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    most: int = 0

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in this key's range."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    @property
    def bounds(self) -> str:
        """The range as a person reads it (``> 0``, ``in [0, 1)``), or ``""`` for none."""
        if math.isinf(self.high):
            if math.isinf(self.low):
                return ""
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"


#: Every key a space may return: the one list of what a trial understands.
#: Ranges are what the trainable accepts; ``lr`` has no upper bound on purpose
#: (a diverging trial is the search's to record, not the contract's to refuse).
SPACE_KEYS: dict[str, Key] = {
    "optimizer": Key("choice", "the optimizer", OPTIMIZERS),
    "lr": Key("float", "learning rate", low=0.0, low_open=True),
    "lr_schedule": Key(
        "choice", "constant, or a 5% linear warm-up then cosine decay to 0", SCHEDULES
    ),
    "weight_decay": Key("float", "weight decay (0: none)", low=0.0),
    "momentum": Key("float", "SGD's momentum (SGD only)", low=0.0, high=1.0),
    "nesterov": Key("bool", "Nesterov momentum (SGD only)"),
    "hidden_sizes": Key(
        "widths",
        "one width per hidden layer, e.g. [64, 64]",
        low=1,
        high=MAX_WIDTH,
        most=MAX_LAYERS,
    ),
    "activation": Key("choice", "the hidden layers' activation", ACTIVATIONS),
    "embedding": Key(
        "choice", "numeric columns: as they are, or periodic embeddings (PLR)", EMBEDDINGS
    ),
    "embedding_scale": Key(
        "float", "the periodic embedding's initial frequency scale", low=0.0, low_open=True
    ),
    "dropout": Key("float", "dropout after each hidden layer", low=0.0, high=1.0, high_open=True),
    "batch_norm": Key("bool", "batch norm after each hidden layer"),
    "batch_size": Key("int", "rows per training batch", low=1, high=MAX_BATCH_SIZE),
    "augmentation": Key(
        "choice",
        "input augmentation (image ones need image data)",
        (*AUGMENTATIONS, *IMAGE_AUGMENTATIONS),
    ),
    "augmentation_strength": Key("float", "the augmentation's strength (0: off)", low=0.0),
    "loss": Key(
        "choice", "training loss, fitting the task", (*CLASSIFICATION_LOSSES, *REGRESSION_LOSSES)
    ),
    "loss_param": Key("float", "label smoothing or Huber's delta", low=0.0),
}

#: Augmentations whose strength is a probability or a share: (highest, excluded, what it is).
_STRENGTH_CAPS: dict[str, tuple[float, bool, str]] = {
    "feature_dropout": (1.0, True, "the share of features dropped, in [0, 1)"),
    "flip": (1.0, False, "a probability, in [0, 1]"),
    "cutout": (1.0, False, "a share of the image side, in [0, 1]"),
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


class _Refused(Exception):
    """A value its key does not accept; the message says what it must be."""


def _plain(value: object) -> object:
    # A numpy scalar as Python's own, or JSON would write np.int64(64) as "64".
    return value.item() if isinstance(value, np.generic) else value


def _integer(value: object) -> int | None:
    value = _plain(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _float(key: str, spec: Key, value: object) -> float:
    value = _plain(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # an int past float's range; is_finite would raise on it
            value = math.inf
    if is_finite(value) and spec.contains(value):
        return float(value)
    raise _Refused(f"{key} must be a finite number {spec.bounds}".rstrip())


def _count(key: str, spec: Key, value: object) -> int:
    number = _integer(value)
    if number is None or number < spec.low:
        raise _Refused(f"{key} must be a positive integer")
    if number > spec.high:
        raise _Refused(f"{key} is at most {_num(spec.high)}")
    return number


def _widths(key: str, spec: Key, value: object) -> list[int]:
    shape = f"{key} must be a list of positive integers, one width per hidden layer"
    if not isinstance(value, list | tuple):
        raise _Refused(shape)
    if len(value) > spec.most:
        raise _Refused(f"{key} lists at most {spec.most} hidden layers")
    widths = []
    for item in value:
        width = _integer(item)
        if width is None or width < spec.low:
            raise _Refused(shape)
        if width > spec.high:
            raise _Refused(f"each width in {key} is at most {_num(spec.high)}")
        widths.append(width)
    return widths


def _convert(key: str, spec: Key, value: object) -> Any:
    """``value`` as the plain Python value the trainable gets, or :class:`_Refused`."""
    if spec.kind == "float":
        return _float(key, spec, value)
    if spec.kind == "int":
        return _count(key, spec, value)
    if spec.kind == "widths":
        return _widths(key, spec, value)
    value = _plain(value)
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        raise _Refused(f"{key} must be true or false")
    if isinstance(value, str) and value in spec.choices:
        return value
    raise _Refused(f"choose one of: {', '.join(spec.choices)}")


def _short(value: object) -> str:
    try:
        text = repr(_plain(value))
    except Exception:  # a user's __repr__ may raise: the message must still be one line
        return f"<unprintable {type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(key: str) -> str:
    lowered = key.lower()
    guess = (
        (lowered if lowered in SPACE_KEYS else None)
        or _ALIASES.get(lowered)
        or next(iter(difflib.get_close_matches(lowered, SPACE_KEYS, n=1, cutoff=0.6)), None)
    )
    return f"; did you mean {guess!r}?" if guess else ""


def _check_key(space: str, key: object, value: object) -> Any:
    """``value`` as the trainable gets it, if ``key`` may have it; else one UserError line."""
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
        return None  # the task's plain loss
    try:
        return _convert(key, spec, value)
    except _Refused as refused:
        raise UserError(f"space {space!r} returned {key}={_short(value)}", str(refused)) from None


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
    augmentation = config.get("augmentation", "none")
    if augmentation in IMAGE_AUGMENTATIONS and context.input_shape is None:
        raise UserError(
            f"space {space!r} returned augmentation={augmentation!r}, which needs image data",
            "offer it only when context.input_shape is set, i.e. with --input-shape",
        )
    cap = _STRENGTH_CAPS.get(augmentation)
    strength = config.get("augmentation_strength", 0.0)
    if cap and (strength >= cap[0] if cap[1] else strength > cap[0]):
        raise UserError(
            f"space {space!r} returned augmentation_strength={strength!r} for {augmentation}",
            f"{augmentation}'s strength is {cap[2]}",
        )
    param = config.get("loss_param", 0.0)
    if loss == "huber" and param <= 0:
        given = f"with loss_param={param!r}" if "loss_param" in config else "without loss_param"
        raise UserError(
            f"space {space!r} returned loss='huber' {given}", "return loss_param > 0, Huber's delta"
        )
    if loss == "label_smoothing" and param > 1:
        raise UserError(
            f"space {space!r} returned loss='label_smoothing' with loss_param={param!r}",
            "label smoothing is in [0, 1]",
        )


def check_config(
    space: str, config: object, context: SpaceContext, task_known: bool = True
) -> dict[str, Any]:
    """``config`` as a plain dict, if it keeps the contract; else one :class:`UserError` line.

    Numpy scalars come back as Python's ``int``, ``float`` and ``bool``.
    ``space`` names the space in the message (its registered name or
    ``package.module:function``). ``task_known=False`` (a table whose task is
    detected later) skips the check that the loss fits ``context.task``.
    """
    if not isinstance(config, Mapping):
        raise UserError(
            f"space {space!r} returned {type(config).__name__}, not a dict of hyperparameters",
            "end the space with return {'lr': ..., ...}",
        )
    checked = {key: _check_key(space, key, value) for key, value in dict(config).items()}
    _check_fit(space, checked, context, task_known)
    return checked


def _exception(exc: BaseException) -> str:
    """``Type: first line of the message``; the type alone where there is none."""
    try:
        first = (str(exc).strip().splitlines() or [""])[0]
    except Exception:  # a user's exception whose __str__ raises
        first = ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def call_space(
    fn: Space, space: str, trial: optuna.Trial, context: SpaceContext, task_known: bool = True
) -> dict[str, Any]:
    """Call a space on one trial and check what it returns (see :class:`Space`).

    Whatever the space raises, ``SystemExit`` included, becomes one
    :class:`UserError` line naming it; only ``KeyboardInterrupt`` passes.
    """
    try:
        config = fn(trial, context)
    except KeyboardInterrupt:
        raise
    except UserError as exc:
        raise UserError(f"space {space!r}: {exc.what}", exc.fix) from exc
    except BaseException as exc:  # sys.exit() in a space must not end hpsearch with its code
        raise UserError(
            f"space {space!r} raised {_exception(exc)}", "fix the space function"
        ) from exc
    try:
        return check_config(space, config, context, task_known)
    except (KeyboardInterrupt, UserError):
        raise
    except BaseException as exc:  # a Mapping whose items(), keys or values raise on reading
        raise UserError(
            f"space {space!r} returned {type(config).__name__}, which could not be read "
            f"as a dict: {_exception(exc)}",
            "return a plain dict",
        ) from exc
