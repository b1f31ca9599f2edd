"""One writer per experiment: a claim taken before any expensive work.

A driver (a new search, a resume) claims an experiment's location by writing
``claim-<generation>.json`` there. Locally the claim is exclusive: it is
written whole under a temporary name and ``link()``ed, which refuses an
existing name, so exactly one driver gets each generation. An object store
has no exclusive create: there the claim has a unique name and the driver
lists the claims after writing its own, going on only if no other claim of
its generation or a later one is there; two drivers racing for one
generation see each other (S3, GCS and moto list what was written), so at
most one goes on, and in a dead heat both refuse. The owner rewrites its
claim every few seconds; the claim of a driver that is gone (its pid dead on
this host, or its claim and heartbeat stale) is taken over by the next
generation, a live one never.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch import storage
from hpsearch.errors import UserError
from hpsearch.experiments import STATUS_FILE, driver_gone, now_iso

CLAIM_PREFIX = "claim-"
_CLAIM = re.compile(r"claim-(\d{6})(-[0-9a-f]+)?\.json")
#: Seconds between rewrites of a live claim (the staleness limit is 90 s).
REFRESH_S = 10.0


@dataclass
class Claim:
    """This process's claim on an experiment's location; kept fresh until released."""

    location: str
    file: str
    #: Local folders the claim created (deepest first), removed again if left empty.
    created: tuple[str, ...] = ()
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def keep_fresh(self) -> Claim:
        """Rewrite the claim's time every :data:`REFRESH_S` in a daemon thread, so a
        driver slow to start (a large table on S3) is never taken for a dead one."""
        threading.Thread(target=self._refresh, name="hpsearch-claim", daemon=True).start()
        return self

    def _refresh(self) -> None:
        where = storage.join(self.location, self.file)
        while not self._stop.wait(REFRESH_S):
            with self._lock, contextlib.suppress(OSError, UserError):  # next beat may work
                if self._stop.is_set() or not storage.exists(where):
                    return  # released, or removed by someone: never write it back
                storage.write_bytes(where, _owner())

    def release(self, remove_if_empty: bool = False) -> None:
        """Drop the claim (best effort: a storage error here must not hide the
        search's result); ``remove_if_empty`` also removes the local folders it
        created, if empty (a search refused before it wrote anything leaves nothing)."""
        self._stop.set()
        # A refresh in flight finishes first (it must not write the claim back);
        # on a storage that hangs, give up waiting rather than hang the exit.
        locked = self._lock.acquire(timeout=REFRESH_S)
        if locked:
            self._lock.release()
        with contextlib.suppress(OSError):
            fs, path = storage.filesystem(storage.join(self.location, self.file))
            fs.delete_file(path)
        for folder in self.created if remove_if_empty else ():
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only succeeds on an empty folder


def claim_new(location: str, name: str, root: str) -> Claim:
    """Claim ``location`` for a new experiment; refuse if an experiment is there."""
    return _take(_local(location), name, "created", new=True, root=root)


def claim_existing(location: str, name: str) -> Claim:
    """Claim the experiment at ``location`` to write to it again (resume)."""
    return _take(_local(location), name, "resumed")


def _local(location: str) -> str:
    """A ``file://`` URI as a path, so a shared folder gets the exclusive claim too."""
    here = storage.local_path(location)
    return location if here is None else str(here)


def _take(location: str, name: str, doing: str, new: bool = False, root: str = "") -> Claim:
    try:
        if new:
            _refuse_existing(location, name, root)
        return _take_or_raise(location, name, doing)
    except (OSError, ValueError) as exc:  # storage unreachable, a bad URI option
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot claim experiment {name!r}: {reason}") from None


def _refuse_existing(location: str, name: str, root: str) -> None:
    entries = [*storage.list_files(location), *storage.list_dirs(location)]
    # Claims, and the temporary files they are written under, are not an experiment.
    if any(not entry.lstrip(".").startswith(CLAIM_PREFIX) for entry in entries):
        raise UserError(f"experiment {name!r} already exists in {root}", "choose another --name")


def _take_or_raise(location: str, name: str, doing: str) -> Claim:
    claims = _claims(location)
    try:
        status = storage.read_json(storage.join(location, STATUS_FILE)) or {}
    except ValueError:  # garbled: no heartbeat to go by; the claims decide
        status = {}
    for owner in claims.values():
        if _alive(owner, status):
            raise UserError(
                f"experiment {name!r} is being {doing} by another hpsearch "
                f"(pid {owner.get('pid')} on {owner.get('host')})",
                "wait until it has stopped (`hpsearch list` shows its state)",
            )
    generation = 1 + max((_generation(file) for file in claims), default=0)
    created = _missing_folders(location)
    try:
        file = _write_claim(location, generation)
    except FileExistsError:
        file = None
    if file is not None and not _rivals(location, file, generation):
        return Claim(location, file, created).keep_fresh()
    if file is not None:
        Claim(location, file).release()
    raise UserError(
        f"experiment {name!r} is being {doing} by another hpsearch at the same moment",
        "let that one run, or choose another --name",
    )


def _owner() -> bytes:
    return json.dumps(
        {"host": socket.gethostname(), "pid": os.getpid(), "updated_at": now_iso()}
    ).encode()


def _write_claim(location: str, generation: int) -> str:
    """Write this process's claim; locally, exclusively (``FileExistsError`` if taken)."""
    if "://" in location:
        # No exclusive create on an object store: a unique name, then _rivals decides.
        file = f"{CLAIM_PREFIX}{generation:06d}-{secrets.token_hex(8)}.json"
        storage.write_bytes(storage.join(location, file), _owner())
        return file
    # Written whole, then linked under its name: exactly one driver gets each
    # generation and nobody reads half a claim.
    file = f"{CLAIM_PREFIX}{generation:06d}.json"
    storage.write_bytes(storage.join(location, file), _owner(), exclusive=True)
    return file


def _rivals(location: str, file: str, generation: int) -> list[str]:
    return [f for f in _claims(location) if f != file and _generation(f) >= generation]


def _alive(owner: dict[str, Any], status: dict[str, Any]) -> bool:
    """Whether a claim's owner may still write: its claim (rewritten every few
    seconds) or its heartbeat (``status.json``) is fresh and its pid not dead."""
    if (status.get("host"), status.get("pid")) == (owner.get("host"), owner.get("pid")):
        if status.get("state") != "running":
            return False  # it said it ended
        if driver_gone(status) is None:
            return True
    return driver_gone(owner) is None


def _missing_folders(location: str) -> tuple[str, ...]:
    """The local folders on the way to ``location`` that do not exist yet, deepest first."""
    if "://" in location:
        return ()
    missing, folder = [], Path(location)
    while not folder.exists() and folder != folder.parent:
        missing.append(str(folder))
        folder = folder.parent
    return tuple(missing)


def _claims(location: str) -> dict[str, dict[str, Any]]:
    """The claims at ``location`` and their owners. A garbled claim is taken as gone;
    one being written (empty) or that could not be read (a storage error) as live:
    better refuse than share."""
    found: dict[str, dict[str, Any]] = {}
    for file in storage.list_files(location):
        if not _CLAIM.fullmatch(file):
            continue
        where = storage.join(location, file)
        try:
            text = storage.read_text(where)
            if text is None:
                continue  # released since it was listed
            owner = json.loads(text) if text else _unreadable(where, "being written")
        except json.JSONDecodeError:
            owner = {}
        except OSError as exc:
            owner = _unreadable(where, str(exc))
        found[file] = owner if isinstance(owner, dict) else {}
    return found


def _unreadable(where: str, why: str) -> dict[str, Any]:
    """A claim being written or unreadable counts as live while it is young (its mtime)."""
    try:
        fs, path = storage.filesystem(where)
        mtime = fs.get_file_info(path).mtime
    except OSError:
        mtime = None
    return {"unreadable": why, "updated_at": mtime.isoformat() if mtime else now_iso()}


def _generation(file: str) -> int:
    match = _CLAIM.fullmatch(file)
    return int(match.group(1)) if match else 0
