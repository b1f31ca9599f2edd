"""CI runs exactly the README's test command."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command() -> None:
    command = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    readme = (ROOT / "README.md").read_text()
    top = readme[: readme.index("## Quickstart")]
    assert command in top.splitlines()
    assert command.endswith(".venv/bin/python -m pytest")
