"""Talking to a Ray cluster's job API: the address, the token, and clear errors.

The address comes from ``--address``, ``RAY_API_SERVER_ADDRESS`` or
``RAY_ADDRESS``; the token from ``RAY_AUTH_TOKEN``, the file named by
``RAY_AUTH_TOKEN_PATH``, or Ray's own ``~/.ray/auth_token``. Every way of
failing to connect becomes one :class:`UserError` line.

The token goes to that address only: never over plain http to another
machine unless the user says so (:func:`check_transport`), and never across
a redirect to another origin (scheme, host, port).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hpsearch import compat
from hpsearch.errors import UserError

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

ADDRESS_ENVS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
#: Set to 1 to send the token over plain http to another machine (like --allow-insecure-token).
ALLOW_INSECURE_ENV = "HPSEARCH_ALLOW_INSECURE_TOKEN"
#: Request headers that carry credentials (Ray's dashboard reads all three).
CREDENTIAL_HEADERS = frozenset({"authorization", "x-ray-authorization", "cookie"})
#: Seconds to wait for the dashboard to answer before calling it unreachable.
CONNECT_TIMEOUT_S = 10.0
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


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
    if "://" not in address and address not in ("auto", "local"):
        address = f"http://{address}"
    if not _is_http_address(address):
        raise UserError(
            f"{address!r} is not the address of Ray's job API",
            "give the dashboard's address: http://HEAD:8265",
        )
    return address.rstrip("/")


def _is_http_address(address: str) -> bool:
    """``http(s)://host[:port]`` with a host and a valid port (``ray://`` and ``auto`` are not)."""
    try:
        parts = urllib.parse.urlsplit(address)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and port != 0


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


