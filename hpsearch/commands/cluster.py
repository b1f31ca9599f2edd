"""``hpsearch submit | jobs | status | logs | stop``: the same search on a Ray cluster.

The cluster's address comes from ``--address``, ``RAY_API_SERVER_ADDRESS``
or ``RAY_ADDRESS``; its token from ``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``. Plain http carries the
token only to this machine (the ``ray dashboard`` tunnel) unless
``--allow-insecure-token`` or ``HPSEARCH_ALLOW_INSECURE_TOKEN=1`` says otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import click

from hpsearch.commands.inspect import columns
from hpsearch.commands.run import _options, config_from_flags
from hpsearch.errors import UserError

#: Exit codes for a followed job: like a local run's.
_EXIT = {"SUCCEEDED": 0, "FAILED": 1, "STOPPED": 130}


def address_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--address``: the head's job API (the Ray dashboard), and whether plain
    http may carry the token to it."""
    fn = click.option(
        "--allow-insecure-token",
        is_flag=True,
        help="Send the token over plain http to another machine (a network you trust) "
        "[env HPSEARCH_ALLOW_INSECURE_TOKEN=1].",
    )(fn)
    return click.option(
        "--address",
        metavar="URL",
        help="The cluster's job API, http://HEAD:8265 [env RAY_API_SERVER_ADDRESS or RAY_ADDRESS].",
    )(fn)


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.command()
@_options
@address_option
@click.option(
    "--wait", is_flag=True, help="Stream the job's log until it ends; exit with its status."
)
def submit(
    config_file: str | None,
    address: str | None,
    allow_insecure_token: bool,
    wait: bool,
    **flags: Any,
) -> None:
    """Submit a search to a Ray cluster: the same flags and config file as `run`.

    Ships this machine's hpsearch and the validated config as a Ray Job whose
    entrypoint runs the very search `run` would. Results go to --storage,
    which every node must reach (s3://..., or file:///PATH on shared storage).

    \b
    Examples:
      hpsearch submit --address http://HEAD:8265 --storage s3://bucket/results
      hpsearch submit --config search.yaml --wait
    """
    config = config_from_flags(config_file, flags)  # every mistake stops here, offline
    from hpsearch.cluster import (
        check_no_credentials,
        check_shippable,
        connect,
        follow_logs,
        submit_search,
    )
    from hpsearch.storage import redact

    check_no_credentials(config)
    check_shippable(config)
    cluster = connect(address, allow_insecure_token)
    submitted = submit_search(cluster, config)
    click.echo(f"Submitted job {submitted.job_id} to {cluster.address}")
    click.echo(f"Results: {redact(submitted.location)}")
    if not wait:
        click.echo(
            f"Follow it with `hpsearch logs {submitted.job_id} --follow`; "
            f"inspect with `hpsearch best {redact(submitted.location)}`."
        )
        return
    status = follow_logs(cluster, submitted.job_id, click.echo)
    click.echo(f"Job {submitted.job_id}: {status}")
    sys.exit(_EXIT.get(status, 1))


@click.command()
@address_option
@click.option("--all", "show_all", is_flag=True, help="Also jobs not submitted by hpsearch.")
def jobs(address: str | None, allow_insecure_token: bool, show_all: bool) -> None:
    """List the cluster's jobs, newest first."""
    from hpsearch.cluster import connect, job_rows

    rows = [
        r
        for r in job_rows(connect(address, allow_insecure_token))
        if show_all or r["experiment"] != "-"
    ]
    if not rows:
        click.echo("No hpsearch jobs on this cluster.")
        return
    click.echo(
        columns(
            ["JOB", "STATUS", "EXPERIMENT", "STARTED", "ENDED"],
            [
                [
                    r["job_id"],
                    r["status"],
                    r["experiment"],
                    _when(r["start_time"]),
                    _when(r["end_time"]),
                ]
                for r in rows
            ],
        )
    )


@click.command()
@click.argument("job_id", metavar="JOB")
@address_option
def status(job_id: str, address: str | None, allow_insecure_token: bool) -> None:
    """One job: its status, its experiment, and where its results are."""
    from hpsearch.cluster import connect, job_row

    row = job_row(connect(address, allow_insecure_token), job_id)
    click.echo(
        f"{row['job_id']}: {row['status']}" + (f" ({row['message']})" if row["message"] else "")
    )
    click.echo(f"  experiment: {row['experiment']}")
    click.echo(f"  results:    {row['location']}")
    click.echo(f"  started:    {_when(row['start_time'])}   ended: {_when(row['end_time'])}")
    if row["location"] != "-" and "***" not in row["location"]:
        click.echo(f"  progress:   {_progress(row['location'])}")


def _progress(location: str) -> str:
    """The experiment's progress as its storage tells it, if reachable from here."""
    from hpsearch.experiments import load_experiment

    try:
        exp = load_experiment(location)
    except UserError:
        return "no results on storage yet"
    except OSError as exc:  # storage this machine cannot read
        return f"storage not readable from here ({' '.join(str(exc).split())[:120]})"
    best = exp.best_trial()
    value = best.best(exp.metric, exp.mode)[0] if best else None
    shown = f", best {exp.metric} {value:.4g}" if value is not None else ""
    return f"{exp.state}, {exp.done}/{exp.requested} trials ended{shown}"


@click.command()
@click.argument("job_id", metavar="JOB")
@address_option
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
def logs(job_id: str, address: str | None, allow_insecure_token: bool, follow: bool) -> None:
    """The job's log (the search's progress and summary)."""
    from hpsearch.cluster import connect, follow_logs

    final = follow_logs(connect(address, allow_insecure_token), job_id, click.echo, follow=follow)
    if follow:
        sys.exit(_EXIT.get(final, 1))


@click.command()
@click.argument("job_id", metavar="JOB")
@address_option
def stop(job_id: str, address: str | None, allow_insecure_token: bool) -> None:
    """Stop a job; the trials that ran stay on storage."""
    from hpsearch.cluster import connect, stop_job

    if stop_job(connect(address, allow_insecure_token), job_id):
        click.echo(f"Stopping {job_id}")
    else:
        click.echo(f"{job_id} had already ended")
