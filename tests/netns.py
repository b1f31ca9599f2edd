"""A real two-node Ray cluster on this machine, each node in a network namespace of its own.

::

    root namespace          bridge hb<id>  10.77.K.254   (+ moto S3 server on :PORT)
      ├── <id>-n1  10.77.K.1   Ray head: GCS, dashboard / job API :8265
      └── <id>-n2  10.77.K.2   Ray worker node, declaring one GPU

Token authentication is on for every Ray process (``RAY_AUTH_MODE=token``).
All traffic stays between addresses the fixture itself creates. Everything
is torn down at the end, also when a test fails: processes are found by an
environment marker (``ray stop`` would also stop the test session's own Ray).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.data.conftest import s3_filesystem

BIN = Path(sys.executable).parent
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Never ask a cloud metadata service for credentials.
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class NetnsCluster:
    worker_marker: str  # in the environment of every process of the worker node
    head_ip: str
    worker_ip: str
    gateway_ip: str  # the bridge, in the root namespace
    address: str  # the job API
    token: str
    s3_endpoint: str
    work: Path

    def s3_uri(self, key: str) -> str:
        """A URI on the test network's S3 server (bucket ``lab``)."""
        return f"s3://lab/{key}?endpoint_override={self.s3_endpoint}&scheme=http&region=us-east-1"

    def env(self, token: str | None = "default") -> dict[str, str]:
        """The environment of a client process on this machine."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(S3_CREDENTIALS)
        env["HOME"] = str(self.work / "client-home")  # no ~/.ray/auth_token here
        # The job API is plain http on the test's own bridge, not on localhost.
        env["HPSEARCH_ALLOW_INSECURE_TOKEN"] = "1"
        if token is not None:
            env["RAY_AUTH_TOKEN"] = self.token if token == "default" else token
        return env


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def kill_marked(marker: str) -> int:
    """SIGKILL every process started with ``marker`` in its environment; how many."""
    pids = marked_pids(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def marked_pids(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_cluster(address: str, token: str, nodes: int, timeout_s: float = 90) -> None:
    request = urllib.request.Request(
        f"{address}/api/v0/nodes", headers={"Authorization": f"Bearer {token}"}
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                data = json.loads(response.read())["data"]["result"]["result"]
            if sum(n["state"] == "ALIVE" for n in data) >= nodes:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test cluster did not come up with {nodes} nodes")
        time.sleep(0.5)


@contextlib.contextmanager
def netns_cluster() -> Iterator[NetnsCluster]:
    """Start the namespaces, an S3 server on the bridge, a Ray head and a worker."""
    ident = f"{os.getpid() % 100000:05d}{random.randint(0, 9)}"
    subnet = f"10.77.{random.randint(1, 250)}"
    bridge, namespaces = f"hb{ident}", [f"hs{ident}-n1", f"hs{ident}-n2"]
    marker = f"HPSEARCH_TEST_CLUSTER={uuid.uuid4().hex}"
    work = Path(tempfile.mkdtemp(prefix="hpsearch-cluster-"))
    (work / "client-home").mkdir()
    (work / "node-home").mkdir()
    token = secrets.token_hex(16)
    s3_port = _free_port()
    made_links: list[str] = []
    made_ns: list[str] = []
    moto: subprocess.Popen[bytes] | None = None
    try:
        _sh("ip", "link", "add", bridge, "type", "bridge")
        made_links.append(bridge)
        _sh("ip", "addr", "add", f"{subnet}.254/24", "dev", bridge)
        _sh("ip", "link", "set", bridge, "up")
        for i, ns in enumerate(namespaces, start=1):
            _sh("ip", "netns", "add", ns)
            made_ns.append(ns)
            veth = f"hv{ident}{i}"
            _sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            made_links.append(veth)
            _sh("ip", "link", "set", veth, "master", bridge)
            _sh("ip", "link", "set", veth, "up")
            _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{subnet}.{i}/24", "dev", "eth0")
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

        creds = S3_CREDENTIALS
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TUNE_"))}
        name, value = marker.split("=")
        moto = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", f"{subnet}.254", "-p", str(s3_port)],
            env={**base_env, **creds, name: value},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Nodes: the project's Python first on PATH (Ray Jobs run `python ...`),
        # token auth on, the S3 test credentials (as an instance role would give).
        node_env = {
            **base_env,
            **creds,
            name: value,
            "PATH": f"{BIN}:{base_env.get('PATH', '')}",
            "HOME": str(work / "node-home"),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            "RAY_USAGE_STATS_ENABLED": "0",
            # The head declares a silent node dead after 3 missed 1 s checks
            # (Ray's default: 5 missed 3 s checks), so the failover test
            # waits ~3 s for it rather than ~15.
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
            # `ray job stop` SIGKILLs after 3 s; the stopped job's summary may take longer.
            "RAY_JOB_STOP_WAIT_TIME_S": "60",
        }
        temp = work / "ray"
        common = ["--num-cpus=1", "--disable-usage-stats", f"--temp-dir={temp}"]
        subprocess.run(
            ["ip", "netns", "exec", namespaces[0], str(BIN / "ray"), "start", "--head",
             f"--node-ip-address={subnet}.1", "--port=6379", "--dashboard-host=0.0.0.0",
             "--dashboard-port=8265", *common],
            env=node_env, check=True, capture_output=True, cwd=work,
        )  # fmt: skip
        worker_marker = f"HPSEARCH_TEST_NODE={uuid.uuid4().hex}"
        wname, wvalue = worker_marker.split("=")
        subprocess.run(
            ["ip", "netns", "exec", namespaces[1], str(BIN / "ray"), "start",
             f"--address={subnet}.1:6379", f"--node-ip-address={subnet}.2", *common,
             # A declared GPU: Ray places GPU trials by resources, so the worker
             # stands for a GPU node (the trials themselves fall back to the CPU).
             "--num-gpus=1"],
            env={**node_env, wname: wvalue}, check=True, capture_output=True, cwd=work,
        )  # fmt: skip
        address = f"http://{subnet}.1:8265"
        _wait_for_cluster(address, token, nodes=2)

        s3_filesystem(f"{subnet}.254:{s3_port}").create_dir("lab")
        yield NetnsCluster(
            worker_marker=worker_marker,
            head_ip=f"{subnet}.1",
            worker_ip=f"{subnet}.2",
            gateway_ip=f"{subnet}.254",
            address=address,
            token=token,
            s3_endpoint=f"{subnet}.254:{s3_port}",
            work=work,
        )
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in marked_pids(marker):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            # Some of Ray's processes take over 10 s to honour SIGTERM; nothing
            # here needs a graceful stop, so they get 3 s before SIGKILL.
            deadline = time.monotonic() + (3 if sig == signal.SIGTERM else 10)
            while marked_pids(marker) and time.monotonic() < deadline:
                time.sleep(0.2)
        if moto is not None:
            moto.wait(timeout=10)
        for ns in made_ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for link in reversed(made_links):
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
