"""An embedded Ray instance that stays on the loopback interface."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hpsearch import compat
from hpsearch.signals import reclaim_sigterm

LOOPBACK = "127.0.0.1"
# Ray reads this once, when ray._private.ray_constants is imported, and the
# raylet and workers inherit it. Set to 0, Ray takes the machine as a
# single-node cluster on 127.0.0.1 instead of advertising the host's external
# address (which would expose the job API and the object store to the network).
_SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def prepare_environment() -> None:
    """Set the environment a search needs; call it before importing ray.

    When this process is already connected to a Ray cluster (a Ray Job's
    driver), only Tune's settings are made: the single-node switch would
    break a multi-node cluster.
    """
    ray = sys.modules.get("ray")
    connected = ray is not None and ray.is_initialized()
    if not connected:
        os.environ.setdefault(_SINGLE_NODE_ENV, "0")
    # Tune's TensorBoard logger costs a write per report and nobody reads it here.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune warns each time it snapshots experiment state after checkpoints are
    # pruned; with short epochs that is every few seconds and drowns progress.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not connected and os.environ[_SINGLE_NODE_ENV] == "0":
        compat.keep_ray_on_loopback()  # in case Ray was imported first (a notebook, a test)


@contextmanager
def local_ray(num_cpus: int | None = None, num_gpus: int | None = None) -> Iterator[float]:
    """Start Ray on 127.0.0.1 for the duration of the block; yields start-up seconds.

    Reuses an already initialized Ray (a notebook's, a test session's) and
    leaves it running.
    """
    prepare_environment()
    import ray

    if ray.is_initialized():
        yield 0.0
        return
    start = time.perf_counter()
    ray.init(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        _node_ip_address=LOOPBACK,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    reclaim_sigterm()
    try:
        yield time.perf_counter() - start
    finally:
        ray.shutdown()
