"""What several command groups share: the search flags, EXP and --storage, -o, text columns.

The formatter is :func:`hpsearch.metrics.format_value`, the one every
command and the report use; commands import it from there.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, get_args

import click

from hpsearch.config import SamplerName, SchedulerName, SearchConfig

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _split_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _none_if_empty(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...] | None:
    # A repeatable flag given no times is (), which would override the config file's list.
    return value or None


# The flags of every command that defines a search (`run`, `job submit`). None has a
# default: an absent flag must leave the config file's value alone.
_SEARCH_FLAGS: list[Decorator] = [
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        help="YAML config file; flags override its values.",
    ),
    click.option(
        "--dataset", help="Built-in dataset (see `hpsearch datasets`). [default: teacher]"
    ),
    click.option("--data", help="Your table: Parquet/CSV/Arrow file, directory or URI."),
    click.option("--target", help="Column to predict (with --data)."),
    click.option(
        "--features",
        callback=_split_list,
        help="Comma-separated input columns. [default: all but the target]",
    ),
    click.option(
        "--task",
        type=click.Choice(["auto", "classification", "regression"]),
        help="[default: auto; the choice is printed]",
    ),
    click.option(
        "--missing",
        type=click.Choice(["impute", "error"]),
        help="Missing feature values: impute with an indicator, or refuse. [default: impute]",
    ),
    click.option("--val-fraction", type=float, help="Validation share of rows. [default: 0.2]"),
    click.option("--test-fraction", type=float, help="Held-out test share. [default: 0.2]"),
    click.option("--split-column", help="Column of train/val/test labels (no random split)."),
    click.option("--input-shape", help="HxW or CxHxW: the features are image pixels."),
    click.option("--space", help="Space name or package.module:function. [default: mlp]"),
    click.option(
        "--sampler", type=click.Choice(get_args(SamplerName)), help="Optuna sampler. [default: tpe]"
    ),
    click.option(
        "--scheduler",
        type=click.Choice(get_args(SchedulerName)),
        help="Early stopping. [default: asha]",
    ),
    click.option("--num-samples", type=int, help="Number of trials. [default: 32]"),
    click.option("--max-epochs", type=int, help="Epochs per trial at most. [default: 40]"),
    click.option("--grace-period", type=int, help="Epochs before early stopping. [default: 4]"),
    click.option(
        "--ensemble-size",
        type=int,
        metavar="N",
        help="Picks of the final ensemble of the top trials at most; 0 turns it off. [default: 16]",
    ),
    click.option(
        "--pack",
        metavar="K|auto",
        help="Trials trained together as one batched model per worker; auto sizes packs "
        "from the trial count and the CPU/GPU slots, and on CPUs packs only models small "
        "enough to gain; 1 trains each trial alone. [default: 1]",
    ),
    click.option(
        "--time-budget",
        "time_budget_s",
        type=float,
        help="Seconds after which no new trial starts and running ones stop.",
    ),
    click.option("--cpus-per-trial", type=float, help="CPUs per trial. [default: 1]"),
    click.option(
        "--gpus-per-trial",
        type=float,
        help="GPUs per trial; 0.25 runs 4 trials per GPU. [default: 0]",
    ),
    click.option("--max-concurrent", type=int, help="Trials at once. [default: fill the machine]"),
    click.option("--metric", help="Metric to optimize. [default: val_accuracy or val_rmse]"),
    click.option(
        "--mode", type=click.Choice(["min", "max"]), help="Direction. [default: the metric's]"
    ),
    click.option(
        "--objective",
        "objectives",
        metavar="LIST",
        multiple=True,
        callback=_none_if_empty,
        help="Objectives, e.g. val_accuracy:max,latency_ms:min (several, or repeated: a "
        "Pareto front; the first is the one each trial keeps its best epoch by).",
    ),
    click.option(
        "--constraint",
        "constraints",
        metavar="BOUND",
        multiple=True,
        callback=_none_if_empty,
        help="A bound a trial must meet, e.g. 'num_params<=20000' (repeatable).",
    ),
    click.option("--seed", type=int, help="Search seed. [default: 0]"),
    click.option("--name", help="Experiment name. [default: DATASET-SPACE-TIME-RANDOM]"),
    click.option(
        "--storage", help="Results root. [default: $HPSEARCH_STORAGE or ~/hpsearch-results]"
    ),
    click.option("--checkpoint-every", type=int, help="Checkpoint every N epochs. [default: 5]"),
    click.option(
        "--warm-start",
        metavar="EXP",
        help="Seed the sampler with a previous experiment's trials (same space and task).",
    ),
]


def search_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags that define a search: ``--config`` and one flag per config key."""
    for flag in reversed(_SEARCH_FLAGS):
        fn = flag(fn)
    return fn


def config_from_flags(config_file: str | None, flags: dict[str, Any]) -> SearchConfig:
    """A validated SearchConfig from a YAML file and the flags given (flags win)."""
    overrides = {k: v for k, v in flags.items() if v is not None}
    if config_file:
        return SearchConfig.from_yaml(config_file, overrides)
    return SearchConfig.from_mapping(overrides)


def storage_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--storage``: the root experiment names are looked up in."""
    return click.option(
        "--storage",
        metavar="ROOT",
        envvar="HPSEARCH_STORAGE",
        help="Results root (path or URI) to find EXP in [env HPSEARCH_STORAGE; "
        "default ~/hpsearch-results].",
    )(fn)


def exp_argument(fn: Callable[..., Any]) -> Callable[..., Any]:
    """EXP: a name under the storage root, a path or a URI."""
    return click.argument("exp", metavar="EXP")(fn)


def output_option(default: str | None, help: str) -> Decorator:
    """``-o/--output FILE``: where a command writes (required without a default)."""
    return click.option(
        "-o",
        "--output",
        default=default,
        required=default is None,
        show_default=default is not None,
        type=click.Path(dir_okay=False, writable=True),
        help=help,
    )


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text columns, two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


class OrderedGroup(click.Group):
    """A group that lists its commands in the order they were added (the README's),
    and answers an unknown command with where it is or what is close to it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            raise click.UsageError(self._no_such_command(ctx, exc.command_name), ctx) from None

    def _no_such_command(self, ctx: click.Context, name: str) -> str:
        """The fix for an unknown ``name``: the command of that name in another group
        (`hpsearch status` -> `hpsearch job status`), else the close names here."""
        root = ctx.find_root()
        tree = root.command if isinstance(root.command, click.Group) else self
        found = [path for path, leaf in _paths(tree, root.info_name or "") if leaf == name]
        if name in _RENAMED:
            found = [f"{root.info_name} {_RENAMED[name]}"]
        if not found:
            close = difflib.get_close_matches(name, list(self.commands))
            found = [f"{ctx.command_path} {n}" for n in close]
        if not found:
            return f"No such command {name!r} (`{ctx.command_path} --help` lists them)"
        return f"No such command {name!r} (did you mean {' or '.join(f'`{p}`' for p in found)}?)"


# Commands of 0.1.0 whose name changed when they moved into a group.
_RENAMED = {"jobs": "job list"}


def _paths(group: click.Group, prefix: str) -> Iterator[tuple[str, str]]:
    """(full path, name) of every command under ``group``, groups included."""
    for name, command in group.commands.items():
        yield f"{prefix} {name}", name
        if isinstance(command, click.Group):
            yield from _paths(command, f"{prefix} {name}")
