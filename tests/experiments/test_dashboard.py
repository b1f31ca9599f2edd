"""The study of record, read: :func:`open_study` and ``hpsearch dashboard`` (optuna-dashboard,
read-only, on 127.0.0.1), on journals written by plain Optuna as a search writes them, and
the dashboard opened in Debian's chromium during a real search (slow)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pytest
from click.testing import CliRunner
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial

from hpsearch.commands import cli
from hpsearch.config import SearchConfig
from hpsearch.errors import UserError
from hpsearch.experiments import (
    STUDY_FILE,
    DashboardServer,
    ReadOnlyJournal,
    _dashboard,
    load_experiment,
    open_study,
    serve_dashboard,
)
from tests.experiments.test_report import browser  # noqa: F401  (the chromium fixture)
from tests.factory import make_experiment

if TYPE_CHECKING:
    from hpsearch.tuning import SearchResult

ROOT = Path(__file__).resolve().parents[2]


# Journals as the search writes them: plain Optuna on a JournalFileBackend -------------


def journal(exp_path: Path) -> JournalStorage:
    """A writer's storage on the experiment's journal."""
    return JournalStorage(JournalFileBackend(str(exp_path / STUDY_FILE)))


def add_trial(study: optuna.Study, epochs: int = 3, value: float | None = 0.8) -> int:
    """One trial as a search runs it: asked, a value per epoch, told (unless ``value`` is
    None: still running)."""
    trial = study.ask()
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    trial.suggest_categorical("optimizer", ["adam", "adamw"])
    for epoch in range(1, epochs + 1):
        trial.report(0.5 + 0.1 * epoch * lr, epoch)
    trial.set_user_attr("ended", "completed" if value is not None else "running")
    if value is not None:
        study.tell(trial, value)
    return trial.number


def journaled(root: Path, name: str = "journaled", trials: int = 3) -> tuple[Path, optuna.Study]:
    """A factory experiment with a study journal holding ``trials`` ended trials and one
    running; the writer's study."""
    fake = make_experiment(root, name)
    (fake.path / STUDY_FILE).unlink(missing_ok=True)  # ours, whatever the factory wrote
    study = optuna.create_study(study_name=name, storage=journal(fake.path), direction="maximize")
    for i in range(trials):
        add_trial(study, value=0.7 + i / 100)
    add_trial(study, epochs=1, value=None)
    return fake.path, study


def rewrite_whole(path: Path, trials: list[FrozenTrial]) -> None:
    """Replace the experiment's journal with one holding ``trials`` (as a resume does)."""
    rebuilt = path.parent / "rebuilt.journal"
    fresh = optuna.create_study(
        study_name="journaled",
        storage=JournalStorage(JournalFileBackend(str(rebuilt))),
        direction="maximize",
    )
    fresh.add_trials(trials)
    os.replace(rebuilt, path / STUDY_FILE)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[DashboardServer, Path, optuna.Study]]:
    path, study = journaled(tmp_path)
    server = serve_dashboard(load_experiment(str(path)))
    yield server, path, study
    server.shutdown()


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def api(server: DashboardServer, path: str = "") -> Any:
    return json.loads(get(f"{server.base_url}/api/studies{path}")[2])


def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``check`` (the dashboard re-reads on its own schedule); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still not {what} after {timeout} s"
        time.sleep(0.1)


# open_study ---------------------------------------------------------------------------


def _summary(study: optuna.Study) -> list[tuple[Any, ...]]:
    return [
        (t.number, t.state, t.value, t.params, t.intermediate_values, t.user_attrs)
        for t in study.trials
    ]


def test_open_study_reads_the_journal_optuna_wrote(tmp_path: Path) -> None:
    path, written = journaled(tmp_path)
    before = (path / STUDY_FILE).read_bytes()
    study = open_study(load_experiment(str(path)))
    assert study.study_name == "journaled"
    assert _summary(study) == _summary(written)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3 + ["RUNNING"]
    assert study.best_value == pytest.approx(0.72)
    assert len(study.trials[0].intermediate_values) == 3
    # Live: what the search adds next shows on the same study object.
    add_trial(written)
    assert len(study.trials) == 5
    # Read-only: a write fails and leaves the journal as the search wrote it.
    size = (path / STUDY_FILE).stat().st_size
    with pytest.raises(PermissionError):
        study.set_user_attr("note", "mine")
    with pytest.raises(PermissionError):
        study.ask()
    assert (path / STUDY_FILE).stat().st_size == size
    assert (path / STUDY_FILE).read_bytes().startswith(before)


