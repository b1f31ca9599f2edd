"""Spaces by name, loading a user's own space from ``module:function``, probing either."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from pydantic import BaseModel, ValidationError

from hpsearch.errors import UserError, lookup, user_error
from hpsearch.spaces._context import SpaceContext
from hpsearch.spaces._contract import Space, call_space
from hpsearch.spaces._mlp import MLP_SHARED, MLPSpaceOptions, mlp, mlp_start, quick


@dataclass(frozen=True)
class SpaceEntry:
    """A registered space: the function, one line about it, what narrows it, the
    configuration a search tries first (Optuna parameters), if it has one, and the
    Optuna parameters (names or ``fnmatch`` patterns) the trials of a pack share."""

    fn: Space
    summary: str
    options: type[BaseModel] | None = None
    start: Callable[[SpaceContext], dict[str, Any]] | None = None
    shared: tuple[str, ...] = ()


SPACES: dict[str, SpaceEntry] = {
    "mlp": SpaceEntry(
        mlp,
        "every knob of a hand-tuned MLP (default)",
        MLPSpaceOptions,
        mlp_start,
        shared=MLP_SHARED,
    ),
    "quick": SpaceEntry(
        quick,
        "Adam(W), learning rate, depth and width only: fast searches",
        shared=("optimizer", "width", "hidden_layers"),
    ),
}

DEFAULT_SPACE = "mlp"


@dataclass(frozen=True)
class _OneArgSpace:
    """A plain ``space(trial)`` (Optuna's own style), called with a context it ignores."""

    fn: Callable[[optuna.Trial], Any]

    def __call__(self, trial: optuna.Trial, ctx: SpaceContext, /) -> Any:
        return self.fn(trial)  # checked by the caller, like any space's config


def _load_user_space(ref: str) -> Space:
    module_name, _, attr = ref.partition(":")
    # Dotted identifiers only: a relative or malformed name would reach importlib as a bug.
    if not all(part.isidentifier() for part in module_name.split(".")) or not attr.isidentifier():
        raise UserError(f"space {ref!r} is not 'package.module:function'", "e.g. mypkg.spaces:wide")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"space {ref!r}: cannot import module {module_name!r}: {exc}",
            "check the module is on PYTHONPATH",
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserError(f"space {ref!r}: {module_name} has no function {attr!r}")
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) == 1:
        return _OneArgSpace(fn)
    if len(params) == 2:
        return fn
    raise UserError(
        f"space {ref!r} must take (trial) or (trial, context), not {len(params)} arguments"
    )


def get_space(name: str) -> Space:
    """The space function registered as ``name``, or loaded from ``module:function``."""
    if ":" in name:
        return _load_user_space(name)
    return lookup(SPACES, "space", name, "give package.module:function").fn


def starting_point(name: str, context: SpaceContext) -> dict[str, Any]:
    """The parameters a search of space ``name`` tries first; ``{}`` for none (a user's space)."""
    entry = SPACES.get(name)
    return entry.start(context) if entry is not None and entry.start is not None else {}


def pack_shared(name: str) -> tuple[str, ...]:
    """The Optuna parameters (names or ``fnmatch`` patterns) the trials of one pack share
    in space ``name``: the registered entry's, a user function's ``pack_shared``
    attribute, else none (its trials pack only where their structure happens to agree)."""
    entry = SPACES.get(name)
    if entry is not None:
        return entry.shared
    space = get_space(name)
    declared = getattr(space.fn if isinstance(space, _OneArgSpace) else space, "pack_shared", ())
    if not isinstance(declared, list | tuple) or not all(isinstance(p, str) for p in declared):
        raise UserError(
            f"space {name!r}: pack_shared must be a list of parameter names",
            "e.g. pack_shared = ['optimizer', 'width_*']",
        )
    return tuple(declared)


#: Probe trials per context: enough random draws to reach most conditional branches.
PROBE_TRIALS = 16


def probe_space(name: str, contexts: Iterable[SpaceContext], task_known: bool = True) -> None:
    """Run the space ``name`` on probe trials of a throw-away in-memory study.

    Each config must keep the contract (:class:`Space`): a broken one is
    refused as one :class:`UserError` line before any trial runs. Cheap: no
    Ray, no training; a seeded random sampler reaches the conditional branches.
    ``task_known=False``: the contexts guess the task (see ``check_config``).
    """
    fn = get_space(name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for context in contexts:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(PROBE_TRIALS):
            trial = study.ask()
            call_space(fn, name, trial, context, task_known)
            study.tell(trial, 0.0)


def validate_space_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``space_options`` against the space's options model.

    Returns the options as plain JSON-able data. A user's own space receives
    its options unchecked; a registered space without options refuses any.
    """
    entry = SPACES.get(name)
    if entry is None:
        get_space(name)  # raises the clear error for an unknown name
        return dict(options)
    if entry.options is None:
        if options:
            raise UserError(f"space {name!r} takes no space_options", "remove space_options")
        return {}
    try:
        model = entry.options.model_validate(dict(options))
    except ValidationError as exc:
        raise user_error(exc, entry.options.model_fields, prefix="space_options") from None
    return dict(model.model_dump(mode="json", exclude_unset=True))
