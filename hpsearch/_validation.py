"""Turning a pydantic ``ValidationError`` into one clear :class:`UserError` line."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from hpsearch.errors import UserError


def user_error(
    exc: ValidationError, allowed_keys: Iterable[str], prefix: str = "", source: str = ""
) -> UserError:
    """The first problem in ``exc``, naming the field and what is allowed.

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