def test_open_study_on_a_storage_uri_reads_a_copy(tmp_path: Path) -> None:
    path, written = journaled(tmp_path)
    study = open_study(load_experiment(path.as_uri()))  # file://: read as any URI is
    assert _summary(study) == _summary(written)
    with pytest.raises(PermissionError):
        study.set_user_attr("note", "mine")


def test_without_a_journal_open_study_rebuilds_the_study_from_the_trials(tmp_path: Path) -> None:
    """An experiment written before the journal: its trials' own records."""
    fake = make_experiment(tmp_path, "older")
    (fake.path / STUDY_FILE).unlink(missing_ok=True)
    exp = load_experiment(str(fake.path))
    study = open_study(exp)
    assert [t.user_attrs["trial_id"] for t in study.trials] == [t.trial_id for t in exp.trials]
    assert not (fake.path / STUDY_FILE).exists()  # reading created nothing


def test_a_journal_that_is_not_the_experiments_is_one_user_error(tmp_path: Path) -> None:
    path, _ = journaled(tmp_path)
    optuna.create_study(study_name="other", storage=journal(tmp_path))
    os.replace(tmp_path / STUDY_FILE, path / STUDY_FILE)
    with pytest.raises(UserError, match=f"its {STUDY_FILE} holds no study named 'journaled'"):
        open_study(load_experiment(str(path)))
    (path / STUDY_FILE).write_text('{"op_code": 0, "worker_id": \n{"op_code": 0}\n')
    with pytest.raises(UserError, match=f"its {STUDY_FILE} is unreadable"):
        open_study(load_experiment(str(path)))


def test_the_read_only_journal_refuses_writes_and_creates_no_file(tmp_path: Path) -> None:
    path, _ = journaled(tmp_path)
    storage = JournalStorage(ReadOnlyJournal(str(path / STUDY_FILE)))
    with pytest.raises(PermissionError):
        storage.set_study_user_attr(0, "note", "mine")
    with pytest.raises(FileNotFoundError):
        ReadOnlyJournal(str(tmp_path / "absent.journal"))
    assert not (tmp_path / "absent.journal").exists()


# The dashboard ------------------------------------------------------------------------


def test_the_dashboard_serves_the_study_read_only(
    dashboard: tuple[DashboardServer, Path, optuna.Study],
) -> None:
    server, path, _ = dashboard
    summaries = api(server)["study_summaries"]
    assert [s["study_name"] for s in summaries] == ["journaled"]
    assert server.url == f"{server.base_url}/dashboard/studies/{summaries[0]['study_id']}"
    detail = api(server, f"/{server.study_id}")
    assert len(detail["trials"]) == 4
    assert get(server.url)[0] == 200  # the UI's page
    assert get(server.url, "HEAD")[0] == 200
    before = (path / STUDY_FILE).read_bytes()
    for method, route in [
        ("POST", "/api/studies"),  # create a study
        ("POST", f"/api/studies/{server.study_id}/rename"),
        ("PUT", f"/api/studies/{server.study_id}/note"),
        ("DELETE", f"/api/studies/{server.study_id}"),
        ("POST", f"/api/trials/{detail['trials'][3]['trial_id']}/tell"),
        ("PATCH", "/api/studies"),
    ]:
        code, headers, _ = get(server.base_url + route, method)
        assert (code, headers.get("Allow")) == (405, "GET, HEAD"), (method, route)
    assert (path / STUDY_FILE).read_bytes() == before
    assert [s["study_name"] for s in api(server)["study_summaries"]] == ["journaled"]


def test_the_dashboards_own_storage_refuses_writes(
    dashboard: tuple[DashboardServer, Path, optuna.Study],
) -> None:
    """Read-only below the server too: what the UI would write through fails."""
    server, path, _ = dashboard
    before = (path / STUDY_FILE).read_bytes()
    with pytest.raises(PermissionError):
        server.storage.set_study_user_attr(server.study_id, "note", "mine")
    with pytest.raises(PermissionError):
        server.storage.delete_study(server.study_id)
    assert (path / STUDY_FILE).read_bytes() == before


