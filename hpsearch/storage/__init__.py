"""Where results and tables live: the one place that turns a location (a path or a
pyarrow URI such as ``s3://bucket/runs?endpoint_override=...``) into a filesystem,
reads, writes atomically, and blanks credentials when a location becomes text.

Imports pyarrow only: every layer above may use it, inspection included.
"""

from hpsearch.redaction import has_credentials, redact, redact_data
from hpsearch.storage._files import (
    atomic_path,
    copy_dir,
    exists,
    filesystem,
    join,
    list_dirs,
    list_files,
    local_copy,
    local_path,
    make_dir,
    move_dir,
    read_bytes,
    read_json,
    read_text,
    refuse_keyed_results,
    remove,
    write_bytes,
    write_json_atomic,
)

__all__ = [
    "atomic_path",
    "copy_dir",
    "exists",
    "filesystem",
    "has_credentials",
    "join",
    "list_dirs",
    "list_files",
    "local_copy",
    "local_path",
    "make_dir",
    "move_dir",
    "read_bytes",
    "read_json",
    "read_text",
    "redact",
    "redact_data",
    "refuse_keyed_results",
    "remove",
    "write_bytes",
    "write_json_atomic",
]
