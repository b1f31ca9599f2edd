"""One writer per experiment, and writes that are whole or absent (issue 14).

Claims race for real: several processes, on a local folder and on moto's S3
server on 127.0.0.1. Writes fail for real: a 64 KB tmpfs fills up.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpsearch.commands._main import cli
from hpsearch.errors import UserError
from hpsearch.experiments._experiment import now_iso
from hpsearch.storage import _files as storage
from hpsearch.tuning._claim import claim_existing, claim_new

RACERS = 6


def _race(location: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        claim_new(location, "dup", location.rsplit("/", 1)[0])
        results.put("won")  # type: ignore[attr-defined]
    except Exception as exc:  # a crash is an outcome too: the test shows it
        results.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]


def _run_race(location: str, racers: int = RACERS) -> list[str]:
    ctx = multiprocessing.get_context("spawn")  # the AWS SDK does not survive a fork
    barrier, results = ctx.Barrier(racers), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(location, barrier, results)) for _ in range(racers)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    return outcomes


@pytest.fixture
def s3_root(s3_server: dict[str, str]) -> str:
    from tests.data.conftest import s3_filesystem, s3_uri

    s3_filesystem(s3_server["endpoint"]).create_dir("claims")
    return s3_uri(s3_server, f"claims/{os.urandom(4).hex()}")


def test_racing_drivers_never_both_claim_a_local_experiment(tmp_path: Path) -> None:
    outcomes = _run_race(str(tmp_path / "results" / "dup"))
    assert outcomes.count("won") == 1, outcomes
    losers = [o for o in outcomes if o != "won"]
    assert all(o.startswith("UserError") for o in losers), outcomes  # refused, not crashed


@pytest.mark.slow
def test_racing_drivers_never_both_claim_an_experiment_on_s3(s3_root: str) -> None:
    outcomes = _run_race(storage.join(s3_root, "dup"), racers=4)
    # An object store has no exclusive create: in a dead heat all may back off, never two win.
    assert outcomes.count("won") <= 1, outcomes
    assert all(o.startswith("UserError") for o in outcomes if o != "won"), outcomes
    alone = claim_new(storage.join(s3_root, "alone"), "alone", s3_root)  # no rival: it wins
    alone.release()


def test_a_claim_refuses_an_existing_experiment_and_a_live_claim(tmp_path: Path) -> None:
    location = str(tmp_path / "exp")
    storage.write_json_atomic({"config": {}}, location, "hpsearch.json")
    with pytest.raises(UserError, match="already exists"):
        claim_new(location, "exp", str(tmp_path))
    claim = claim_existing(location, "exp")  # this process: alive
    with pytest.raises(UserError, match=rf"being resumed by another hpsearch \(pid {os.getpid()}"):
        claim_existing(location, "exp")
    claim.release()
    claim_existing(location, "exp").release()  # released: free again
    assert not list(Path(location).glob("*claim*"))


def test_the_claim_of_a_dead_driver_is_taken_over_by_the_next_generation(tmp_path: Path) -> None:
    location = str(tmp_path / "exp")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    owner = {"host": os.uname().nodename, "pid": int(dead.stdout), "updated_at": now_iso()}
    storage.write_bytes(f"{location}/claim-000001.json", json.dumps(owner).encode())
    # Its heartbeat says "running", but the pid is gone: the search was killed.
    storage.write_json_atomic({**owner, "state": "running"}, location, "status.json")
    claim = claim_existing(location, "exp")
    assert claim.file == "claim-000002.json"
    # The new owner is alive: nobody else gets in now.
    with pytest.raises(UserError, match="being resumed"):
        claim_existing(location, "exp")
    claim.release()


def test_a_refused_search_leaves_no_folder_behind(tmp_path: Path) -> None:
    root = tmp_path / "new" / "results"
    claim = claim_new(str(root / "x"), "x", str(root))
    assert [p.name for p in (root / "x").iterdir()] == [claim.file] == ["claim-000001.json"]
    claim.release(remove_if_empty=True)
    assert not (tmp_path / "new").exists()


def test_a_second_run_of_a_name_in_use_stops_before_any_work(tmp_path: Path) -> None:
    root = tmp_path / "results"
    held = claim_new(str(root / "dup"), "dup", str(root))  # a search starting right now
    result = CliRunner().invoke(
        cli, ["run", "--name", "dup", "--storage", str(root)], prog_name="hpsearch"
    )
    assert result.exit_code == 2, result.output
    assert "is being created by another hpsearch" in result.stderr
    assert sorted(p.name for p in (root / "dup").iterdir()) == [held.file]
    held.release()


def test_default_names_started_in_the_same_second_differ() -> None:
    from hpsearch.config import SearchConfig, experiment_name

    config = SearchConfig()
    names = {experiment_name(config) for _ in range(50)}
    assert len(names) == 50


@pytest.mark.parametrize("name", ["x\n", "x\r", "bad\x00name", "a\tb", "x" * 201, ".hidden"])
def test_names_with_control_characters_or_too_long_are_refused(name: str) -> None:
    from hpsearch.config import SearchConfig

    with pytest.raises(UserError, match="not a valid experiment name"):
        SearchConfig(name=name)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs: writes fail with ENOSPC, as on a full disk or a quota."""
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_failed_write_is_one_line_and_leaves_nothing(full_disk: Path) -> None:
    big = {"values": "x" * 200_000}
    with pytest.raises(UserError, match=r"cannot write .*No space left on device"):
        storage.write_json_atomic(big, str(full_disk), "summary.json")
    assert list(full_disk.iterdir()) == []
    with (
        pytest.raises(UserError, match="No space left"),
        storage.atomic_path(full_disk / "table.csv") as tmp,
    ):
        Path(tmp).write_bytes(b"y" * 200_000)
    assert list(full_disk.iterdir()) == []


