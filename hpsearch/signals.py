"""SIGTERM ends a search the way Ctrl-C does.

Slurm, Kubernetes, systemd and ``ray job stop`` send SIGTERM. Without a
handler of ours, installed before Ray starts, the driver dies at once (Ray's
C++ signal dump, exit 1): no summary, ``status.json`` left "running". With
it, SIGTERM goes to whatever handles SIGINT at that moment: Tune's during
``fit`` (trials stop, the search is summarized), Python's elsewhere
(``KeyboardInterrupt``, so ``finally`` blocks clean up).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

_OURS = "_hpsearch_sigterm"
#: Our handlers in force, innermost last (what :func:`reclaim_sigterm` puts back).
_ACTIVE: list[Callable[[int, FrameType | None], None]] = []


@dataclass
class Termination:
    """Whether SIGTERM arrived while the block ran."""

    received: bool = False


@contextmanager
def sigterm_as_interrupt() -> Iterator[Termination]:
    """Handle SIGTERM like SIGINT inside the block; restore the old handler after.

    Outside the main thread (signals can only be handled there) it does nothing.
    """
    termination = Termination()
    if threading.current_thread() is not threading.main_thread():
        yield termination
        return

    # None: a handler set from C, which Python cannot restore; the default then.
    previous = signal.getsignal(signal.SIGTERM) or signal.SIG_DFL

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        termination.received = True
        if getattr(previous, _OURS, False):  # nested: the outer block hears it too
            previous(signum, frame)  # type: ignore[operator]
            return
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job) or default: stop all the same
            raise KeyboardInterrupt

    setattr(on_sigterm, _OURS, True)
    signal.signal(signal.SIGTERM, on_sigterm)
    _ACTIVE.append(on_sigterm)
    try:
        yield termination
    finally:
        _ACTIVE.remove(on_sigterm)
        signal.signal(signal.SIGTERM, previous)


def reclaim_sigterm() -> None:
    """Put our SIGTERM handler back after ``ray.init()``, whose own exits without a summary."""
    if _ACTIVE and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _ACTIVE[-1])