def insecure_allowed(flag: bool) -> bool:
    """Whether plain http may carry the token off this machine: the flag, or the variable."""
    value = os.environ.get(ALLOW_INSECURE_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise UserError(
            f"{ALLOW_INSECURE_ENV}={value!r} is neither 1 nor 0",
            f"set {ALLOW_INSECURE_ENV}=1 or unset it",
        )
    return flag or value in _TRUE


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine by its very spelling (no name lookup)."""
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # any other name may resolve anywhere
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def check_transport(address: str, token: str | None, allow_insecure: bool) -> None:
    """Refuse to send ``token`` in clear text off this machine, unless allowed (no network)."""
    parts = urllib.parse.urlsplit(address)
    if not token or parts.scheme.lower() != "http" or allow_insecure:
        return
    if not is_loopback(parts.hostname or ""):
        raise UserError(
            f"refusing to send the cluster's token over plain http to {parts.hostname}, "
            "where anyone on the network path can read it",
            "reach the dashboard through `ray dashboard cluster.yaml` (--address "
            "http://localhost:8265) or https; on a network you trust, pass "
            f"--allow-insecure-token or set {ALLOW_INSECURE_ENV}=1",
        )


def origin(url: str) -> tuple[str, str, int | None]:
    """``url``'s (scheme, host, port), default ports filled in."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None  # a malformed port: compares equal to no real address's
    return scheme, (parts.hostname or "").rstrip("."), port


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but carries credentials only to the origin they were meant for."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(new.full_url) != origin(req.full_url):
            for name in [h for h in new.headers if h.lower() in CREDENTIAL_HEADERS]:
                new.remove_header(name)
        return new


# urllib's default opener keeps the Authorization header on a redirect to any host.
_OPENER = urllib.request.build_opener(_SameOriginRedirects())


def _open(address: str, path: str, headers: dict[str, str]) -> bytes:
    """The body of ``GET address+path``; every failure one UserError naming ``address``."""
    request = urllib.request.Request(address + path, headers=headers)
    try:
        with _OPENER.open(request, timeout=CONNECT_TIMEOUT_S) as response:
            _check_not_moved(address, response.geturl(), headers)
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        _check_not_moved(address, exc.geturl() or address, headers)
        raise _http_error(address, exc.code) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise UserError(
                f"no Ray dashboard at {address} (connection refused)",
                "start the head with its dashboard, reach it through `ray dashboard "
                "cluster.yaml` (http://localhost:8265), or check the port",
            ) from None
        raise UserError(
            f"cannot reach {address}: {exc.reason}",
            "check the address, and that this machine may reach the head's port",
        ) from None
    except TimeoutError:
        raise UserError(
            f"cannot reach {address}: no answer in {CONNECT_TIMEOUT_S:.0f}s",
            "check the address, and that this machine may reach the head's port",
        ) from None
    except (http.client.HTTPException, ConnectionError):
        raise _not_ray(address) from None


def _check_not_moved(address: str, final: str, headers: dict[str, str]) -> None:
    """A redirect elsewhere lost the token on the way (by design): say so, not "no token"."""
    if headers and origin(final) != origin(address):
        scheme, host, port = origin(final)
        raise UserError(
            f"the dashboard at {address} redirects to {scheme}://{host}:{port}, "
            "and hpsearch sends the token to no address but the one given",
            "if you trust that address, pass it as --address",
        )


def _http_error(address: str, code: int) -> UserError:
    if code == 401:
        return UserError(
            f"the cluster at {address} requires a token and none was found",
            "set RAY_AUTH_TOKEN, or copy the head's ~/.ray/auth_token to this machine",
        )
    if code == 403:
        return UserError(
            f"the cluster at {address} refused the token",
            "use the token the cluster was started with (`ray get-auth-token` on the head)",
        )
    return UserError(
        f"no Ray job API at {address} (HTTP {code})",
        "give the Ray dashboard's address, by default port 8265",
    )


def _not_ray(address: str) -> UserError:
    return UserError(
        f"no Ray job API at {address} (it answers, but not as Ray's dashboard)",
        "give the Ray dashboard's address, by default port 8265",
    )


def _json(address: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise _not_ray(address) from None


def _check_requests_strips_credentials() -> None:
    """Ray's job client follows redirects with ``requests``, which must drop the
    token on the way to another host, port or scheme (it does since 2.21)."""
    import requests

    session = requests.Session()
    moves = [
        ("http://h:1/", "http://g:1/"),
        ("http://h:1/", "http://h:2/"),
        ("https://h/", "http://h/"),
    ]
    if not all(session.should_strip_auth(old, new) for old, new in moves):
        raise UserError(
            f"the installed requests {requests.__version__} would send the cluster's token "
            "along a redirect to another address",
            "upgrade it: pip install -U requests",
        )


@dataclass(frozen=True)
class Cluster:
    """A reachable job API, with the headers that authenticate to it."""

    address: str
    headers: dict[str, str]

    def get(self, path: str) -> Any:
        """GET ``path`` from the dashboard as JSON; a UserError when it fails."""
        return _json(self.address, _open(self.address, path, self.headers))

    def alive_nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes (address, resources), from Ray's state API."""
        data = self.get("/api/v0/nodes?limit=1000")
        nodes = data.get("data", {}).get("result", {}).get("result", [])
        return [n for n in nodes if n.get("state") == "ALIVE"]

    def jobs(self) -> JobSubmissionClient:
        """Ray's job client for this cluster."""
        from ray.job_submission import JobSubmissionClient

        if self.headers:
            _check_requests_strips_credentials()
        compat.quiet_job_uploads()

        return JobSubmissionClient(self.address, headers=self.headers)


def connect(address: str | None, allow_insecure_token: bool = False) -> Cluster:
    """Check that the job API answers and accepts our token; a UserError otherwise.

    The token's transport is checked first, before any name lookup or connection.
    """
    resolved = resolve_address(address)
    token = resolve_token()
    check_transport(resolved, token, insecure_allowed(allow_insecure_token))
    headers = auth_headers(token)
    _json(resolved, _open(resolved, "/api/version", headers))
    return Cluster(resolved, headers)


def job_error(exc: Exception, job_id: str | None = None) -> UserError:
    """A UserError line for what Ray's job client raised."""
    text = " ".join(str(exc).split())
    if job_id and ("does not exist" in text or "not found" in text.lower()):
        return UserError(f"no job {job_id!r} on this cluster", "`hpsearch job list` lists them")
    return UserError(f"the cluster's job API said: {text[:300]}")
