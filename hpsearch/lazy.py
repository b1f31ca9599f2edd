"""Package surfaces that import their heavy modules (torch, Ray, Optuna) on first use.

``import hpsearch.tuning`` costs nothing; ``hpsearch.tuning.run_search`` imports
the module that defines it the first time it is looked up. This keeps
``hpsearch --help``, ``hpsearch list`` and ``hpsearch best`` free of torch and Ray
while every caller still imports the package at the top of its module, where
the import graph (and the layer contracts in pyproject.toml) can see it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``where[name]`` (a module
    of the package, relative like ``._run``) when ``name`` is first looked up."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this hook
        return value

    return __getattr__
