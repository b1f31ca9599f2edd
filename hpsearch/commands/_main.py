"""The ``hpsearch`` command line: parse arguments, call the package, nothing more.

The experiment verbs are top level; the Ray-job verbs are the ``job`` group.
Commands live in :mod:`hpsearch.commands`, one module per group. A user
mistake (a bad flag, a bad config, an unknown name) is one line
``hpsearch: error: ...`` and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from hpsearch.commands._shared import OrderedGroup
from hpsearch.commands.catalog import datasets, spaces
from hpsearch.commands.dashboard import dashboard
from hpsearch.commands.job import job
from hpsearch.commands.model import export_model, predict
from hpsearch.commands.results import best, export, list_, report, trials
from hpsearch.commands.search import resume, run
from hpsearch.errors import UserError
from hpsearch.redaction import redact
from hpsearch.signals import sigterm_as_interrupt


class HpsearchGroup(OrderedGroup):
    """The root group: it reports every usage error as one line, exit 2, and
    ends on SIGTERM as on Ctrl-C (exit 143 instead of 130)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        with sigterm_as_interrupt() as termination:
            try:
                result = super().main(*args, **kwargs)
            except click.exceptions.Exit as exc:
                sys.exit(exc.exit_code)
            except click.exceptions.NoArgsIsHelpError as exc:  # `hpsearch job`: its help, whole
                click.echo(exc.ctx.get_help(), err=True)
                sys.exit(2)
            except click.ClickException as exc:
                _fail(exc.format_message())
            except UserError as exc:
                _fail(str(exc))
            except click.exceptions.Abort:
                click.echo(f"hpsearch: {_ENDED[termination.received][0]}", err=True)
                sys.exit(_ENDED[termination.received][1])
        sys.exit(result if isinstance(result, int) else 0)


# SIGTERM or not: what was said and the exit code (the shell's 128 + signal).
_ENDED = {False: ("aborted", 130), True: ("terminated", 143)}


class RedactingStream:
    """A text stream that blanks credentials in all it writes (:func:`~hpsearch.redaction.redact`):
    whatever a command prints, a location given with a key never shows it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _fail(message: str) -> None:
    # One line, whatever the message held.
    click.echo(f"hpsearch: error: {' '.join(message.split())}", err=True)
    sys.exit(2)


@click.group(cls=HpsearchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpsearch")
def cli() -> None:
    """Hyperparameter search for PyTorch MLPs on Ray Tune with Optuna.

    Start with `hpsearch run`: it tunes an MLP on a built-in dataset on this
    machine and prints the best configuration and its held-out test score.
    The same search runs on a Ray cluster with `hpsearch job submit`.
    """


for command in (
    *(run, resume, list_, best, trials, export, report, dashboard, export_model, predict),
    *(spaces, datasets, job),
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    cli(prog_name="hpsearch")
