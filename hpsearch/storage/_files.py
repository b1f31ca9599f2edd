"""Reading and writing experiment files on any pyarrow filesystem (local, s3://, ...).

No Ray and no torch here: inspection reads storage with pyarrow alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from hpsearch.errors import UserError
from hpsearch.redaction import has_credentials, redact, redact_data


def refuse_keyed_results(location: str) -> None:
    """Refuse a results location that carries credentials: Ray Tune pickles the
    storage filesystem, keys included, into the experiment's files (``tuner.pkl``,
    ``experiment_state-*.json``), which nothing can redact."""
    if has_credentials(location):
        raise UserError(
            f"the results location {location} carries credentials, which Ray Tune would "
            "write into the experiment's files",
            "drop them from the URI and give them as AWS_* environment variables or an "
            "instance role",
        )


def filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path on it for a local path or a URI."""
    if "://" not in location:
        location = str(Path(location).expanduser().resolve())
    return pafs.FileSystem.from_uri(location)


def local_path(location: str) -> Path | None:
    """The local path of a path or a ``file://`` URI (its ``?options`` dropped); ``None``
    for a location on another filesystem (object storage)."""
    if "://" not in location:
        return Path(location).expanduser()
    if location.startswith("file://"):
        return Path(location.removeprefix("file://").partition("?")[0])
    return None


def remove(location: str) -> None:
    """Delete the file at ``location`` (nothing if there is none)."""
    fs, path = filesystem(location)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(path)


def join(location: str, *parts: str) -> str:
    """``location/part/...`` for a path or a URI; a URI's ``?options`` stay at the end
    (``s3://b/results?endpoint_override=...`` -> ``s3://b/results/x?endpoint_override=...``)."""
    base, sep, options = location.partition("?")
    return "/".join([base.rstrip("/"), *parts]) + sep + options


def exists(location: str) -> bool:
    """Whether a file or directory is at ``location``."""
    fs, path = filesystem(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def list_dirs(location: str) -> list[str]:
    """Names of the directories directly under ``location`` (none if it is missing)."""
    return _list(location, pafs.FileType.Directory)


def list_files(location: str) -> list[str]:
    """Names of the files directly under ``location`` (none if it is missing)."""
    return _list(location, pafs.FileType.File)


def _list(location: str, kind: pafs.FileType) -> list[str]:
    fs, path = filesystem(location)
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
    for attempt in range(5):
        try:
            infos = fs.get_file_info(selector)
            break
        except FileNotFoundError:
            # A file removed between listing and stat (a temporary file renamed
            # into place, a claim let go): the folder changed; list it again.
            if attempt == 4:
                raise
    return sorted(info.base_name for info in infos if info.type == kind)


def copy_dir(source: str, target: str) -> None:
    """Copy the directory ``source`` to ``target`` on the same storage."""
    fs, src = filesystem(source)
    _, dst = filesystem(target)
    pafs.copy_files(src, dst, source_filesystem=fs, destination_filesystem=fs)


def make_dir(location: str) -> None:
    """Create the (empty) directory ``location``, and its parents."""
    fs, path = filesystem(location)
    fs.create_dir(path, recursive=True)


def move_dir(source: str, target: str) -> None:
    """Move the directory ``source`` to ``target`` on the same storage.

    Object stores have no directories to rename (pyarrow's S3 move refuses
    one): there it is a copy, then a delete.
    """
    fs, src = filesystem(source)
    _, dst = filesystem(target)
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
        fs.move(src, dst)
    else:
        copy_dir(source, target)
        fs.delete_dir(src)


def read_bytes(location: str) -> bytes | None:
    """A file's bytes, or ``None`` when it does not exist."""
    fs, path = filesystem(location)
    try:
        with fs.open_input_stream(path) as stream:
            return bytes(stream.read())
    except FileNotFoundError:
        return None


def read_text(location: str) -> str | None:
    """A file's text, or ``None`` when it does not exist."""
    content = read_bytes(location)
    return None if content is None else content.decode("utf-8", errors="replace")


def read_json(location: str) -> dict[str, Any] | None:
    """A JSON file's content, or ``None`` when it does not exist.

    Our JSON files are replaced atomically, so a reader never sees half of one.
    """
    text = read_text(location)
    return None if text is None else json.loads(text)


def write_json_atomic(data: dict[str, Any], directory: str, filename: str) -> str:
    """Write ``data`` as JSON under ``directory`` (a path or URI), never half-written,
    with every credential redacted (see :func:`redact`)."""
    # Values first (keeps JSON valid), then the text: default=str may turn objects into text.
    text = redact(json.dumps(redact_data(data), indent=2, default=str))
    return write_bytes(join(directory, filename), text.encode())


def write_bytes(location: str, content: bytes, exclusive: bool = False) -> str:
    """Write ``content`` to the file at ``location``: whole or not at all.

    An object store's put is atomic already; a local file goes through
    :func:`atomic_path`. ``exclusive`` (local files only) refuses, with
    ``FileExistsError``, a name that exists: of writers racing for one name,
    exactly one wins. A failure is one :class:`UserError` line.
    """
    fs, path = filesystem(location)
    if isinstance(fs, pafs.LocalFileSystem):
        with atomic_path(path, exclusive=exclusive) as tmp:
            Path(tmp).write_bytes(content)
        return path
    if exclusive:
        raise ValueError(f"no exclusive create on {type(fs).__name__}")
    try:
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as out:
            out.write(content)
    except OSError as exc:
        raise _write_error(location, exc) from None
    return path


# Files we create are as readable as the user's umask allows (mkstemp's are 0600).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | Path, exclusive: bool = False) -> Iterator[str]:
    """A temporary file beside ``path`` to write; moved onto ``path`` if the block succeeds.

    The name is unique and created exclusively (``mkstemp``), so nobody can
    plant a symlink there in a shared folder; the data is fsynced before the
    rename, so a crash leaves the old file or the new one; on any failure the
    temporary file is removed and an ``OSError`` becomes one :class:`UserError`.
    ``exclusive`` links instead of renaming: an existing ``path`` is kept and
    ``FileExistsError`` raised.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(str(target), exc) from None
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        if exclusive:
            _publish_new(tmp, target)
        else:
            os.replace(tmp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        raise _write_error(str(target), exc) from None
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


# Filesystems without hard links (FAT, some SMB and FUSE mounts) refuse link().
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def _publish_new(tmp: str, target: Path) -> None:
    """Give the written file ``tmp`` the name ``target`` unless that exists."""
    try:
        os.link(tmp, target)  # refuses an existing name, atomically
        return
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    # Without hard links: an exclusive create, then the content.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_UMASK)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(Path(tmp).read_bytes())
    except BaseException:
        target.unlink()  # never leave an empty file that reads as written
        raise


def _write_error(location: str, exc: OSError) -> UserError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return UserError(
        f"cannot write {redact(location)}: {reason}", "check the space, quota and permissions there"
    )


@contextmanager
def local_copy(location: str) -> Iterator[Path]:
    """A local directory holding the directory at ``location``.

    A local path is used as is; a remote one is downloaded to a temporary
    directory, removed afterwards.
    """
    if local_path(location) is not None:
        fs, path = filesystem(location)
        yield Path(path)
        return
    target = Path(tempfile.mkdtemp(prefix="hpsearch-"))
    try:
        fs, path = filesystem(location)
        pafs.copy_files(path, str(target), source_filesystem=fs)
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)
