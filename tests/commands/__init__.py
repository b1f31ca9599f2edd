"""The command line's tests; :func:`every_command` walks the CLI for the tests that cover it all."""

from __future__ import annotations

import click

from hpsearch.commands import cli


def every_command(
    group: click.Group = cli, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Each command under ``group`` as (its path under ``hpsearch``, the command),
    groups included (the root as ``()``), depth first."""
    found: list[tuple[tuple[str, ...], click.Command]] = [(path, group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += every_command(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found
