"""``hpsearch list | best | trials | export | report``: a search's results, from storage alone.

EXP is an experiment name under the storage root, a path, or a storage URI
(``s3://bucket/results/NAME``). Each command works on a finished, a running
and an interrupted search, with no Ray running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import click

from hpsearch.errors import UserError
from hpsearch.metrics import format_value

TRIAL_STATES = ("completed", "stopped", "diverged", "errored", "running", "interrupted")


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


def output_option(default: str | None, help: str) -> Callable[..., Any]:
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


fmt = format_value  # one formatter for every command and the report


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text columns, two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _duration(exp: Any) -> float | None:
    if exp.summary and "total_time_s" in exp.summary:
        return float(exp.summary["total_time_s"])
    started = exp.record.get("started_at")
    if not started:
        return None
    start = datetime.fromisoformat(started)
    if exp.state == "running":
        end = datetime.now(timezone.utc)
    else:  # the driver's last word: its heartbeat or a trial's last report
        end = datetime.fromisoformat((exp.status or {}).get("updated_at") or started)
        if exp.last_report is not None:
            end = max(end, datetime.fromtimestamp(exp.last_report, timezone.utc))
    return max((end - start).total_seconds(), 0.0)


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


@click.command(name="list")
@storage_option
def list_(storage: str | None) -> None:
    """List the experiments under the storage root, oldest first."""
    from hpsearch.config import default_storage
    from hpsearch.experiments import Unreadable, scan_experiments

    root = storage or default_storage()
    found = scan_experiments(root)
    if not found:
        click.echo(f"No experiments in {root} yet: start one with `hpsearch run`.")
        return
    rows = []
    for exp in found:
        if isinstance(exp, Unreadable):
            rows.append([exp.name, "unreadable", "-", exp.reason, "-", "-"])
            continue
        best = exp.best_trial()
        value = best.best(exp.metric, exp.mode)[0] if best else None
        rows.append(
            [
                exp.name,
                exp.state,
                f"{exp.done}/{exp.requested}",
                f"{exp.metric} {fmt(value)}",
                str(exp.record.get("started_at", "-")).replace("+00:00", "Z"),
                _hms(_duration(exp)),
            ]
        )
    click.echo(columns(["NAME", "STATE", "TRIALS", "BEST", "STARTED", "DURATION"], rows))


@click.command()
@exp_argument
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Print the best trial as JSON.")
def best(exp: str, storage: str | None, as_json: bool) -> None:
    """The best trial of EXP: configuration, validation and test scores, checkpoint."""
    from hpsearch.experiments import load_experiment

    experiment = load_experiment(exp, storage)
    info = experiment.best()
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    if info is None:
        click.echo(f"{experiment.name} ({experiment.state}): no trial has reported a score yet.")
        return
    test = info["test"]
    lines = [
        f"{experiment.name} ({experiment.state}"
        + (f": {experiment.state_reason}" if experiment.state_reason else "")
        + f"), {experiment.done}/{experiment.requested} trials ended",
        f"Best trial #{info['number']} ({info['trial_id']}, {info['state']}): "
        f"{info['metric']} {fmt(info['value'])} at epoch {info['epoch']} "
        f"of {info['epochs_trained']} trained",
        "  validation: " + ", ".join(f"{k} {fmt(v)}" for k, v in info["val"].items()),
        "  held-out test: "
        + (
            ", ".join(f"{k} {fmt(v)}" for k, v in test.items())
            if test
            else "not scored (the test split is scored once, when the search ends)"
        ),
        f"  trained for: {fmt(info['wall_time_s'])}s on {info['node'] or '-'}",
        f"  checkpoint: {info['checkpoint'] or '-'}",
        "  config:",
        *(f"    {k:<22} {fmt(v)}" for k, v in info["params"].items()),
    ]
    click.echo("\n".join(lines))


@click.command()
@exp_argument
@storage_option
@click.option("--top", type=click.IntRange(min=1), help="Show only the K best trials.")
@click.option("--sort", metavar="METRIC", help="Rank by this metric's best value (val_loss, ...).")
@click.option("--state", type=click.Choice(TRIAL_STATES), help="Only trials in this state.")
def trials(
    exp: str, storage: str | None, top: int | None, sort: str | None, state: str | None
) -> None:
    """The leaderboard of EXP: each trial's parameters, score, epochs and outcome."""
    from hpsearch.experiments import load_experiment

    experiment = load_experiment(exp, storage)
    metric = sort or experiment.metric
    known = {
        k
        for t in experiment.trials
        for row in t.history
        for k, v in row.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "epoch"
    }
    if sort and known and sort not in known:
        raise UserError(
            f"no metric {sort!r} in experiment {experiment.name!r}",
            f"choose one of: {', '.join(sorted(known))}",
        )
    ranked = experiment.leaderboard(top=top, sort=sort, state=state)
    if not ranked:
        click.echo(f"{experiment.name}: no trials" + (f" in state {state}" if state else ""))
        return
    mode = experiment.mode if metric == experiment.metric else None
    params = sorted({k for t in ranked for k in t.searched})
    rows = []
    for trial in ranked:
        value, epoch = trial.best(metric, mode)
        rows.append(
            [
                str(trial.number),
                trial.trial_id,
                trial.state,
                str(trial.epochs),
                fmt(value),
                str(epoch) if value is not None else "-",
                *(fmt(trial.searched.get(p)) for p in params),
                trial.node or "-",
                trial.reason,
            ]
        )
    header = ["#", "TRIAL", "STATE", "EPOCHS", metric.upper(), "AT", *params, "NODE", "WHY"]
    click.echo(columns(header, rows))


@click.command()
@exp_argument
@storage_option
@output_option(None, "File to write: .parquet, .csv, .feather or .arrow.")
def export(exp: str, storage: str | None, output: str) -> None:
    """Every trial and epoch of EXP as one tidy table (pandas, polars, DuckDB read it as is)."""
    from hpsearch.experiments import check_table_path, load_experiment, write_table

    check_table_path(output)
    table = load_experiment(exp, storage).trials_table()
    write_table(table, output)
    click.echo(f"Wrote {table.num_rows} rows x {table.num_columns} columns to {output}")


@click.command()
@exp_argument
@storage_option
@output_option("report.html", "HTML file to write (self-contained: opens offline).")
def report(exp: str, storage: str | None, output: str) -> None:
    """An HTML report of EXP: history, parallel coordinates, importances, learning curves."""
    from hpsearch.experiments import load_experiment

    if not output.lower().endswith((".html", ".htm")):
        raise UserError(f"cannot write report {output!r}: it must end in .html")
    path = load_experiment(exp, storage).report(output)
    click.echo(f"Wrote {path}")
