"""Credentials in the environment never reach anything hpsearch writes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.experiments import HPSEARCH

pytestmark = pytest.mark.ray


def test_no_credential_reaches_results_exports_reports_or_models(tmp_path: Path) -> None:
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
    # A URI option holding a key, as users sometimes write one, must not be recorded either.
    uri_key = secrets.token_hex(12)
    storage = f"file://{root}?secret_key={uri_key}"
    out = tmp_path / "out"
    out.mkdir()
    steps = [
        ["run", "--space", "quick", "--num-samples", "3", "--max-epochs", "3", "--name", "s",
         "--json", "--storage", storage],
        ["export", "s", "-o", str(out / "t.parquet")],
        ["export", "s", "-o", str(out / "t.csv")],
        ["report", "s", "-o", str(out / "r.html")],
        ["export-model", "s", "-o", str(out / "m.pt")],
        ["best", "s", "--json"],
        ["trials", "s"],
    ]  # fmt: skip
    printed = ""
    for step in steps:
        result = subprocess.run([*HPSEARCH, *step], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        printed += result.stdout + result.stderr
        if step[0] == "run":  # --json: the summary, its path redacted
            summary = json.loads(result.stdout)
            assert summary["trials"]["total"] == 3 and "secret_key=***" in summary["path"]
    written = [p for p in [*root.rglob("*"), *out.rglob("*")] if p.is_file()]
    assert len(written) > 20 and any(p.name == "summary.json" for p in written)
    needles = [v.encode() for v in (*fake.values(), uri_key)]
    for path in written:
        content = path.read_bytes()
        leaked = [n.decode() for n in needles if n in content]
        assert not leaked, f"{path} holds {leaked}"
    assert not [n for n in needles if n.decode() in printed]
    assert b"secret_key=***" in (root / "s" / "hpsearch.json").read_bytes()
