"""The one exception type for user mistakes.

Anything raised as :class:`UserError` is shown as a single line
``hpsearch: error: <what> (<how to fix>)`` with exit code 2; every other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from hpsearch.redaction import redact

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["UserError", "lookup", "user_error"]

T = TypeVar("T")


class UserError(Exception):
    """A mistake in what the user asked for, reported without a traceback."""

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None) -> None:
        # A message often names a location: never with its credentials, in the
        # CLI or in a notebook.
        self.what = redact(what)
        self.fix = None if fix is None else redact(fix)
        super().__init__(f"{self.what} ({self.fix})" if self.fix else self.what)


def user_error(
    exc: ValidationError, allowed_keys: Iterable[str], prefix: str = "", source: str = ""
) -> UserError:
    """A pydantic validation error as one :class:`UserError` line: the first problem in
    ``exc``, naming the field and what is allowed.

    ``prefix`` names the section (``space_options``); ``source`` the file the
    values came from.
    """
    err = exc.errors()[0]
    ctx = err.get("ctx", {})
    if isinstance(ctx.get("error"), UserError):
        return ctx["error"]
    # List positions (optimizers.1) say less than the field's name does.
    field = ".".join([prefix, *(str(p) for p in err["loc"] if not isinstance(p, int))]).strip(".")
    where = f"{source}: " if source else ""
    if err["type"] == "extra_forbidden":
        owner, _, key = field.rpartition(".")
        section = f" in {owner}" if owner else ""
        return UserError(
            f"{where}unknown key {key!r}{section}", f"allowed keys: {', '.join(allowed_keys)}"
        )
    if err["type"] == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return UserError(
            f"{where}{field}: {err['input']!r} is not allowed", f"choose one of: {expected}"
        )
    msg = str(err["msg"]).removeprefix("Value error, ")
    field_part = f"{field}: " if field else ""
    if err["type"] == "value_error":
        return UserError(f"{where}{field_part}{msg}")
    return UserError(f"{where}{field_part}{msg} (got {err['input']!r})")


def lookup(registry: Mapping[str, T], kind: str, name: str, alternative: str = "") -> T:
    """``registry[name]``, or the one error every registry gives for a name it lacks:
    ``unknown sampler 'x' (choose one of: tpe, random, ...)``."""
    try:
        return registry[name]
    except KeyError:
        also = f", or {alternative}" if alternative else ""
        raise UserError(
            f"unknown {kind} {name!r}", f"choose one of: {', '.join(registry)}{also}"
        ) from None
