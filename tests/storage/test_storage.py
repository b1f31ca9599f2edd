"""Storage helpers on a local folder and on a real S3-compatible server (moto, 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.storage import _files as storage


def _roots(kind: str, tmp_path: Path, s3_server: dict[str, str] | None) -> str:
    if kind == "local":
        return str(tmp_path / "results")
    from tests.data.conftest import s3_filesystem, s3_uri

    assert s3_server is not None
    s3_filesystem(s3_server["endpoint"]).create_dir("moves")
    return s3_uri(s3_server, "moves/results")


@pytest.mark.parametrize("kind", ["local", pytest.param("s3", marks=pytest.mark.slow)])
def test_a_trial_folder_moves_whole_and_leaves_nothing_behind(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server = request.getfixturevalue("s3_server") if kind == "s3" else None
    root = _roots(kind, tmp_path, server)
    trial = storage.join(root, "k", "trial_a")
    storage.write_json_atomic({"epoch": 3}, storage.join(trial, "checkpoint_000001"), "state.json")
    storage.write_json_atomic({"done": True}, trial, "result.json")
    storage.make_dir(storage.join(trial, "checkpoint_000000"))  # an empty one too

    storage.move_dir(trial, storage.join(root, "k", "orphaned", "trial_a"))

    assert storage.list_dirs(storage.join(root, "k")) == ["orphaned"]
    moved = storage.join(root, "k", "orphaned", "trial_a")
    assert storage.list_files(moved) == ["result.json"]
    assert "checkpoint_000001" in storage.list_dirs(moved)
    assert storage.read_json(storage.join(moved, "checkpoint_000001", "state.json")) == {"epoch": 3}
