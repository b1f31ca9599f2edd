"""Credentials never reach anything hpsearch writes or prints.

Two sources: the environment (AWS, Ray, Google, Hugging Face keys) and a
key written into a location (``?secret_key=...``) given to any option that
takes one. Each location option gets its own key, so a leak names the option.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.experiments import HPSEARCH

#: Every (command, parameter) that takes a location, and the step below that gives it a key.
LOCATION_PARAMS = {
    ("run", "data"), ("run", "storage"), ("run", "warm_start"),
    ("resume", "exp"), ("resume", "storage"),
    ("export", "exp"), ("report", "exp"), ("best", "exp"), ("trials", "exp"),
    ("export-model", "exp"), ("predict", "source"), ("predict", "data"),
    ("export", "storage"), ("report", "storage"), ("best", "storage"), ("trials", "storage"),
    ("export-model", "storage"), ("predict", "storage"), ("list", "storage"),
    # submit refuses a location with a key (tests/search/test_submit.py); the job
    # verbs take a cluster address, whose token never travels in it.
    ("submit", "data"), ("submit", "storage"), ("submit", "warm_start"),
    ("job", "address"),
}  # fmt: skip
_LOCATION_NAMES = {"data", "storage", "warm_start", "exp", "source", "address", "location"}


def test_every_option_that_takes_a_location_is_covered_here() -> None:
    """A new option taking a path or URI must join the secrets test below."""
    from hpsearch.cli import cli

    found = set()
    for name, command in cli.commands.items():
        for param in command.params:
            text = f"{getattr(param, 'help', '') or ''} {param.metavar or ''}".lower()
            if param.name in _LOCATION_NAMES or "uri" in text:
                key = "job" if param.name == "address" else name
                found.add((key, param.name))
    assert found <= LOCATION_PARAMS, f"not covered: {sorted(found - LOCATION_PARAMS)}"


@pytest.mark.ray
def test_no_credential_reaches_results_exports_reports_models_or_output(tmp_path: Path) -> None:
    fake = {
        "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "AWS_SESSION_TOKEN": secrets.token_urlsafe(40),
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "GOOGLE_API_KEY": secrets.token_urlsafe(20),
        "HF_TOKEN": "hf_" + secrets.token_hex(12),
    }
    root = tmp_path / "results"
    env = {**os.environ, **fake, "HPSEARCH_STORAGE": str(root)}
    keys: dict[str, str] = {}

    def keyed(option: str, location: str) -> str:
        """``location`` as a file:// URI carrying a key of its own for ``option``."""
        keys[option] = secrets.token_hex(12)
        return f"file://{location}?secret_key={keys[option]}"

    table = tmp_path / "t.parquet"
    x = [float(i % 7) for i in range(300)]
    pq.write_table(pa.table({"x": x, "y": ["a" if v < 3 else "b" for v in x]}), table)
    out = tmp_path / "out"
    out.mkdir()
    small = ["--space", "quick", "--max-epochs", "2"]
    steps = [
        ["run", *small, "--num-samples", "2", "--name", "s", "--json", "--target", "y",
         "--data", keyed("run --data", str(table)), "--storage", keyed("run --storage", str(root))],
        ["resume", keyed("resume EXP", str(root / "s")), "--num-samples", "3", "--quiet"],
        ["run", *small, "--num-samples", "1", "--name", "w", "--target", "y", "--data", str(table),
         "--warm-start", keyed("run --warm-start", str(root / "s"))],
        ["export", keyed("export EXP", str(root / "s")), "-o", str(out / "t.parquet")],
        ["export", "s", "-o", str(out / "t.csv")],
        ["report", keyed("report EXP", str(root / "s")), "-o", str(out / "r.html")],
        ["export-model", keyed("export-model EXP", str(root / "s")), "-o", str(out / "m.pt")],
        ["predict", keyed("predict EXP", str(root / "s")), "--data",
         keyed("predict --data", str(table)), "-o", str(out / "p.csv")],
        ["best", keyed("best EXP", str(root / "s")), "--json"],
        ["trials", keyed("trials EXP", str(root / "s"))],
        ["list", "--storage", keyed("list --storage", str(root))],
    ]  # fmt: skip
    printed = ""
    for step in steps:
        result = subprocess.run([*HPSEARCH, *step], env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{step[0]}: {result.stderr[-2000:]}"
        printed += result.stdout + result.stderr
        if step[0] == "run" and "--json" in step:  # the summary, its locations redacted
            summary = json.loads(result.stdout)
            assert summary["trials"]["total"] == 2 and "secret_key=***" in summary["path"]
    assert printed.count("secret_key=***") >= 5  # the locations are shown, redacted
    written = [p for p in [*root.rglob("*"), *out.rglob("*")] if p.is_file()]
    assert len(written) > 20 and any(p.name == "summary.json" for p in written)
    needles = {**fake, **keys}
    for path in written:
        content = path.read_bytes()
        leaked = [name for name, value in needles.items() if value.encode() in content]
        assert not leaked, f"{path} holds {leaked}"
    assert not [name for name, value in needles.items() if value in printed]
    record = json.loads((root / "s" / "hpsearch.json").read_text())
    assert record["config"]["data"].endswith("secret_key=***")
    assert json.loads((root / "w" / "hpsearch.json").read_text())["config"]["warm_start"].endswith(
        "secret_key=***"
    )


def test_click_commands_exist_for_every_covered_location() -> None:
    """The table above names real commands and parameters (it cannot rot silently)."""
    from hpsearch.cli import cli

    ctx = click.Context(cli)
    for command, param in LOCATION_PARAMS:
        if command == "job":
            continue
        found = cli.get_command(ctx, command)
        assert found is not None, command
        assert param in {p.name for p in found.params}, (command, param)
