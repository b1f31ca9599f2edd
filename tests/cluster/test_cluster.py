"""The same search on a real two-node Ray cluster (network namespaces, token auth, S3 storage).

Every test talks only to addresses the cluster fixture creates.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.data.conftest import mixed_table
from tests.netns import NetnsCluster, kill_marked, netns_cluster
from tests.searches import HPSEARCH

pytestmark = [pytest.mark.ray, pytest.mark.slow]
SMALL = ["--space", "quick", "--num-samples", "4", "--max-epochs", "3", "--max-concurrent", "2"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[NetnsCluster]:
    with netns_cluster() as c:
        yield c


def hpsearch(
    cluster: NetnsCluster, *args: str, token: str | None = "default", timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HPSEARCH, *args],
        env=cluster.env(token),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cluster.work,
    )


def test_a_submitted_search_runs_on_both_nodes_and_is_inspected_from_here(
    cluster: NetnsCluster, tmp_path: Path
) -> None:
    storage = cluster.s3_uri("results")
    run = hpsearch(
        cluster, "job", "submit", "--address", cluster.address, *SMALL,
        "--storage", storage, "--name", "on-cluster", "--wait",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Submitted job hpsearch-on-cluster" in run.stdout
    assert "hpsearch: 4 trials of space 'quick'" in run.stdout  # the job's log, streamed
    assert "Job hpsearch-on-cluster: SUCCEEDED" in run.stdout
    assert "Uploading package" not in run.stdout + run.stderr  # Ray's SDK chatter is silenced
    assert "Connecting to existing Ray cluster" not in run.stdout

    experiment = cluster.s3_uri("results/on-cluster")
    best = hpsearch(cluster, "best", experiment, "--json")
    assert best.returncode == 0, best.stderr
    info = json.loads(best.stdout)
    assert info["experiment_state"] == "finished" and info["test"]["test_accuracy"] > 0.5
    assert info["checkpoint"].startswith("s3://lab/results/on-cluster/trial_")
    exported = hpsearch(cluster, "export", experiment, "-o", str(tmp_path / "t.csv"))
    assert exported.returncode == 0, exported.stderr
    nodes = set(pacsv.read_csv(tmp_path / "t.csv").column("node_ip").to_pylist())
    assert nodes == {cluster.head_ip, cluster.worker_ip}  # trials ran on both nodes
    listing = hpsearch(cluster, "trials", experiment)
    assert cluster.worker_ip in listing.stdout


def test_gpu_trials_of_a_job_with_a_table_land_on_the_gpu_node(
    cluster: NetnsCluster, tmp_path: Path
) -> None:
    """One job for two checks (each job costs ~10 s of start-up): its GPU trials run on
    the node that has the GPU, and its driver survives Ray re-extracting the job's
    working_dir when it connects. Before that fix, torch's oneMKL aborted the driver
    ("Cannot load libtorch_cpu.so") in 3 of 3 runs. The table travels with the job, so
    its relative path must work too."""
    data = tmp_path / "customers.parquet"
    pq.write_table(mixed_table(n=600).drop_columns(["price"]), data)
    run = hpsearch(
        cluster, "job", "submit", "--address", cluster.address, "--data", str(data),
        "--target", "label", "--space", "quick", "--num-samples", "3", "--max-epochs", "2",
        "--gpus-per-trial", "0.5", "--cpus-per-trial", "0.5",
        "--storage", cluster.s3_uri("gpu"), "--name", "gpu", "--wait",
    )  # fmt: skip
    assert "oneMKL" not in run.stdout + run.stderr
    assert run.returncode == 0, f"{run.stdout}{run.stderr}"
    exported = hpsearch(cluster, "export", cluster.s3_uri("gpu/gpu"), "-o", str(tmp_path / "t.csv"))
    assert exported.returncode == 0, exported.stderr
    nodes = set(pacsv.read_csv(tmp_path / "t.csv").column("node_ip").to_pylist())
    assert nodes == {cluster.worker_ip}


def test_jobs_are_listed_followed_and_stopped(cluster: NetnsCluster) -> None:
    storage = cluster.s3_uri("stopped")
    submit = hpsearch(
        cluster, "job", "submit", "--address", cluster.address, "--space", "quick",
        "--num-samples", "200", "--max-epochs", "5", "--scheduler", "none",
        "--storage", storage, "--name", "long",
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    assert "hpsearch job logs hpsearch-long --follow" in submit.stdout
    job = "hpsearch-long"
    try:
        _list_status_stop(cluster, job)
    finally:  # a failure must not leave 200 trials running under the tests that follow
        hpsearch(cluster, "job", "stop", job, "--address", cluster.address)
    # What ran is on storage and answers from here.
    best = hpsearch(cluster, "best", cluster.s3_uri("stopped/long"))
    assert best.returncode == 0 and "Best trial #" in best.stdout, best.stderr


def _list_status_stop(cluster: NetnsCluster, job: str) -> None:
    """A running job's list row and status (once a trial has ended), then its stop."""
    deadline = time.monotonic() + 120
    while True:  # until the job's log tells of a trial that ended
        logs = hpsearch(cluster, "job", "logs", job, "--address", cluster.address)
        if "done)" in logs.stdout:
            break
        assert time.monotonic() < deadline, logs.stdout + logs.stderr
        time.sleep(1)
    jobs = hpsearch(cluster, "job", "list", "--address", cluster.address)
    row = next(line for line in jobs.stdout.splitlines() if line.startswith(job + " "))
    assert row.split()[1:3] == ["RUNNING", "long"]
    # The status reads the experiment on storage, where Tune syncs a trial's results
    # every few seconds after the job's log tells of it: it may lag.
    progress = r"progress: +running, \d+/200 trials ended, best val_accuracy"
    while True:
        status = hpsearch(cluster, "job", "status", job, "--address", cluster.address)
        assert "RUNNING" in status.stdout and "experiment: long" in status.stdout
        assert "secret" not in status.stdout.lower()
        if re.search(progress, status.stdout):
            break
        assert time.monotonic() < deadline, status.stdout
        time.sleep(1)
    stopped = hpsearch(cluster, "job", "stop", job, "--address", cluster.address)
    assert stopped.returncode == 0 and "Stopping" in stopped.stdout
    followed = hpsearch(cluster, "job", "logs", job, "--follow", "--address", cluster.address)
    assert followed.returncode == 130  # a stopped job, as after Ctrl-C
    # Ray sent SIGTERM: the job's search stopped its trials and summarized them.
    assert "Terminated after" in followed.stdout and "Traceback" not in followed.stdout
    assert "STOPPED" in hpsearch(cluster, "job", "status", job, "--address", cluster.address).stdout


