"""Credentials never reach anything hpsearch writes or prints.

Two sources: the environment (AWS, Ray, Google, Hugging Face keys) and a
key written into a location (``?secret_key=...``) given to any option that
takes one. Each location option gets its own key, so a leak names the option.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hpsearch.commands import main
from tests.commands import every_command
from tests.searches import HPSEARCH

#: Every (command path, parameter) that takes a location, and the test below that gives it a key.
LOCATION_PARAMS = {
    ("run", "data"), ("run", "warm_start"),
    ("export", "exp"), ("report", "exp"), ("best", "exp"), ("trials", "exp"),
    ("export-model", "exp"), ("predict", "source"), ("predict", "data"),
    ("export", "storage"), ("report", "storage"), ("best", "storage"), ("trials", "storage"),
    ("export-model", "storage"), ("predict", "storage"), ("list", "storage"),
    # The dashboard serves until stopped: tests/experiments/test_dashboard.py gives it a key.
    ("dashboard", "exp"), ("dashboard", "storage"),
    # A results location with a key is refused (test_a_results_location_with_a_key_...);
    # so is any location with a key given to job submit (tests/cluster/test_submit.py).
    ("run", "storage"), ("resume", "exp"), ("resume", "storage"),
    ("job submit", "data"), ("job submit", "storage"), ("job submit", "warm_start"),
    # The job verbs take a cluster address; its token never travels in it
    # (tests/cluster/test_cluster_client.py).
    *((f"job {verb}", "address") for verb in ("submit", "list", "status", "logs", "stop")),
}  # fmt: skip
_LOCATION_NAMES = {"data", "storage", "warm_start", "exp", "source", "address", "location"}


def test_every_option_that_takes_a_location_is_covered_here() -> None:
    """A new option taking a path or URI, in any group, must join the secrets test below."""
    found = set()
    for path, command in every_command():
        for param in command.params:
            text = f"{getattr(param, 'help', '') or ''} {param.metavar or ''}".lower()
            if param.name in _LOCATION_NAMES or "uri" in text:
                found.add((" ".join(path), param.name))
    assert found <= LOCATION_PARAMS, f"not covered: {sorted(found - LOCATION_PARAMS)}"


def in_process(
    args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """``hpsearch ARGS`` through the console script's own entry point, in this process
    (its stream redaction included): exit code and everything printed."""
    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "argv", ["hpsearch", *args])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue() + err.getvalue()


@pytest.mark.ray
@pytest.mark.slow
def test_no_credential_reaches_results_exports_reports_models_or_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
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
    exp, r = str(root / "s"), str(root)
    steps = [
        ["run", *small, "--num-samples", "2", "--name", "s", "--json", "--target", "y",
         "--data", keyed("run --data", str(table))],
        # Its table's key was blanked when recorded: refused in one line, key unshown.
        ["resume", "s", "--num-samples", "3", "--quiet"],
        ["run", *small, "--num-samples", "1", "--name", "w", "--target", "y", "--data", str(table),
         "--warm-start", keyed("run --warm-start", exp)],
        ["export", keyed("export EXP", exp), "-o", str(out / "t.parquet")],
        ["export", "s", "--storage", keyed("export --storage", r), "-o", str(out / "t.csv")],
        ["report", keyed("report EXP", exp), "-o", str(out / "r.html")],
        ["report", "s", "--storage", keyed("report --storage", r), "-o", str(out / "q.html")],
        ["export-model", keyed("export-model EXP", exp), "-o", str(out / "m.pt")],
        ["export-model", "s", "--storage", keyed("export-model --storage", r),
         "-o", str(out / "n.pt")],
        ["predict", keyed("predict EXP", exp), "--data", keyed("predict --data", str(table)),
         "-o", str(out / "p.csv")],
        ["predict", "s", "--storage", keyed("predict --storage", r), "--data", str(table),
         "-o", str(out / "q.parquet")],
        ["best", keyed("best EXP", exp), "--json"],
        ["best", "s", "--storage", keyed("best --storage", r)],
        ["trials", keyed("trials EXP", exp)],
        ["trials", "s", "--storage", keyed("trials --storage", r)],
        ["list", "--storage", keyed("list --storage", r)],
    ]  # fmt: skip
    printed = ""
    for step in steps:
        refused = step[:2] == ["resume", "s"]
        # Inspection, the refused resume and the warm start (whose key is an argument):
        # in this process, on the tests' shared Ray; the first search runs in a process
        # of its own, so that the credentials are in every Ray process's environment.
        if step[0] != "run" or "--warm-start" in step:
            if step[0] == "run":
                request.getfixturevalue("ray_session")
            code, text = in_process(step, {**fake, "HPSEARCH_STORAGE": str(root)}, monkeypatch)
            assert code == (2 if refused else 0), f"{step[0]}: {text[-2000:]}"
            printed += text
            continue
        result = subprocess.run([*HPSEARCH, *step], env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{step[0]}: {result.stderr[-2000:]}"
        printed += result.stdout + result.stderr
        if "--json" in step:  # the summary, its data location redacted
            summary = json.loads(result.stdout)
            assert summary["trials"]["total"] == 2
            assert summary["config"]["data"].endswith("secret_key=***")
    assert printed.count("secret_key=***") >= 4  # locations are shown, redacted
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
    commands = {" ".join(path): command for path, command in every_command()}
    for path, param in LOCATION_PARAMS:
        assert path in commands, path
        assert param in {p.name for p in commands[path].params}, (path, param)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--storage", "s3://AKIAEXAMPLE:wJal%2FrXUtn+FEMI@bucket/results"],
        ["run", "--storage", "file://{tmp}/r?secret_key=wJal/rXUtn+FEMI"],
        ["resume", "s3://AKIAEXAMPLE:wJal%2FrXUtn+FEMI@bucket/results/s"],
        ["resume", "s", "--storage", "file://{tmp}/r?secret_key=wJal/rXUtn+FEMI"],
    ],
    ids=["run-userinfo", "run-option", "resume-exp", "resume-storage"],
)
def test_a_results_location_with_a_key_is_refused_and_never_shown(
    args: list[str], tmp_path: Path
) -> None:
    """Tune would pickle the key into tuner.pkl and experiment_state: refused, redacted."""
    result = subprocess.run(
        [*HPSEARCH, *(a.format(tmp=tmp_path) for a in args)], capture_output=True, text=True,
        cwd=tmp_path, env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("hpsearch: error: ") and result.stderr.count("\n") == 1
    assert "carries credentials, which Ray Tune would write" in result.stderr
    assert "wJal" not in result.stdout + result.stderr and "EMI" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_key_in_a_data_location_never_reaches_an_error_message(tmp_path: Path) -> None:
    """pyarrow cannot parse an unencoded "/" in a secret and quotes the URI: redacted, in
    the CLI and in the Python API alike."""
    from hpsearch.data import open_table
    from hpsearch.errors import UserError

    uri = "s3://AKIAEXAMPLE:wJal/rXUtn+F@EMI@bucket/t.parquet"
    with pytest.raises(UserError) as caught:
        open_table(uri)
    assert "wJal" not in str(caught.value) and "s3://***@bucket/t.parquet" in str(caught.value)
    result = subprocess.run(
        [*HPSEARCH, "run", "--data", uri, "--target", "y"], capture_output=True, text=True,
        env={**os.environ, "HPSEARCH_STORAGE": str(tmp_path / "r")},
    )  # fmt: skip
    assert result.returncode == 2 and "wJal" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("s3://K:se/cr@et@b/x?region=1", "s3://***@b/x?region=1"),
        ("s3://b/x?endpoint_override=h:9&secret_key=S/k+z&scheme=http",
         "s3://b/x?endpoint_override=h:9&secret_key=***&scheme=http"),
        ("gs://b/x?access_token=t", "gs://b/x?access_token=***"),
        ("abfs://c/x?account_key=k&sig=s", "abfs://c/x?account_key=***&sig=***"),
        ("at s3://b/x?session_token=t now", "at s3://b/x?session_token=*** now"),
        ("<a href=\"s3://b/x?r=1&amp;secret_key=k\">", "<a href=\"s3://b/x?r=1&amp;secret_key=***\">"),
        ("s3://b?endpoint_override=http://u:pw@minio:9000&x=1",
         "s3://b?endpoint_override=http://***@minio:9000&x=1"),
        ("s3://b?endpoint_override=http://h?secret_key=k", "s3://b?endpoint_override=http://h?secret_key=***"),
        ("s3://b?region=us;secret_key=k", "s3://b?region=us;secret_key=***"),
        ("s3://AK:se%2Fcr@b/x", "s3://***@b/x"),
        # Not locations, or none with a credential: untouched.
        ("s3://bucket/runs/lr:0.1@v2", "s3://bucket/runs/lr:0.1@v2"),
        ("file:///home/u/lr:0.1@v2/results", "file:///home/u/lr:0.1@v2/results"),
        ("hdfs://nn:8020/user/alice@CORP/r", "hdfs://nn:8020/user/alice@CORP/r"),
        ("category?keyboard=x", "category?keyboard=x"),
        ("hdfs://user@host:9000/x", "hdfs://user@host:9000/x"),
        ("s3://bucket/dir/a@b.csv", "s3://bucket/dir/a@b.csv"),
    ],
)  # fmt: skip
def test_redact_blanks_credentials_and_nothing_else(text: str, redacted: str) -> None:
    from hpsearch.redaction import redact

    assert redact(text) == redacted


def test_redacting_keeps_json_valid_and_scripts_intact() -> None:
    from plotly.offline import get_plotlyjs

    from hpsearch.redaction import redact

    nested = json.dumps({"state": json.dumps({"path": "s3://b/r?a=1&secret_key=abc"})})
    assert json.loads(json.loads(redact(nested))["state"]) == {
        "path": "s3://b/r?a=1&secret_key=***"
    }
    script = get_plotlyjs()  # the report inlines it; a changed byte breaks every chart
    assert redact(script) == script


@pytest.mark.parametrize(
    "text",
    ["x" * 2_000_000, "s3://b?" + "k" * 2_000_000, "s3://" + "a:@" * 500_000 + "?q=1"],
    ids=["a long word", "a long option", "many @ and :"],
)
def test_redacting_a_huge_value_takes_linear_time(text: str) -> None:
    """hpsearch.json holds data (categories, class names): a backtracking pattern took
    20 s for 200 KB and would take hours for these; linear, they take milliseconds."""
    import time

    from hpsearch.redaction import redact_data

    start = time.perf_counter()
    redact_data({"categories": [text]})
    assert time.perf_counter() - start < 30  # quadratic: hours; linear: ~0.1 s
