"""Packs as the search sees them: how big, which parameters a pack's trials share, and
each member's metrics in a pack's result.

A pack is one Tune trial whose config lists its members' configs (``pack``); each
member is an ordinary trial of the study of record, asked, judged and told on its own.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Mapping
from typing import Any

from hpsearch.experiments import OPTUNA_KEY
from hpsearch.spaces import SpaceContext
from hpsearch.trainable import EMBEDDING_DIM, FREQUENCIES, PACK_KEY, HParams

#: What one optimizer step of a single trial costs a CPU beyond its arithmetic (Python,
#: kernel launches, optimizer bookkeeping), and the arithmetic one core sustains: measured
#: on the 2-core reference machine (0.4 ms per step of a 2 x 128 MLP, batch 64, of which
#: 0.15 ms arithmetic; a pack's batched matmuls ran at ~60 GFLOP/s). A pack saves the
#: overhead, never the arithmetic.
CPU_STEP_OVERHEAD_S = 4e-4
CPU_FLOPS = 5e10


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


def step_flops(hp: HParams, context: SpaceContext) -> float:
    """Floating-point operations of one training step of one trial (forward and backward,
    two per multiply-add): the layers' and the periodic embedding's, times the batch."""
    inputs, macs = context.num_features, 0
    embedded = context.num_numeric if hp.embedding == "periodic" else 0
    if embedded:
        macs += embedded * 2 * FREQUENCIES * EMBEDDING_DIM
        inputs += embedded * (EMBEDDING_DIM - 1)
    outputs = context.num_classes if context.task == "classification" else 1
    widths = [inputs, *hp.hidden_sizes, outputs]
    macs += sum(a * b for a, b in itertools.pairwise(widths))
    return 6.0 * hp.batch_size * macs


def pays_on_cpu(config: Mapping[str, Any], context: SpaceContext) -> bool:
    """Whether packing trials of this config's structure pays on a CPU: its step's
    overhead is at least its arithmetic (a pack then trains each member at least twice
    as fast as alone; a compute-bound model, wide or with embeddings, gains ~1.2x)."""
    return step_flops(HParams.from_config(config), context) <= CPU_STEP_OVERHEAD_S * CPU_FLOPS