MISTAKES = {
    "wrong token": "refused the token",
    "no token": "requires a token and none was found",
    "no dashboard": "no Ray dashboard at",
    "nobody there": "cannot reach http://",
    "local storage": "is a path on this machine, but the cluster has 2 nodes",
    "unknown job": "no job 'hpsearch-nope'",
}


def test_cluster_mistakes_are_one_line(cluster: NetnsCluster, tmp_path: Path) -> None:
    # One test for all six: each mistake is one process, the job list is read once each side.
    before = hpsearch(cluster, "job", "list", "--all", "--address", cluster.address).stdout
    for case, message in MISTAKES.items():
        address, token = cluster.address, "default"
        args = ["job", "submit", *SMALL, "--storage", cluster.s3_uri("mistakes")]
        if case == "wrong token":
            token = "not-the-token"
        elif case == "no token":
            token = None
        elif case == "no dashboard":
            address = f"http://{cluster.worker_ip}:8265"  # a node, but not the head
        elif case == "nobody there":
            address = f"http://{cluster.gateway_ip.rsplit('.', 1)[0]}.3:8265"  # our bridge, no host
        elif case == "local storage":
            args = ["job", "submit", *SMALL, "--storage", str(tmp_path / "results")]
        elif case == "unknown job":
            args = ["job", "status", "hpsearch-nope"]
        result = hpsearch(cluster, *args, "--address", address, token=token)
        assert result.returncode == 2, (case, result.stdout + result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, (case, result.stderr)
    # Nothing was submitted.
    assert hpsearch(cluster, "job", "list", "--all", "--address", cluster.address).stdout == before


def _rows(cluster: NetnsCluster, experiment: str, out: Path) -> list[dict]:
    result = hpsearch(cluster, "export", experiment, "-o", str(out))
    return pacsv.read_csv(out).to_pylist() if result.returncode == 0 else []


def test_a_lost_node_s_trials_continue_from_their_checkpoints(
    cluster: NetnsCluster, tmp_path: Path
) -> None:
    """Runs last: it kills the worker node (the cluster then has one node left)."""
    submit = hpsearch(
        cluster, "job", "submit", "--address", cluster.address, "--space", "quick",
        "--num-samples", "2", "--max-epochs", "120", "--scheduler", "none",
        "--checkpoint-every", "2", "--max-concurrent", "2",
        "--storage", cluster.s3_uri("failover"), "--name", "failover",
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    experiment = cluster.s3_uri("failover/failover")
    deadline = time.monotonic() + 180
    while True:  # until a trial on the worker has checkpointed a few epochs
        rows = _rows(cluster, experiment, tmp_path / "t.csv")
        # (A trial that has not reported yet has a row with neither column.)
        on_worker = [
            r for r in rows if r.get("node_ip") == cluster.worker_ip and (r.get("epoch") or 0) >= 6
        ]
        if on_worker:
            break
        assert time.monotonic() < deadline, "no trial reached the worker node"
        time.sleep(1)
    moved = on_worker[0]["trial_id"]
    assert kill_marked(cluster.worker_marker) > 0  # the node's raylet, object store, workers

    followed = hpsearch(
        cluster, "job", "logs", "hpsearch-failover", "--follow", "--address", cluster.address,
        timeout=400,
    )  # fmt: skip
    assert followed.returncode == 0, followed.stdout[-3000:]
    rows = _rows(cluster, experiment, tmp_path / "t.csv")
    trials = {r["trial_id"] for r in rows}
    assert len(trials) == 2 and {r["state"] for r in rows} == {"completed"}
    history = [r for r in rows if r["trial_id"] == moved]
    resumed = [r for r in history if r["resumed_from_epoch"] > 0]
    assert resumed, "the moved trial started over from epoch 0"
    assert {r["node_ip"] for r in resumed} == {cluster.head_ip}
    assert resumed[0]["epoch"] == resumed[0]["resumed_from_epoch"] + 1
    assert max(r["epoch"] for r in history) == 120
    assert "restarted 1x from its checkpoint after a failure" in history[0]["reason"]
