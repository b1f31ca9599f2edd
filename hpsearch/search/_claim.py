"""One writer per experiment: a claim taken before any expensive work.

A driver (a new search, a resume) claims an experiment's location by writing
``claim-<generation>-<token>.json`` there, then listing the claims: it goes on
only if no other claim of its generation or a later one is there. Listing
after writing makes two drivers racing for one generation see each other (a
local folder, and object stores that list what was written: S3, GCS, moto),
so at most one goes on; in a dead heat both refuse, never both proceed. The
claim of a driver that is gone (killed, its host rebooted) is taken over by
the next generation; a live one is never.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.errors import UserError
from hpsearch.search import _storage as storage
from hpsearch.search._experiment import driver_gone, now_iso
from hpsearch.search._layout import STATUS_FILE

CLAIM_PREFIX = "claim-"
_CLAIM = re.compile(r"claim-(\d{6})(-[0-9a-f]+)?\.json")


@dataclass(frozen=True)
class Claim:
    """This process's claim on an experiment's location."""

    location: str
    file: str
    #: Local folders the claim created (deepest first), removed again if left empty.
    created: tuple[str, ...] = ()

    def release(self, remove_if_empty: bool = False) -> None:
        """Drop the claim; ``remove_if_empty`` also removes the local folders it
        created, if empty (a search refused before it wrote anything leaves nothing)."""
        fs, path = storage.filesystem(storage.join(self.location, self.file))
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(path)
        for folder in self.created if remove_if_empty else ():
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only succeeds on an empty folder


def claim_new(location: str, name: str, root: str) -> Claim:
    """Claim ``location`` for a new experiment; refuse if an experiment is there."""
    entries = [*storage.list_files(location), *storage.list_dirs(location)]
    if any(not entry.startswith(CLAIM_PREFIX) for entry in entries):
        raise UserError(
            f"experiment {name!r} already exists in {storage.redact(root)}",
            "choose another --name",
        )
    return _take(location, name, "created")


def claim_existing(location: str, name: str) -> Claim:
    """Claim the experiment at ``location`` to write to it again (resume)."""
    return _take(location, name, "resumed")


def _take(location: str, name: str, doing: str) -> Claim:
    try:
        return _take_or_raise(location, name, doing)
    except OSError as exc:  # storage unreachable or failing: one line, nothing claimed
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot claim experiment {name!r}: {reason}") from None


def _take_or_raise(location: str, name: str, doing: str) -> Claim:
    claims = _claims(location)
    status = storage.read_json(storage.join(location, STATUS_FILE)) or {}
    for owner in claims.values():
        if _alive(owner, status):
            raise UserError(
                f"experiment {name!r} is being {doing} by another hpsearch "
                f"(pid {owner.get('pid')} on {owner.get('host')})",
                "wait until it has stopped (`hpsearch list` shows its state)",
            )
    generation = 1 + max((_generation(file) for file in claims), default=0)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "updated_at": now_iso()}
    created = _missing_folders(location)
    content = json.dumps(owner).encode()
    try:
        file = _write_claim(location, generation, content)
    except FileExistsError:
        file = None
    if file is not None and not _rivals(location, file, generation):
        return Claim(location, file, created)
    if file is not None:
        Claim(location, file).release()
    raise UserError(
        f"experiment {name!r} is being {doing} by another hpsearch at the same moment",
        "let that one run, or choose another --name",
    )


def _write_claim(location: str, generation: int, content: bytes) -> str:
    """Write this process's claim; locally, exclusively (``FileExistsError`` if taken)."""
    if "://" in location:
        # No exclusive create on an object store: a unique name, then _rivals decides.
        file = f"{CLAIM_PREFIX}{generation:06d}-{secrets.token_hex(8)}.json"
        storage.write_bytes(storage.join(location, file), content)
        return file
    file = f"{CLAIM_PREFIX}{generation:06d}.json"
    # Written whole under a temporary name, then linked: link() refuses an existing
    # name, so exactly one driver gets each generation and nobody reads half a claim.
    try:
        Path(location).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{file}.", suffix=".tmp", dir=location)
    except OSError as exc:
        raise UserError(f"cannot write to {location}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.link(tmp, Path(location) / file)
    except FileExistsError:
        raise
    except OSError as exc:
        raise UserError(f"cannot write to {location}: {exc.strerror or exc}") from None
    finally:
        os.unlink(tmp)
    return file


def _rivals(location: str, file: str, generation: int) -> list[str]:
    return [f for f in _claims(location) if f != file and _generation(f) >= generation]


def _alive(owner: dict[str, Any], status: dict[str, Any]) -> bool:
    """Whether a claim's owner may still write: its heartbeat (``status.json``,
    once it writes one) or, before that, the claim itself is fresh."""
    if "unreadable" in owner:
        return True
    if (status.get("host"), status.get("pid")) == (owner.get("host"), owner.get("pid")):
        return status.get("state") == "running" and driver_gone(status) is None
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
    one that could not be read (a storage error) as live: better refuse than share."""
    found: dict[str, dict[str, Any]] = {}
    for file in storage.list_files(location):
        if _CLAIM.fullmatch(file):
            try:
                owner = json.loads(storage.read_text(storage.join(location, file)) or "{}")
            except json.JSONDecodeError:
                owner = {}
            except OSError as exc:
                owner = {"unreadable": str(exc)}
            found[file] = owner if isinstance(owner, dict) else {}
    return found


def _generation(file: str) -> int:
    match = _CLAIM.fullmatch(file)
    return int(match.group(1)) if match else 0