def test_the_dashboard_listens_on_127_0_0_1_only(
    dashboard: tuple[DashboardServer, Path, optuna.Study],
) -> None:
    server, _, _ = dashboard
    assert server.url.startswith("http://127.0.0.1:")
    port = int(server.base_url.rsplit(":", 1)[1])
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    # 127.0.0.2 is this machine too: a server bound to every interface would answer there.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port), timeout=10)


def ask_as(server: DashboardServer, host: str | None, method: str = "GET") -> tuple[int, bytes]:
    """A request over a real socket to the served dashboard, naming it ``host`` in its Host
    header (``None``: no Host header at all)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, "/api/studies", skip_host=True)
        if host is not None:
            connection.putheader("Host", host.format(port=port))
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "localhost:{port}",
        "[::1]:{port}",
        "LocalHost:{port}",
        "localhost:8080",  # an SSH tunnel's port
        "127.0.0.2:{port}",  # any loopback address
    ],
)
def test_the_dashboard_answers_its_loopback_names(
    dashboard: tuple[DashboardServer, Path, optuna.Study], host: str
) -> None:
    server, _, _ = dashboard
    code, body = ask_as(server, host)
    assert code == 200
    assert [s["study_name"] for s in json.loads(body)["study_summaries"]] == ["journaled"]


@pytest.mark.parametrize(
    "host",
    [
        "rebound.example:{port}",  # DNS rebinding: another site's name, now resolving to 127.0.0.1
        "rebound.example",
        "127.0.0.1:{port}:80",
        "127.0.0.1:x",
        "localhost.rebound.example:{port}",
        "10.0.0.1:{port}",
        "[::2]:{port}",
        "",
        None,
    ],
)
def test_the_dashboard_refuses_any_other_host_header(
    dashboard: tuple[DashboardServer, Path, optuna.Study], host: str | None
) -> None:
    """A page from another site, its name rebound to 127.0.0.1, reads nothing."""
    server, path, _ = dashboard
    before = (path / STUDY_FILE).read_bytes()
    for method in ("GET", "POST"):
        code, body = ask_as(server, host, method)
        assert code == 403, (host, method)
        assert body.startswith(b"403 Forbidden") and body.count(b"\n") == 1
        assert b"journaled" not in body
    assert (path / STUDY_FILE).read_bytes() == before


def test_localhost_is_127_0_0_1(tmp_path: Path) -> None:
    path, _ = journaled(tmp_path)
    server = serve_dashboard(load_experiment(str(path)), host="localhost")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert api(server)["study_summaries"][0]["study_name"] == "journaled"
    finally:
        server.shutdown()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_the_dashboard_refuses_any_other_host(tmp_path: Path, host: str) -> None:
    path, _ = journaled(tmp_path)
    with pytest.raises(UserError, match=r"loopback interface only.*ssh -L"):
        serve_dashboard(load_experiment(str(path)), host=host)


def test_the_dashboard_shows_what_the_search_adds(
    dashboard: tuple[DashboardServer, Path, optuna.Study],
) -> None:
    server, _, study = dashboard
    add_trial(study)
    eventually(lambda: len(api(server, f"/{server.study_id}")["trials"]) == 5, "5 trials")


def test_a_dashboard_on_a_storage_uri_follows_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy downloaded again and again: appended records show, and so does a journal
    rewritten whole (as a resumed search rebuilds it)."""
    monkeypatch.setattr(_dashboard, "REFRESH_S", 0.1)
    temp = tmp_path / "tmp"  # this test's own temporary folder: no other process writes there
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path, study = journaled(tmp_path)
    server = serve_dashboard(load_experiment(path.as_uri()))
    try:
        assert len(api(server, f"/{server.study_id}")["trials"]) == 4
        live = server.storage
        add_trial(study)
        eventually(lambda: len(api(server, f"/{server.study_id}")["trials"]) == 5, "appended")
        assert server.storage is live  # the copy replaced; its storage read on
        rewrite_whole(path, study.trials[:2])
        eventually(lambda: len(api(server, f"/{server.study_id}")["trials"]) == 2, "rebuilt")
        assert server.storage is not live
        assert [p.name[:19] for p in temp.iterdir()] == ["hpsearch-dashboard-"]  # one copy
    finally:
        server.shutdown()
    assert list(temp.iterdir()) == []  # removed


