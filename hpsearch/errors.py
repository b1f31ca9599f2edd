"""The one exception type for user mistakes.

Anything raised as :class:`UserError` is shown as a single line
``hpsearch: error: <what> (<how to fix>)`` with exit code 2; every other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from hpsearch._redact import redact


class UserError(Exception):
    """A mistake in what the user asked for, reported without a traceback."""

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None) -> None:
        # A message often names a location: never with its credentials, in the
        # CLI or in a notebook.
        self.what = redact(what)
        self.fix = None if fix is None else redact(fix)
        super().__init__(f"{self.what} ({self.fix})" if self.fix else self.what)
