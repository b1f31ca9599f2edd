"""An experiment's trials as one tidy Arrow table, and writing it to a file."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from hpsearch import storage
from hpsearch.errors import UserError

if TYPE_CHECKING:
    from hpsearch.experiments._experiment import Experiment, TrialRecord

#: ``-o`` suffixes ``hpsearch export`` writes.
TABLE_FORMATS = (".parquet", ".csv", ".feather", ".arrow")
# A CSV cell starting with = + - @, tab or CR is a formula to a spreadsheet (OWASP).
_FORMULA = r"^([=+\-@\t\r])"
# Per-epoch values that are not floats.
_INT_COLUMNS = {"epoch": pa.int64(), "num_params": pa.int64(), "timestamp": pa.int64()}
_TEXT_COLUMNS = {"node_ip": pa.string(), "hostname": pa.string()}


def trials_table(exp: Experiment) -> pa.Table:
    """One row per trial and epoch (one row with a null epoch for a trial that
    reported nothing yet): trial id and number, final state and reason, one
    ``params_<name>`` column per hyperparameter, then ``epoch`` and every metric.

    A search of several objectives adds ``front`` (the trial is on the Pareto front), a
    constrained one ``feasible`` (it met every constraint), both bool, after ``reason``.

    Types are fixed by name (epochs and sizes int64, metrics float64), not
    guessed from the first rows, so tables of two experiments concatenate.
    """
    marks = _marks(exp)
    param_names = sorted({name for t in exp.trials for name in t.params})
    metric_names: list[str] = []
    for trial in exp.trials:
        for row in trial.history:
            metric_names += [k for k in row if k not in metric_names]
    metric_names.sort(key=lambda k: (k != "epoch", k))
    rows: list[dict[str, Any]] = []
    for trial in exp.trials:
        head = {
            "experiment": exp.name,
            "trial_id": trial.trial_id,
            "trial_number": trial.number,
            "state": trial.state,
            "reason": trial.reason,
            **{name: mark(trial) for name, mark in marks.items()},
            **{f"params_{k}": trial.params.get(k) for k in param_names},
        }
        for row in trial.history or ({},):
            rows.append(head | {k: row.get(k) for k in metric_names})
    fields = [
        pa.field("experiment", pa.string()),
        pa.field("trial_id", pa.string()),
        pa.field("trial_number", pa.int64()),
        pa.field("state", pa.string()),
        pa.field("reason", pa.string()),
        *(pa.field(name, pa.bool_()) for name in marks),
    ]
    for name in param_names:
        column = f"params_{name}"
        kind = _param_type([r[column] for r in rows])
        if kind == pa.string():
            for r in rows:
                r[column] = _as_text(r[column])
        fields.append(pa.field(column, kind))
    for name in metric_names:
        if name in _INT_COLUMNS or name in _TEXT_COLUMNS:
            fields.append(pa.field(name, _INT_COLUMNS.get(name) or _TEXT_COLUMNS[name]))
        elif all(isinstance(r[name], bool) or r[name] is None for r in rows):
            fields.append(pa.field(name, pa.bool_()))
        else:
            fields.append(pa.field(name, pa.float64()))
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def _marks(exp: Experiment) -> dict[str, Callable[[TrialRecord], bool]]:
    """The per-trial bool columns a search of several objectives or with constraints has."""
    marks: dict[str, Callable[[TrialRecord], bool]] = {}
    if exp.multi_objective:
        front = {t.number for t in exp.front()}
        marks["front"] = lambda t: t.number in front
    if exp.constraints:
        marks["feasible"] = exp.feasible
    return marks


def _param_type(values: list[Any]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64()
    if present and all(isinstance(v, list) for v in present):
        return pa.list_(
            pa.int64() if all(isinstance(x, int) for v in present for x in v) else pa.float64()
        )
    return pa.string()  # text, and anything mixed as JSON text (see _as_text)


def _as_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def check_table_path(path: str) -> str:
    """The format of ``path`` from its suffix, or a UserError naming the choices."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in TABLE_FORMATS:
        raise UserError(
            f"cannot write {path!r}: unknown table format {suffix or '(no suffix)'}",
            f"use one of {', '.join(TABLE_FORMATS)}",
        )
    return suffix


def write_table(table: pa.Table, path: str) -> str:
    """Write ``table`` by ``path``'s suffix, whole or not at all (see ``storage.atomic_path``)."""
    suffix = check_table_path(path)
    with storage.atomic_path(path) as tmp:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif suffix == ".csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(escape_formulas(_flat(table)), tmp)
        else:
            import pyarrow.feather as feather

            feather.write_feather(table, tmp)
    return path


def _flat(table: pa.Table) -> pa.Table:
    """CSV has no lists: list columns become JSON text (``[64, 64]``)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type):
            text = [None if v is None else json.dumps(v) for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(text, pa.string()))
    return table


def escape_formulas(table: pa.Table) -> pa.Table:
    """Text cells and column names that a spreadsheet would run as a formula
    (starting with ``= + - @``, tab or carriage return) get a leading ``'``,
    as OWASP advises for CSV; numbers and other types are left as they are."""
    import pyarrow.compute as pc

    from hpsearch.data import is_text  # numpy: only when a CSV is written

    for i, field in enumerate(table.schema):
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if is_text(kind):
            plain = pa.large_string() if pa.types.is_large_string(kind) else pa.string()
            column = pc.replace_substring_regex(
                table.column(i).cast(plain), pattern=_FORMULA, replacement="'\\1"
            )
            table = table.set_column(i, field.name, column)
    return table.rename_columns([re.sub(_FORMULA, "'\\1", n) for n in table.column_names])
