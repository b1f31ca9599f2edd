"""The cluster's token goes to the address given and nowhere else.

Real HTTP servers on 127.0.0.1: a "dashboard" that redirects to a second one
on another port, which records what it receives. No cluster, no other host.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import click.testing
import pytest
import ray
from click.testing import CliRunner

from hpsearch.cluster._client import (
    ALLOW_INSECURE_ENV,
    Cluster,
    auth_headers,
    check_transport,
    connect,
    insecure_allowed,
    is_loopback,
    resolve_address,
)
from hpsearch.cluster._submit import follow_logs, job_row, job_rows, stop_job, submit_search
from hpsearch.commands import cli
from hpsearch.commands.job import job
from hpsearch.config import SearchConfig
from hpsearch.errors import UserError

TOKEN = "tok-3f9a1c"
JOB = "hpsearch-redirected"
REDIRECTS = [301, 302, 307, 308]
#: An address never contacted: the refusal must come first.
FAR = "http://10.255.255.1:8265"


@dataclass
class Server:
    """A server on 127.0.0.1 and every request it received."""

    port: int
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.seen]

    def credentials(self) -> list[str]:
        """Every header received that carries the token, whatever its name."""
        return [
            f"{path}: {name}: {value}"
            for _, path, headers in self.seen
            for name, value in headers.items()
            if name.lower() in ("authorization", "x-ray-authorization", "cookie") or TOKEN in value
        ]


Answer = Callable[[str, str, Server], tuple[int, dict[str, str], bytes]]


@contextlib.contextmanager
def serve(answer: Answer) -> Iterator[Server]:
    """A threaded HTTP server on 127.0.0.1 that records each request, then ``answer``s it."""
    server_box: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)  # drained: the client may send a body before reading
            me = server_box[0]
            me.seen.append((self.command, self.path, dict(self.headers.items())))
            code, headers, body = answer(self.command, self.path, me)
            self.send_response(code)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_box.append(Server(port=httpd.server_address[1]))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _json(data: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()


def dashboard(method: str, path: str, me: Server) -> tuple[int, dict[str, str], bytes]:
    """Just enough of Ray's job API for hpsearch's calls to go through."""
    if path.startswith("/api/version"):
        return _json({"ray_version": ray.__version__, "version": "4", "session_name": "s"})
    if path.startswith("/api/v0/nodes"):
        return _json({"data": {"result": {"result": []}}})
    if path.startswith("/api/packages/"):
        return 200, {}, b""  # "already uploaded"
    if path == "/api/jobs/":
        return _json({"submission_id": JOB} if method == "POST" else [])
    if path.endswith("/logs"):
        return _json({"logs": "epoch 1\n"})
    if path.endswith("/stop"):
        return _json({"stopped": True})
    return _json(
        {"type": "SUBMISSION", "submission_id": JOB, "status": "RUNNING", "entrypoint": "python"}
    )


def redirecting(code: int, target: Server, keep: tuple[str, ...] = ()) -> Answer:
    """Answers ``keep`` paths as the dashboard; redirects every other request to ``target``."""

    def answer(method: str, path: str, me: Server) -> tuple[int, dict[str, str], bytes]:
        if path.startswith(keep):
            return dashboard(method, path, me)
        return code, {"Location": target.url + path}, b""

    return answer


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for name in ("RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE", ALLOW_INSECURE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    return TOKEN


# --- redirects: hpsearch's own requests (urllib) ----------------------------------------


@pytest.mark.parametrize("code", REDIRECTS)
def test_the_probe_never_carries_the_token_to_another_port(token: str, code: int) -> None:
    with serve(dashboard) as other, serve(redirecting(code, other)) as head:
        with pytest.raises(UserError, match=f"redirects to http://127.0.0.1:{other.port}"):
            connect(head.url)
        cluster = Cluster(head.url, auth_headers(token))
        with pytest.raises(UserError, match="sends the token to no address but the one given"):
            cluster.alive_nodes()
    assert any(f"Bearer {token}" in c for c in head.credentials())  # it was sent to --address
    assert other.paths() == ["/api/version", "/api/v0/nodes?limit=1000"]  # redirects followed
    assert other.credentials() == []


def test_a_redirect_on_the_same_origin_keeps_the_token(token: str) -> None:
    def answer(method: str, path: str, me: Server) -> tuple[int, dict[str, str], bytes]:
        if path == "/api/version":
            return 307, {"Location": f"{me.url}/api/version/"}, b""
        return dashboard(method, path, me)

    with serve(answer) as head:
        assert connect(head.url).address == head.url
    assert head.paths() == ["/api/version", "/api/version/"]
    assert all(f"Bearer {token}" in h["Authorization"] for _, _, h in head.seen)


def test_without_a_token_a_redirect_elsewhere_is_followed(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    with serve(dashboard) as other, serve(redirecting(302, other)) as head:
        assert connect(head.url).address == head.url
    assert other.paths() == ["/api/version"]


# --- redirects: what job submit, list, status, logs and stop use (Ray's job client) ------


@pytest.mark.parametrize("code", REDIRECTS)
def test_rays_job_client_never_carries_the_token_to_another_port(
    token: str, code: int, tmp_path: Path
) -> None:
    config = SearchConfig(dataset="rings", num_samples=1, name="redirected", storage=str(tmp_path))
    with serve(dashboard) as other, serve(redirecting(code, other, ("/api/v0/",))) as head:
        cluster = Cluster(head.url, auth_headers(token))
        calls: list[Callable[[], object]] = [
            lambda: submit_search(cluster, config),
            lambda: job_row(cluster, JOB),
            lambda: follow_logs(cluster, JOB, lambda line: None, follow=False),
            lambda: job_rows(cluster),
            lambda: stop_job(cluster, JOB),
        ]
        for call in calls:
            with contextlib.suppress(UserError):  # 301/302 turn a POST into a GET
                call()
    assert sum(f"Bearer {token}" in c for c in head.credentials()) >= 5
    reached = other.paths()
    for path in ("/api/version", "/api/packages/", "/api/jobs/", f"/api/jobs/{JOB}/logs"):
        assert any(p.startswith(path) for p in reached), (path, reached)
    assert other.credentials() == []


def test_a_requests_that_would_forward_the_token_is_refused(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    monkeypatch.setattr(requests.Session, "should_strip_auth", lambda self, old, new: False)
    with pytest.raises(UserError, match="would send the cluster's token along a redirect"):
        Cluster("http://127.0.0.1:1", auth_headers(token)).jobs()


# --- plain http off this machine ----------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST.", "127.0.0.1", "127.3.4.5", "[::1]", "[::ffff:127.0.0.1]"]
)
def test_loopback_and_https_may_carry_the_token(host: str) -> None:
    check_transport(f"http://{host}:8265", TOKEN, allow_insecure=False)
    check_transport("https://head.example:8265", TOKEN, allow_insecure=False)


@pytest.mark.parametrize(
    "address",
    [
        FAR,
        "HTTP://10.255.255.1",
        "http://localhost.example:8265",  # a name is never looked up
        "http://127.0.0.1@10.255.255.1:8265",  # userinfo: the host is 10.255.255.1
        "http://0.0.0.0:8265",
        "http://[fe80::1]:8265",
    ],
)
def test_plain_http_elsewhere_needs_the_users_consent(address: str) -> None:
    with pytest.raises(UserError, match="refusing to send the cluster's token over plain http"):
        check_transport(address, TOKEN, allow_insecure=False)
    check_transport(address, TOKEN, allow_insecure=True)
    check_transport(address, None, allow_insecure=False)  # nothing to leak


@pytest.mark.parametrize(
    "address", ["http://[::1", "http://h:99999", "h:abc", "http://:8265", "http://", "ftp://h:21"]
)
def test_a_malformed_address_is_one_line(address: str) -> None:
    with pytest.raises(UserError, match="is not the address of Ray's job API"):
        resolve_address(address)


def test_consent_by_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_INSECURE_ENV, raising=False)
    assert not insecure_allowed(False) and insecure_allowed(True)
    for value, allowed in [("1", True), ("yes", True), ("0", False), ("", False)]:
        monkeypatch.setenv(ALLOW_INSECURE_ENV, value)
        assert insecure_allowed(False) is allowed
    monkeypatch.setenv(ALLOW_INSECURE_ENV, "maybe")
    with pytest.raises(UserError, match="neither 1 nor 0"):
        insecure_allowed(False)
    assert is_loopback("127.255.0.1") and not is_loopback("128.0.0.1")


# --- the CLI: no lookup, no connection before the refusal -------------------------------

#: Every verb of `hpsearch job` (a new one is covered at once), JOB where it takes one.
JOB_COMMANDS = [
    [name, *(JOB for p in command.params if isinstance(p, click.Argument))]
    for name, command in job.commands.items()
]


@pytest.fixture
def client_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Only the token in the environment: no address, no consent, no results root."""
    for name in os.environ:
        if name.startswith(("RAY_", "HPSEARCH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    return monkeypatch


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name lookup and connection this process tries while the test runs."""
    tried: list[str] = []

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            tried.append(f"{name}{args[1:] if name == 'connect' else args}")
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(socket.socket, "connect", spy("connect", socket.socket.connect))
    monkeypatch.setattr(socket, "getaddrinfo", spy("getaddrinfo", socket.getaddrinfo))
    monkeypatch.setattr(socket, "gethostbyname", spy("gethostbyname", socket.gethostbyname))
    return tried


def _cli(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name="hpsearch")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


REFUSED = "refusing to send the cluster's token over plain http to 10.255.255.1"


@pytest.mark.parametrize("command", JOB_COMMANDS, ids=lambda c: c[0])
def test_every_job_command_refuses_before_any_network(
    command: list[str], client_env: pytest.MonkeyPatch, network: list[str]
) -> None:
    result = _cli("job", *command, "--address", FAR)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and REFUSED in result.stderr
    assert "--allow-insecure-token" in result.stderr and ALLOW_INSECURE_ENV in result.stderr
    assert network == []  # no name lookup, no connection


@pytest.mark.parametrize(
    ("command", "consent"),
    [(["list"], "env"), *((c, "flag") for c in JOB_COMMANDS)],
    ids=lambda v: v if isinstance(v, str) else v[0],
)
def test_with_consent_the_cli_goes_on_to_connect(
    command: list[str], consent: str, client_env: pytest.MonkeyPatch, network: list[str]
) -> None:
    # 127.1 is 127.0.0.1 to the resolver, but not a spelling hpsearch takes for loopback.
    port = _closed_port()
    args = ["job", *command, "--address", f"http://127.1:{port}"]
    if consent == "env":  # once: without consent, this spelling of loopback is refused
        refused = _cli(*args)
        assert "refusing to send" in refused.stderr and network == []
        client_env.setenv(ALLOW_INSECURE_ENV, "1")
    else:
        args.append("--allow-insecure-token")
    result = _cli(*args)
    assert result.exit_code == 2, result.output
    assert f"no Ray dashboard at http://127.1:{port} (connection refused)" in result.stderr
    assert any(call.startswith("connect") and str(port) in call for call in network), network


# The same in a process of its own, where audit hooks also see lookups made from C.
_AUDITED = """
import json, sys
events = []
sys.addaudithook(
    lambda event, args: events.append([event, repr(args)])
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname")
    else None
)
from hpsearch.commands._main import main
sys.argv = ["hpsearch", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.__stdout__.write(json.dumps(events))
sys.exit(code)
"""


@pytest.mark.slow
def test_a_real_process_refuses_before_any_network_and_connects_with_consent(
    client_env: pytest.MonkeyPatch,
) -> None:
    def audited(*args: str) -> tuple[subprocess.CompletedProcess[str], list]:
        run = [sys.executable, "-c", _AUDITED, *args]
        result = subprocess.run(run, capture_output=True, text=True)
        return result, json.loads(result.stdout.splitlines()[-1])

    refused, network = audited("job", "submit", "--address", FAR)
    assert refused.returncode == 2 and REFUSED in refused.stderr and network == []
    port = _closed_port()
    tried, network = audited("job", "submit", "--address", f"http://127.1:{port}",
                             "--allow-insecure-token")  # fmt: skip
    assert tried.returncode == 2 and "no Ray dashboard at" in tried.stderr, tried.stderr
    assert any(event == "socket.connect" and str(port) in detail for event, detail in network)
