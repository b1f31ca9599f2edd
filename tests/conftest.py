"""Shared fixtures: a private home and results root, one real Ray per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Session fixtures: experiments made by real searches, for the tests that need one.
from tests.searches import finished_experiment, interrupted_experiment, killed_search  # noqa: F401

#: Fixtures that start Ray, a search or moto: a test using one is slow wherever it is.
SLOW_FIXTURES = frozenset(
    {"ray_session", "finished_experiment", "interrupted_experiment", "killed_search", "s3_server"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that needs Ray (marked ``ray``) or a slow fixture, so that
    the everyday run, ``pytest -m "not slow"``, never waits for one even if unmarked."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("ray") or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point HOME (Ray's auth token, ~/hpsearch-results) at a temporary folder.

    Tests never read or write the real home; subprocesses inherit this too.
    """
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    yield home
    if old is not None:
        os.environ["HOME"] = old


@pytest.fixture(autouse=True)
def results_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HPSEARCH_STORAGE."""
    root = tmp_path / "results"
    monkeypatch.setenv("HPSEARCH_STORAGE", str(root))
    return root


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One real local Ray (on 127.0.0.1) shared by the tests that search in-process.

    ``run_search`` reuses an initialized Ray, so the ~3-5 s start-up is paid once.
    """
    from hpsearch.tuning._local_ray import local_ray

    with local_ray(num_cpus=2, num_gpus=0):
        yield


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 server on 127.0.0.1, with test credentials in the environment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable))
    assert exe, "moto_server not installed (pip install -e '.[test]')"
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    creds = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Never ask the cloud metadata service (169.254.169.254) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    old = {k: os.environ.get(k) for k in creds}
    os.environ.update(creds)
    try:
        yield {"endpoint": f"127.0.0.1:{port}", **creds}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
