"""The layer rules in pyproject.toml hold, and they would catch a break.

Layers, highest first: commands > cluster > tuning | models > experiments >
trainable > config > spaces | data > storage > errors | signals > redaction | lazy | metrics.
A package is used through its ``__init__`` only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import hpsearch

PACKAGE = Path(hpsearch.__file__).parent
ROOT = PACKAGE.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_layer_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy_of_the_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    shutil.copytree(PACKAGE, copy / "hpsearch", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("experiments/_layout.py", "import hpsearch.tuning", "Layers"),
        ("storage/_files.py", "from hpsearch import experiments", "Layers"),
        ("experiments/_tables.py", "import torch", "neither torch nor Ray"),
        ("trainable/_model.py", "import optuna", "not Optuna"),
        ("commands/job.py", "from hpsearch.commands import search", "Command groups"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(
    copy_of_the_tree: Path, module: str, planted: str, contract: str
) -> None:
    path = copy_of_the_tree / "hpsearch" / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n{planted}  # planted\n")
        result = lint_imports(copy_of_the_tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout


def private_imports(graph: grimp.ImportGraph) -> list[str]:
    """Imports of ``hpsearch.<package>._<module>`` from outside ``hpsearch.<package>``."""
    found = []
    for imported in sorted(graph.modules):
        parts = imported.split(".")
        if len(parts) < 3 or not parts[2].startswith("_"):
            continue
        package = ".".join(parts[:2])
        for importer in sorted(graph.find_modules_that_directly_import(imported)):
            if importer != package and not importer.startswith(package + "."):
                found.append(f"{importer} imports {imported}")
    return found


def test_packages_are_used_through_their_init_only() -> None:
    graph = grimp.build_graph("hpsearch", exclude_type_checking_imports=True)
    assert private_imports(graph) == []


def test_the_surface_rule_catches_a_private_import() -> None:
    graph = grimp.build_graph("hpsearch", exclude_type_checking_imports=True)
    graph.add_import(importer="hpsearch.commands.job", imported="hpsearch.cluster._submit")
    assert private_imports(graph) == ["hpsearch.commands.job imports hpsearch.cluster._submit"]
