"""Shared fixtures: a private home and results root, one real Ray per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Session fixtures: experiments made by real searches, for the inspection tests.
from tests.experiments import finished_experiment, interrupted_experiment  # noqa: F401


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
    from hpsearch.search._local_ray import local_ray

    with local_ray(num_cpus=2, num_gpus=0):
        yield
