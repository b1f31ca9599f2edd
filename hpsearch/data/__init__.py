"""Datasets: built-in synthetic tasks and the prepared splits trials train on.

Knows numpy only; no torch, no Ray.
"""

from hpsearch.data._builtin import (
    DATASETS,
    DEFAULT_DATASET,
    BuiltinDataset,
    get_builtin,
    load_builtin,
)
from hpsearch.data._read import open_table
from hpsearch.data._split import split_indices, standardize
from hpsearch.data._table import TableSpec, load_table
from hpsearch.data._tabular import TabularData, Task

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "BuiltinDataset",
    "TableSpec",
    "TabularData",
    "Task",
    "get_builtin",
    "load_builtin",
    "load_table",
    "open_table",
    "split_indices",
    "standardize",
]
