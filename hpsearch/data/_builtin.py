"""Built-in synthetic datasets: small, deterministic given a seed, and learnable.

Each generator returns ``(x, y)`` as numpy arrays; :func:`load_builtin` splits
and scales them. They are chosen so that tuning visibly matters: a badly
chosen depth or learning rate stays near chance on ``spirals`` and
``checkerboard`` while a good configuration gets close to perfect, and on
``teacher`` (the default) the best trial is clearly better than a typical one
while no model reaches 100%.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hpsearch.data._scale import numeric_plan, scale_numeric
from hpsearch.data._split import split_indices
from hpsearch.data._tabular import TabularData, Task
from hpsearch.errors import UserError

Generator = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _teacher(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # A table the way data arrives: 4 classes drawn from a hidden network's noisy
    # scores over 6 causes, shown only as skewed, heavy-tailed, counted or offset
    # columns, beside 6 columns of pure noise. Knowing the causes gives ~90%;
    # gradient boosting gets ~76%, logistic regression ~74%.
    n = 6000
    z = rng.normal(size=(n, 6))
    hidden = np.tanh(z @ (1.2 * rng.normal(size=(6, 16))) + 0.5 * rng.normal(size=16))
    scores = 2.0 * hidden @ rng.normal(size=(16, 4))
    y = (scores + rng.gumbel(size=scores.shape)).argmax(axis=1).astype(np.int64)
    x = np.column_stack(
        [
            np.exp(z[:, 0]),  # log-normal
            z[:, 1] ** 3,  # heavy tails
            rng.poisson(np.exp(0.5 * z[:, 2] + 1.0)),  # a count: part of z2 is lost
            z[:, 3],
            np.sinh(2.0 * z[:, 4]),
            1000.0 + 50.0 * z[:, 5],  # far from 0, as units put it
            rng.normal(size=(n, 6)),
        ]
    )
    return x, y


def _tutorial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # The classic "tune your MLP" tutorial labels points by their second
    # coordinate but feeds only the first, so nothing beats 50%. Here the
    # model sees both coordinates; the boundary is a gentle curve.
    x = rng.uniform(-1.0, 1.0, size=(2000, 2))
    y = (x[:, 1] > 0.3 * np.sin(3.0 * x[:, 0])).astype(np.int64)
    return x, y


def _spirals(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Two interleaved spirals of two turns: a linear model gets ~50%, a
    # shallow or under-trained one ~70%, a well-tuned MLP > 97%.
    n = 3000
    t = np.sqrt(rng.uniform(0.0, 1.0, size=n)) * 2.0 * 2.0 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (4.0 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, 0.02, size=(2 * n, 2))
    y = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    return x, y


def _checkerboard(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # A 4x4 board with 3% of labels flipped: the best possible accuracy is 97%.
    x = rng.uniform(-2.0, 2.0, size=(4000, 2))
    y = ((np.floor(x[:, 0]) + np.floor(x[:, 1])) % 2).astype(np.int64)
    flip = rng.uniform(size=len(y)) < 0.03
    y[flip] = 1 - y[flip]
    return x, y


def _rings(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Three concentric noisy rings in 2-D plus 6 pure-noise features:
    # a multi-class task where the model must learn to ignore inputs.
    n = 1000
    y = np.repeat(np.arange(3, dtype=np.int64), n)
    radius = 1.0 + y + rng.normal(0.0, 0.15, size=3 * n)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=3 * n)
    ring = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x = np.concatenate([ring, rng.normal(0.0, 1.0, size=(3 * n, 6))], axis=1)
    return x, y


def _friedman(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Friedman #1 regression: 5 informative inputs (sine interaction,
    # quadratic, linear) and 5 noise inputs, Gaussian noise of std 1.
    x = rng.uniform(0.0, 1.0, size=(3000, 10))
    y = (
        10.0 * np.sin(np.pi * x[:, 0] * x[:, 1])
        + 20.0 * (x[:, 2] - 0.5) ** 2
        + 10.0 * x[:, 3]
        + 5.0 * x[:, 4]
        + rng.normal(0.0, 1.0, size=len(x))
    )
    return x, y.astype(np.float32)


@dataclass(frozen=True)
class BuiltinDataset:
    """A registered synthetic dataset."""

    generate: Generator
    task: Task
    summary: str
    class_names: tuple[str, ...] = ()


DATASETS: dict[str, BuiltinDataset] = {
    "teacher": BuiltinDataset(
        _teacher,
        "classification",
        "4 classes from a hidden network, 12 skewed columns (6 noise), 6,000 rows (default)",
        ("a", "b", "c", "d"),
    ),
    "spirals": BuiltinDataset(
        _spirals, "classification", "two interleaved spirals, 6,000 points", ("0", "1")
    ),
    "checkerboard": BuiltinDataset(
        _checkerboard,
        "classification",
        "4x4 checkerboard, 3% label noise, 4,000 points",
        ("black", "white"),
    ),
    "rings": BuiltinDataset(
        _rings,
        "classification",
        "3 concentric rings + 6 noise features, 3,000 points",
        ("inner", "middle", "outer"),
    ),
    "tutorial": BuiltinDataset(
        _tutorial,
        "classification",
        "the tutorial's 2-D toy task, made learnable, 2,000 points",
        ("below", "above"),
    ),
    "friedman": BuiltinDataset(
        _friedman, "regression", "Friedman #1 regression, 10 features (5 noise), 3,000 points"
    ),
}

DEFAULT_DATASET = "teacher"


def get_builtin(name: str) -> BuiltinDataset:
    """The registered dataset called ``name``, or a :class:`UserError` listing them."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UserError(
            f"unknown dataset {name!r}", f"choose one of: {', '.join(DATASETS)}"
        ) from None


def load_builtin(
    name: str, seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> TabularData:
    """Generate, split and standardize the built-in dataset ``name``.

    The same ``seed`` always gives the same points and the same split.
    """
    spec = get_builtin(name)
    x, y = spec.generate(np.random.default_rng(seed))
    classification = spec.task == "classification"
    train, val, test = split_indices(y, fractions, seed, stratify=classification)
    names = [f"x{i}" for i in range(x.shape[1])]
    # The same train-only scaling as users' tables, recorded the same way, so
    # an exported model takes raw x0, x1, ... columns.
    x_train, x_val, x_test = (np.array(x[part], dtype=np.float32) for part in (train, val, test))
    plans = [numeric_plan(x_train[:, j], name, False) for j, name in enumerate(names)]
    scale_numeric([x_train, x_val, x_test], plans, {})
    y_dtype = np.int64 if classification else np.float32
    return TabularData(
        name=name,
        task=spec.task,
        x_train=x_train,
        y_train=np.ascontiguousarray(y[train], dtype=y_dtype),
        x_val=x_val,
        y_val=np.ascontiguousarray(y[val], dtype=y_dtype),
        x_test=x_test,
        y_test=np.ascontiguousarray(y[test], dtype=y_dtype),
        feature_names=tuple(names),
        class_names=spec.class_names,
        preprocessing={"target": "y", "columns": plans},
    )
