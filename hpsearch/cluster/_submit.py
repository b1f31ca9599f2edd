"""Submitting a search to a Ray cluster as a Ray Job, and following it.

The job ships this machine's ``hpsearch`` package (``py_modules``) and a
working directory holding the validated config as JSON (and the data file
when it is small); its entrypoint calls the same ``run_search`` as
``hpsearch run``. Everything that can be refused is refused here, before
anything is uploaded.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hpsearch
from hpsearch.cluster._client import Cluster, job_error
from hpsearch.cluster._job import CONFIG_FILE
from hpsearch.config import SearchConfig, experiment_name
from hpsearch.errors import UserError
from hpsearch.storage import has_credentials, join, redact

#: A local data file at most this big travels with the job; larger ones must be on shared storage.
SHIP_LIMIT_BYTES = 64 * 1024 * 1024
ENTRYPOINT = "python -m hpsearch.cluster._job"
#: Job metadata keys (shown by ``hpsearch job list``); never secrets.
EXPERIMENT_KEY = "hpsearch_experiment"
LOCATION_KEY = "hpsearch_location"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class Submitted:
    """A submitted search: its job id and where its results will be."""

    job_id: str
    experiment: str
    location: str


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def check_storage(config: SearchConfig, nodes: int) -> str:
    """The results root every node can write to, or a UserError before submitting."""
    root = config.storage_root()
    if "://" not in root and nodes > 1:
        raise UserError(
            f"storage {root} is a path on this machine, but the cluster has {nodes} nodes "
            "that must all write results to one place",
            "use --storage s3://BUCKET/PREFIX, or file:///PATH on a filesystem every node mounts",
        )
    return root


def check_no_credentials(config: SearchConfig) -> None:
    """Refuse URIs that carry credentials (``secret_key=...``): the job's config
    stays on the cluster and reaches its logs. Checked before contacting it."""
    uris = {
        "--data": config.data,
        "--storage": config.storage_root(),
        "--warm-start": config.warm_start,
    }
    for flag, uri in uris.items():
        if uri is not None and has_credentials(uri):
            raise UserError(
                f"{flag} {redact(uri)} carries credentials, which a job would leave "
                "on the cluster and in its logs",
                "drop them from the URI and give the cluster's nodes their own: "
                "an instance role, or AWS_* variables in their environment",
            )


def check_shippable(config: SearchConfig) -> Path | None:
    """The local data file or directory the job must carry, if any; a UserError
    when it is missing or too big (checked before contacting the cluster)."""
    if config.data is None or "://" in config.data:
        return None  # built-in data, or a URI every node reads
    source = Path(config.data).expanduser()
    if not source.exists():
        raise UserError(f"data not found: {config.data!r}", "check the path or URI")
    size = _size(source)
    if size > SHIP_LIMIT_BYTES:
        raise UserError(
            f"--data {config.data} is {size / 2**20:.0f} MB; a job carries at most "
            f"{SHIP_LIMIT_BYTES // 2**20} MB",
            "put the table where the cluster reads it (s3://..., or file:///PATH on shared "
            "storage) and pass that URI",
        )
    return source


def stage_data(config: SearchConfig, folder: Path) -> str | None:
    """Copy a small local data file into the job's folder; the path the job will read."""
    source = check_shippable(config)
    if source is None:
        return config.data
    target = folder / "data" / source.name
    target.parent.mkdir()
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    # Relative to the job's files, where the entrypoint runs.
    return f"data/{source.name}"


def submit_search(cluster: Cluster, config: SearchConfig) -> Submitted:
    """Submit ``config`` as a Ray Job; returns once the cluster has accepted it."""
    check_no_credentials(config)
    nodes = len(cluster.alive_nodes())
    root = check_storage(config, nodes)
    name = experiment_name(config)
    location = join(root, name)
    # The job's files travel as a py_modules package of their own (not as
    # Ray's working_dir, which Ray replaces under a running driver: _job.py).
    package = "hpsearch_job_" + re.sub(r"\W", "_", name) + "_" + uuid.uuid4().hex[:8]
    staging = Path(tempfile.mkdtemp(prefix="hpsearch-submit-"))
    folder = staging / package
    folder.mkdir()
    try:
        data = stage_data(config, folder)
        # The name is fixed now, so the job id and the result location are known here.
        shipped = config.model_copy(update={"name": name, "data": data, "storage": root})
        (folder / CONFIG_FILE).write_text(json.dumps(shipped.to_json(), indent=2))
        runtime_env: dict[str, Any] = {
            # This machine's hpsearch, so the cluster runs the code that validated the config.
            "py_modules": [str(Path(hpsearch.__file__).parent), str(folder)],
            "excludes": ["__pycache__", "*.pyc"],
        }
        job_id = f"hpsearch-{name}"
        try:
            cluster.jobs().submit_job(
                entrypoint=f"{ENTRYPOINT} {package}",
                submission_id=job_id,
                runtime_env=runtime_env,
                metadata={EXPERIMENT_KEY: name, LOCATION_KEY: redact(location)},
            )
        except Exception as exc:  # Ray raises plain RuntimeError/ValueError for every refusal
            raise job_error(exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Submitted(job_id=job_id, experiment=name, location=location)


def follow_logs(
    cluster: Cluster, job_id: str, echo: Callable[[str], None], follow: bool = True
) -> str:
    """Print the job's log, and with ``follow`` keep printing until it ends; its status."""
    client = cluster.jobs()
    shown = 0
    while True:
        try:
            status = str(client.get_job_status(job_id))
            logs = client.get_job_logs(job_id)
        except Exception as exc:
            raise job_error(exc, job_id) from None
        if len(logs) > shown:
            echo(logs[shown:].rstrip("\n"))
            shown = len(logs)
        status = status.rsplit(".", 1)[-1]
        if not follow or status in TERMINAL:
            return status
        time.sleep(1.0)


def _row(job: Any) -> dict[str, Any]:
    """What hpsearch shows of one job (Ray's JobDetails or JobInfo)."""
    meta = job.metadata or {}
    return {
        "job_id": job.submission_id or getattr(job, "job_id", None),
        "status": str(job.status).rsplit(".", 1)[-1],
        "experiment": meta.get(EXPERIMENT_KEY, "-"),
        "location": meta.get(LOCATION_KEY, "-"),
        "start_time": job.start_time,
        "end_time": job.end_time,
        "message": job.message or "",
    }


def job_rows(cluster: Cluster) -> list[dict[str, Any]]:
    """The cluster's jobs, newest first, hpsearch's with their experiment."""
    try:
        jobs = cluster.jobs().list_jobs()
    except Exception as exc:
        raise job_error(exc) from None
    return sorted(map(_row, jobs), key=lambda r: r["start_time"] or 0, reverse=True)


def job_row(cluster: Cluster, job_id: str) -> dict[str, Any]:
    """One job's row (see :func:`job_rows`)."""
    try:
        job = cluster.jobs().get_job_info(job_id)
    except Exception as exc:
        raise job_error(exc, job_id) from None
    return {**_row(job), "job_id": job.submission_id or job_id}


def stop_job(cluster: Cluster, job_id: str) -> bool:
    """Ask the cluster to stop the job; False if it had already ended."""
    try:
        return bool(cluster.jobs().stop_job(job_id))
    except Exception as exc:
        raise job_error(exc, job_id) from None
