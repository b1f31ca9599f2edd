"""The driver's status: ``status.json`` says a search is alive, and where it runs.

``hpsearch list`` tells a running search from one whose driver was killed
(SIGKILL, a reboot) by this file alone: the driver's host and pid, and
when it last wrote (:class:`~hpsearch.tuning._progress.Heartbeat` rewrites it).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from hpsearch.experiments import STATUS_FILE, now_iso
from hpsearch.storage import write_json_atomic


def driver_identity() -> dict[str, Any]:
    """Where the search's driver runs."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def write_status(directory: str, state: str, **extra: Any) -> None:
    """Write ``status.json`` (atomically) with the driver's identity and the time."""
    write_json_atomic(
        {"state": state, "updated_at": now_iso(), **driver_identity(), **extra},
        directory,
        STATUS_FILE,
    )
