"""Spaces by name, and loading a user's own space from ``module:function``."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from pydantic import BaseModel, ValidationError

from hpsearch.errors import UserError, user_error
from hpsearch.spaces._context import SpaceContext
from hpsearch.spaces._mlp import MLPSpaceOptions, mlp, quick

SpaceFn = Callable[[optuna.Trial, SpaceContext], dict[str, Any]]


@dataclass(frozen=True)
class SpaceEntry:
    """A registered space: its function, what narrows it, one line about it."""

    fn: SpaceFn
    summary: str
    options: type[BaseModel] | None = None


SPACES: dict[str, SpaceEntry] = {
    "mlp": SpaceEntry(mlp, "every knob of a hand-tuned MLP (default)", MLPSpaceOptions),
    "quick": SpaceEntry(quick, "Adam(W), learning rate, depth and width only: fast searches"),
}

DEFAULT_SPACE = "mlp"


@dataclass(frozen=True)
class _OneArgSpace:
    """A plain ``space(trial)`` (Optuna's own style), called with a context it ignores."""

    fn: Callable[[optuna.Trial], dict[str, Any] | None]

    def __call__(self, trial: optuna.Trial, ctx: SpaceContext) -> dict[str, Any]:
        return dict(self.fn(trial) or {})


def _load_user_space(ref: str) -> SpaceFn:
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


def get_space(name: str) -> SpaceFn:
    """The space function registered as ``name``, or loaded from ``module:function``."""
    if ":" in name:
        return _load_user_space(name)
    try:
        return SPACES[name].fn
    except KeyError:
        raise UserError(
            f"unknown space {name!r}",
            f"choose one of: {', '.join(SPACES)}, or give package.module:function",
        ) from None


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
