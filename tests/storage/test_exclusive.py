"""Exclusive writes: of writers racing for one name, exactly one wins, whole."""

from __future__ import annotations

import errno
import os
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


def test_a_plain_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    storage.write_bytes(str(target), b"old")
    storage.write_bytes(str(target), b"new")
    assert target.read_bytes() == b"new"


def test_object_stores_have_no_exclusive_create() -> None:
    with pytest.raises(ValueError, match="exclusive"):
        storage.write_bytes("mock://bucket/claim.json", b"x", exclusive=True)
