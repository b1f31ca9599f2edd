"""Datasets: built-in synthetic tasks, users' tables, and the prepared splits trials train on.

Knows numpy and pyarrow; no torch, no Ray. The table reader (pyarrow's
dataset and compute modules, ~0.3 s to import) loads on first use, so a
trial worker that only unpickles :class:`TabularData` never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.data._builtin import (
    DATASETS,
    DEFAULT_DATASET,
    BuiltinDataset,
    get_builtin,
    load_builtin,
)
from hpsearch.data._scale import numeric_plan, scale_numeric, stable_hash
from hpsearch.data._split import split_indices
from hpsearch.data._tabular import TabularData, Task
from hpsearch.lazy import exports

if TYPE_CHECKING:
    from hpsearch.data._encode import (
        DOMAINS,
        as_float,
        as_strings,
        is_categorical,
        is_numeric,
        is_text,
        numeric_domain,
    )
    from hpsearch.data._read import iter_batches, open_table
    from hpsearch.data._table import TableSpec, load_table

_ENCODE = ("DOMAINS", "as_float", "as_strings", "is_categorical", "is_numeric", "is_text")
_LAZY = {
    **dict.fromkeys(_ENCODE, "._encode"),
    "numeric_domain": "._encode",
    "iter_batches": "._read",
    "open_table": "._read",
    "TableSpec": "._table",
    "load_table": "._table",
}

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "DOMAINS",
    "BuiltinDataset",
    "TableSpec",
    "TabularData",
    "Task",
    "as_float",
    "as_strings",
    "get_builtin",
    "is_categorical",
    "is_numeric",
    "is_text",
    "iter_batches",
    "load_builtin",
    "load_table",
    "numeric_domain",
    "numeric_plan",
    "open_table",
    "scale_numeric",
    "split_indices",
    "stable_hash",
]

__getattr__ = exports(__name__, _LAZY)
