"""``hpsearch run``: a search on this machine, on an embedded Ray."""

from __future__ import annotations

import json
import sys
from typing import Any, get_args

import click

from hpsearch import experiments, tuning
from hpsearch.config import SamplerName, SchedulerName, SearchConfig


def _split_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _options(fn: Any) -> Any:
    """The flags shared by every command that defines a search (run; submit later)."""
    flags = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False),
            help="YAML config file; flags override its values.",
        ),
        click.option(
            "--dataset", help="Built-in dataset (see `hpsearch datasets`). [default: spirals]"
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
            "--sampler",
            type=click.Choice(get_args(SamplerName)),
            help="Optuna sampler. [default: tpe]",
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
        click.option(
            "--max-concurrent", type=int, help="Trials at once. [default: fill the machine]"
        ),
        click.option("--metric", help="Metric to optimize. [default: val_accuracy or val_rmse]"),
        click.option(
            "--mode", type=click.Choice(["min", "max"]), help="Direction. [default: the metric's]"
        ),
        click.option("--seed", type=int, help="Search seed. [default: 0]"),
        click.option("--name", help="Experiment name. [default: DATASET-SPACE-TIME-RANDOM]"),
        click.option(
            "--storage", help="Results root. [default: $HPSEARCH_STORAGE or ~/hpsearch-results]"
        ),
        click.option(
            "--checkpoint-every", type=int, help="Checkpoint every N epochs. [default: 5]"
        ),
        click.option(
            "--warm-start",
            metavar="EXP",
            help="Seed the sampler with a previous experiment's trials (same space and task).",
        ),
    ]
    for flag in reversed(flags):
        fn = flag(fn)
    return fn


def config_from_flags(config_file: str | None, flags: dict[str, Any]) -> Any:
    """A validated SearchConfig from a YAML file and the flags given (flags win)."""
    overrides = {k: v for k, v in flags.items() if v is not None}
    if config_file:
        return SearchConfig.from_yaml(config_file, overrides)
    return SearchConfig.from_mapping(overrides)


@click.command()
@_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress, only the summary.")
def run(config_file: str | None, as_json: bool, quiet: bool, **flags: Any) -> None:
    """Run a hyperparameter search on this machine.

    Trials run in parallel on an embedded Ray instance bound to 127.0.0.1;
    progress is printed as they finish; at the end the best trial is scored
    once on the held-out test split and a summary is written.

    \b
    Examples:
      hpsearch run
      hpsearch run --dataset rings --num-samples 16 --max-epochs 20
      hpsearch run --config search.yaml --seed 3
    """
    # Validate everything before Ray starts or anything is written.
    config = config_from_flags(config_file, flags)
    echo = None if quiet or as_json else click.echo
    result = tuning.run_search(config, echo=echo)
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, default=str))
    else:
        click.echo(tuning.format_summary(result.summary))
    sys.exit(experiments.exit_code(result.summary))  # 130 after Ctrl-C, 143 after SIGTERM


@click.command()
@click.argument("exp", metavar="EXP")
@click.option(
    "--storage", metavar="ROOT", envvar="HPSEARCH_STORAGE", help="Results root to find EXP in."
)
@click.option(
    "--num-samples", type=click.IntRange(min=1), help="Trials in all (default: as first asked)."
)
@click.option("--quiet", "-q", is_flag=True, help="No live progress, only the summary.")
def resume(exp: str, storage: str | None, num_samples: int | None, quiet: bool) -> None:
    """Continue an interrupted search, or add trials to a finished one.

    Trials that ended are not rerun; unfinished ones continue from their last
    checkpoint; Optuna and the early-stopping scheduler keep everything they
    learned. EXP may be on a storage URI.

    \b
    Examples:
      hpsearch resume spirals-mlp-20261127-101500
      hpsearch resume spirals-mlp-20261127-101500 --num-samples 64
      hpsearch resume houses --storage 's3://bucket/results?region=eu-west-1'
    """
    result = tuning.resume_search(exp, storage, num_samples, echo=None if quiet else click.echo)
    click.echo(tuning.format_summary(result.summary))
    sys.exit(experiments.exit_code(result.summary))
