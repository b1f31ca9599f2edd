"""Packs as the search sees them: how big, which parameters a pack's trials share, and
each member's metrics in a pack's result.

A pack is one Tune trial whose config lists its members' configs (``pack``); each
member is an ordinary trial of the study of record, asked, judged and told on its own.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from hpsearch.experiments import OPTUNA_KEY
from hpsearch.trainable import PACK_KEY, HParams


def is_pack(config: Mapping[str, Any]) -> bool:
    """Whether a Tune trial's config is a pack's."""
    return PACK_KEY in config


def structure(config: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a trial's config must share with its pack's other members."""
    return HParams.from_config(config).structure()


def shared_values(config: Mapping[str, Any], patterns: tuple[str, ...]) -> dict[str, Any]:
    """The Optuna parameters of a member's ``config`` that its pack's other members take
    too: those named by ``patterns`` (names or ``fnmatch`` patterns)."""
    params = (config.get(OPTUNA_KEY) or {}).get("params", {})
    return {
        name: value
        for name, value in params.items()
        if any(fnmatch.fnmatchcase(name, p) for p in patterns)
    }


def member_results(result: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Each member's metrics in a pack's result, by trial number; the result may be
    nested (``members`` -> number -> metrics) or flattened by Tune (``members/12/epoch``)."""
    nested = result.get("members")
    if isinstance(nested, Mapping):
        return {int(n): dict(m) for n, m in nested.items() if isinstance(m, Mapping)}
    members: dict[int, dict[str, Any]] = {}
    for key, value in result.items():
        head, _, rest = key.partition("/")
        number, _, metric = rest.partition("/")
        if head == "members" and number.isdigit() and metric:
            members.setdefault(int(number), {})[metric] = value
    return members
