"""Seeded (stratified) splitting."""

from __future__ import annotations

import numpy as np


def split_indices(
    y: np.ndarray,
    fractions: tuple[float, float, float],
    seed: int,
    stratify: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split row indices into train, validation and test parts.

    With ``stratify`` every class keeps its share in each part, so a small
    validation split still sees every class.
    """
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for idx in groups:
        idx = rng.permutation(idx)
        n_val = round(fractions[1] * len(idx))
        n_test = round(fractions[2] * len(idx))
        n_train = len(idx) - n_val - n_test
        parts[0].append(idx[:n_train])
        parts[1].append(idx[n_train : n_train + n_val])
        parts[2].append(idx[n_train + n_val :])
    train, val, test = (rng.permutation(np.concatenate(p)) for p in parts)
    return train, val, test
