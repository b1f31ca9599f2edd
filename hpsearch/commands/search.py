"""``hpsearch run`` and ``hpsearch resume``: a search on this machine, on an embedded Ray."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from hpsearch import experiments, tuning
from hpsearch.commands._shared import (
    config_from_flags,
    exp_argument,
    search_options,
    storage_option,
)


@click.command()
@search_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress, only the summary.")
def run(config_file: str | None, as_json: bool, quiet: bool, **flags: Any) -> None:
    """Run a hyperparameter search on this machine.

    Trials run in parallel on an embedded Ray instance bound to 127.0.0.1;
    progress is printed as they finish; at the end the best trial, and an
    ensemble of the top trials, are scored once on the held-out test split
    and a summary is written.

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
@exp_argument
@storage_option
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
