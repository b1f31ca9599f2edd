"""Exclusive writes: of writers racing for one name, exactly one wins, whole."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from hpsearch import storage


def test_an_exclusive_write_refuses_an_existing_name_and_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "claim.json"
    storage.write_bytes(str(target), b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        storage.write_bytes(str(target), b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["claim.json"]  # no temporary left


@pytest.mark.parametrize("refusal", [errno.EPERM, errno.ENOTSUP])
def test_without_hard_links_an_exclusive_create_does_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(refusal, os.strerror(refusal))

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "claim.json"
    storage.write_bytes(str(target), b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        storage.write_bytes(str(target), b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["claim.json"]


# A check-then-write bug shows in about 1 race in 8 here: 60 races all but never miss it.
_WRITERS = 8
_RACES = 60


def _race(target: Path) -> list[bytes | BaseException]:
    """``_WRITERS`` threads, released at once, each writing its own bytes to ``target``
    exclusively: what each wrote (its bytes) or what it raised."""
    start = threading.Barrier(_WRITERS)
    outcomes: list[bytes | BaseException] = [b""] * _WRITERS

    def write(i: int) -> None:
        mine = f"writer {i}\n".encode() * 4096  # large enough to take several writes
        start.wait()
        try:
            storage.write_bytes(str(target), mine, exclusive=True)
            outcomes[i] = mine
        except BaseException as exc:  # every outcome is checked below
            outcomes[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(_WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _check_one_winner(target: Path, outcomes: list[bytes | BaseException]) -> None:
    won = [o for o in outcomes if isinstance(o, bytes)]
    lost = [o for o in outcomes if not isinstance(o, bytes)]
    assert len(won) == 1, f"{len(won)} writers won"
    assert all(isinstance(o, FileExistsError) for o in lost), lost
    assert target.read_bytes() == won[0]
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left


def test_of_writers_racing_for_one_name_exactly_one_wins_whole(tmp_path: Path) -> None:
    for n in range(_RACES):
        target = tmp_path / str(n) / "claim.json"
        _check_one_winner(target, _race(target))


def test_without_hard_links_writers_racing_for_one_name_one_wins_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_links)
    for n in range(_RACES):
        target = tmp_path / str(n) / "claim.json"
        _check_one_winner(target, _race(target))


def test_a_plain_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    storage.write_bytes(str(target), b"old")
    storage.write_bytes(str(target), b"new")
    assert target.read_bytes() == b"new"


def test_object_stores_have_no_exclusive_create() -> None:
    with pytest.raises(ValueError, match="exclusive"):
        storage.write_bytes("mock://bucket/claim.json", b"x", exclusive=True)
