"""``hpsearch spaces`` and ``hpsearch datasets``: what can be searched, on what."""

from __future__ import annotations

import click

from hpsearch import data


@click.command()
@click.argument("name", required=False)
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    default="classification",
    show_default=True,
    help="Describe the space as it is for this task (losses differ).",
)
def spaces(name: str | None, task: str) -> None:
    """List the registered search spaces and the parameters each one samples.

    NAME shows one space (a registered name or package.module:function).
    Parameters marked 'conditional' exist only for some choices of others.
    """
    # Here, not at the top: hpsearch.spaces imports Optuna, which --help and list need not load.
    from hpsearch.spaces import SPACES, SpaceContext, describe_space, get_space

    names = [name] if name else list(SPACES)
    ctx = SpaceContext(task=task)  # type: ignore[arg-type]
    for space_name in names:
        fn = get_space(space_name)
        entry = SPACES.get(space_name)
        click.echo(f"{space_name}: {entry.summary if entry else 'user space'}")
        for param in describe_space(fn, ctx):
            flag = "  (conditional)" if param.conditional else ""
            click.echo(f"    {param.name:<26} {param.distribution}{flag}")
        if entry and entry.options is not None:
            click.echo(
                f"    narrow it under space_options: {', '.join(entry.options.model_fields)}"
            )
        click.echo()


@click.command()
def datasets() -> None:
    """List the built-in datasets."""
    for name, spec in data.DATASETS.items():
        mark = " (default)" if name == data.DEFAULT_DATASET else ""
        click.echo(f"{name:<14} {spec.task:<15} {spec.summary.replace(' (default)', '')}{mark}")
