"""``hpsearch list | best | trials | export | report``: a search's results, from storage alone.

EXP is an experiment name under the storage root, a path, or a storage URI
(``s3://bucket/results/NAME``). Each command works on a finished, a running
and an interrupted search, with no Ray running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import click

from hpsearch import experiments
from hpsearch.commands._shared import columns, exp_argument, output_option, storage_option
from hpsearch.config import default_storage
from hpsearch.errors import UserError
from hpsearch.metrics import format_value
from hpsearch.objectives import Constraint, parse_constraints


def _duration(exp: experiments.Experiment) -> float | None:
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


def _list_row(exp: experiments.Experiment | experiments.Unreadable) -> list[str]:
    if isinstance(exp, experiments.Unreadable):
        return [exp.name, "unreadable", "-", exp.reason, "-", "-"]
    best = exp.best_trial()
    value = best.score(exp.metric, exp.mode)[0] if best else None
    return [
        exp.name,
        exp.state,
        f"{exp.done}/{exp.requested}",
        f"{exp.metric} {format_value(value)}",
        str(exp.record.get("started_at", "-")).replace("+00:00", "Z"),
        _hms(_duration(exp)),
    ]


@click.command(name="list")
@storage_option
def list_(storage: str | None) -> None:
    """List the experiments under the storage root, oldest first."""
    root = storage or default_storage()
    found = experiments.scan_experiments(root)
    if not found:
        click.echo(f"No experiments in {root} yet: start one with `hpsearch run`.")
        return
    header = ["NAME", "STATE", "TRIALS", "BEST", "STARTED", "DURATION"]
    click.echo(columns(header, [_list_row(exp) for exp in found]))


def _point_lines(info: dict[str, Any]) -> list[str]:
    """Several objectives, constraints or a pick: the trial's point, and what was picked."""
    if "values" not in info:
        return []
    values = ", ".join(f"{k} {format_value(v)}" for k, v in info["values"].items())
    lines = [f"  at epoch {info['epoch']}: {values}"]
    if info.get("pick"):
        also = " (and the search's constraints)" if info.get("constraints") else ""
        lines.append(
            f"  picked: the best {info['metric']} among the trials meeting "
            + ", ".join(info["pick"])
            + also
        )
    return lines


def _best_text(experiment: experiments.Experiment, info: dict[str, Any]) -> str:
    test = info["test"]
    reason = f": {experiment.state_reason}" if experiment.state_reason else ""
    lines = [
        f"{experiment.name} ({experiment.state}{reason}), "
        f"{experiment.done}/{experiment.requested} trials ended",
        f"Best trial #{info['number']} ({info['trial_id']}, {info['state']}): "
        f"{info['metric']} {format_value(info['value'])} at epoch {info['epoch']} "
        f"of {info['epochs_trained']} trained",
        "  validation: " + ", ".join(f"{k} {format_value(v)}" for k, v in info["val"].items()),
        "  held-out test: "
        + (
            ", ".join(f"{k} {format_value(v)}" for k, v in test.items())
            if test
            else "not scored (the test split is scored once, when the search ends)"
        ),
        *_point_lines(info),
        f"  trained for: {format_value(info['wall_time_s'])}s on {info['node'] or '-'}",
        f"  checkpoint: {info['checkpoint'] or '-'}",
        "  config:",
        *(f"    {k:<22} {format_value(v)}" for k, v in info["params"].items()),
    ]
    return "\n".join(lines)