def test_a_planted_symlink_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = tmp_path / "shared"
    folder.mkdir()
    # The name the old code wrote through: .NAME.PID.tmp, predictable by anyone.
    (folder / f".status.json.{os.getpid()}.tmp").symlink_to(victim)
    storage.write_json_atomic({"state": "running"}, str(folder), "status.json")
    assert victim.read_text() == "keep me"
    assert json.loads((folder / "status.json").read_text()) == {"state": "running"}
    assert not (folder / "status.json").is_symlink()


def test_list_shows_a_malformed_experiment_as_unreadable_and_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "results"
    storage.write_json_atomic({"experiment": "broken"}, str(root / "broken"), "hpsearch.json")
    storage.write_bytes(str(root / "garbled" / "hpsearch.json"), b"{not json")
    storage.write_json_atomic(
        {"experiment": "ok", "config": {"max_epochs": 3, "num_samples": 2},
         "metric": "val_accuracy", "mode": "max", "started_at": now_iso(),
         "driver": {"host": "elsewhere", "pid": 1}},
        str(root / "ok"), "hpsearch.json",
    )  # fmt: skip
    storage.write_json_atomic({"ended": "finished", "best": None}, str(root / "ok"), "summary.json")
    # A summary and a trial that are JSON, but not what hpsearch writes.
    for name in ("odd-summary", "odd-trial"):
        (root / name).mkdir()
        (root / name / "hpsearch.json").write_bytes((root / "ok" / "hpsearch.json").read_bytes())
    (root / "odd-summary" / "summary.json").write_text('{"ended": "finished", "best": "x"}')
    (root / "odd-trial" / "trial_a").mkdir()
    (root / "odd-trial" / "trial_a" / "params.json").write_text("[1, 2]")
    result = CliRunner().invoke(cli, ["list", "--storage", str(root)], prog_name="hpsearch")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["ok"].split()[1] == "finished"
    assert "unreadable" in rows["broken"] and "missing 'config'" in rows["broken"]
    assert "unreadable" in rows["garbled"] and "hpsearch.json is not valid JSON" in rows["garbled"]
    assert "unreadable" in rows["odd-summary"] and "unreadable" in rows["odd-trial"]
    best = CliRunner().invoke(cli, ["best", str(root / "broken")], prog_name="hpsearch")
    assert best.exit_code == 2 and "is unreadable: missing 'config'" in best.stderr


def test_list_finds_experiments_under_the_default_root_in_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default root is "~/hpsearch-results": it must be expanded (it was not, so
    `hpsearch list` said "No experiments" right after the README's first command)."""
    monkeypatch.delenv("HPSEARCH_STORAGE")
    monkeypatch.setenv("HOME", str(tmp_path))
    record = {"experiment": "e", "config": {"max_epochs": 3, "num_samples": 2},
              "metric": "val_accuracy", "mode": "max", "started_at": now_iso()}  # fmt: skip
    storage.write_json_atomic(record, str(tmp_path / "hpsearch-results" / "e"), "hpsearch.json")
    storage.write_json_atomic({"ended": "finished"}, str(tmp_path / "hpsearch-results" / "e"),
                              "summary.json")  # fmt: skip
    result = CliRunner().invoke(cli, ["list"], prog_name="hpsearch")
    assert result.exit_code == 0 and result.stdout.splitlines()[1].split()[:2] == ["e", "finished"]


def test_a_claim_is_kept_fresh_and_never_written_back_once_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpsearch.tuning import _claim

    monkeypatch.setattr(_claim, "REFRESH_S", 0.05)
    location = tmp_path / "exp"
    claim = claim_new(str(location), "exp", str(tmp_path))
    path = location / claim.file
    os.utime(path, (0, 0))  # as if written long ago
    deadline = time.monotonic() + 30
    while path.stat().st_mtime == 0:  # rewritten by the claim's own thread
        assert time.monotonic() < deadline, "the claim was never refreshed"
        time.sleep(0.02)
    claim.release()
    time.sleep(0.3)  # several refresh periods
    assert not path.exists()
