"""Every Ray and Optuna internal hpsearch touches exists in the installed versions,
and nothing outside hpsearch/compat.py touches one."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hpsearch
from hpsearch import compat

PACKAGE = Path(hpsearch.__file__).parent


# Real objects, built as hpsearch builds them, for the listed attributes of a class (instance
# attributes exist only on instances): one entry per (module, class) that PRIVATE names.
INSTANCES: dict[tuple[str, str], Callable[[], Any]] = {}


def _class(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(
    ("module", "owner", "attribute", "why"),
    compat.PRIVATE,
    ids=[f"{owner or module}.{attribute}" for module, owner, attribute, _ in compat.PRIVATE],
)
def test_every_private_name_hpsearch_uses_is_there(
    module: str, owner: str, attribute: str, why: str
) -> None:
    if owner:
        assert (module, owner) in INSTANCES, f"add a builder of {owner} to INSTANCES"
        target = INSTANCES[(module, owner)]()
    else:
        target = importlib.import_module(module)
    assert hasattr(target, attribute), (
        f"{owner or module}.{attribute} is gone from the installed Ray/Optuna; "
        f"hpsearch uses it to {why}: update hpsearch/compat.py"
    )


def test_a_missing_internal_fails_naming_it() -> None:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    scheduler = AsyncHyperBandScheduler(time_attr="epoch", max_t=8, grace_period=1)
    with pytest.raises(compat.PrivateAttributeGone, match=r"AsyncHyperBandScheduler\._rungs_v2"):
        compat.private(scheduler, "_rungs_v2")
    with pytest.raises(compat.PrivateAttributeGone, match=r"\._rungs_v2 is not in the installed"):
        compat.set_private(scheduler, "_rungs_v2", [])
    assert not hasattr(scheduler, "_rungs_v2")  # nothing set where nothing was


def _compat_literals() -> set[str]:
    """The names compat.py passes as literals to ``private`` and ``set_private``."""
    tree = ast.parse(Path(compat.__file__).read_text())
    return {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("private", "set_private")
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    }


def test_the_private_list_is_what_the_compat_module_touches() -> None:
    # The hooks hpsearch's subclasses override are listed too, but not touched here.
    assert compat.OVERRIDES <= _LISTED
    listed = _LISTED - compat.OVERRIDES
    used = _compat_literals()
    assert used == listed, (
        f"used in compat.py but not in PRIVATE (so never checked): {sorted(used - listed)}; "
        f"in PRIVATE but not used (stale): {sorted(listed - used)}"
    )


def _external_bases(tree: ast.Module) -> dict[str, Any]:
    """Names imported from ray or optuna in a module, resolved to the objects."""
    found: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "ray",
            "optuna",
        ):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                found[alias.asname or alias.name] = getattr(module, alias.name, None)
    return found


def _library_privates(base: type) -> set[str]:
    """Private names the library's classes in ``base``'s MRO define or set on self."""
    names: set[str] = set()
    for cls in inspect.getmro(base):
        if cls.__module__.split(".")[0] not in ("ray", "optuna"):
            continue
        names |= {n for n in vars(cls) if n.startswith("_") and not n.startswith("__")}
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        names |= {n.removeprefix("self.") for n in _SELF_PRIVATE.findall(source)}
    return names


_SELF_PRIVATE = re.compile(r"self\._[a-z]\w*")
# A dotted Ray or Optuna module path with a private part: ray._private..., ray.train._internal.
_PRIVATE_MODULE = re.compile(r"\b(?:ray|optuna)(?:\.\w+)*?\._\w+")
# The names the compat module reaches for: private by the library's say, if not by an underscore.
_LISTED = frozenset(attribute for _, _, attribute, _ in compat.PRIVATE)


def _private_name(name: str) -> bool:
    return (name.startswith("_") and not name.startswith("__")) or name in _LISTED


def _on_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _string_access(node: ast.Call) -> str | None:
    """``getattr(x, "_name")`` and its kin on another object: the name, else None."""
    if not (isinstance(node.func, ast.Name) and len(node.args) >= 2):
        return None
    if node.func.id not in ("getattr", "setattr", "hasattr", "delattr"):
        return None
    name = node.args[1]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return None
    if _private_name(name.value) and not _on_self(node.args[0]):
        return f"{node.func.id}(..., {name.value!r})"
    return None


def _private_import(node: ast.Import | ast.ImportFrom) -> str | None:
    """An import of a private Ray or Optuna module, or of a private name from one."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        module = node.module or ""
        if module.split(".")[0] not in ("ray", "optuna"):
            return None
        names = [module] + [f"{module}.{a.name}" for a in node.names if _private_name(a.name)]
    hits = [n for n in names if _PRIVATE_MODULE.search(n) or n.rsplit(".", 1)[-1] in _LISTED]
    return f"import {hits[0]}" if hits else None


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string statements (docstrings): they name, they do not use."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def _use(node: ast.AST, prose: set[int]) -> str | None:
    """What ``node`` reaches for that is private to Ray or Optuna (or ``None``):
    an attribute, a string-named attribute, an import, a private module's name."""
    if isinstance(node, ast.Attribute):
        return f".{node.attr}" if _private_name(node.attr) and not _on_self(node.value) else None
    if isinstance(node, ast.Call):
        return _string_access(node)
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _private_import(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
        module = _PRIVATE_MODULE.search(node.value)
        return repr(module.group()) if module else None
    return None


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    bases = _external_bases(tree)
    allowed = compat.OVERRIDES
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if use := _use(node, prose):
            found.append(f"{path.name}:{getattr(node, 'lineno', 0)} {use}")
        if isinstance(node, ast.ClassDef):
            library = [bases[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in bases]
            theirs = set().union(*(_library_privates(b) for b in library if isinstance(b, type)))
            for inner in ast.walk(node):
                name = getattr(inner, "attr", None) or getattr(inner, "name", None)
                if name in theirs and name not in allowed:
                    found.append(f"{path.name}:{getattr(inner, 'lineno', 0)} {node.name}.{name}")
    return found


def test_no_private_ray_or_optuna_name_is_used_outside_the_compat_module() -> None:
    files = [p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "compat.py"]
    found = [v for path in files for v in _violations(path)]
    assert not found, f"private Ray/Optuna names outside compat.py: {found}"


def test_the_check_catches_a_private_name(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from ray.tune.schedulers import AsyncHyperBandScheduler\n"
        "class Mine(AsyncHyperBandScheduler):\n"
        "    def f(self):\n"
        "        return self._brackets_x, self._trial_info\n"
        "def g(tuner):\n"
        "    return tuner._local_tuner\n"
    )
    found = _violations(planted)
    assert any("Mine._trial_info" in v for v in found)
    assert any("._local_tuner" in v for v in found)
    assert not any("_brackets_x" in v for v in found)  # not Ray's: a name of our own


def test_the_check_catches_an_optuna_subclass_reading_its_base_state(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from optuna.storages.journal import JournalFileBackend\n"
        "class ReadOnly(JournalFileBackend):\n"
        "    def append_logs(self, logs):\n"
        "        raise PermissionError(self._file_path)\n"
        "    def where(self):\n"
        "        return self._own_path\n"
    )
    found = _violations(planted)
    assert any("ReadOnly._file_path" in v for v in found), found
    assert not any("_own_path" in v for v in found)  # not Optuna's: a name of our own


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("getattr(tuner, '_local_tuner')", "getattr(..., '_local_tuner')"),
        ("setattr(gen, '_finished', False)", "setattr(..., '_finished')"),
        ("hasattr(study, '_storage')", "hasattr(..., '_storage')"),
        # Listed in PRIVATE, though without an underscore.
        ("getattr(constants, 'ENABLE_RAY_CLUSTER')", "getattr(..., 'ENABLE_RAY_CLUSTER')"),
        ("constants.ENABLE_RAY_CLUSTER = False", ".ENABLE_RAY_CLUSTER"),
        ("from ray._private.ray_constants import ENABLE_RAY_CLUSTER", "import ray._private"),
        ("sys.modules.get('ray._private.ray_constants')", "'ray._private'"),
        ("logging.getLogger('ray.train._internal.storage')", "'ray.train._internal'"),
        ("import ray._private.ray_constants", "import ray._private.ray_constants"),
        ("from ray._private import ray_constants", "import ray._private"),
        ("from ray.train._internal import storage", "import ray.train._internal"),
        ("from ray.tune.search.optuna.optuna_search import _OptunaTrialSuggestCaptor", "import"),
    ],
)
def test_the_check_catches_private_names_in_strings_and_imports(
    tmp_path: Path, source: str, caught: str
) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(f"import logging, sys\n{source}\n")
    found = _violations(planted)
    assert any(caught in v for v in found), found


