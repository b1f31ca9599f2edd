"""Writing and reading a trial's checkpoint file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "state.pt"
#: A pack's checkpoint holds each member's slice in ``member_<number>/`` and how each
#: member stands in ``pack.json`` (the names hpsearch.experiments reads; a test pins them).
MEMBER_PREFIX = "member_"
PACK_FILE = "pack.json"
#: The config key of a pack's Tune trial: its members' configs.
PACK_KEY = "pack"


def save_state(state: dict[str, Any], directory: str | Path) -> Path:
    """Write a :meth:`TrainingRun.state_dict` into ``directory``."""
    path = Path(directory) / CHECKPOINT_FILE
    torch.save(state, path)
    return path


def load_state(directory: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read the state saved by :func:`save_state` (tensors and plain data only)."""
    return torch.load(
        Path(directory) / CHECKPOINT_FILE, map_location=map_location, weights_only=True
    )