def test_a_local_journal_rewritten_whole_gets_a_fresh_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dashboard, "REFRESH_S", 0.1)
    path, study = journaled(tmp_path)
    server = serve_dashboard(load_experiment(str(path)))
    try:
        rewrite_whole(path, study.trials[:1])
        eventually(lambda: len(api(server, f"/{server.study_id}")["trials"]) == 1, "rebuilt")
    finally:
        server.shutdown()


def test_an_experiment_without_a_journal_is_served_as_recorded(tmp_path: Path) -> None:
    fake = make_experiment(tmp_path, "older")
    (fake.path / STUDY_FILE).unlink(missing_ok=True)
    exp = load_experiment(str(fake.path))
    server = serve_dashboard(exp)
    try:
        assert not server.live
        trials = api(server, f"/{server.study_id}")["trials"]
        assert [t["number"] for t in trials] == list(range(len(exp.trials)))
    finally:
        server.shutdown()
    assert not (fake.path / STUDY_FILE).exists()


# The command --------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="hpsearch")
    return result.exit_code, result.stdout, result.stderr


def test_dashboard_help() -> None:
    code, out, _ = invoke("dashboard", "--help")
    assert code == 0
    assert out.startswith("Usage: hpsearch dashboard [OPTIONS] EXP")
    assert "--port" in out and "--storage" in out and "127.0.0.1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "hpsearch: error: no experiment 'nosuch' in "),
        (["x", "--port", "70000"], "Invalid value for '--port'"),
    ],
)
def test_dashboard_mistakes_are_one_line_exit_2(args: list[str], message: str) -> None:
    code, out, err = invoke("dashboard", *args)
    assert code == 2
    assert err.startswith("hpsearch: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err + out


def test_dashboard_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    path, _ = journaled(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = invoke("dashboard", str(path), "--port", str(taken.getsockname()[1]))
    assert code == 2 and err.count("\n") == 1 and "cannot serve the dashboard on 127.0.0.1" in err


# What runs the command in a subprocess and says which heavy modules it loaded.
_COMMAND = """
import sys
from hpsearch.commands._main import main
sys.argv = ["hpsearch", "dashboard", *sys.argv[1:]]
try:
    main()
finally:
    print("loaded:", sorted(m for m in ("torch", "ray") if m in sys.modules), flush=True)
"""


def _serve_until_sigterm(
    args: list[str], while_served: Callable[[str], None]
) -> tuple[int, str, str, str]:
    """``hpsearch dashboard ARGS`` in a process of its own: ``while_served`` gets its
    first line, then SIGTERM; its exit code, first line, the rest of stdout, stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", _COMMAND, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while_served(line)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, line, out, err


def test_the_command_prints_the_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    journaled(tmp_path, "served")
    studies: list[Any] = []

    def while_served(line: str) -> None:
        url = r"(http://127\.0\.0\.1:\d+)/dashboard/studies/(\d+)"
        found = re.fullmatch(f"Dashboard of served: {url}\n", line)
        assert found, line
        summaries = json.loads(get(f"{found[1]}/api/studies")[2])["study_summaries"]
        studies.extend((s["study_id"], s["study_name"]) for s in summaries)
        studies.append(int(found[2]))

    code, _, out, err = _serve_until_sigterm(["served", "--storage", str(tmp_path)], while_served)
    assert studies[:-1] == [(studies[-1], "served")]
    assert code == 0, err
    assert err == "Dashboard stopped.\n"
    assert "loaded: []" in out


@pytest.mark.parametrize("option", ["exp", "storage"])
def test_a_key_in_the_dashboards_location_is_never_printed(tmp_path: Path, option: str) -> None:
    """A location given with a key (``?secret_key=...``) is read, and shown blanked."""
    journaled(tmp_path, "keyed")
    key = "k3y" + "9" * 20
    where = [f"file://{tmp_path}/keyed?secret_key={key}"] if option == "exp" else [
        "keyed", "--storage", f"file://{tmp_path}?secret_key={key}"
    ]  # fmt: skip
    _, line, out, err = _serve_until_sigterm(where, lambda line: None)
    assert line.startswith("Dashboard of keyed: http://127.0.0.1:"), line + err
    assert key not in line + out + err


# In the browser (slow) ----------------------------------------------------------------


#: How long a held search waits for the test (a failed test lets it go on).
HOLD_S = 120.0


def journal_trials(location: Path, name: str) -> int:
    """How many trials the study of record at ``location`` holds now (read-only)."""
    if not (location / STUDY_FILE).is_file():
        return 0
    storage = JournalStorage(ReadOnlyJournal(str(location / STUDY_FILE)))
    return len(optuna.load_study(study_name=name, storage=storage).trials)


class HeldSearch:
    """A real search (:func:`hpsearch.run_search` on the session's Ray) in a thread, held
    at trials' ends (its progress line, in the driver's thread) so that a test knows what a
    page could have seen. The driver alone writes the study, and a held one writes nothing:

    - at the first trial's end, until :meth:`release` (the page has loaded): the study
      then holds :attr:`loaded` trials, no more;
    - after that, at any trial's end while the study holds a trial the page has not
      seen (number :attr:`loaded` or later), until :meth:`seen`. That trial must end
      too, so the search cannot end before the page showed it.

    (Ray Tune skips its signal handlers outside the main thread; hpsearch's SIGTERM
    handler too.)
    """

    def __init__(self, config: SearchConfig, location: Path) -> None:
        self.location, self.name = location, str(config.name)
        self.held = threading.Event()  # at the first trial's end (or the search is over)
        self.loaded = -1
        self.error: BaseException | None = None
        self.result: SearchResult | None = None
        self._released = threading.Event()
        self._seen = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(config,), daemon=True)
        self._thread.start()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles the search's callbacks, this echo with them, into tuner.pkl (never
        # read back here): the copy needs none of the events and threads.
        return {}

    def release(self) -> None:
        """Let the search go on from its first trial's end."""
        self.loaded = journal_trials(self.location, self.name)
        self._released.set()

    def seen(self) -> None:
        """Let the search run to its end."""
        self._seen.set()

    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 120.0) -> None:
        """Hold nothing any more; wait for the search to end."""
        self._released.set()
        self._seen.set()
        self._thread.join(timeout)

    def _run(self, config: SearchConfig) -> None:
        from hpsearch.tuning import run_search  # Ray: only in this test

        try:
            self.result = run_search(config, echo=self._echo)
        except BaseException as exc:  # the test reports it
            self.error = exc
        finally:
            self.held.set()

    def _echo(self, line: str) -> None:
        # ProgressCallback's line for a trial that ended: "trial   2 completed ... (3/4 done)".
        if not re.search(r"\btrial +\d+ .*\(\d+/\d+ done\)$", line):
            return
        if not self._released.is_set():
            self.held.set()
            self._released.wait(HOLD_S)
        elif journal_trials(self.location, self.name) > self.loaded:
            self._seen.wait(HOLD_S)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_the_dashboard_shows_trials_appear_live_in_chromium(
    browser: Any,  # noqa: F811
    tmp_path: Path,
    results_root: Path,
) -> None:
    """The dashboard opened during a real search: a trial the search asks after the page
    loaded shows up on it without a reload, while the search still runs."""
    config = SearchConfig(
        space="quick", num_samples=3, max_epochs=2, max_concurrent=2, name="live", seed=3
    )
    search = HeldSearch(config, results_root / "live")
    server: DashboardServer | None = None
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        assert search.held.wait(HOLD_S), "no trial ended"
        assert search.running(), f"the search ended before its first trial did: {search.error!r}"
        server = serve_dashboard(load_experiment(str(results_root / "live")))
        assert server.live
        page.goto(f"{server.url}/trials", wait_until="load")
        page.get_by_text("Trial 0", exact=True).first.wait_for(timeout=30_000)
        search.release()
        assert 0 < search.loaded < config.num_samples
        assert page.get_by_text(f"Trial {search.loaded}", exact=True).count() == 0
        # A trial the search asked after the page loaded shows up without a reload.
        page.get_by_text(f"Trial {search.loaded}", exact=True).first.wait_for(timeout=60_000)
        assert search.running()
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        search.seen()
    finally:
        page.close()
        search.stop()
        if server is not None:
            server.shutdown()
    assert errors == []
    assert search.error is None and search.result is not None
    assert search.result.summary["trials"]["total"] == config.num_samples


def test_the_dashboard_serves_a_search_of_several_objectives(tmp_path: Path) -> None:
    from tests.factory import make_front

    server = serve_dashboard(load_experiment(str(make_front(tmp_path).path)))
    try:
        detail = api(server, f"/{server.study_id}")
    finally:
        server.shutdown()
    assert detail["directions"] == ["maximize", "minimize"]
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert complete and all(len(t["values"]) == 2 for t in complete)