def test_the_check_lets_self_docstrings_and_public_names_be(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        '"""Ray reads ray._private.ray_constants once."""\n'
        "class Mine:\n"
        "    def f(self):\n"
        "        return getattr(self, '_cache', None), hasattr(self, '_x'), setattr(cls, '_y', 1)\n"
        "def g(obj):\n"
        "    return getattr(obj, 'name', None), obj.__class__, '_not_a_module'\n"
    )
    assert _violations(planted) == []


def test_the_only_unpickling_in_optuna_is_what_a_resume_strips() -> None:
    """hpsearch trusts a journal from storage because Optuna unpickles nothing of it
    but CMA-ES's optimizer attributes (stripped on resume: PICKLED_ATTRS) and a journal
    snapshot (only backends that keep snapshots; hpsearch's file journal has none).
    An Optuna that unpickles anything else fails here."""
    import optuna
    from optuna.storages.journal import JournalFileBackend
    from optuna.storages.journal._base import BaseJournalSnapshot

    from hpsearch.tuning._record import PICKLED_ATTRS

    root = Path(optuna.__file__).parent
    sites = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "testing" not in path.parts
        and re.search(r"\bpickle\.loads?\(|\bcloudpickle\.loads?\(", path.read_text())
    }
    assert sites == {"storages/journal/_storage.py", "samplers/_cmaes.py"}, sites
    cmaes = (root / "samplers" / "_cmaes.py").read_text()
    assert '"cma:"' in cmaes and '"sepcma:"' in cmaes and '"cmawm:"' in cmaes
    assert 'self._attr_prefix + "optimizer"' in cmaes
    assert {p.split(":")[0] + ":" for p in PICKLED_ATTRS} == {"cma:", "sepcma:", "cmawm:"}
    assert not issubclass(JournalFileBackend, BaseJournalSnapshot)
