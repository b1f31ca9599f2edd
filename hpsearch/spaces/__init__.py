"""Search spaces: define-by-run functions ``space(trial, context) -> config``.

Knows Optuna's ``Trial`` API; nothing of Ray or torch. :class:`Space` is the
contract (when a space is called, what it may return: the keys of
:data:`SPACE_KEYS`); :func:`call_space` and :func:`probe_space` enforce it.
Spaces are registered by name in :data:`SPACES`; :func:`get_space` also loads
a user's own ``package.module:function``, taking ``(trial)`` or ``(trial, context)``.
"""

from hpsearch.spaces._context import SpaceContext
from hpsearch.spaces._contract import (
    LOSSES,
    PACK_SHARED,
    RESERVED_KEYS,
    SPACE_KEYS,
    Key,
    Space,
    call_space,
    check_config,
)
from hpsearch.spaces._describe import ParamInfo, describe_space
from hpsearch.spaces._mlp import MLPSpaceOptions, mlp, quick
from hpsearch.spaces._registry import (
    DEFAULT_SPACE,
    PROBE_TRIALS,
    SPACES,
    SpaceEntry,
    get_space,
    pack_shared,
    probe_space,
    starting_point,
    validate_space_options,
)

__all__ = [
    "DEFAULT_SPACE",
    "LOSSES",
    "PACK_SHARED",
    "PROBE_TRIALS",
    "RESERVED_KEYS",
    "SPACES",
    "SPACE_KEYS",
    "Key",
    "MLPSpaceOptions",
    "ParamInfo",
    "Space",
    "SpaceContext",
    "SpaceEntry",
    "call_space",
    "check_config",
    "describe_space",
    "get_space",
    "mlp",
    "pack_shared",
    "probe_space",
    "quick",
    "starting_point",
    "validate_space_options",
]
