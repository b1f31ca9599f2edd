"""Search spaces: define-by-run functions ``space(trial, context) -> config``.

Knows Optuna's ``Trial`` API; nothing of Ray or torch. Spaces are registered
by name in :data:`SPACES`; :func:`get_space` also loads a user's own
``package.module:function``, which may take ``(trial)`` or ``(trial, context)``.
"""

from hpsearch.spaces._context import SpaceContext
from hpsearch.spaces._describe import ParamInfo, describe_space
from hpsearch.spaces._mlp import MLPSpaceOptions, mlp, quick
from hpsearch.spaces._registry import (
    DEFAULT_SPACE,
    SPACES,
    SpaceEntry,
    SpaceFn,
    get_space,
    validate_space_options,
)

__all__ = [
    "DEFAULT_SPACE",
    "SPACES",
    "MLPSpaceOptions",
    "ParamInfo",
    "SpaceContext",
    "SpaceEntry",
    "SpaceFn",
    "describe_space",
    "get_space",
    "mlp",
    "quick",
    "validate_space_options",
]
