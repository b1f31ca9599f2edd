"""Every use of a private attribute of Ray or Optuna, in one place.

hpsearch reaches into library internals only where the public API has no
way to do what a search needs (each function says what and why). Each name is
listed in :data:`PRIVATE`, and tests/test_compat.py checks every one on
the installed versions, so an upgrade that removes one fails a test naming it
instead of breaking a resume silently. Anything else in hpsearch uses public
APIs only (tests/test_compat.py checks the source for it).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

#: (module, class, attribute, why): every private name this module touches.
PRIVATE: tuple[tuple[str, str, str, str], ...] = (
    ("ray._private.ray_constants", "", "ENABLE_RAY_CLUSTER", "loopback when Ray came first"),
)

#: Private hooks hpsearch's subclasses override (the rest is only read or set here).
OVERRIDES: frozenset[str] = frozenset()


class PrivateAttributeGone(RuntimeError):
    """A Ray or Optuna internal hpsearch relies on is not in the installed version."""


def private(owner: Any, name: str) -> Any:
    """``owner.<name>``, or an error naming it and the versions installed."""
    try:
        return getattr(owner, name)
    except AttributeError:
        raise PrivateAttributeGone(_gone(owner, name)) from None


def set_private(owner: Any, name: str, value: Any) -> None:
    """``owner.<name> = value`` for an attribute that must already exist."""
    private(owner, name)
    setattr(owner, name, value)


def _gone(owner: Any, name: str) -> str:
    import optuna
    import ray

    what = owner.__name__ if isinstance(owner, type) else type(owner).__qualname__
    return (
        f"{what}.{name} is not in the installed Ray {ray.__version__} / Optuna "
        f"{optuna.__version__}: hpsearch needs updating for them (hpsearch/compat.py)"
    )


# Ray's start-up ---------------------------------------------------------------------------------


def keep_ray_on_loopback() -> None:
    """Ray imported before hpsearch set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER has read it;
    the driver looks the flag up at call time, so set it there too (no-op before)."""
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        set_private(constants, "ENABLE_RAY_CLUSTER", False)


def quiet_job_uploads() -> None:
    """Ray's job SDK logs every package upload at INFO; hpsearch says what matters."""
    for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
        logging.getLogger(name).setLevel(logging.WARNING)
