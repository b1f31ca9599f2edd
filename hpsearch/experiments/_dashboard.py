"""``hpsearch dashboard``: Optuna's own UI (optuna-dashboard) on an experiment's study of record.

The dashboard reads the journal the search writes, so trials appear as they
are asked and their learning curves grow as they report. It is read-only
twice over: its storage refuses every write (:class:`ReadOnlyJournal`) and the
server answers anything but GET and HEAD with 405. It binds to the loopback
interface only, since the UI has no authentication; from another machine, an
SSH tunnel reaches it. And it answers only requests addressed to it by a
loopback name (``Host: 127.0.0.1``, ``localhost`` or ``[::1]``, with any port):
a web page whose own name was made to point at 127.0.0.1 (DNS rebinding) gets
403, so it cannot read the study through the user's browser.

A local journal is read where it is. A journal on a storage URI is
downloaded to a temporary copy, downloaded again every :data:`REFRESH_S`
seconds and put in place with ``os.replace``: the journal only grows, so the
storage reading the copy carries on from where it was. A journal that was
rewritten instead (a resumed search rebuilds it) gets a fresh storage.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from optuna.storages.journal import JournalFileBackend

from hpsearch import storage
from hpsearch.errors import UserError
from hpsearch.experiments._layout import STUDY_FILE
from hpsearch.experiments._study import build_study, is_remote, journal_location, read_journal

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from hpsearch.experiments._experiment import Experiment

#: Seconds between two looks at the journal (a remote one is downloaded again).
REFRESH_S = 3.0

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ReadOnlyJournal(JournalFileBackend):
    """Optuna's journal file backend, for reading only: every write raises
    ``PermissionError``, and a missing file is not created."""

    def __init__(self, file_path: str) -> None:
        if not os.path.isfile(file_path):
            raise FileNotFoundError(file_path)
        super().__init__(file_path)
        self.path = file_path

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Refuse the write."""
        raise PermissionError(f"the study journal {self.path} is open read-only")


class DashboardServer:
    """A dashboard serving in background threads until :meth:`shutdown`."""

    def __init__(
        self,
        httpd: WSGIServer,
        journal: BaseStorage,
        study_id: int,
        source: _Source | None,
        host: str,
    ) -> None:
        self._httpd = httpd
        self._journal = journal
        self._source = source
        self._stopped = threading.Event()
        port = httpd.server_address[1]
        self.base_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        #: The study's page in the dashboard.
        self.url = f"{self.base_url}/dashboard/studies/{study_id}"
        self.study_id = study_id
        #: False for an experiment written before the journal: a copy that never changes.
        self.live = source is not None
        # Polled for shutdown every 0.05 s, not 0.5 s: Ctrl-C and the tests stop it at once.
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def storage(self) -> BaseStorage:
        """The Optuna storage the dashboard reads (read-only for a journal)."""
        return self._source.storage if self._source is not None else self._journal

    def wait(self) -> None:
        """Block until :meth:`shutdown` (from another thread) or Ctrl-C."""
        self._stopped.wait()

    def shutdown(self) -> None:
        """Stop serving and refreshing; remove the downloaded copy, if any."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        if self._source is not None:
            self._source.close()


def serve_dashboard(exp: Experiment, host: str = "127.0.0.1", port: int = 0) -> DashboardServer:
    """Serve optuna-dashboard, read-only, on the experiment's study at ``http://host:port``.

    ``host`` must be a loopback address; ``port`` 0 picks a free one. An
    experiment written before the journal existed is served as its rebuilt
    study (:func:`~hpsearch.experiments.build_study`), which does not change.

    Example:
        >>> server = serve_dashboard(load_experiment("spirals-mlp-1"))  # doctest: +SKIP
        >>> print(server.url); server.wait()  # doctest: +SKIP
    """
    import optuna_dashboard

    address = _loopback(host)
    source = _Source.open(exp)
    journal, study_id = (source.storage, source.study_id) if source else _static(exp)
    app = _ReadOnlyApp(optuna_dashboard.wsgi(journal))
    if source is not None:
        source.on_rewrite = lambda fresh: setattr(app, "app", optuna_dashboard.wsgi(fresh))
    server_class = _Server6 if ":" in address else _Server
    try:
        httpd = make_server(address, port, app, server_class, _QuietHandler)
    except OSError as exc:
        if source is not None:
            source.close()
        raise UserError(
            f"cannot serve the dashboard on {address} port {port}: {exc.strerror or exc}",
            "choose another port with --port, or leave it out for a free one",
        ) from None
    if source is not None:
        source.start()
    return DashboardServer(httpd, journal, study_id, source, address)


def _loopback(host: str) -> str:
    """``host`` as an address of this machine's loopback interface, or a UserError."""
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise UserError(
            f"the dashboard listens on this machine's loopback interface only, not {host!r}: "
            "it has no login",
            "from another machine, tunnel to it: ssh -L 8080:127.0.0.1:PORT THIS-HOST",
        )
    return str(address)


