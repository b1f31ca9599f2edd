"""The one exception type for user mistakes.

Anything raised as :class:`UserError` is shown as a single line
``hpsearch: error: <what> (<how to fix>)`` with exit code 2; every other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for, reported without a traceback."""

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None) -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what} ({fix})" if fix else what)
