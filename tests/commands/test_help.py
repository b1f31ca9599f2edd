"""Every command's --help, the command groups, and what an unknown command says."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hpsearch.commands import cli
from tests.commands import every_command

COMMANDS = every_command()


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), prog_name="hpsearch")


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "hpsearch" for p, _ in COMMANDS]
)
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    usage = result.stdout.splitlines()[0]
    assert usage.startswith(" ".join(("Usage: hpsearch", *path)) + " "), usage
    summary = (command.help or "").split("\n\n")[0]
    assert summary.strip() and _words(summary) in _words(result.stdout)
    undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert not undocumented, f"options without help: {undocumented}"


def test_the_walk_reaches_into_the_job_group() -> None:
    """The help test above covers the group's verbs (a walk that stops at the top would not)."""
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"job submit", "job list", "job status", "job logs", "job stop"} <= paths
    assert {"run", "resume", "list", "best", "trials", "export", "report"} <= paths
    assert {"export-model", "predict", "spaces", "datasets", "job", ""} <= paths


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["status", "hpsearch-x"], "`hpsearch job status`"),
        (["submit", "--storage", "s3://b/r"], "`hpsearch job submit`"),
        (["logs", "hpsearch-x", "--follow"], "`hpsearch job logs`"),
        (["stop", "hpsearch-x"], "`hpsearch job stop`"),
        (["jobs"], "`hpsearch job list`"),
        (["lsit"], "`hpsearch list`"),
        (["job", "stauts", "hpsearch-x"], "`hpsearch job status`"),
        (["job", "frobnicate"], "`hpsearch job --help` lists them"),
    ],
)
def test_an_unknown_command_is_one_line_naming_the_right_one(args: list[str], hint: str) -> None:
    """The Ray-job verbs moved under `hpsearch job`: the old flat names are unknown
    commands (exit 2, one line), and the line says where the verb is now."""
    result = invoke(*args)
    assert result.exit_code == 2
    unknown = args[1] if args[0] == "job" else args[0]
    assert result.stderr.startswith(f"hpsearch: error: No such command {unknown!r} ("), (
        result.stderr
    )
    assert result.stderr.count("\n") == 1 and hint in result.stderr, result.stderr
    assert result.stdout == ""


def test_a_group_without_a_command_shows_its_help() -> None:
    result = invoke("job")
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: hpsearch job [OPTIONS] COMMAND")
    assert "submit" in result.stderr and "stop" in result.stderr


def test_the_readmes_command_table_names_every_command() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| command | what it does |")[1].split("\n\n")[0]
    first_cells = [row.split("|")[1] for row in table.splitlines()[2:]]
    named = {name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)}
    assert named == {" ".join(p) for p, c in COMMANDS if not isinstance(c, click.Group)}
