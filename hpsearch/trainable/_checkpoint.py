"""Writing and reading a trial's checkpoint file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "state.pt"


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