def _front_text(experiment: experiments.Experiment, front: list[dict[str, Any]]) -> str:
    """The Pareto front as a table: each member's point, size and searched values."""
    reason = f": {experiment.state_reason}" if experiment.state_reason else ""
    bounds = ", ".join(c.text for c in experiment.constraints)
    head = [
        f"{experiment.name} ({experiment.state}{reason}), "
        f"{experiment.done}/{experiment.requested} trials ended",
        f"Pareto front of {', '.join(o.text for o in experiment.objectives)}"
        + (f", among trials meeting {bounds}" if bounds else "")
        + f": {len(front)} trial{'s' if len(front) != 1 else ''}, each at the epoch where its "
        f"{experiment.metric} was best",
    ]
    if not front:
        meets = " and meets the constraints" if bounds else ""
        return "\n".join([*head, f"  no trial is on it yet (none has a usable score{meets})"])
    metrics = list(experiment.point_metrics)
    size = [] if "num_params" in metrics else ["num_params"]
    searched = {t.number: t.searched for t in experiment.trials}
    params = sorted({k for f in front for k in searched.get(f["number"], {})})
    rows = [
        [
            str(f["number"]),
            f["trial_id"],
            f["state"],
            str(f["epoch"]),
            *(format_value(f["values"][m]) for m in metrics),
            *(format_value(f["num_params"]) for _ in size),
            *(format_value(searched.get(f["number"], {}).get(p)) for p in params),
        ]
        for f in front
    ]
    header = ["#", "TRIAL", "STATE", "AT", *(m.upper() for m in metrics + size), *params]
    hint = (
        f"Pick one: `hpsearch best {experiment.name} --pick 'METRIC<=NUMBER'` (the best "
        f"{experiment.metric} among those meeting it); "
        f"`hpsearch export-model {experiment.name} --trial N` exports trial N."
    )
    return "\n".join([*head, columns(header, rows), hint])


def _pick_conditions(
    experiment: experiments.Experiment, picks: tuple[str, ...]
) -> tuple[Constraint, ...]:
    """The ``--pick`` conditions, each as a constraint; a malformed one is a UserError."""
    try:
        return parse_constraints(picks, experiment.record.get("task"))
    except UserError as exc:
        fix = exc.fix if exc.fix and "--constraint" not in exc.fix else None
        raise UserError(f"--pick: {exc.what}", fix or "e.g. --pick 'latency_ms<=1'") from None


def _nothing_meets(experiment: experiments.Experiment, pick: tuple[Constraint, ...]) -> UserError:
    """Why no trial can be picked: a metric no trial reported, or no trial meets it all."""
    reported = {k for t in experiment.trials for row in t.history for k in row}
    missing = [c.metric for c in pick if c.metric not in reported]
    if missing and experiment.trials:
        return UserError(
            f"no trial of {experiment.name!r} reported {', '.join(dict.fromkeys(missing))}",
            "latency is measured only when an objective or a constraint of the search names it",
        )
    which = "feasible trial" if experiment.constraints else "trial"
    return UserError(
        f"no {which} of {experiment.name!r} meets {', '.join(c.text for c in pick)}",
        f"loosen it; `hpsearch best {experiment.name}` shows what there is",
    )


@click.command()
@exp_argument
@storage_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the best trial (or the front) as JSON."
)
@click.option(
    "--pick",
    "picks",
    multiple=True,
    metavar="CONDITION",
    help="The best trial by the primary objective among the feasible ones that meet "
    "CONDITION, e.g. 'latency_ms<=1' (repeatable: all must hold).",
)
def best(exp: str, storage: str | None, as_json: bool, picks: tuple[str, ...]) -> None:
    """The best trial of EXP: configuration, validation and test scores, checkpoint;
    and the ensemble of the top trials against it (the final model where adopted).

    A search of several objectives shows its Pareto front instead; --pick chooses one.
    """
    experiment = experiments.load_experiment(exp, storage)
    pick = _pick_conditions(experiment, picks) if picks else ()
    if experiment.multi_objective and not pick:
        front = experiment.front_entries()
        if as_json:
            data = {
                "experiment": experiment.name,
                "experiment_state": experiment.state,
                "objectives": [o.text for o in experiment.objectives],
                "constraints": [c.text for c in experiment.constraints],
                "front": front,
            }
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            click.echo(_front_text(experiment, front))
        return
    info = experiment.best(pick)
    if info is None and pick:
        raise _nothing_meets(experiment, pick)
    summary = experiment.summary or {}
    # The final model beside the best trial, as the search judged them (not for a pick).
    final = {} if pick or info is None else _final_model(summary)
    if as_json:
        click.echo(json.dumps(None if info is None else info | final, indent=2, default=str))
    elif info is None:
        click.echo(f"{experiment.name} ({experiment.state}): no trial has reported a score yet.")
    else:
        text = _best_text(experiment, info)
        line = experiments.ensemble_line(summary) if final else None
        click.echo(text + (f"\n{line}" if line else ""))


