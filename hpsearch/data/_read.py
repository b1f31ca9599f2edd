"""Opening a user's table with pyarrow: a file or a directory, local or remote.

Nothing is read here beyond the schema (and, for a directory, the file
listing): the caller asks for the columns it needs, and only those are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from hpsearch import storage
from hpsearch.errors import UserError

#: File extensions by the pyarrow dataset format that reads them.
FORMATS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq", ".parq"),
    "csv": (".csv", ".csv.gz", ".csv.bz2", ".tsv"),
    "ipc": (".arrow", ".feather", ".ipc", ".arrows"),
}


#: Rows per record batch when streaming a table: big enough to amortize
#: per-batch overhead, small enough (~25 MB at 50 float64 columns) not to matter.
_BATCH_ROWS = 65_536


def _format_of(path: str) -> str | None:
    name = PurePosixPath(path).name.lower()
    for fmt, exts in FORMATS.items():
        if name.endswith(exts):
            return fmt
    return None


def _file_format(fmt: str, path: str) -> ds.FileFormat | str:
    if fmt == "csv" and path.lower().endswith(".tsv"):
        import pyarrow.csv as pacsv

        return ds.CsvFileFormat(parse_options=pacsv.ParseOptions(delimiter="\t"))
    return fmt


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    try:
        return storage.filesystem(location)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise UserError(f"cannot open data {location!r}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_table(location: str) -> ds.Dataset:
    """A pyarrow dataset over ``location`` (file, directory or URI), schema only.

    A directory is read as one dataset of all its data files (a partitioned
    Parquet dataset, hive-style ``key=value`` folders included); its files
    must share one format.
    """
    fs, path = _filesystem(location)
    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise UserError(f"cannot open data {location!r}: {_first_line(exc)}") from None
    if info.type == pafs.FileType.NotFound:
        raise UserError(f"data not found: {location!r}", "check the path or URI")
    if info.type == pafs.FileType.Directory:
        files = [
            f.path
            for f in fs.get_file_info(pafs.FileSelector(path, recursive=True))
            if f.type == pafs.FileType.File
            and not PurePosixPath(f.path).name.startswith((".", "_"))
        ]
        formats = {_format_of(f) for f in files}
        if not files:
            raise UserError(f"data directory {location!r} holds no files")
        if None in formats or len(formats) != 1:
            raise UserError(
                f"data directory {location!r} mixes or holds unsupported files",
                "use one of Parquet, CSV or Arrow IPC/Feather for all files",
            )
        fmt = formats.pop()
        assert fmt is not None
        target: str | list[str] = path
        partitioning: str | None = "hive"
    else:
        fmt = _format_of(path)
        if fmt is None:
            raise UserError(
                f"unsupported data format: {location!r}",
                "use .parquet, .csv, .tsv, .arrow or .feather",
            )
        target, partitioning = path, None
    try:
        return ds.dataset(
            target, filesystem=fs, format=_file_format(fmt, path), partitioning=partitioning
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise UserError(f"cannot read data {location!r} as {fmt}: {_first_line(exc)}") from None


def iter_batches(
    dataset: ds.Dataset, columns: list[str], location: str
) -> Iterator[pa.RecordBatch]:
    """``columns`` of the dataset, one record batch at a time, in a stable order.

    pyarrow's scanner yields batches in dataset order (files, then rows), so
    two passes see the rows in the same order. Read-ahead is kept short:
    pyarrow's default decodes up to 16 batches per file ahead, which on a
    wide table held more memory than the finished feature matrix.
    """
    options = {}
    if isinstance(dataset.format, ds.ParquetFileFormat) and isinstance(
        dataset.filesystem, pafs.LocalFileSystem
    ):
        # pre_buffer saves round trips to object stores; on a local disk it only costs memory.
        options["fragment_scan_options"] = ds.ParquetFragmentScanOptions(pre_buffer=False)
    try:
        yield from dataset.to_batches(
            columns=columns,
            batch_size=_BATCH_ROWS,
            batch_readahead=2,
            fragment_readahead=1,
            **options,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise UserError(f"cannot read data {location!r}: {_first_line(exc)}") from None


def is_columnar(dataset: ds.Dataset) -> bool:
    """Whether reading a subset of columns reads only those (Parquet, Arrow IPC)."""
    return isinstance(dataset.format, ds.ParquetFileFormat | ds.IpcFileFormat)


def release_unused_memory() -> None:
    """Hand the memory pyarrow's allocator kept after a scan back to the system.

    mimalloc and jemalloc keep freed pages for reuse; numpy allocates
    elsewhere, so without this a scan's peak stays in the driver's RSS.
    """
    pa.default_memory_pool().release_unused()
