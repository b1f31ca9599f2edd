"""Talking to a Ray cluster's job API: the address, the token, and clear errors.

The address comes from ``--address``, ``RAY_API_SERVER_ADDRESS`` or
``RAY_ADDRESS``; the token from ``RAY_AUTH_TOKEN``, the file named by
``RAY_AUTH_TOKEN_PATH``, or Ray's own ``~/.ray/auth_token``. Every way of
failing to connect becomes one :class:`UserError` line.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import UserError

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

ADDRESS_ENVS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
#: Seconds to wait for the dashboard to answer before calling it unreachable.
CONNECT_TIMEOUT_S = 10.0


def resolve_address(address: str | None) -> str:
    """The job API's ``http(s)://host:port``, from the flag or the environment."""
    for source in (address, *(os.environ.get(e) for e in ADDRESS_ENVS)):
        if source:
            address = source
            break
    else:
        raise UserError(
            "no cluster address",
            "pass --address http://HEAD:8265 or set RAY_API_SERVER_ADDRESS",
        )
    if address in ("auto", "local") or address.startswith("ray://"):
        raise UserError(
            f"{address!r} is not the address of Ray's job API",
            "give the dashboard's address: http://HEAD:8265",
        )
    if "://" not in address:
        address = f"http://{address}"
    return address.rstrip("/")


def resolve_token() -> str | None:
    """The cluster's token, if the user has one (Ray's order of precedence)."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            return Path(path).expanduser().read_text().strip() or None
        except OSError as exc:
            raise UserError(f"cannot read RAY_AUTH_TOKEN_PATH {path}: {exc.strerror}") from None
    default = Path("~/.ray/auth_token").expanduser()
    return default.read_text().strip() or None if default.is_file() else None


def auth_headers(token: str | None) -> dict[str, str]:
    """The header Ray's dashboard checks."""
    return {"Authorization": f"Bearer {token}"} if token else {}


@dataclass(frozen=True)
class Cluster:
    """A reachable job API, with the headers that authenticate to it."""

    address: str
    headers: dict[str, str]

    def get(self, path: str) -> Any:
        """GET ``path`` from the dashboard as JSON (errors already checked by :func:`connect`)."""
        request = urllib.request.Request(self.address + path, headers=self.headers)
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as response:
            return json.loads(response.read())

    def alive_nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes (address, resources), from Ray's state API."""
        data = self.get("/api/v0/nodes?limit=1000")
        nodes = data.get("data", {}).get("result", {}).get("result", [])
        return [n for n in nodes if n.get("state") == "ALIVE"]

    def jobs(self) -> JobSubmissionClient:
        """Ray's job client for this cluster."""
        import logging

        from ray.job_submission import JobSubmissionClient

        # Ray's SDK logs every package upload at INFO; hpsearch says what matters.
        for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
            logging.getLogger(name).setLevel(logging.WARNING)

        return JobSubmissionClient(self.address, headers=self.headers)


def _probe(address: str, headers: dict[str, str]) -> None:
    request = urllib.request.Request(f"{address}/api/version", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise UserError(
                f"the cluster at {address} requires a token and none was found",
                "set RAY_AUTH_TOKEN, or copy the head's ~/.ray/auth_token to this machine",
            ) from None
        if exc.code == 403:
            raise UserError(
                f"the cluster at {address} refused the token",
                "use the token the cluster was started with (`ray get-auth-token` on the head)",
            ) from None
        raise UserError(
            f"no Ray job API at {address} (HTTP {exc.code})",
            "give the Ray dashboard's address, by default port 8265",
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            raise UserError(
                f"no Ray dashboard at {address} (connection refused)",
                "start the head with its dashboard (`ray start --head --dashboard-host 0.0.0.0`) "
                "or check the port",
            ) from None
        raise UserError(
            f"cannot reach {address}: {reason}",
            "check the address, and that this machine may reach the head's port",
        ) from None
    except TimeoutError:
        raise UserError(
            f"cannot reach {address}: no answer in {CONNECT_TIMEOUT_S:.0f}s",
            "check the address, and that this machine may reach the head's port",
        ) from None
    try:
        json.loads(body)
    except ValueError:
        raise UserError(
            f"no Ray job API at {address} (it answers, but not as Ray's dashboard)",
            "give the Ray dashboard's address, by default port 8265",
        ) from None


def connect(address: str | None) -> Cluster:
    """Check that the job API answers and accepts our token; a UserError otherwise."""
    resolved = resolve_address(address)
    token = resolve_token()
    headers = auth_headers(token)
    _probe(resolved, headers)
    return Cluster(resolved, headers)


def job_error(exc: Exception, job_id: str | None = None) -> UserError:
    """A UserError line for what Ray's job client raised."""
    text = " ".join(str(exc).split())
    if job_id and ("does not exist" in text or "not found" in text.lower()):
        return UserError(f"no job {job_id!r} on this cluster", "`hpsearch jobs` lists them")
    return UserError(f"the cluster's job API said: {text[:300]}")
