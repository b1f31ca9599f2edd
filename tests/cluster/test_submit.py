"""Submitting without a cluster: what is refused before any upload, and cluster.yaml."""

from __future__ import annotations

import copy
import json
import os
import re
import socket
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from click.testing import CliRunner, Result

from hpsearch.cluster._client import resolve_address, resolve_token
from hpsearch.cluster._submit import redact
from hpsearch.commands import cli
from hpsearch.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def submit(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """``hpsearch job submit ARGS`` in-process; ``env`` sets (None: unsets) variables for it."""
    return CliRunner().invoke(cli, ["job", "submit", *args], prog_name="hpsearch", env=env)


def test_data_too_big_to_ship_is_refused_before_contacting_the_cluster(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as out:
        out.truncate(70 * 2**20)  # sparse: 70 MB on paper
    result = submit("--address", f"127.0.0.1:{_closed_port()}", "--data", str(big), "--target", "y")
    assert result.exit_code == 2
    assert "is 70 MB; a job carries at most 64 MB" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_closed_port_is_a_missing_dashboard() -> None:
    port = _closed_port()
    result = submit("--address", f"127.0.0.1:{port}")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"no Ray dashboard at http://127.0.0.1:{port} (connection refused)" in result.stderr


def test_no_address_anywhere() -> None:
    result = submit(env={k: None for k in os.environ if k.startswith("RAY_")})
    assert result.exit_code == 2 and "no cluster address" in result.stderr


def test_address_and_token_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.9:8265")
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://head:8265/")
    assert resolve_address(None) == "http://head:8265"  # the job API's own variable wins
    assert resolve_address("https://other:443") == "https://other:443"  # the flag wins
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS")
    assert resolve_address(None) == "http://10.0.0.9:8265"
    with pytest.raises(UserError, match="not the address of Ray's job API"):
        resolve_address("ray://head:10001")

    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_token() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-the-file\n")
    assert resolve_token() == "from-the-file"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "elsewhere"))
    with pytest.raises(UserError, match="cannot read RAY_AUTH_TOKEN_PATH"):
        resolve_token()
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert resolve_token() == "from-env"


@pytest.mark.parametrize(
    ("flags", "env", "shown"),
    [
        (["--storage", "s3://b/r?region=x&access_key=AKIA123&secret_key=SeCrEt"], {},
         "--storage s3://b/r?region=x&access_key=***&secret_key=***"),
        (["--data", "s3://b/t.parquet?session_token=SeCrEt", "--target", "y"], {},
         "--data s3://b/t.parquet?session_token=***"),
        (["--warm-start", "s3://b/r/old?secret_key=SeCrEt", "--storage", "s3://b/r"], {},
         "--warm-start s3://b/r/old?secret_key=***"),
        ([], {"HPSEARCH_STORAGE": "s3://b/r?secret_key=SeCrEt"}, "--storage s3://b/r?secret_key=***"),
    ],
    ids=["storage", "data", "warm-start", "storage-from-env"],
)  # fmt: skip
def test_credentials_in_uris_are_refused_before_contacting_the_cluster(
    flags: list[str], env: dict[str, str], shown: str
) -> None:
    # A closed port: contacting the cluster first would say "no Ray dashboard" instead.
    address = f"127.0.0.1:{_closed_port()}"
    result = submit("--address", address, *flags, env=dict(env))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"{shown} carries credentials" in result.stderr
    assert "instance role" in result.stderr and "SeCrEt" not in result.stderr


def test_credentials_in_uris_are_redacted() -> None:
    uri = "s3://b/r?endpoint_override=h:9000&access_key=AKIA123&secret_key=abc/def&region=x"
    shown = redact(uri)
    assert "AKIA123" not in shown and "abc/def" not in shown
    assert shown == "s3://b/r?endpoint_override=h:9000&access_key=***&secret_key=***&region=x"


def test_cluster_yaml_is_valid_for_rays_launcher() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    jsonschema.validate(config, SCHEMA)
    # Token auth on every node, the token on every node, CPU and GPU workers from 0.
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token ray start" in c for c in starts if "ray start" in c)
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    types = config["available_node_types"]
    assert types["cpu_worker"]["min_workers"] == 0 and types["gpu_worker"]["min_workers"] == 0
    assert config["idle_timeout_minutes"] > 0
    # The job API listens on the head's loopback only, reached through `ray dashboard`'s tunnel.
    (head,) = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    # The schema does catch a broken config.
    broken = copy.deepcopy(config)
    del broken["available_node_types"]["gpu_worker"]["node_config"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_the_readmes_on_premises_cluster_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(# cluster-onprem\.yaml.*?)```", readme, re.DOTALL)
    assert block, "README lost its on-premises cluster example"
    config = yaml.safe_load(block.group(1))
    jsonschema.validate(config, SCHEMA)
    assert config["provider"]["type"] == "local"
    assert config["provider"]["head_ip"] and config["provider"]["worker_ips"]
