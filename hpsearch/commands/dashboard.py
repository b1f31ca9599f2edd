"""``hpsearch dashboard``: Optuna's dashboard, read-only, on a search's study, live.

EXP is an experiment name under the storage root, a path, or a storage URI.
No Ray and no torch: it reads the study journal the search writes.
"""

from __future__ import annotations

import click

from hpsearch import experiments
from hpsearch.commands._shared import exp_argument, storage_option


@click.command()
@exp_argument
@storage_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 to serve on. [default: a free one]",
)
def dashboard(exp: str, storage: str | None, port: int) -> None:
    """Serve Optuna's dashboard on EXP, live and read-only, until Ctrl-C.

    Trials appear as the search runs them, with their learning curves, the
    optimization history, parameter importances and the trial table. It
    listens on 127.0.0.1 only; from another machine, use an SSH tunnel
    (ssh -L 8080:127.0.0.1:PORT HOST, then open http://127.0.0.1:8080).
    """
    experiment = experiments.load_experiment(exp, storage)
    server = experiments.serve_dashboard(experiment, port=port)
    try:
        click.echo(f"Dashboard of {experiment.name}: {server.url}")
        if not server.live:
            click.echo(
                "(written before hpsearch kept a study journal: its trials as recorded, "
                "not updated)"
            )
        click.echo("Read-only. Press Ctrl-C to stop.")
        server.wait()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the way a dashboard ends, not an error
        click.echo("Dashboard stopped.", err=True)
    finally:
        server.shutdown()
