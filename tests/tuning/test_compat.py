"""Every Ray and Optuna internal hpsearch touches exists in the installed versions,
and nothing outside hpsearch/tuning/_compat.py touches one."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hpsearch
from hpsearch.tuning import _compat as compat

PACKAGE = Path(hpsearch.__file__).parent


def _asha() -> Any:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    return AsyncHyperBandScheduler(time_attr="epoch", max_t=8, grace_period=1)


def _optuna_search() -> Any:
    from ray.tune.search.optuna import OptunaSearch

    def space(trial: Any) -> None:
        trial.suggest_float("x", 0.0, 1.0)

    return OptunaSearch(space=space, metric="val_accuracy", mode="max")


def _tuner() -> Any:
    from ray import tune

    return tune.Tuner(lambda config: None)


# Real objects, built as hpsearch builds them: instance attributes exist only on instances.
INSTANCES: dict[tuple[str, str], Callable[[], Any]] = {
    ("ray.tune.schedulers", "AsyncHyperBandScheduler"): _asha,
    ("ray.tune.schedulers.async_hyperband", "_Bracket"): lambda: compat.asha_brackets(_asha())[0],
    ("ray.tune.schedulers", "MedianStoppingRule"): lambda: _class(
        "ray.tune.schedulers", "MedianStoppingRule"
    )(time_attr="epoch"),
    ("ray.tune.search.optuna", "OptunaSearch"): _optuna_search,
    ("ray.tune.search", "SearchGenerator"): lambda: _class("ray.tune.search", "SearchGenerator")(
        _optuna_search()
    ),
    ("ray.tune", "Tuner"): _tuner,
    ("ray.tune.impl.tuner_internal", "TunerInternal"): lambda: _tuner()._local_tuner,
}


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
    target = INSTANCES[(module, owner)]() if owner else importlib.import_module(module)
    assert hasattr(target, attribute), (
        f"{owner or module}.{attribute} is gone from the installed Ray/Optuna; "
        f"hpsearch uses it to {why}: update hpsearch/tuning/_compat.py"
    )


def test_a_missing_internal_fails_naming_it() -> None:
    with pytest.raises(compat.PrivateAttributeGone, match=r"AsyncHyperBandScheduler\._rungs_v2"):
        compat.private(_asha(), "_rungs_v2")


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


_SELF_PRIVATE = __import__("re").compile(r"self\._[a-z]\w*")


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    bases = _external_bases(tree)
    allowed = compat.OVERRIDES
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            private = not node.attr.startswith("__")
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if private and not on_self:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.ClassDef):
            library = [bases[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in bases]
            theirs = set().union(*(_library_privates(b) for b in library if isinstance(b, type)))
            for inner in ast.walk(node):
                name = getattr(inner, "attr", None) or getattr(inner, "name", None)
                if name in theirs and name not in allowed:
                    found.append(f"{path.name}:{inner.lineno} {node.name}.{name}")
    return found


def test_no_private_ray_or_optuna_name_is_used_outside_the_compat_module() -> None:
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "_compat.py"]
    found = [v for path in files for v in _violations(path)]
    assert not found, f"private Ray/Optuna names outside tuning/_compat.py: {found}"


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