def _static(exp: Experiment) -> tuple[BaseStorage, int]:
    """An in-memory storage holding the experiment's study rebuilt from its trials, and
    the study's id in it."""
    from optuna.storages import InMemoryStorage

    memory = InMemoryStorage()
    build_study(exp, storage=memory)
    return memory, memory.get_study_id_from_name(exp.name)


class _Source:
    """The journal the dashboard reads, looked at again every :data:`REFRESH_S` seconds.

    A local journal is read in place; it is only checked for having been
    replaced by a rewritten one. A remote one is read from a downloaded copy.
    """

    def __init__(
        self, exp: Experiment, path: Path, content: bytes | None, folder: str | None
    ) -> None:
        self.exp = exp
        self.path = path
        self.storage, self.study_id = read_journal(path, exp)
        self.on_rewrite: Callable[[BaseStorage], None] = lambda journal: None
        self._content = content  # the copy's bytes (remote only)
        self._identity = _identity(path)
        self._folder = folder
        self._generation = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @classmethod
    def open(cls, exp: Experiment) -> _Source | None:
        """The experiment's journal; ``None`` if it has none (written before the journal)."""
        if not is_remote(exp):
            path = Path(journal_location(exp))
            return cls(exp, path, None, None) if path.is_file() else None
        content = storage.read_bytes(journal_location(exp))
        if content is None:
            return None
        folder = tempfile.mkdtemp(prefix="hpsearch-dashboard-")
        path = Path(folder) / STUDY_FILE
        path.write_bytes(content)
        try:
            return cls(exp, path, content, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def start(self) -> None:
        """Look at the journal again every :data:`REFRESH_S` seconds until :meth:`close`."""
        self._thread.start()

    def close(self) -> None:
        """Stop looking; remove the downloaded copy."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _run(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self.refresh()
            except (OSError, UserError):  # storage out of reach, or a rewrite caught half-way
                continue  # the dashboard keeps showing what it had; the next look may do

    def refresh(self) -> None:
        """Bring the dashboard's view up to the journal as it is now."""
        if self._folder is None:
            self._refresh_local()
        else:
            self._refresh_remote()

    def _refresh_local(self) -> None:
        # The storage reads an appended journal by itself; a replaced file (a
        # resumed search's rebuilt journal) needs a fresh storage.
        identity = _identity(self.path)
        if identity != self._identity:
            self._reread(self.path)
            self._identity = identity

    def _refresh_remote(self) -> None:
        content = storage.read_bytes(journal_location(self.exp))
        old = self._content or b""
        if content is None or content == old:
            return
        if content.startswith(old):  # appended to: the storage reads on from its offsets
            download = self.path.with_name(f".{self.path.name}.download")
            download.write_bytes(content)
            os.replace(download, self.path)
        else:  # rewritten: a new file, read by a new storage
            self._generation += 1
            path = self.path.with_name(f"{self._generation}-{STUDY_FILE}")
            path.write_bytes(content)
            self._reread(path)
            self.path = path
        self._content = content

    def _reread(self, path: Path) -> None:
        self.storage, self.study_id = read_journal(path, self.exp)
        self.on_rewrite(self.storage)


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


#: The names a browser reaches a loopback dashboard by, with any port: an SSH
#: tunnel (``ssh -L 8080:127.0.0.1:PORT``) forwards another port of the same name.
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_HOST = re.compile(r"(?P<name>\[::1\]|[^:\[\]]+)(?::\d{1,5})?")


def _loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names a loopback address (and at most a port): one of
    :data:`_LOOPBACK_NAMES` or any loopback IP literal (a rebound page sends a name)."""
    match = _HOST.fullmatch(host.strip().lower())
    if match is None:
        return False
    if match["name"] in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(match["name"].strip("[]")).is_loopback
    except ValueError:
        return False


class _ReadOnlyApp:
    """The dashboard's WSGI app behind two gates.

    A request must name the server by a loopback name (``Host`` ``127.0.0.1``,
    ``localhost`` or ``[::1]``, any port: a tunnel forwards another), else 403: a
    page from another site whose name now resolves to 127.0.0.1 (DNS rebinding)
    sends its own name, and reads nothing. Then GET and HEAD pass, anything else
    is 405 (the UI can delete a study, write notes and tell trials; none of it
    reaches the journal).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not _loopback_host(str(environ.get("HTTP_HOST", ""))):
            return _refuse(
                start_response,
                "403 Forbidden",
                b"403 Forbidden: open this dashboard as http://127.0.0.1:PORT\n",
                [],
            )
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return self.app(environ, start_response)
        return _refuse(
            start_response,
            "405 Method Not Allowed",
            b"405 Method Not Allowed: this dashboard is read-only\n",
            [("Allow", "GET, HEAD")],
        )


def _refuse(
    start_response: Callable[..., Any], status: str, body: bytes, headers: list[tuple[str, str]]
) -> list[bytes]:
    """A short plain-text answer that is not the dashboard's."""
    start_response(
        status,
        [
            *headers,
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request (the UI polls while plots load)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that leaves mid-answer is no error worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No log line per request: the terminal shows only the URL."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