def _final_model(summary: dict[str, Any]) -> dict[str, Any]:
    """What the summary says of the final model: ``final`` (``ensemble`` or ``best``),
    the ensemble (or why there is none) and the median trial's score; nothing for a
    summary written before ensembles."""
    keys = ("final", "ensemble", "ensemble_skipped", "median_value")
    return {k: summary[k] for k in keys if k in summary} if "final" in summary else {}


def _check_sort_metric(experiment: experiments.Experiment, sort: str | None) -> None:
    """Refuse a --sort metric that no trial reported (once any trial reported one)."""
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


@click.command()
@exp_argument
@storage_option
@click.option("--top", type=click.IntRange(min=1), help="Show only the K best trials.")
@click.option("--sort", metavar="METRIC", help="Rank by this metric's best value (val_loss, ...).")
@click.option(
    "--state", type=click.Choice(experiments.TRIAL_STATES), help="Only trials in this state."
)
def trials(
    exp: str, storage: str | None, top: int | None, sort: str | None, state: str | None
) -> None:
    """The leaderboard of EXP: each trial's parameters, score, epochs and outcome."""
    experiment = experiments.load_experiment(exp, storage)
    _check_sort_metric(experiment, sort)
    ranked = experiment.leaderboard(top=top, sort=sort, state=state)
    if not ranked:
        click.echo(f"{experiment.name}: no trials" + (f" in state {state}" if state else ""))
        return
    metric = sort or experiment.metric
    mode = experiment.mode if metric == experiment.metric else None
    params = sorted({k for t in ranked for k in t.searched})
    # Several objectives or constraints: each trial's point (the sorted metric has its
    # own column), front and feasibility.
    others = (
        [m for m in experiment.point_metrics if m != metric]
        if len(experiment.point_metrics) > 1
        else []
    )
    front = {t.number for t in experiment.front()} if experiment.multi_objective else set()
    marks: list[tuple[str, Callable[[experiments.TrialRecord], str]]] = []
    if experiment.multi_objective:
        marks.append(("FRONT", lambda t: "yes" if t.number in front else "-"))
    if experiment.constraints:
        marks.append(("FEASIBLE", lambda t: "yes" if experiment.feasible(t) else "no"))
    rows = []
    for trial in ranked:
        value, epoch = trial.score(metric, mode)
        point = experiment.point(trial, others) if others else {}
        rows.append(
            [
                str(trial.number),
                trial.trial_id,
                trial.state,
                str(trial.epochs),
                format_value(value),
                str(epoch) if value is not None else "-",
                *(format_value(point[m]) for m in others),
                *(mark(trial) for _, mark in marks),
                *(format_value(trial.searched.get(p)) for p in params),
                trial.node or "-",
                trial.reason,
            ]
        )
    header = [
        *("#", "TRIAL", "STATE", "EPOCHS", metric.upper(), "AT"),
        *(m.upper() for m in others),
        *(name for name, _ in marks),
        *(*params, "NODE", "WHY"),
    ]
    click.echo(columns(header, rows))


@click.command()
@exp_argument
@storage_option
@output_option(None, "File to write: .parquet, .csv, .feather or .arrow.")
def export(exp: str, storage: str | None, output: str) -> None:
    """Every trial and epoch of EXP as one tidy table (pandas, polars, DuckDB read it as is)."""
    experiments.check_table_path(output)
    table = experiments.load_experiment(exp, storage).trials_table()
    experiments.write_table(table, output)
    click.echo(f"Wrote {table.num_rows} rows x {table.num_columns} columns to {output}")


@click.command()
@exp_argument
@storage_option
@output_option("report.html", "HTML file to write (self-contained: opens offline).")
def report(exp: str, storage: str | None, output: str) -> None:
    """An HTML report of EXP: history, parallel coordinates, importances, learning curves."""
    if not output.lower().endswith((".html", ".htm")):
        raise UserError(f"cannot write report {output!r}: it must end in .html")
    path = experiments.load_experiment(exp, storage).report(output)
    click.echo(f"Wrote {path}")
