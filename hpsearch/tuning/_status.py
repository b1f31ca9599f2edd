"""The driver's heartbeat: ``status.json`` says a search is alive, and where it runs.

``hpsearch list`` tells a running search from one whose driver was killed
(SIGKILL, a reboot) by this file alone: the driver's host and pid, and
when it last wrote.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

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


@dataclass
class Heartbeat(Callback):
    """Rewrites ``status.json`` every ``interval_s`` while Tune runs.

    One small write per interval, not per result: on object storage every
    write is a request.
    """

    directory: str
    interval_s: float = 10.0
    _last: float = field(default=0.0)

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks into tuner.pkl: a URI may carry credentials,
        # so it is not pickled. An unpickled heartbeat stays silent.
        return {**self.__dict__, "directory": ""}

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if not self.directory:
            return
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        states: dict[str, int] = {}
        for trial in trials:
            states[trial.status.lower()] = states.get(trial.status.lower(), 0) + 1
        write_status(self.directory, "running", trials=states)
