"""``hpsearch job submit | list | status | logs | stop``: the same search as a Ray Job on a cluster.

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

from hpsearch import cluster, experiments, storage
from hpsearch.commands._shared import OrderedGroup, columns, config_from_flags, search_options
from hpsearch.errors import UserError
from hpsearch.metrics import format_value

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


@click.group(cls=OrderedGroup)
def job() -> None:
    """Run a search on a Ray cluster as a Ray Job, and follow, list or stop jobs.

    `hpsearch job submit` takes the same flags and config file as `hpsearch
    run`; results go to storage every node reaches, and the experiment verbs
    (`hpsearch best`, `trials`, `export`, ...) read them from here.
    """


@job.command()
@search_options
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
      hpsearch job submit --address http://HEAD:8265 --storage s3://bucket/results
      hpsearch job submit --config search.yaml --wait
    """
    config = config_from_flags(config_file, flags)  # every mistake stops here, offline
    cluster.check_no_credentials(config)
    cluster.check_shippable(config)
    head = cluster.connect(address, allow_insecure_token)
    submitted = cluster.submit_search(head, config)
    location = storage.redact(submitted.location)
    click.echo(f"Submitted job {submitted.job_id} to {head.address}")
    click.echo(f"Results: {location}")
    if not wait:
        click.echo(
            f"Follow it with `hpsearch job logs {submitted.job_id} --follow`; "
            f"inspect with `hpsearch best {location}`."
        )
        return
    status = cluster.follow_logs(head, submitted.job_id, click.echo)
    click.echo(f"Job {submitted.job_id}: {status}")
    sys.exit(_EXIT.get(status, 1))


@job.command(name="list")
@address_option
@click.option("--all", "show_all", is_flag=True, help="Also jobs not submitted by hpsearch.")
def list_jobs(address: str | None, allow_insecure_token: bool, show_all: bool) -> None:
    """List the cluster's jobs, newest first."""
    rows = [
        r
        for r in cluster.job_rows(cluster.connect(address, allow_insecure_token))
        if show_all or r["experiment"] != "-"
    ]
    if not rows:
        click.echo("No hpsearch jobs on this cluster.")
        return
    header = ["JOB", "STATUS", "EXPERIMENT", "STARTED", "ENDED"]
    click.echo(
        columns(
            header,
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


@job.command()
@click.argument("job_id", metavar="JOB")
@address_option
def status(job_id: str, address: str | None, allow_insecure_token: bool) -> None:
    """One job: its status, its experiment, and where its results are."""
    row = cluster.job_row(cluster.connect(address, allow_insecure_token), job_id)
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
    try:
        exp = experiments.load_experiment(location)
    except UserError:
        return "no results on storage yet"
    except OSError as exc:  # storage this machine cannot read
        return f"storage not readable from here ({' '.join(str(exc).split())[:120]})"
    best = exp.best_trial()
    value = best.score(exp.metric, exp.mode)[0] if best else None
    shown = f", best {exp.metric} {format_value(value)}" if value is not None else ""
    return f"{exp.state}, {exp.done}/{exp.requested} trials ended{shown}"


@job.command()
@click.argument("job_id", metavar="JOB")
@address_option
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
def logs(job_id: str, address: str | None, allow_insecure_token: bool, follow: bool) -> None:
    """The job's log (the search's progress and summary)."""
    head = cluster.connect(address, allow_insecure_token)
    final = cluster.follow_logs(head, job_id, click.echo, follow=follow)
    if follow:
        sys.exit(_EXIT.get(final, 1))


@job.command()
@click.argument("job_id", metavar="JOB")
@address_option
def stop(job_id: str, address: str | None, allow_insecure_token: bool) -> None:
    """Stop a job; the trials that ran stay on storage."""
    if cluster.stop_job(cluster.connect(address, allow_insecure_token), job_id):
        click.echo(f"Stopping {job_id}")
    else:
        click.echo(f"{job_id} had already ended")
